"""What the pages draw from each client's check-ins, kept until their history changes.

Reading ten check-ins with their answers and drawing five sparklines cost most of a practice page, and reading
sixty with their notes and drawing the trend chart most of a client page, yet a client's history changes about
once a week. So each client's drawing is kept under their history's version (``bot.store.history.history_versions``:
it moves when a check-in is added, answered, finished or removed) and redrawn only when that moves. A reloaded
setup (other question sets or texts) starts afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.coaching.status import Recent

#: How many clients' practice rows are kept: a practice of 10,000 clients is about 30 MB of SVG at most.
KEPT = 10_000
#: How many client pages' drawings are kept (a chart and sixty check-ins are about 60 kB): the pages opened
#: lately, about 12 MB.
CLIENT_PAGES_KEPT = 200

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Drawn:
    """One client's row parts drawn from their last check-ins: response rate and arrow, and the sparklines."""

    recent: Recent
    sparklines: Mapping[str, str]


class DrawnRows(Generic[T]):
    """The drawings of the clients seen most recently, each valid for one version and one setup."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._setup: object | None = None
        self._rows: OrderedDict[str, tuple[Hashable, T]] = OrderedDict()

    def for_setup(self, setup: object) -> None:
        """Forget every drawing when the setup is another one (a config reload): labels and sets may differ."""
        if setup is not self._setup:
            self._setup = setup
            self._rows.clear()

    def get(self, client_id: str, version: Hashable) -> T | None:
        found = self._rows.get(client_id)
        if found is None or found[0] != version:
            return None
        self._rows.move_to_end(client_id)
        return found[1]

    def put(self, client_id: str, version: Hashable, drawn: T) -> None:
        self._rows[client_id] = (version, drawn)
        self._rows.move_to_end(client_id)
        while len(self._rows) > self._kept:
            self._rows.popitem(last=False)
