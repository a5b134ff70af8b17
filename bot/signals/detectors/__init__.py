"""Every detector over one client's history, judged at its latest check-in.

``detect`` is the one entry point: the runtime calls it when a check-in completes or expires, ``checkin replay``
calls it for each line of a history file, and the evaluation benchmark goes through replay. Each detector can be
switched off in ``alerts`` in the config; ``low_score`` cannot, since it is the floor everything else builds on.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config.alerts import Alerts
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.detectors.common import relationship_questions
from bot.signals.detectors.downtrend import detect_downtrend
from bot.signals.detectors.drop import detect_drop
from bot.signals.detectors.low_score import detect_low_score
from bot.signals.detectors.progress import detect_stalled_progress
from bot.signals.detectors.withdrawal import detect_withdrawal
from bot.signals.detectors.words import RiskPhrases, detect_words, load_risk_phrases
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal

__all__ = ["RiskPhrases", "detect", "load_risk_phrases"]


def detect(
    history: Sequence[HistoryEntry],
    settings: Alerts,
    question_set: QuestionSet,
    texts: Texts,
    phrases: RiskPhrases | None = None,
) -> tuple[Signal, ...]:
    """The signals raised by ``history[-1]`` given everything before it; ``history`` is in time order."""
    if not history:
        return ()
    current = history[-1]
    questions = relationship_questions(question_set)
    signals = detect_low_score(current, questions, texts, floor=settings.low_score_floor)
    if settings.drop.enabled:
        signals += detect_drop(history, questions, texts, settings.drop)
    if settings.downtrend.enabled:
        signals += detect_downtrend(history, questions, texts, settings.downtrend)
    if settings.withdrawal.enabled:
        signals += detect_withdrawal(history, questions, texts, settings.withdrawal)
    if settings.words.enabled:
        signals += detect_words(current, texts, phrases or load_risk_phrases(), history[:-1], questions)
    if settings.stalled_progress.enabled:
        signals += detect_stalled_progress(history, question_set, texts, settings.stalled_progress)
    return tuple(signals)
