"""How fast one browser may load dashboard pages, so a tab reloading in a loop cannot starve other coaches.

A token bucket per key (a session's cookie, or the address of a browser not yet signed in): ``burst`` loads at
once, then ``per_second`` on average. Time comes from an injected monotonic source, so tests step it by hand
and the wall clock jumping cannot refill or drain a bucket. Only the most recently seen ``KEPT`` keys are
remembered: one forgotten has been idle longest, and its bucket would be full again anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: How many browsers' buckets are remembered.
KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Pace:
    """``burst`` loads at once, then ``per_second`` on average."""

    burst: int
    per_second: float


#: A signed-in browser: a practice page, a client, back and forth, faster than anyone reads.
SESSION_PACE = Pace(burst=20, per_second=2)
#: The sign-in pages, per address: a coach opens a link a few times a day; several behind one proxy share it.
ADDRESS_PACE = Pace(burst=20, per_second=0.5)


class Pacing:
    """Admits a load for a key while its bucket holds a token; otherwise says how long until one is back."""

    def __init__(self, pace: Pace, now: Callable[[], float], kept: int = KEPT) -> None:
        self._pace = pace
        self._now = now
        self._kept = kept
        #: key -> (tokens, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, key: str) -> float:
        """Take a token for ``key``: 0 when admitted, else the seconds until the next one (nothing is taken)."""
        now = self._now()
        tokens, then = self._buckets.pop(key, (self._pace.burst, now))
        tokens = min(self._pace.burst, tokens + (now - then) * self._pace.per_second)
        admitted = tokens >= 1
        self._buckets[key] = (tokens - 1 if admitted else tokens, now)
        while len(self._buckets) > self._kept:
            self._buckets.popitem(last=False)
        return 0.0 if admitted else (1 - tokens) / self._pace.per_second
