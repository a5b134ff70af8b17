"""The platform rate limiter, driven by a ManualClock: bursts, steady rates, independence, pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery.ratelimit import DEFAULT_RATE_LIMITS, PlatformLimiter, RateLimits, with_overrides
from bot.timing.clock import ManualClock

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def send_when_allowed(limiter: PlatformLimiter, clock: ManualClock, recipient: str) -> float:
    """Wait (by moving the clock) as the outbox does, send, and return how long the wait was."""
    began = clock.now()
    while wait := max(limiter.recipient_wait(recipient), limiter.platform_wait()):
        clock.advance(timedelta(seconds=wait))
    limiter.record_send(recipient)
    return (clock.now() - began).total_seconds()


def test_a_recipient_gets_its_burst_then_the_steady_rate(clock: ManualClock) -> None:
    limiter = PlatformLimiter(RateLimits(100, 100, per_recipient_per_second=1, per_recipient_burst=3), clock)
    for _ in range(3):
        limiter.record_send("alice")
    assert limiter.recipient_wait("alice") == pytest.approx(1.0)
    clock.advance(timedelta(seconds=0.5))
    assert limiter.recipient_wait("alice") == pytest.approx(0.5)
    assert [send_when_allowed(limiter, clock, "alice") for _ in range(3)] == pytest.approx([0.5, 1.0, 1.0])
    clock.advance(timedelta(seconds=10))
    assert [send_when_allowed(limiter, clock, "alice") for _ in range(4)] == pytest.approx([0, 0, 0, 1.0])


def test_recipients_are_limited_independently(clock: ManualClock) -> None:
    limiter = PlatformLimiter(DEFAULT_RATE_LIMITS["telegram"], clock)
    limiter.record_send("alice")
    assert limiter.recipient_wait("alice") == pytest.approx(1.0)
    assert limiter.recipient_wait("bob") == 0
    # Bob waits only for the platform's next slot, 1/30 s after Alice's send, not for Alice's chat.
    assert limiter.platform_wait() == pytest.approx(1 / 30)


def test_the_global_rate_caps_all_recipients_together(clock: ManualClock) -> None:
    limiter = PlatformLimiter(RateLimits(2, 2, per_recipient_per_second=1, per_recipient_burst=1), clock)
    waits = [send_when_allowed(limiter, clock, f"user-{n}") for n in range(6)]
    assert waits == pytest.approx([0, 0, 0.5, 0.5, 0.5, 0.5])  # the global burst of 2, then one every 0.5 s
    clock.advance(timedelta(seconds=10))
    assert [send_when_allowed(limiter, clock, f"late-{n}") for n in range(3)] == pytest.approx([0, 0, 0.5])


def test_a_late_send_pushes_the_next_slot_back(clock: ManualClock) -> None:
    """Counted when it starts: a sender woken late cannot be followed too closely by one woken on time."""
    limiter = PlatformLimiter(DEFAULT_RATE_LIMITS["telegram"], clock)
    limiter.record_send("alice")
    clock.advance(timedelta(seconds=0.1))  # the next slot was due after 1/30 s; this send starts late
    limiter.record_send("bob")
    assert limiter.platform_wait() == pytest.approx(1 / 30)


def test_a_send_a_moment_late_keeps_to_the_schedule(clock: ManualClock) -> None:
    """Timer wake-ups overshoot by a millisecond or so; that must not slow the long-run rate."""
    limiter = PlatformLimiter(DEFAULT_RATE_LIMITS["telegram"], clock)
    limiter.record_send("alice")
    clock.advance(timedelta(seconds=1 / 30 + 0.002))
    limiter.record_send("bob")
    assert limiter.platform_wait() == pytest.approx(1 / 30 - 0.002, abs=1e-5)


def test_a_platform_pause_holds_every_recipient(clock: ManualClock) -> None:
    limiter = PlatformLimiter(DEFAULT_RATE_LIMITS["slack"], clock)
    limiter.pause(10)
    assert limiter.recipient_wait("alice") == pytest.approx(10)
    assert limiter.platform_wait() == pytest.approx(10)
    clock.advance(timedelta(seconds=10))
    assert send_when_allowed(limiter, clock, "alice") == 0


def test_an_unlimited_platform_still_honours_a_pause(clock: ManualClock) -> None:
    limiter = PlatformLimiter(None, clock)
    assert [send_when_allowed(limiter, clock, "alice") for _ in range(50)] == [0] * 50
    limiter.pause(3)
    assert limiter.recipient_wait("bob") == pytest.approx(3)
    assert limiter.platform_wait() == pytest.approx(3)


def test_idle_recipients_are_forgotten_without_changing_any_answer(clock: ManualClock) -> None:
    limiter = PlatformLimiter(RateLimits(1_000_000, 1_000_000, 1, 1), clock)
    threshold = PlatformLimiter.PRUNE_THRESHOLD
    for n in range(threshold):
        limiter.record_send(f"early-{n}")
    clock.advance(timedelta(seconds=2))
    for n in range(threshold):
        limiter.record_send(f"late-{n}")
    assert len(limiter._recipients) == threshold  # the early ones had refilled and were dropped
    assert limiter.recipient_wait("early-0") == 0
    assert limiter.recipient_wait("late-0") == pytest.approx(1.0)


@pytest.mark.parametrize(
    "limits",
    [
        {"global_per_second": 0, "global_burst": 1, "per_recipient_per_second": 1, "per_recipient_burst": 1},
        {"global_per_second": 1, "global_burst": 1, "per_recipient_per_second": 1, "per_recipient_burst": 0},
    ],
)
def test_nonsense_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimits(**limits)  # type: ignore[arg-type]


def test_an_admin_can_change_one_limit_and_keep_the_others() -> None:
    merged = with_overrides(DEFAULT_RATE_LIMITS, {"slack": {"global_per_second": 20, "global_burst": None}})
    assert merged["slack"].global_per_second == 20
    assert merged["slack"].global_burst == DEFAULT_RATE_LIMITS["slack"].global_burst
    assert merged["slack"].per_recipient_per_second == 1
    assert merged["telegram"] == DEFAULT_RATE_LIMITS["telegram"]
