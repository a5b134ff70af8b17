"""Pages kept as rendered until what they show changes, so a reload of an unchanged page renders nothing.

Rendering a practice of twenty rows or a client's sixty check-ins costs more than reading what they show, and a
coach reloads the same page far more often than it changes. A page is kept per place (its template, whose view,
which client) with the values it was rendered from; a load renders again only when its freshly read values
differ. The one per-session part of a page, the CSRF token in its forms, is rendered as a placeholder and put in
on the way out, so a kept page never carries another session's token.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Hashable

#: How many pages are kept: a practice page is about 40 kB and a client page about 50 kB, so about 25 MB.
KEPT = 500


class RenderedPages:
    """The pages rendered most recently, each with the values it shows, the CSRF token left out."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        #: Random per process, so no value a page shows can be mistaken for it.
        self.placeholder = secrets.token_urlsafe(24)
        self._pages: OrderedDict[Hashable, tuple[object, str]] = OrderedDict()

    def page(self, where: Hashable, shown: object, render: Callable[[], str], csrf_token: str) -> str:
        """The page at ``where`` showing ``shown`` (compared by equality), rendered by ``render`` with
        ``placeholder`` for the CSRF token only when no equal one is kept; with ``csrf_token`` in its forms."""
        kept = self._pages.pop(where, None)
        if kept is None or kept[0] != shown:
            kept = (shown, render())
        self._pages[where] = kept
        while len(self._pages) > self._kept:
            self._pages.popitem(last=False)
        return kept[1].replace(self.placeholder, csrf_token)
