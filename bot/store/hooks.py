"""Work that must wait for a transaction to commit, such as counting what it did."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession


def on_commit(session: AsyncSession, action: Callable[[], object]) -> None:
    """Run ``action`` once ``session``'s transaction commits; never if it rolls back."""
    event.listen(session.sync_session, "after_commit", lambda _session: action(), once=True)
