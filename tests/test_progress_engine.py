"""The client's side of issue 13's item 6 in the engine: a steady question count, "your coaching", and the
``progress`` command, driven without a database, a network or a clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.config.message_files import load_catalog
from bot.config.question_sets import load_builtin_question_sets
from bot.conversation.engine import (
    Context,
    ShowProgress,
    TextReply,
    Transition,
    begin,
    handle,
    handle_idle,
)
from bot.conversation.replies import Command, parse_command
from tests import test_engine
from tests.test_engine import GOALS, say

ctx = test_engine.ctx  # the default question set in English, for Dana coached by Maya

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
COUNT = re.compile(r"^\((\d+)/(\d+)\) ")


def test_the_question_count_does_not_jump_when_the_follow_up_appears(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    shown = [t.messages[-1].text]
    for answer in ["4", "4", "4", "4", "1", "4", "4", "Be more direct", "Thanks"]:
        t = say(ctx, t, answer)
        shown.append(t.messages[-1].text)
    numbered = [COUNT.match(text) for text in shown[:-1]]
    counts = {int(m.group(2)) for m in numbered if m is not None}
    assert counts == {8}, shown
    numbers = [int(m.group(1)) for m in numbered if m is not None]
    assert numbers == list(range(1, 9))
    # The repair question appears only because trust was low; it is a follow-up, not question 8 of 9.
    assert shown[7].startswith("(follow-up) Thank you for being frank.")


def test_questions_speak_of_your_coaching_not_ours() -> None:
    default = load_builtin_question_sets()["default"]
    for language in ("en", "de"):
        texts = [q.text for q in default.in_language(language).questions]
        assert not any(re.search(r"\bour coaching\b|\bunser(em)? Coaching\b", t, re.IGNORECASE) for t in texts)
    assert default.question("focus").text == "How well is your coaching centred on what you need?"
    assert default.in_language("de").question("focus").text.startswith("Wie gut richtet sich Ihr Coaching")


def test_progress_is_a_client_command_in_english_and_german() -> None:
    assert parse_command("progress") == Command("progress")
    assert parse_command("/progress") == Command("progress")
    assert parse_command("Fortschritt") == Command("progress")


def test_progress_between_check_ins_asks_for_the_chart(ctx: Context) -> None:
    t = handle_idle(ctx, TextReply("progress"), NOW, paused=False, opted_out=False)
    assert t.effects == (ShowProgress(),) and t.messages == ()
    # Paused or stopped clients see their own progress too: it is their data.
    t = handle_idle(ctx, TextReply("progress"), NOW, paused=True, opted_out=True)
    assert t.effects == (ShowProgress(),)


def test_progress_during_a_check_in_keeps_the_check_in_going(ctx: Context) -> None:
    t = begin(ctx, GOALS, first_checkin=False)
    assert t.state is not None
    again: Transition = handle(ctx, t.state, TextReply("progress"), NOW)
    assert again.state == t.state and again.effects == ()
    assert again.messages[0].text.startswith('Once this check-in is done, send "progress"')
    assert again.messages[-1].step_key == "progress:delegate"


def test_german_progress_texts() -> None:
    de = load_catalog().for_language("de")
    assert de.render("progress_line", month="Oktober", goal="Mehr delegieren", first=2, last=4) == (
        "Seit Ihrem ersten Check-in im Oktober ist „Mehr delegieren“ von 2 auf 4 gestiegen."
    )
