"""The conversation engine, driven without a database, a network or a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config.message_files import load_texts
from bot.config.question_schema import QuestionSetSchema
from bot.conversation.engine import (
    ChoiceReply,
    ClearAnswer,
    Context,
    ConversationState,
    FinishCheckIn,
    GoalRef,
    OptOut,
    PauseClient,
    RecordAnswer,
    Resume,
    TextReply,
    Transition,
    begin,
    handle,
    handle_idle,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GOALS = (GoalRef("delegate", "Delegate the quarterly planning"), GoalRef("board", "Prepare the board offsite"))
RELATIONSHIP = ("hope", "focus", "trust", "perspective", "support")


@pytest.fixture(scope="module")
def ctx() -> Context:
    with open("prompts/question_sets/default.yaml", encoding="utf-8") as f:
        question_set = QuestionSetSchema.model_validate(yaml.safe_load(f)).build()
    return Context(question_set, load_texts(), ZoneInfo("Europe/Paris"), "Dana", "Maya")


def say(ctx: Context, transition: Transition, text: str) -> Transition:
    assert transition.state is not None
    return handle(ctx, transition.state, TextReply(text), NOW)


def current_key(transition: Transition) -> str:
    assert transition.state is not None
    return transition.state.current.key


def recorded(transitions: list[Transition]) -> dict[str, RecordAnswer]:
    result: dict[str, RecordAnswer] = {}
    for t in transitions:
        for effect in t.effects:
            if isinstance(effect, RecordAnswer):
                result[effect.step_key] = effect
            elif isinstance(effect, ClearAnswer):
                result.pop(effect.step_key, None)
    return result


def test_first_checkin_opens_with_privacy_notice_then_first_goal_question(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=True)
    assert "Your coach, Maya, sees each check-in when you finish it" in t.messages[0].text
    assert t.messages[1].text.startswith("Hi Dana")
    question = t.messages[-1]
    assert question.step_key == "progress:delegate"
    assert "Delegate the quarterly planning" in question.text
    assert question.text.startswith("(1/8)")  # two goals, five practices, note; repair not (yet) due
    assert [c.value for c in question.choices] == ["1", "2", "3", "4", "5"]
    assert question.choices[0].label == "1 · None yet"


def test_later_checkins_skip_the_privacy_notice(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    assert not any("sees each check-in" in m.text for m in t.messages)


def test_full_checkin_without_low_answers_never_asks_repair(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    seen = [t]
    for reply in ["4", "3", "4", "5", "4", "4", "5", "Busy month, good progress."]:
        t = say(ctx, t, reply)
        seen.append(t)
    answers = recorded(seen)
    assert set(answers) == {"progress:delegate", "progress:board", *RELATIONSHIP, "note"}
    assert answers["note"].text == "Busy month, good progress."
    assert answers["focus"].value == 5 and answers["trust"].value == 4 and answers["trust"].dimension == "trust"
    assert answers["support"].dimension == "relationship"
    assert answers["progress:board"].goal_id == "board"
    assert t.effects[-1] == FinishCheckIn("completed")
    assert t.state is not None and t.state.finished
    assert "Maya will see your answers" in t.messages[-1].text


def test_low_relationship_answer_asks_repair_right_after_the_scales(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    for reply in ["4", "4", "4", "4", "1", "4", "4"]:
        t = say(ctx, t, reply)
    assert current_key(t) == "repair"
    # Issue 13: a follow-up does not change the count the client was promised ("8 of 9" after "7 of 8").
    assert t.messages[-1].text.startswith("(follow-up) ")
    t = say(ctx, t, "Listen more, talk less.")
    assert current_key(t) == "note"
    assert t.messages[-1].text.startswith("(8/8)")


@pytest.mark.parametrize("reply", ["4", "4.0", "four", "Four.", "٤", "４", "4/5", " 4 ", "\u200b4"])
def test_scale_accepts_typed_numbers_in_many_forms(ctx: Context, reply: str) -> None:
    t = say(ctx, begin(ctx, GOALS, first_checkin=False), reply)
    [effect] = t.effects
    assert isinstance(effect, RecordAnswer) and effect.value == 4


def test_scale_accepts_a_label(ctx: Context) -> None:
    t = begin(ctx, (), first_checkin=False)
    assert current_key(t) == "hope"  # no goals: no progress questions
    t = say(ctx, t, "very HOPEFUL")
    [effect] = t.effects
    assert isinstance(effect, RecordAnswer) and effect.value == 5


@pytest.mark.parametrize(
    ("reply", "hint"), [("6", "outside the scale"), ("maybe", "number from 1 to 5"), ("4.5", "1 to 5")]
)
def test_garbage_gets_a_hint_and_the_same_question(ctx: Context, reply: str, hint: str) -> None:
    start = begin(ctx, GOALS, first_checkin=False)
    t = say(ctx, start, reply)
    assert t.effects == ()
    assert t.state == start.state
    assert hint in t.messages[0].text
    assert t.messages[-1].step_key == "progress:delegate"


def test_buttons_answer_and_stale_buttons_do_not(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    assert t.state is not None
    t2 = handle(ctx, t.state, ChoiceReply("progress:delegate", "3"), NOW)
    assert isinstance(t2.effects[0], RecordAnswer) and t2.effects[0].value == 3
    assert t2.state is not None
    stale = handle(ctx, t2.state, ChoiceReply("progress:delegate", "5"), NOW)
    assert stale.effects == ()
    assert stale.state == t2.state
    assert "earlier question" in stale.messages[0].text


def test_back_changes_the_previous_answer(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    history = [t]
    for reply in ["4", "2", "back", "5"]:
        t = say(ctx, t, reply)
        history.append(t)
    assert current_key(t) == "hope"
    assert recorded(history)["progress:board"].value == 5
    assert "Your answer so far: 2" in history[3].messages[-1].text


def test_back_at_the_first_question_explains(ctx: Context) -> None:
    t = say(ctx, begin(ctx, GOALS, first_checkin=False), "back")
    assert "first question" in t.messages[0].text
    assert current_key(t) == "progress:delegate"


def test_raising_a_low_answer_after_back_withdraws_the_repair_answer(ctx: Context) -> None:
    t = begin(ctx, (), first_checkin=False)
    history = [t]
    for reply in ["4", "4", "4", "4", "2", "Be on time", "back", "back", "4"]:
        t = say(ctx, t, reply)
        history.append(t)
    assert current_key(t) == "note"
    assert "repair" not in recorded(history)
    assert ClearAnswer("repair") in t.effects


def test_skip_leaves_the_question_out_and_skip_all_ends_the_checkin(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    t = say(ctx, t, "skip")
    assert t.effects == ()
    assert current_key(t) == "progress:board"
    t = say(ctx, t, "/skip all")
    assert t.effects == (FinishCheckIn("skipped"),)
    assert t.state is not None and t.state.finished


def test_optional_text_question_offers_a_skip_button(ctx: Context) -> None:
    t = begin(ctx, (), first_checkin=False)
    for reply in ["4"] * 5:
        t = say(ctx, t, reply)
    assert current_key(t) == "note"
    assert [c.value for c in t.messages[-1].choices] == ["skip"]
    assert t.state is not None
    done = handle(ctx, t.state, ChoiceReply("note", "skip"), NOW)
    assert done.effects == (FinishCheckIn("completed"),)


def test_pause_ends_this_checkin_and_pauses_the_client(ctx: Context) -> None:
    t = say(ctx, begin(ctx, GOALS, first_checkin=False), "pause 2w")
    assert t.effects == (PauseClient(NOW + timedelta(weeks=2)), FinishCheckIn("skipped"))
    assert "paused until Monday 7 December 2026" in t.messages[0].text


def test_pause_without_a_length_asks_for_one(ctx: Context) -> None:
    start = begin(ctx, GOALS, first_checkin=False)
    t = say(ctx, start, "pause")
    assert t.effects == ()
    assert t.state == start.state
    assert "pause 2w" in t.messages[0].text


def test_stop_opts_out_and_keeps_earlier_answers(ctx: Context) -> None:
    t = say(ctx, say(ctx, begin(ctx, GOALS, first_checkin=False), "4"), "stop")
    assert t.effects == (OptOut(), FinishCheckIn("skipped"))
    assert "no more check-ins" in t.messages[0].text


def test_help_reasks_the_current_question(ctx: Context) -> None:
    start = begin(ctx, GOALS, first_checkin=False)
    t = say(ctx, start, "help")
    assert "skip all" in t.messages[0].text
    assert t.messages[1].step_key == "progress:delegate"
    assert t.state == start.state


def test_stop_inside_a_sentence_is_an_answer_not_a_command(ctx: Context) -> None:
    t = begin(ctx, (), first_checkin=False)
    for reply in ["4"] * 5:
        t = say(ctx, t, reply)
    t = say(ctx, t, "Please stop scheduling on Fridays")
    assert isinstance(t.effects[0], RecordAnswer)
    assert t.effects[0].text == "Please stop scheduling on Fridays"


@pytest.mark.parametrize(
    ("text", "effects", "phrase"),
    [
        ("help", (), "At any time"),
        ("stop", (OptOut(),), "no more check-ins"),
        ("resume", (Resume(),), "Welcome back"),
        ("pause 10d", (PauseClient(NOW + timedelta(days=10)),), "paused until"),
        ("4", (), "no check-in open"),
        ("skip", (), "no check-in open"),
    ],
)
def test_commands_outside_a_checkin(ctx: Context, text: str, effects: tuple[object, ...], phrase: str) -> None:
    t = handle_idle(ctx, TextReply(text), NOW, paused=True, opted_out=False)
    assert t.effects == effects
    assert phrase in t.messages[0].text


def test_resume_when_nothing_is_paused_says_so(ctx: Context) -> None:
    t = handle_idle(ctx, TextReply("resume"), NOW, paused=False, opted_out=False)
    assert t.effects == ()
    assert "already on" in t.messages[0].text


def test_state_survives_a_round_trip_at_every_step(ctx: Context) -> None:
    """What a restart relies on: the stored JSON resumes the exact conversation."""
    t = begin(ctx, GOALS, first_checkin=True)
    for reply in ["4", "garbage", "2", "back", "3", "1", "skip", "4", "4", "5", "Talk less", "bye"]:
        assert t.state is not None
        restored = ConversationState.from_json(t.state.to_json())
        assert restored == t.state
        t = handle(ctx, restored, TextReply(reply), NOW)
    assert t.effects[-1] == FinishCheckIn("completed")


def test_state_never_holds_free_text(ctx: Context) -> None:
    t = begin(ctx, (), first_checkin=False)
    for reply in ["4", "4", "4", "4", "1", "my secret complaint"]:
        t = say(ctx, t, reply)
    assert t.state is not None
    assert "my secret complaint" not in str(t.state.to_json())


replies = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["1", "2", "3", "4", "5", "skip", "back", "help", "pause", "pause 2w", "resume", "٣", "five"]),
)


@settings(deadline=None)
@given(st.lists(replies, max_size=25), st.booleans())
def test_any_sequence_of_replies_keeps_a_valid_state(replies_seen: list[str], with_goals: bool) -> None:
    with open("prompts/question_sets/default.yaml", encoding="utf-8") as f:
        question_set = QuestionSetSchema.model_validate(yaml.safe_load(f)).build()
    context = Context(question_set, load_texts(), ZoneInfo("Asia/Tokyo"), "Dana", "Maya")
    t = begin(context, GOALS if with_goals else (), first_checkin=False)
    history = [t]
    for reply in replies_seen:
        assert t.state is not None
        if t.state.finished:
            break
        t = handle(context, t.state, TextReply(reply), NOW)
        history.append(t)
        assert t.messages, "every reply gets an answer"
        assert t.state is not None
        assert t.state.finished or 0 <= t.state.position < len(t.state.steps)
        assert ConversationState.from_json(t.state.to_json()) == t.state
    for answer in recorded(history).values():
        if answer.value is not None:
            assert 1 <= answer.value <= 5
        else:
            assert answer.text
