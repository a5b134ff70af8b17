"""Alerts about clients: stored with their signals sealed, resent when urgent and unanswered, acknowledged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.contract.statuses import Severity
from bot.store.database import sealer_of
from bot.store.models import (
    Alert,
    Client,
)
from bot.store.sealed import open_signals, seal_signals
from bot.store.statements import affected


async def create_alert(
    session: AsyncSession,
    client_id: str,
    checkin_id: int | None,
    severity: Severity,
    signals: list[dict[str, Any]],
    now: datetime,
) -> Alert:
    """Store an alert with its signals' reasons sealed (a ``words`` reason quotes the client)."""
    sealed = seal_signals(sealer_of(session), signals)
    alert = Alert(client_id=client_id, checkin_id=checkin_id, severity=severity, signals=sealed, created_at=now)
    session.add(alert)
    await session.flush()
    set_committed_value(alert, "signals", [dict(s) for s in signals])
    return alert


async def _alerts(session: AsyncSession, query: sa.Select[Alert]) -> list[Alert]:
    """Alerts with their signals opened; freshly loaded, so a value is never opened twice."""
    alerts = list((await session.scalars(query.execution_options(populate_existing=True))).all())
    _open(session, alerts)
    return alerts


def _open(session: AsyncSession, alerts: Iterable[Alert]) -> None:
    sealer = sealer_of(session)
    for alert in alerts:
        set_committed_value(alert, "signals", open_signals(sealer, alert.signals, f"alert {alert.id}"))


async def alerts_for_client(session: AsyncSession, client_id: str) -> list[Alert]:
    return await _alerts(
        session, sa.select(Alert).where(Alert.client_id == client_id).order_by(Alert.created_at, Alert.id)
    )


async def alerts_for_checkin(session: AsyncSession, checkin_id: int) -> list[Alert]:
    return await _alerts(session, sa.select(Alert).where(Alert.checkin_id == checkin_id).order_by(Alert.id))


async def unacknowledged_urgent_alerts(session: AsyncSession, created_before: datetime) -> list[Alert]:
    """Urgent alerts older than ``created_before`` that nobody acknowledged and that were not sent again."""
    query = (
        sa.select(Alert)
        .where(
            Alert.severity == Severity.URGENT,
            Alert.acknowledged_at.is_(None),
            Alert.resent_at.is_(None),
            Alert.created_at <= created_before,
        )
        .order_by(Alert.id)
    )
    return await _alerts(session, query)


async def mark_alert_resent(session: AsyncSession, alert_id: int, now: datetime) -> bool:
    """True for the one caller (of several replicas) that gets to send the alert again."""
    updated = await session.scalars(
        sa.update(Alert)
        .where(Alert.id == alert_id, Alert.resent_at.is_(None))
        .values(resent_at=now)
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    )
    return updated.first() is not None


async def open_alert_counts(session: AsyncSession, coach_id: str | None) -> dict[str, int]:
    """Unacknowledged alerts per client, of one coach or of everyone, for the digest and status."""
    query = sa.select(Alert.client_id, sa.func.count()).where(Alert.acknowledged_at.is_(None))
    if coach_id is not None:
        query = query.join(Client, Client.id == Alert.client_id).where(Client.coach_id == coach_id)
    rows = await session.execute(query.group_by(Alert.client_id))
    return {client_id: int(count) for client_id, count in rows}


async def acknowledge_alerts(
    session: AsyncSession,
    coach_id: str,
    now: datetime,
    *,
    client_id: str | None = None,
    alert_id: int | None = None,
) -> int:
    """Acknowledge a coach's open alerts (all, one client's, or one); alerts of other coaches' clients never."""
    own_clients = sa.select(Client.id).where(Client.coach_id == coach_id).scalar_subquery()
    query = sa.update(Alert).where(Alert.acknowledged_at.is_(None), Alert.client_id.in_(own_clients))
    if client_id is not None:
        query = query.where(Alert.client_id == client_id)
    if alert_id is not None:
        query = query.where(Alert.id == alert_id)
    result = await session.execute(
        query.values(acknowledged_at=now, acknowledged_by=f"coach:{coach_id}").execution_options(
            synchronize_session=False
        )
    )
    return affected(result)


async def alerts_of_coach(session: AsyncSession, coach_id: str | None) -> list[tuple[Alert, str]]:
    """Alerts about one coach's active clients (``None``: everyone's) with the client's name, open ones first,
    newest first within; their signals opened."""
    query = sa.select(Alert, Client.name).join(Client, Client.id == Alert.client_id).where(Client.active)
    if coach_id is not None:
        query = query.where(Client.coach_id == coach_id)
    query = query.order_by(Alert.acknowledged_at.is_not(None), Alert.created_at.desc(), Alert.id.desc())
    found = [(alert, name) for alert, name in await session.execute(query.execution_options(populate_existing=True))]
    _open(session, (alert for alert, _ in found))
    return found
