"""ORM models: what happens (check-ins, answers, alerts, deliveries) and who it happens to.

People are keyed by their config ids so a config reload can match rows without a lookup table, and
nothing is ever deleted by a reload: removed people and goals are only marked inactive so their
history stays readable. ``bot/store/migrations/versions`` must describe exactly these tables; a test
compares the two on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.contract.statuses import CheckInStatus, DigestCadence, OutboxStatus, PersonKind, Severity
from bot.store.types import NamedState, UTCDateTime, json_type

# Explicit constraint names keep the hand-written migration and the models comparable, and let later
# migrations drop or alter a constraint by name on both backends.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class IdentityKind(StrEnum):
    """What an identity's value is, on its platform."""

    #: A Slack user id, as config names it or as the adapter resolved an e-mail address to.
    USER_ID = "user_id"
    #: A Slack e-mail address config gave instead of (or besides) a user id; compared without case.
    EMAIL = "email"
    #: A Telegram chat id, bound at runtime by an invite; config sync never touches it.
    CHAT_ID = "chat_id"


class Identity(Base):
    """One way to reach or recognise a coach or client on one platform.

    A new platform adds rows, never columns. Each person has at most one value per (platform, kind); the same
    value may belong to several people (one Telegram chat can redeem invites for two clients, as before), so
    lookups take the lowest person id, and ``(platform, kind, value)`` is indexed, not unique.
    """

    __tablename__ = "identities"
    __table_args__ = (
        sa.UniqueConstraint("person_kind", "person_id", "platform", "kind"),
        sa.Index(None, "platform", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=True)
    person_kind: Mapped[PersonKind] = mapped_column(NamedState(PersonKind))
    person_id: Mapped[str] = mapped_column(sa.String())
    platform: Mapped[str] = mapped_column(sa.String())
    kind: Mapped[IdentityKind] = mapped_column(NamedState(IdentityKind))
    value: Mapped[str] = mapped_column(sa.String())


class _Reachable:
    """A person with identities, loaded with them (``selectin``) so addresses are read without a query."""

    identities: list[Identity]

    def identity(self, platform: str, kind: IdentityKind) -> str | None:
        return next((i.value for i in self.identities if i.platform == platform and i.kind == kind), None)


def _identities_of(kind: PersonKind, owner: str) -> Any:
    # A person's identities are matched by kind and id rather than a foreign key, since one table serves both.
    return relationship(
        Identity,
        primaryjoin=f"and_(Identity.person_kind == '{kind.value}', foreign(Identity.person_id) == {owner}.id)",
        lazy="selectin",
        viewonly=True,
        order_by=Identity.id,
    )


class Coach(_Reachable, Base):
    __tablename__ = "coaches"

    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String())
    timezone: Mapped[str] = mapped_column(sa.String())
    digest: Mapped[DigestCadence] = mapped_column(NamedState(DigestCadence))
    active: Mapped[bool] = mapped_column(sa.Boolean())
    # Last time config sync changed this row (or its Slack identities).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    identities: Mapped[list[Identity]] = _identities_of(PersonKind.COACH, "Coach")


class Client(_Reachable, Base):
    __tablename__ = "clients"
    __table_args__ = (sa.Index(None, "coach_id"),)

    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String())
    coach_id: Mapped[str] = mapped_column(sa.ForeignKey("coaches.id"))
    timezone: Mapped[str] = mapped_column(sa.String())
    cadence: Mapped[str] = mapped_column(sa.String())
    question_set: Mapped[str] = mapped_column(sa.String())
    language: Mapped[str] = mapped_column(sa.String())
    #: Which of the client's identities to write to (``slack`` or ``telegram``), as config chose.
    platform: Mapped[str] = mapped_column(sa.String())
    # The columns below belong to the runtime (the client's own commands, invites); config sync
    # leaves them alone except for a paused_until the config states explicitly.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    privacy_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the platform refused delivery for good (the client blocked the bot, the account is gone),
    # so the bot stops writing to them and tells the coach once.
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unreachable_reason: Mapped[str | None] = mapped_column(sa.Text())
    # The coach snoozed this client's alerts: they are still stored (and counted in the digest), not sent.
    alerts_snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(sa.Boolean())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Last time config sync changed this row (or its Slack identities).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    identities: Mapped[list[Identity]] = _identities_of(PersonKind.CLIENT, "Client")


class Goal(Base):
    __tablename__ = "goals"

    client_id: Mapped[str] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String())
    active: Mapped[bool] = mapped_column(sa.Boolean())
    # Config order, so goal questions are asked in the order the coach wrote them.
    position: Mapped[int] = mapped_column(sa.Integer())


class CoachingSession(Base):
    """A coaching session a coach recorded, for cadences that run "N days after each session".

    Sessions written in config.yaml stay in the config; this table holds the ones coaches add later.
    """

    __tablename__ = "coaching_sessions"

    client_id: Mapped[str] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    session_date: Mapped[date] = mapped_column(sa.Date(), primary_key=True)
    recorded_by: Mapped[str] = mapped_column(sa.String())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckIn(Base):
    __tablename__ = "checkins"
    # (client_id, slot) is the dispatch idempotency key: whoever inserts it first owns the check-in.
    __table_args__ = (
        sa.UniqueConstraint("client_id", "slot"),
        sa.Index(None, "status"),
        # Holds every column a client's history version and newest-first windows read (``bot.store.history``),
        # so those reads never touch the rows and the questions JSON they carry.
        sa.Index("ix_checkins_history", "client_id", "slot", "status", "last_activity_at", "completed_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    slot: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[CheckInStatus] = mapped_column(NamedState(CheckInStatus))
    question_set: Mapped[str] = mapped_column(sa.String())
    # The questions the check-in asks (``QuestionSet.to_json``, in the client's language), kept with it so a set
    # changed by a reload while it is open does not break it; None for check-ins from before migration 0007.
    questions: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    # The conversation engine's serialized state. Assign a new dict to change it: in-place mutation
    # of a JSON column is not tracked.
    state: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders_sent: Mapped[int] = mapped_column(sa.Integer(), default=0)
    # Set when the outbox gave up on a message of this check-in (the platform refused it for good, or it kept
    # failing past ``outbox.give_up_after``): the client may never have seen part of it.
    undelivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undelivered_reason: Mapped[str | None] = mapped_column(sa.Text())


class Answer(Base):
    __tablename__ = "answers"
    # One answer per step: answering again (or going back) replaces it.
    __table_args__ = (sa.UniqueConstraint("checkin_id", "step_key"),)

    id: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=True)
    checkin_id: Mapped[int] = mapped_column(sa.ForeignKey("checkins.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(sa.String())
    question_id: Mapped[str] = mapped_column(sa.String())
    dimension: Mapped[str] = mapped_column(sa.String())
    goal_id: Mapped[str | None] = mapped_column(sa.String())
    value: Mapped[int | None] = mapped_column(sa.Integer())
    text: Mapped[str | None] = mapped_column(sa.Text())
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (sa.Index(None, "client_id", "created_at"),)

    id: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    checkin_id: Mapped[int | None] = mapped_column(sa.ForeignKey("checkins.id", ondelete="SET NULL"))
    severity: Mapped[Severity] = mapped_column(NamedState(Severity))
    signals: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An urgent alert nobody acknowledged is sent once more; this records that it was.
    resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String())


class CoachWaiting(Base):
    """A message for a coach that cannot go out yet: the coach has no address (a Telegram invite not yet
    opened) or is in their quiet hours. It moves to the outbox, under its own key, once both have passed."""

    __tablename__ = "coach_waiting"
    __table_args__ = (sa.Index(None, "coach_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=True)
    coach_id: Mapped[str] = mapped_column(sa.ForeignKey("coaches.id", ondelete="CASCADE"))
    # The client the message is about, so erasing a client erases what waits about them.
    client_id: Mapped[str | None] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    # The outbox key the message takes when it is released: queuing it twice stays a no-op.
    idempotency_key: Mapped[str] = mapped_column(sa.String(), unique=True)
    # An ``OutboundMessage`` payload without its address (sealed like the outbox's).
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    # Not before this (the end of the coach's quiet hours); None while only an address is missing.
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: The outbox rows still to send; the statuses are written out because a partial index's condition must be
#: constant (``bot.store.outbox`` writes its queries' conditions the same way, so the planners can match them).
_UNSENT = sa.text("status IN ('pending', 'sending')")


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The lease walks the unsent rows in id order and stops at its limit.
        sa.Index("ix_outbox_unsent", "id", sqlite_where=_UNSENT, postgresql_where=_UNSENT),
        # Serves the head-of-line check (is an earlier message to this recipient still unsent?) with one probe,
        # and the lease's walk over unsent rows; only unsent rows are in it, so it stays the queue's size.
        sa.Index(
            "ix_outbox_unsent_recipient",
            "platform",
            "recipient",
            "id",
            sqlite_where=_UNSENT,
            postgresql_where=_UNSENT,
        ),
        sa.Index(None, "person_kind", "person_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(sa.String())
    # Platform address as text: a Slack user or channel id, or a Telegram chat id.
    recipient: Mapped[str] = mapped_column(sa.String())
    # The person the message is for, whatever address it went to (a Slack client configured by e-mail is
    # answered at their user id): ``stop`` and ``forget`` find a person's messages by this, never by address.
    person_kind: Mapped[PersonKind | None] = mapped_column(NamedState(PersonKind))
    person_id: Mapped[str | None] = mapped_column(sa.String())
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    idempotency_key: Mapped[str] = mapped_column(sa.String(), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(NamedState(OutboxStatus))
    # Incremented each time a worker leases the row, so a message that crashes its sender is still
    # counted and can be given up on.
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leased_by: Mapped[str | None] = mapped_column(sa.String())
    # What the platform calls the sent message (Slack ts, Telegram message id), needed to edit it.
    platform_ref: Mapped[str | None] = mapped_column(sa.String())
    last_error: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProcessedEvent(Base):
    __tablename__ = "processed_events"
    # Pruning by age (platforms re-deliver within minutes, so a week of memory is plenty) reads this index.
    __table_args__ = (sa.Index(None, "seen_at"), sa.Index(None, "person_kind", "person_id"))

    platform: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    event_key: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Who sent the event, so erasing a person erases the trace of what they wrote.
    person_kind: Mapped[PersonKind | None] = mapped_column(NamedState(PersonKind))
    person_id: Mapped[str | None] = mapped_column(sa.String())


class TelegramInvite(Base):
    """A one-time link that binds a Telegram chat to a person.

    Only the SHA-256 of the link's token is stored (``invites.token_hash``): someone with a copy of the
    database or a backup cannot redeem an open invite. Issuing or redeeming one revokes the person's others.
    """

    __tablename__ = "telegram_invites"

    token_hash: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    person_kind: Mapped[PersonKind] = mapped_column(NamedState(PersonKind))
    person_id: Mapped[str] = mapped_column(sa.String())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    chat_id: Mapped[int | None] = mapped_column(sa.BigInteger())
    #: The link may move a person already bound to a chat to the chat that opens it (``checkin invite --rebind``).
    rebind: Mapped[bool] = mapped_column(sa.Boolean(), server_default=sa.false())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardLink(Base):
    """A one-time sign-in link to the coach's dashboard. Only the SHA-256 of its token is kept, so the table
    alone opens nothing; ``coach_id`` is NULL for an admin's read-only link to every client."""

    __tablename__ = "dashboard_links"

    token_hash: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    coach_id: Mapped[str | None] = mapped_column(sa.ForeignKey("coaches.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardSession(Base):
    """A signed-in browser: the SHA-256 of its cookie, whose view it is (``coach_id`` NULL: the admin's), the
    token its forms must carry, and when it was last used (it ends after the idle limit)."""

    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    coach_id: Mapped[str | None] = mapped_column(sa.ForeignKey("coaches.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(sa.String())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
