"""The check-in conversation as a pure state machine.

``(context, state, event, now) -> Transition(new state, messages, effects)`` and nothing else: no database,
no network, no clock. The runtime stores the new state, the effects and the outgoing messages in one
transaction, which is what lets a restart resume a conversation exactly where it stopped and lets every
edge case (typos, stale buttons, "back" after a conditional question) be tested in microseconds.

The state holds numbers and positions only, never free text: what a client writes goes straight to the
answers table (where it can be encrypted) and is not copied into the conversation state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.contract.messages import Choice
from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import Question, QuestionSet
from bot.conversation.replies import Command, normalize, parse_command, parse_scale
from bot.conversation.texts import Texts

SKIP_VALUE = "skip"
_SURROGATE = re.compile("[\ud800-\udfff]")
STATE_VERSION = 1


# ---- inputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextReply:
    text: str


@dataclass(frozen=True, slots=True)
class ChoiceReply:
    """A button press; ``step_key`` says which question the button belonged to."""

    step_key: str
    value: str


Event = TextReply | ChoiceReply


@dataclass(frozen=True, slots=True)
class GoalRef:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Context:
    """Everything about the client the conversation needs, resolved by the runtime from config."""

    question_set: QuestionSet
    texts: Texts
    timezone: ZoneInfo
    client_name: str
    coach_name: str


# ---- outputs --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to the client; adapters render ``choices`` as buttons, or numbered lines where they can't."""

    text: str
    choices: tuple[Choice, ...] = ()
    step_key: str | None = None


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    step_key: str
    question_id: str
    dimension: str
    goal_id: str | None
    value: int | None
    text: str | None


@dataclass(frozen=True, slots=True)
class ClearAnswer:
    step_key: str


@dataclass(frozen=True, slots=True)
class FinishCheckIn:
    status: Literal[CheckInStatus.COMPLETED, CheckInStatus.SKIPPED]


@dataclass(frozen=True, slots=True)
class PauseClient:
    until: datetime


@dataclass(frozen=True, slots=True)
class OptOut:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class RequestCheckIn:
    """The client asked for a check-in now; the runtime starts one as if its slot had come."""


@dataclass(frozen=True, slots=True)
class ShowProgress:
    """The client asked to see their goals; the runtime reads their answers and sends the chart."""


Effect = RecordAnswer | ClearAnswer | FinishCheckIn | PauseClient | OptOut | Resume | RequestCheckIn | ShowProgress


# ---- state ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    question_id: str
    goal_id: str | None = None
    goal_title: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    value: int | None
    has_text: bool = False


@dataclass(frozen=True, slots=True)
class ConversationState:
    steps: tuple[Step, ...]
    position: int
    answers: Mapping[str, Recorded] = field(default_factory=dict)
    #: Positions asked so far, oldest first; "back" walks this, so skipped conditional steps are not revisited.
    asked: tuple[int, ...] = ()
    finished: bool = False

    @property
    def current(self) -> Step:
        return self.steps[self.position]

    def skipped(self) -> tuple[str, ...]:
        """Ids of the questions the client was asked and left unanswered, once each, in the order asked."""
        unanswered = (self.steps[p] for p in self.asked if p < len(self.steps))
        ids = (step.question_id for step in unanswered if step.key not in self.answers)
        return tuple(dict.fromkeys(ids))

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "steps": [
                {"key": s.key, "question_id": s.question_id, "goal_id": s.goal_id, "goal_title": s.goal_title}
                for s in self.steps
            ],
            "position": self.position,
            "answers": {k: {"value": a.value, "has_text": a.has_text} for k, a in self.answers.items()},
            "asked": list(self.asked),
            "finished": self.finished,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConversationState:
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported conversation state version {data.get('v')!r}")
        return cls(
            steps=tuple(Step(**s) for s in data["steps"]),
            position=int(data["position"]),
            answers={k: Recorded(a["value"], bool(a["has_text"])) for k, a in data["answers"].items()},
            asked=tuple(int(p) for p in data["asked"]),
            finished=bool(data["finished"]),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    state: ConversationState | None
    messages: tuple[Outgoing, ...] = ()
    effects: tuple[Effect, ...] = ()


# ---- the machine ----------------------------------------------------------------------------------------


def plan_steps(question_set: QuestionSet, goals: Sequence[GoalRef]) -> tuple[Step, ...]:
    """One step per question, and one per active goal for per-goal questions (none if there are no goals)."""
    steps: list[Step] = []
    for question in question_set.questions:
        if question.per_goal:
            steps.extend(Step(f"{question.id}:{g.id}", question.id, g.id, g.title) for g in goals)
        else:
            steps.append(Step(question.id, question.id))
    return tuple(steps)


def begin(ctx: Context, goals: Sequence[GoalRef], *, first_checkin: bool) -> Transition:
    """Open a check-in: the privacy notice the first time, a greeting, and the first question."""
    state = ConversationState(steps=plan_steps(ctx.question_set, goals), position=-1)
    opening: list[Outgoing] = []
    if first_checkin:
        opening.append(Outgoing(ctx.texts.render("privacy_notice", coach_name=ctx.coach_name)))
    count = len(_counted_positions(ctx, state))
    opening.append(Outgoing(ctx.texts.render("intro", client_name=ctx.client_name, count=count)))
    moved = _advance(ctx, state)
    return replace(moved, messages=(*opening, *moved.messages))


def handle(ctx: Context, state: ConversationState, event: Event, now: datetime) -> Transition:
    """Apply one reply to an open check-in."""
    if state.finished:
        return handle_idle(ctx, event, now, paused=False, opted_out=False)
    if isinstance(event, ChoiceReply):
        return _handle_choice(ctx, state, event, now)
    command = parse_command(event.text)
    if command is not None:
        return _handle_command(ctx, state, command, now)
    return _handle_answer(ctx, state, event.text)


def handle_idle(ctx: Context, event: Event, now: datetime, *, paused: bool, opted_out: bool) -> Transition:
    """A message while no check-in is open: only the client's own commands mean anything."""
    command = parse_command(event.text) if isinstance(event, TextReply) else None
    texts = ctx.texts
    if command is None or command.name in ("skip", "skip_all", "back"):
        return Transition(None, (Outgoing(texts.render("no_open_checkin")),))
    if command.name == "help":
        return Transition(None, (Outgoing(texts.render("help")),))
    if command.name == "progress":
        return Transition(None, (), (ShowProgress(),))
    if command.name == "stop":
        return Transition(None, (Outgoing(texts.render("stopped", coach_name=ctx.coach_name)),), (OptOut(),))
    if command.name == "resume":
        if paused or opted_out:
            return Transition(None, (Outgoing(texts.render("resumed")),), (Resume(),))
        return Transition(None, (Outgoing(texts.render("already_active")),))
    if command.name == "checkin":
        if paused or opted_out:
            return Transition(None, (Outgoing(texts.render("checkin_needs_resume")),))
        return Transition(None, (), (RequestCheckIn(),))
    return _pause(ctx, None, command, now)


def remind(ctx: Context, state: ConversationState) -> Transition:
    """A nudge for an unanswered check-in: the reminder text and the question the client is on."""
    return _reask(ctx, state, ctx.texts.render("reminder"))


def expire(ctx: Context, state: ConversationState) -> Transition:
    """Close a check-in nobody answered in time; answers given so far stay, the client is told kindly."""
    return Transition(replace(state, finished=True), (Outgoing(ctx.texts.render("expired")),))


def _handle_command(ctx: Context, state: ConversationState, command: Command, now: datetime) -> Transition:
    texts = ctx.texts
    if command.name == "help":
        return _reask(ctx, state, texts.render("help"))
    if command.name == "skip":
        return _skip_current(ctx, state)
    if command.name == "skip_all":
        return _finish(state, CheckInStatus.SKIPPED, Outgoing(texts.render("skipped_all")))
    if command.name == "back":
        return _back(ctx, state)
    if command.name == "stop":
        finished = _finish(state, CheckInStatus.SKIPPED, Outgoing(texts.render("stopped", coach_name=ctx.coach_name)))
        return replace(finished, effects=(OptOut(), *finished.effects))
    if command.name == "resume":
        return _reask(ctx, state, texts.render("already_active"))
    if command.name == "checkin":
        return _reask(ctx, state, texts.render("checkin_already_open"))
    if command.name == "progress":
        return _reask(ctx, state, texts.render("progress_after_checkin"))
    return _pause(ctx, state, command, now)


def _pause(ctx: Context, state: ConversationState | None, command: Command, now: datetime) -> Transition:
    if command.duration is None:
        if state is None:
            return Transition(None, (Outgoing(ctx.texts.render("pause_needs_duration")),))
        return _reask(ctx, state, ctx.texts.render("pause_needs_duration"))
    until = now + command.duration
    local = until.astimezone(ctx.timezone)
    message = Outgoing(ctx.texts.render("paused", until=ctx.texts.date(local)))
    if state is None:
        return Transition(None, (message,), (PauseClient(until),))
    finished = _finish(state, CheckInStatus.SKIPPED, message)
    return replace(finished, effects=(PauseClient(until), *finished.effects))


def _handle_choice(ctx: Context, state: ConversationState, event: ChoiceReply, now: datetime) -> Transition:
    if event.step_key != state.current.key:
        return _reask(ctx, state, ctx.texts.render("stale_choice"))
    if event.value == SKIP_VALUE:
        return _skip_current(ctx, state)
    return _handle_answer(ctx, state, event.value)


def _handle_answer(ctx: Context, state: ConversationState, text: str) -> Transition:
    step = state.current
    question = ctx.question_set.question(step.question_id)
    if question.scale is not None:
        reading = parse_scale(text, question.scale)
        if reading.value is None:
            scale = question.scale
            if reading.out_of_range is not None:
                hint = ctx.texts.render("hint_out_of_range", value=reading.out_of_range, min=scale.min, max=scale.max)
            else:
                labels = ", ".join(f'"{label}"' for label in scale.labels.values())
                hint = ctx.texts.render("hint_scale", min=scale.min, max=scale.max, labels=labels)
            return _reask(ctx, state, hint)
        return _record(ctx, state, question, Recorded(reading.value), None)
    if not normalize(text):
        return _reask(ctx, state, ctx.texts.render("hint_text"))
    return _record(ctx, state, question, Recorded(None, has_text=True), storable(text))


def storable(text: str) -> str:
    """``text`` trimmed and made storable: PostgreSQL refuses NUL in text and UTF-8 has no lone surrogates
    (a JSON ``\\ud800`` from a platform), so NULs are dropped and surrogates replaced; the rest is kept whole."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", "")).strip()


def _record(
    ctx: Context, state: ConversationState, question: Question, recorded: Recorded, text: str | None
) -> Transition:
    step = state.current
    effect = RecordAnswer(step.key, question.id, question.dimension, step.goal_id, recorded.value, text)
    answered = replace(state, answers={**state.answers, step.key: recorded})
    moved = _advance(ctx, answered)
    return replace(moved, effects=(effect, *moved.effects))


def _skip_current(ctx: Context, state: ConversationState) -> Transition:
    step = state.current
    if step.key not in state.answers:
        return _advance(ctx, state)
    remaining = {k: v for k, v in state.answers.items() if k != step.key}
    moved = _advance(ctx, replace(state, answers=remaining))
    return replace(moved, effects=(ClearAnswer(step.key), *moved.effects))


def _back(ctx: Context, state: ConversationState) -> Transition:
    if len(state.asked) < 2:
        return _reask(ctx, state, ctx.texts.render("back_at_start"))
    previous = state.asked[-2]
    moved = replace(state, position=previous, asked=state.asked[:-1])
    return _reask(ctx, moved, ctx.texts.render("going_back"))


def _advance(ctx: Context, state: ConversationState) -> Transition:
    """Move to the next question that applies; clear answers of follow-ups that no longer apply."""
    cleared: list[Effect] = []
    answers = dict(state.answers)
    position = state.position + 1
    while position < len(state.steps):
        step = state.steps[position]
        if _applies(ctx, step, answers):
            break
        if answers.pop(step.key, None) is not None:
            cleared.append(ClearAnswer(step.key))
        position += 1
    if position >= len(state.steps):
        done = replace(state, answers=answers, position=len(state.steps))
        finished = _finish(
            done, CheckInStatus.COMPLETED, Outgoing(ctx.texts.render("completed", coach_name=ctx.coach_name))
        )
        return replace(finished, effects=(*cleared, *finished.effects))
    moved = replace(state, answers=answers, position=position, asked=(*state.asked, position))
    return Transition(moved, (_question_message(ctx, moved),), tuple(cleared))


def _finish(
    state: ConversationState, status: Literal[CheckInStatus.COMPLETED, CheckInStatus.SKIPPED], message: Outgoing
) -> Transition:
    return Transition(replace(state, finished=True), (message,), (FinishCheckIn(status),))


def _reask(ctx: Context, state: ConversationState, preface: str) -> Transition:
    return Transition(state, (Outgoing(preface), _question_message(ctx, state)))


def _applies(ctx: Context, step: Step, answers: Mapping[str, Recorded]) -> bool:
    condition = ctx.question_set.question(step.question_id).ask_if
    if condition is None:
        return True
    return any(
        key.partition(":")[0] in condition.any_of and recorded.value is not None and recorded.value <= condition.at_most
        for key, recorded in answers.items()
    )


def _counted_positions(ctx: Context, state: ConversationState) -> list[int]:
    """The questions "(3/8)" counts: every one asked whatever the answers. A follow-up that a low answer
    brings in is shown as a follow-up instead, so the count a client was promised never changes mid-way."""
    return [i for i, step in enumerate(state.steps) if ctx.question_set.question(step.question_id).ask_if is None]


def _question_message(ctx: Context, state: ConversationState) -> Outgoing:
    step = state.current
    question = ctx.question_set.question(step.question_id)
    counted = _counted_positions(ctx, state)
    text = question.text.format(goal=step.goal_title) if question.per_goal else question.text
    if state.position in counted:
        body = ctx.texts.render("question", number=counted.index(state.position) + 1, count=len(counted), text=text)
    else:
        body = ctx.texts.render("question_followup", text=text)
    recorded = state.answers.get(step.key)
    if question.scale is not None:
        labels = question.scale.labels
        choices = tuple(
            Choice(str(p), f"{p} · {labels[p]}" if p in labels else str(p)) for p in question.scale.points()
        )
        if recorded is not None and recorded.value is not None:
            shown = f"{recorded.value} · {labels[recorded.value]}" if recorded.value in labels else recorded.value
            body = f"{body}\n{ctx.texts.render('previous_answer', answer=shown)}"
    else:
        choices = (Choice(SKIP_VALUE, ctx.texts.render("skip_label")),) if question.optional else ()
    return Outgoing(body, choices, step.key)
