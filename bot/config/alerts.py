"""``alerts``: when a coach is told about a client, and each detector's thresholds."""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator

from bot.config.fields import Duration, Strict


class DropSettings(Strict):
    """``drop``: the alliance index falls beyond the client's own usual variation (reliable change).

    Defaults, tuned on ``benchmarks/signals_eval.py``: a baseline of up to 8 earlier check-ins is about two
    months of weekly check-ins, recent enough to be "usual" now; 4 is the fewest whose spread means anything.
    ``z: 3.0`` rather than the textbook 1.96 because the test runs at every check-in: at 1.96 a stable client
    would cross it by chance every few months. ``min_sd: 0.25`` (a quarter point on the 1–5 index) stands in
    for the spread of a client whose answers never vary, so one point less on one question is not "beyond
    their range". ``min_change: 1.0``, every answer a point lower or the like, because at 0.75 steady clients
    crossed it by chance often enough that fresh synthetic practices alerted up to 6 % of their stable clients
    (the goal is 5 %), while ruptures and declines are found as before (docs/signals.md).
    """

    enabled: bool = True
    baseline: int = Field(8, ge=2, le=52)
    min_history: int = Field(4, ge=2, le=52)
    z: float = Field(3.0, gt=0, le=10)
    min_sd: float = Field(0.25, gt=0, le=4)
    min_change: float = Field(1.0, ge=0, le=4)

    @model_validator(mode="after")
    def _history_fits(self) -> Self:
        if self.min_history > self.baseline:
            raise ValueError("min_history cannot be larger than baseline")
        return self


class DowntrendSettings(Strict):
    """``downtrend``: a sustained fall of the alliance index that no single check-in shows.

    Defaults: a window of 6 check-ins (six weeks at a weekly cadence) is long enough for a slope to mean
    something and short enough to be "recent". A fitted fall of at least 0.2 points per check-in is a whole
    point over the window, every answer a point lower; the slope must also be at least ``t: 3`` standard
    errors below zero, so a noisy client's zig-zag is not read as a trend. Gentler slopes raised false alarms
    for stable clients on the evaluation set while the drop and floor detectors catch slow slides later anyway.
    """

    enabled: bool = True
    window: int = Field(6, ge=3, le=52)
    min_slope: float = Field(0.2, gt=0, le=4)
    t: float = Field(3.0, ge=0, le=20)


class WithdrawalSettings(Strict):
    """``withdrawal``: the client pulling back: check-ins missed, answered much later or much more briefly.

    A check-in counts as withdrawn when it expired or was skipped, or was answered at least ``slower_factor``
    times later than the client's median (and at least ``slower_min`` later, so 2 minutes against a usual
    30 seconds is not news), or with at most ``shorter_factor`` of their usual amount of text (only for clients
    who usually write at least ``min_usual_chars``), or with ``skipped_items`` relationship questions left out.
    ``in_a_row: 3``: the weight of the signs since the pull-back began (a missed check-in weighs 1, a reply far
    later than usual 2; see the detector), because busy, committed clients miss two in a row but rarely three.
    The client's norm needs ``min_history: 4`` answered check-ins.
    """

    enabled: bool = True
    in_a_row: int = Field(3, ge=1, le=20)
    min_history: int = Field(4, ge=2, le=52)
    slower_factor: float = Field(4.0, gt=1, le=100)
    slower_min: Duration = timedelta(hours=12)
    shorter_factor: float = Field(0.25, gt=0, lt=1)
    min_usual_chars: int = Field(60, ge=1, le=10_000)
    skipped_items: int = Field(2, ge=1, le=5)


class WordsSettings(Strict):
    """``words`` and ``wellbeing``: phrases in free text, from ``prompts/risk_phrases.yaml``."""

    enabled: bool = True


class StalledProgressSettings(Strict):
    """``stalled_progress``: goal progress flat or falling; context for the coach, never an alert on its own.

    Defaults: 4 check-ins (a month at a weekly cadence) with no rise and a latest answer at or below 3 ("some")
    on the 1–5 scale: flat at "a lot" is not stalled, and three check-ins of "a little" can be a slow start.
    """

    enabled: bool = True
    window: int = Field(4, ge=2, le=52)
    at_most: float = Field(3, ge=1, le=5)


class Alerts(Strict):
    """When a coach is told, and how often. Each detector has its own section; every key is optional.

    ``cooldown`` is per client and signal kind: within it a coach hears about the same kind again only when it
    got worse (as a short "still declining" update). Two weeks by default, longer than the commonest (weekly)
    cadence, so a weekly client whose answer stays low is not alerted in full every week.
    ``resend_urgent_after`` re-sends an urgent alert nobody acknowledged, once.
    """

    low_score_floor: int = Field(2, ge=1, le=5)
    cooldown: Duration = timedelta(days=14)
    resend_urgent_after: Duration = timedelta(hours=24)
    drop: DropSettings = DropSettings()
    downtrend: DowntrendSettings = DowntrendSettings()
    withdrawal: WithdrawalSettings = WithdrawalSettings()
    words: WordsSettings = WordsSettings()
    stalled_progress: StalledProgressSettings = StalledProgressSettings()
