"""Platform rate limits, kept on our side so the platform rarely has to say 429.

Slack and Telegram both limit how fast a bot may post, overall and per conversation, and both punish bots
that keep going after a 429. Pacing ourselves is cheaper than being told off, so the outbox asks a
``PlatformLimiter`` before every send. The limiter is pure bookkeeping over an injected ``Clock``: it says how
long to wait and never sleeps, so tests drive it with a ``ManualClock`` and the worker decides how to wait.

Sends are counted when they actually start, never booked ahead: a booked slot goes stale the moment the
event loop wakes its sender late, and the next sender, woken on time, would then follow too closely. Counting
at the start keeps the spacing the platform sees, whatever the loop's hiccups.

Each limit is a token bucket kept in its "virtual scheduling" form (GCRA): one timestamp per bucket, the
theoretical arrival time of the next message, instead of a token count refilled on every call. The two are
equivalent; the timestamp form answers "when may the next one go?" directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.timing.clock import Clock


@dataclass(frozen=True, slots=True)
class RateLimits:
    """How fast one platform accepts messages: a rate and a burst overall, and per recipient (chat/channel)."""

    global_per_second: float
    global_burst: int
    per_recipient_per_second: float
    per_recipient_burst: int

    def __post_init__(self) -> None:
        if self.global_per_second <= 0 or self.per_recipient_per_second <= 0:
            raise ValueError("rates must be positive")
        if self.global_burst < 1 or self.per_recipient_burst < 1:
            raise ValueError("bursts must be at least 1")


DEFAULT_RATE_LIMITS: Mapping[str, RateLimits] = MappingProxyType(
    {
        # Telegram Bot API FAQ ("My bot is hitting limits"): in a particular chat "avoid sending more than one
        # message per second", and bulk notifications may not exceed "30 messages per second or so". No burst is
        # promised, so none is taken: a global burst of 1 keeps every one-second window at 30.
        "telegram": RateLimits(global_per_second=30, global_burst=1, per_recipient_per_second=1, per_recipient_burst=1),
        # Slack rate-limits guide: chat.postMessage allows "1 per second" per channel, "short bursts >1 allowed",
        # and keeps a workspace-wide limit whose number is not published. Three per channel is a short burst; ten
        # a second overall is our own cautious guess, far above what a coaching practice sends.
        "slack": RateLimits(global_per_second=10, global_burst=10, per_recipient_per_second=1, per_recipient_burst=3),
    }
)


#: A send this little after its slot still counts as on time. Timers wake a millisecond or so late (epoll counts
#: whole milliseconds), and if each late wake-up pushed every later slot back, the rate would fall a few per cent
#: short; a few milliseconds is far inside any platform's own tolerance.
ON_TIME = 0.005


class _Bucket:
    """One token bucket as GCRA: ``tat`` is when the bucket will have refilled completely."""

    __slots__ = ("_interval", "_tolerance", "tat")

    def __init__(self, per_second: float, burst: int) -> None:
        self._interval = 1.0 / per_second
        self._tolerance = (burst - 1) * self._interval
        self.tat = -math.inf

    def earliest(self) -> float:
        """The first moment a message conforms to this bucket."""
        return self.tat - self._tolerance

    def take(self, at: float) -> None:
        """Count a message sent at ``at``: on schedule if it was (nearly) on time, else from ``at`` on."""
        self.tat = (self.tat if at <= self.tat + ON_TIME else at) + self._interval


class PlatformLimiter:
    """Rate limits and 429 pauses for one platform.

    The caller checks, waits and checks again, then counts the send: first ``recipient_wait`` (the
    recipient's own pace), then ``platform_wait`` (the overall rate), then ``record_send`` at the moment the
    send starts. Waiting for the recipient first keeps a recipient who must wait from holding up the
    platform's next slot; the caller lets one sender at a time wait for that slot, so two senders never
    take the same one.

    The limiter assumes one message at a time per recipient, which the outbox's head-of-line rule provides.
    ``limits=None`` paces nothing but still honours pauses, so a global 429 is obeyed on any platform.
    """

    #: Recipients are forgotten once idle; pruning waits until at least this many are remembered.
    PRUNE_THRESHOLD = 1024

    def __init__(self, limits: RateLimits | None, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._global = _Bucket(limits.global_per_second, limits.global_burst) if limits else None
        self._recipients: dict[str, _Bucket] = {}
        self._paused_until = -math.inf
        self._prune_at = self.PRUNE_THRESHOLD

    def recipient_wait(self, recipient: str) -> float:
        """Seconds until ``recipient`` may hear from us again, counting any platform pause."""
        bucket = self._recipients.get(recipient)
        return self._wait_until(max(self._paused_until, bucket.earliest() if bucket else -math.inf))

    def platform_wait(self) -> float:
        """Seconds until the platform takes another message: its overall rate and any pause."""
        return self._wait_until(max(self._paused_until, self._global.earliest() if self._global else -math.inf))

    def record_send(self, recipient: str) -> None:
        """Count a send to ``recipient`` that starts now against both limits."""
        if self._limits is None or self._global is None:
            return
        now = self._now()
        self._global.take(now)
        bucket = self._recipients.get(recipient)
        if bucket is None:
            limits = self._limits
            bucket = self._recipients[recipient] = _Bucket(limits.per_recipient_per_second, limits.per_recipient_burst)
        bucket.take(now)
        self._prune(now)

    def pause(self, seconds: float) -> None:
        """Hold every send to this platform for ``seconds``, as a platform-wide 429 demands."""
        self._paused_until = max(self._paused_until, self._now() + seconds)

    def _wait_until(self, moment: float) -> float:
        return max(0.0, moment - self._now())

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely behaves exactly like a new one, so dropping it changes nothing.
        if len(self._recipients) < self._prune_at:
            return
        self._recipients = {key: b for key, b in self._recipients.items() if b.tat > now}
        self._prune_at = max(self.PRUNE_THRESHOLD, 2 * len(self._recipients))


def with_overrides(
    defaults: Mapping[str, RateLimits], overrides: Mapping[str, Mapping[str, float | int | None]]
) -> dict[str, RateLimits]:
    """The defaults with an admin's per-platform changes applied; a missing or ``None`` value keeps the default."""
    merged = dict(defaults)
    for platform, changes in overrides.items():
        base = merged[platform]
        given = {name: value for name, value in changes.items() if value is not None}
        merged[platform] = RateLimits(
            global_per_second=float(given.get("global_per_second", base.global_per_second)),
            global_burst=int(given.get("global_burst", base.global_burst)),
            per_recipient_per_second=float(given.get("per_recipient_per_second", base.per_recipient_per_second)),
            per_recipient_burst=int(given.get("per_recipient_burst", base.per_recipient_burst)),
        )
    return merged
