"""What ``checkin schedule`` and ``checkin validate`` tell an admin about upcoming check-ins.

Pure functions of the config and an injected ``now``, so the lines can be tested at a fixed instant;
``cli.py`` supplies the system clock and does the printing. The slots come from ``client_schedule``,
the same functions the scheduler uses, so the listing is what the bot will actually send (short of a
pause a client sets themselves, which lives in the database).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import CadenceFields, Client, Config
from bot.scheduling.client_schedule import ClientSchedule, UnknownClientError, schedule_for, slots_after
from bot.timing.cadence import SEARCH_HORIZON


def schedule_report(config: Config, now: datetime, *, client_id: str | None = None, count: int = 5) -> list[str]:
    """The next ``count`` slots of every client (or of ``client_id``), one block per client.

    Raises ``UnknownClientError`` for an id the config does not have.
    """
    if client_id is not None and client_id not in config.clients_by_id:
        raise UnknownClientError(client_id, list(config.clients_by_id))
    chosen = [config.clients_by_id[client_id]] if client_id is not None else list(config.clients)
    lines: list[str] = []
    for client in chosen:
        if lines:
            lines.append("")
        lines += _client_block(config, client, now, count)
    return lines


def session_notes(config: Config, now: datetime) -> list[str]:
    """Notes for clients on a session cadence with no session from today on: they will not be asked."""
    notes = []
    for client in config.clients:
        if config.cadence_of(client).after_sessions is None:
            continue
        today = now.astimezone(client.zone).date()
        if any(session >= today for session in client.sessions):
            continue
        last = f"last: {max(client.sessions)}" if client.sessions else "none yet"
        notes.append(
            f"note: {client.id}: cadence '{client.cadence}' follows coaching sessions, "
            f"but no session on or after {today} is listed ({last})"
        )
    return notes


def _client_block(config: Config, client: Client, now: datetime, count: int) -> list[str]:
    schedule = schedule_for(config, client.id)
    lines = [f"{client.id} ({client.timezone}, cadence {client.cadence}{_overridden(client.cadence_overrides)})"]
    if schedule.paused_until is not None and schedule.paused_until > now:
        lines.append(f"  paused until {_local(schedule.paused_until, schedule.timezone)}")
    today = now.astimezone(schedule.timezone).date()
    lines += [f"  no check-ins from {first} to {last} (pause)" for first, last in schedule.pauses if last >= today]
    slots = slots_after(schedule, now, count)
    lines += [f"  {_local(slot, schedule.timezone)} = {slot:%Y-%m-%d %H:%M} UTC" for slot in slots]
    if len(slots) < count:
        lines.append(f"  {_why_no_more(schedule, now, bool(slots))}")
    return lines


def _overridden(overrides: CadenceFields | None) -> str:
    if overrides is None:
        return ""
    keys = [key for key in CadenceFields.model_fields if key in overrides.model_fields_set]
    return f"; overrides: {', '.join(keys)}" if keys else ""


def _local(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    # Padding the abbreviation keeps the UTC column aligned for the usual 3-5 letter zone names.
    return f"{local:%a %Y-%m-%d %H:%M} {local:%Z}".ljust(26)


def _why_no_more(schedule: ClientSchedule, now: datetime, some: bool) -> str:
    lead = "no more check-ins" if some else "no check-ins"
    cadence, zone = schedule.cadence, schedule.timezone
    horizon = now + SEARCH_HORIZON
    if cadence.start is not None and datetime.combine(cadence.start, time.min, zone) > horizon:
        return f"{lead} in the next four years: the cadence starts on {cadence.start}"
    rule = cadence.after_sessions
    if rule is None:
        return f"{lead} in the next four years"
    if not schedule.sessions:
        return f"{lead}: the cadence follows coaching sessions and none is recorded"
    last = schedule.sessions[-1]
    if datetime.combine(last + timedelta(days=rule.days), rule.at, zone) > horizon:
        return f"{lead} in the next four years"
    return f"{lead}: the cadence follows coaching sessions and the last one recorded is {last}"
