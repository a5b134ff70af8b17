"""The shape of ``config.yaml`` as a whole: its sections, and the rules that span two of them.

Each section's models live in a module of their own (``people``, ``cadence``, ``alerts``, ``platforms``,
``operations``). References between sections (a client's coach, cadence and question set) are checked in
``references.py`` against the raw data so that they are reported even when some other part of the file fails
validation.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from bot.config.alerts import Alerts
from bot.config.cadence import Cadence
from bot.config.dashboard import Dashboard
from bot.config.fields import Id, SetName, Strict
from bot.config.operations import Database, HttpServers, Inbound, Observability, Outbox, Scheduling
from bot.config.people import CheckinSummaries, Client, Coach
from bot.config.platforms import Platforms


class Config(Strict):
    database: Database = Database()
    platforms: Platforms = Platforms()
    alerts: Alerts = Alerts()
    scheduling: Scheduling = Scheduling()
    outbox: Outbox = Outbox()
    observability: Observability = Observability()
    http_servers: HttpServers = HttpServers()
    dashboard: Dashboard | None = None
    inbound: Inbound = Inbound()
    question_sets: dict[SetName, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    cadences: dict[Id, Cadence] = Field(default_factory=dict)
    coaches: tuple[Coach, ...]
    clients: tuple[Client, ...] = ()
    #: Days check-ins, answers, alerts and sent messages are kept; older ones are deleted daily. None keeps all.
    retention_days: int | None = Field(None, ge=7, le=3650)

    @field_validator("clients")
    @classmethod
    def _overrides_fit(cls, clients: tuple[Client, ...], info: ValidationInfo) -> tuple[Client, ...]:
        """Check each overridden cadence as a whole, reporting at the client's ``cadence_overrides``.

        A field validator rather than a model validator so that it still runs when, say, a coach is
        invalid; it is skipped when the cadences themselves failed (they are reported on their own).
        """
        cadences: dict[str, Cadence] | None = info.data.get("cadences")
        errors: list[InitErrorDetails] = []
        for index, client in enumerate(clients):
            named = (cadences or {}).get(client.cadence)
            if named is None or client.cadence_overrides is None:
                continue
            problems = named.with_overrides(client.cadence_overrides).problems()
            if problems:
                message = f"with these overrides of cadence '{client.cadence}': {'; '.join(problems)}"
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("cadence_overrides", "{message}", {"message": message}),
                        loc=(index, "cadence_overrides"),
                        input=client.cadence_overrides.model_dump(),
                    )
                )
        if errors:
            # pydantic merges a ValidationError raised here into its own, under this field's location.
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return clients

    @field_validator("observability")
    @classmethod
    def _own_port(cls, observability: Observability, info: ValidationInfo) -> Observability:
        """The metrics server and the Telegram webhook server cannot share a port; say so before either binds."""
        platforms: Platforms | None = info.data.get("platforms")
        webhook = platforms.telegram.webhook if platforms is not None and platforms.telegram is not None else None
        http = observability.http
        if http is not None and webhook is not None and http.port == webhook.port:
            message = f"port {http.port} is already the Telegram webhook's (platforms.telegram.webhook.port)"
            error = InitErrorDetails(
                type=PydanticCustomError("port_in_use", "{message}", {"message": message}),
                loc=("http", "port"),
                input=http.port,
            )
            raise ValidationError.from_exception_data(cls.__name__, [error])
        return observability

    @cached_property
    def clients_by_id(self) -> dict[str, Client]:
        """The scheduler looks clients up on every tick; a dict keeps that independent of their number."""
        return {client.id: client for client in self.clients}

    def coach(self, coach_id: str) -> Coach | None:
        """The coach ``coach_id`` names; ``None`` for one removed from config whose clients are still closing."""
        return next((coach for coach in self.coaches if coach.id == coach_id), None)

    def checkin_summaries_for(self, client_id: str, coach_id: str) -> CheckinSummaries:
        """Whether a completed check-in goes to the coach at once: the client's override, else the coach's choice."""
        client = self.clients_by_id.get(client_id)
        if client is not None and client.checkin_summaries is not None:
            return client.checkin_summaries
        coach = self.coach(coach_id)
        return coach.checkin_summaries if coach is not None else "each"

    def cadence_of(self, client: Client) -> Cadence:
        """The cadence ``client`` follows: the named one with the client's overrides applied."""
        return self.cadences[client.cadence].with_overrides(client.cadence_overrides)
