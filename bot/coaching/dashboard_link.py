"""One-time links that sign a coach (or an admin) in to the dashboard, and the hashing both ends share.

The link carries a random token; the database keeps only its SHA-256, so a leaked database or backup opens
nothing. A link works once, within ``LINK_VALID``: the dashboard redeems it when the coach presses "Open" on
the page it leads to (a chat app fetching the link for a preview only reads that page, it does not sign in).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from bot.store import Session, dashboard

#: How long a sign-in link can be used.
LINK_VALID = timedelta(minutes=10)
#: The path the link opens on the dashboard's server.
OPEN_PATH = "/dashboard/open"


def new_token() -> str:
    """A random token with 256 bits of entropy, safe in a URL."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a link or session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_link(session: Session, coach_id: str | None, public_url: str, now: datetime) -> str:
    """A new sign-in link for the coach, or with ``coach_id`` None an admin's read-only one for every client."""
    token = new_token()
    await dashboard.create_link(session, token_hash(token), coach_id, now, LINK_VALID)
    return f"{public_url}{OPEN_PATH}?t={token}"
