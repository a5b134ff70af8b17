"""``checkin replay``: a history file through the detectors and the alert policy, as if it were happening.

So a coach can tune thresholds on real data: the same ``bot.signals.alerts.evaluate`` the runtime calls, fed one
check-in at a time in time order, each client with their own history and alert memory. Bad lines are reported
with their number and skipped rather than ending the run, because a history export with one broken line should
still tell the coach everything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import get_args

from bot.config import Alerts, Client, Config
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.alerts import AlertMemory, evaluate
from bot.signals.detectors import RiskPhrases, load_risk_phrases
from bot.signals.history import HistoryEntry, HistoryStatus

DEFAULT_QUESTION_SET = "default"
_STATUSES: tuple[str, ...] = get_args(HistoryStatus)
_KEYS = frozenset({"client", "at", "status", "answers", "sent_at", "completed_at"})


@dataclass(frozen=True, slots=True)
class ReplaySetup:
    """Thresholds, question sets and people: from a config file, or the defaults when there is none."""

    settings: Alerts
    question_sets: Mapping[str, QuestionSet]
    clients: Mapping[str, Client]
    texts: Texts

    @classmethod
    def from_config(cls, config: Config, question_sets: Mapping[str, QuestionSet], texts: Texts) -> ReplaySetup:
        return cls(config.alerts, question_sets, config.clients_by_id, texts)

    def question_set(self, client_id: str) -> QuestionSet:
        client = self.clients.get(client_id)
        return self.question_sets[client.question_set if client else DEFAULT_QUESTION_SET]

    def name(self, client_id: str) -> str:
        client = self.clients.get(client_id)
        return client.name if client else client_id


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ReplayResult:
    #: One JSON-ready object per alert, in time order.
    alerts: list[dict[str, object]]
    problems: list[LineProblem]


class _Malformed(ValueError):
    pass


def replay(lines: Iterable[str | bytes], setup: ReplaySetup, phrases: RiskPhrases | None = None) -> ReplayResult:
    phrases = phrases or load_risk_phrases()
    problems: list[LineProblem] = []
    parsed: list[tuple[HistoryEntry, str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8") if isinstance(line, bytes) else line
            if text.strip():
                parsed.append(_parse(text, setup))
        except UnicodeDecodeError:
            problems.append(LineProblem(number, "not UTF-8 text"))
        except _Malformed as exc:
            problems.append(LineProblem(number, str(exc)))
    parsed.sort(key=lambda item: item[0].at)  # stable: lines with the same time keep the file's order
    histories: dict[str, list[HistoryEntry]] = {}
    memories: dict[str, AlertMemory] = {}
    alerts: list[dict[str, object]] = []
    for entry, at_as_given in parsed:
        history = histories.setdefault(entry.client_id, [])
        history.append(entry)
        outcome = evaluate(
            history,
            settings=setup.settings,
            question_set=setup.question_set(entry.client_id),
            texts=setup.texts,
            client_name=setup.name(entry.client_id),
            previous=memories.get(entry.client_id, AlertMemory()),
            now=entry.at,
            phrases=phrases,
        )
        memories[entry.client_id] = outcome.memory
        if outcome.alert is not None:
            alerts.append(
                {
                    "client": entry.client_id,
                    "at": at_as_given,
                    "severity": outcome.alert.severity,
                    "signals": [signal.to_json() for signal in outcome.alert.signals],
                }
            )
    return ReplayResult(alerts, problems)


def _parse(line: str, setup: ReplaySetup) -> tuple[HistoryEntry, str]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _Malformed(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _Malformed("expected a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _Malformed(f"unknown key(s) {', '.join(unknown)}")
    client = data.get("client")
    if not isinstance(client, str) or not client:
        raise _Malformed("'client' must be a non-empty string")
    status = data.get("status")
    if status not in _STATUSES:
        raise _Malformed(f"'status' must be one of {', '.join(_STATUSES)}")
    at_as_given = data.get("at")
    at = _time(data, "at")
    if at is None or not isinstance(at_as_given, str):
        raise _Malformed("'at' is required")
    answers = data.get("answers", {})
    if not isinstance(answers, dict):
        raise _Malformed("'answers' must be an object")
    scores, texts = _answers(answers, setup.question_set(client))
    entry = HistoryEntry(client, at, status, scores, texts, _time(data, "sent_at"), _time(data, "completed_at"))
    return entry, at_as_given


def _time(data: Mapping[str, object], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Malformed(f"'{key}' must be an ISO 8601 time such as 2026-03-03T09:00:00+00:00")
    if parsed.tzinfo is None:
        raise _Malformed(f"'{key}' needs a UTC offset, such as +00:00")
    return parsed


def _answers(answers: Mapping[str, object], question_set: QuestionSet) -> tuple[dict[str, float], dict[str, str]]:
    scores: dict[str, float] = {}
    texts: dict[str, str] = {}
    for key, value in answers.items():
        try:
            question = question_set.question(key)
        except KeyError:
            raise _Malformed(f"answer '{key}' is not a question of the '{question_set.id}' question set") from None
        if question.scale is None:
            if not isinstance(value, str):
                raise _Malformed(f"answer '{key}' must be text")
            texts[key] = value
            continue
        # A per-goal question may be given per goal ({"delegate": 4, "board": 3}); the history keeps the mean.
        values = list(value.values()) if question.per_goal and isinstance(value, dict) and value else [value]
        numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != len(values):
            raise _Malformed(f"answer '{key}' must be a number")
        if not all(question.scale.min <= v <= question.scale.max for v in numbers):
            raise _Malformed(f"answer '{key}' must be on its scale, {question.scale.min} to {question.scale.max}")
        scores[key] = fmean(numbers)
    return scores, texts
