"""The ``dashboard`` section: where the coach's dashboard listens and the address coaches open it at.

Off unless the section is there. ``listen`` is ``host:port`` (``[::1]:8080`` for IPv6); ``public_url`` is what
the links in a coach's DM start with, normally a reverse proxy terminating TLS in front of ``listen``. The
session cookie is marked ``Secure`` exactly when ``public_url`` is https, so the two must agree with how
coaches reach it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import field_validator

from bot.config.fields import Strict

#: ``host:port`` or ``[v6]:port``; the host the same characters ``observability.http.listen`` accepts.
_LISTEN = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)):(?P<port>\d{1,5})$"
)


class Dashboard(Strict):
    listen: str = "127.0.0.1:8080"
    public_url: str

    @field_validator("listen")
    @classmethod
    def _listen(cls, listen: str) -> str:
        found = _LISTEN.match(listen)
        if found is None:
            raise ValueError("expected host:port to listen on, such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080")
        if int(found["port"]) > 65535:
            raise ValueError("the port must be between 0 and 65535")
        return listen

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ValueError("the URL cannot be parsed") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected the address coaches open, such as https://coach.example.com")
        if parts.query or parts.fragment or parts.username or parts.password or parts.path.strip("/"):
            raise ValueError(
                "expected the site's address alone, without a path, user, query or fragment, such as "
                "https://coach.example.com (the dashboard lives at /dashboard/ under it)"
            )
        return url.rstrip("/")

    @property
    def host(self) -> str:
        """The address to bind, without IPv6 brackets."""
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def secure(self) -> bool:
        """Whether coaches reach it over https, so the session cookie may travel only that way."""
        return self.public_url.startswith("https://")
