"""Languages: texts and question sets per language, English fallback, German end to end, validate's warnings."""

from __future__ import annotations

import logging
import shutil
import string
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.app.builder import Bot
from bot.config import ConfigError, load_config
from bot.config.language_report import language_warnings
from bot.config.message_files import load_catalog
from bot.config.question_files import validate_question_set
from bot.config.question_sets import load_builtin_question_sets, load_question_sets
from bot.config.yamlsource import parse_mapping
from bot.contract.messages import InboundText
from bot.conversation.engine import Context, PauseClient, TextReply, handle_idle
from bot.conversation.questions import QuestionSet
from bot.conversation.replies import parse_command, parse_duration, parse_scale
from bot.conversation.texts import PLACEHOLDERS
from bot.store import invites
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import write_config
from tests.test_cli_validate import run

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
LANGUAGES = sorted(folder.name for folder in PROMPTS.iterdir() if (folder / "messages.yaml").is_file())
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def raw_texts(language: str) -> dict[str, str]:
    return dict(yaml.safe_load((PROMPTS / language / "messages.yaml").read_text(encoding="utf-8")))


# ---- the shipped files ------------------------------------------------------------------------------------


def test_german_ships_complete() -> None:
    catalog = load_catalog()
    assert {"en", "de"} <= set(catalog.languages)
    assert catalog.for_language("de").missing == ()
    assert set(raw_texts("de")) == set(raw_texts("en")) == set(PLACEHOLDERS)
    default = load_builtin_question_sets()["default"]
    assert default.untranslated("de") == []


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_translation_keeps_the_english_placeholders(language: str) -> None:
    english, translated = raw_texts("en"), raw_texts(language)
    changed = {
        key: (sorted(placeholders(english[key])), sorted(placeholders(text)))
        for key, text in translated.items()
        if placeholders(text) != placeholders(english[key])
    }
    assert changed == {}, f"prompts/{language}/messages.yaml: placeholders differ from English (en, {language})"


def test_every_question_set_translation_keeps_the_placeholders_and_labels() -> None:
    for question_set in load_builtin_question_sets().values():
        for language in question_set.translations:
            translated = question_set.in_language(language)
            for original, question in zip(question_set.questions, translated.questions, strict=True):
                assert placeholders(question.text) == placeholders(original.text), (language, question.id)
                if original.scale is not None:
                    assert question.scale is not None
                    assert set(question.scale.labels) == set(original.scale.labels), (language, question.id)


def test_the_german_default_set_changes_words_only() -> None:
    default = load_builtin_question_sets()["default"]
    german = default.in_language("de")
    assert (german.name, german.language, german.translations) == ("Check-in zwischen den Sitzungen", "de", {})
    assert [(q.id, q.kind, q.dimension, q.ask_if) for q in german.questions] == [
        (q.id, q.kind, q.dimension, q.ask_if) for q in default.questions
    ]
    assert all(g.text != e.text for g, e in zip(german.questions, default.questions, strict=True))
    english_scale = default.question("hope").scale
    assert english_scale is not None
    assert german.question("hope").scale == replace(english_scale, labels={1: "Gar nicht", 5: "Sehr zuversichtlich"})
    assert default.in_language("en") is default
    assert default.in_language("fr") is default
    assert default.in_language("de-AT") == german


# ---- fallback ---------------------------------------------------------------------------------------------


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    """A prompts folder with the shipped English and a two-text "xx" translation."""
    root = tmp_path / "prompts"
    (root / "en").mkdir(parents=True)
    shutil.copy(PROMPTS / "en" / "messages.yaml", root / "en" / "messages.yaml")
    (root / "xx").mkdir()
    (root / "xx" / "messages.yaml").write_text(
        'intro: "Xx {client_name} ({count})"\nresumed: "Xx resumed"\n', encoding="utf-8"
    )
    return root


def test_a_missing_text_falls_back_to_english_and_is_logged_once(
    prompts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.conversation.texts")
    catalog = load_catalog(prompts)
    xx = catalog.for_language("xx")
    assert xx.render("intro", client_name="Dana", count=3) == "Xx Dana (3)"
    assert xx.render("completed", coach_name="Maya") == catalog.english.render("completed", coach_name="Maya")
    assert xx.date(NOW) == "Monday 23 November 2026"
    assert len(xx.missing) == len(PLACEHOLDERS) - 2
    [loaded] = caplog.messages
    assert loaded.startswith(f"prompts/xx/messages.yaml: {len(PLACEHOLDERS) - 2} text(s) missing (privacy_notice, ")
    assert loaded.endswith("; English is used")

    caplog.clear()
    assert catalog.for_language("fr") is catalog.english
    assert catalog.for_language("fr") is catalog.english
    assert catalog.for_language("xx-YY") is xx
    assert caplog.messages == ["no texts for language 'fr'; English is used"]
    assert (catalog.covers("xx-YY"), catalog.covers("fr")) == (True, False)


def test_translation_mistakes_are_reported_with_file_and_line(prompts: Path) -> None:
    (prompts / "xx" / "messages.yaml").write_text(
        '# xx\nintro: "Xx {client_nmae}"\ncompleted: "ok"\nfarewell: "bye"\nhelp: 3\nmonth_names: "Jan, Feb"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(prompts)
    assert [str(issue) for issue in caught.value.issues] == [
        "prompts/xx/messages.yaml:2 intro: unknown placeholder(s) ['client_nmae']; allowed: ['client_name', 'count']",
        "prompts/xx/messages.yaml:4 farewell: unknown text key",
        "prompts/xx/messages.yaml:5 help: must be text (put it in quotes)",
        "prompts/xx/messages.yaml:6 month_names: must list 12 names, separated by commas",
    ]


def test_english_must_be_complete(prompts: Path) -> None:
    english = prompts / "en" / "messages.yaml"
    english.write_text(
        "\n".join(
            line for line in english.read_text(encoding="utf-8").splitlines() if not line.startswith("reminder:")
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"prompts/en/messages.yaml:\d+: missing texts: reminder"):
        load_catalog(prompts)


# ---- question-set translations ----------------------------------------------------------------------------

SET = """\
id: leadership
name: Leadership check-in
questions:
  - id: progress
    kind: scale
    dimension: progress
    per_goal: true
    text: "Progress on {goal}?"
    scale: {labels: {1: "None", 5: "A lot"}}
  - id: note
    kind: text
    dimension: note
    text: "Anything else?"
translations:
  de:
    questions:
      progress: {text: "Fortschritt bei {goal}?", labels: {1: "Keiner", 5: "Viel"}}
"""


def test_a_partial_set_translation_falls_back_question_by_question() -> None:
    question_set = validate_question_set(parse_mapping(SET, "sets/leadership.yaml"), "leadership")
    german = question_set.in_language("de")
    assert german.name == "Leadership check-in"
    assert german.question("progress").text == "Fortschritt bei {goal}?"
    assert german.question("progress").scale.labels == {1: "Keiner", 5: "Viel"}
    assert german.question("note").text == "Anything else?"
    assert question_set.untranslated("de") == ["note"]
    assert question_set.untranslated("fr") == ["progress", "note"]
    assert question_set.untranslated("en-GB") == []


def test_set_translation_mistakes_are_reported_at_their_line() -> None:
    broken = SET.replace(
        '      progress: {text: "Fortschritt bei {goal}?", labels: {1: "Keiner", 5: "Viel"}}\n',
        '      progress:\n        text: "Fortschritt?"\n        labels: {1: "Keiner", 7: "Viel"}\n'
        '      hoep: {text: "Hoffnung?"}\n      note: {labels: {1: "Ja"}}\n',
    )
    with pytest.raises(ConfigError) as caught:
        validate_question_set(parse_mapping(broken, "sets/leadership.yaml"), "leadership")
    assert [str(issue) for issue in caught.value.issues] == [
        "sets/leadership.yaml:18 translations.de.questions.progress.text: placeholders must be ['goal']",
        "sets/leadership.yaml:19 translations.de.questions.progress.labels: labels [7] are not points of scale 1..5",
        "sets/leadership.yaml:20 translations.de.questions.hoep: no question 'hoep' in this set",
        "sets/leadership.yaml:21 translations.de.questions.note.labels: labels [1] are not points of a text question",
    ]


def test_a_set_cannot_translate_into_its_own_language() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_question_set(parse_mapping(SET.replace("  de:", "  en:"), "s.yaml"), "leadership")
    assert [str(issue) for issue in caught.value.issues] == [
        "s.yaml:15 translations.en: 'en' is the set's own language; translate into another"
    ]
    with pytest.raises(ConfigError) as caught:
        validate_question_set(parse_mapping(SET.replace("  de:", "  German:"), "s.yaml"), "leadership")
    assert [str(issue) for issue in caught.value.issues] == [
        "s.yaml:15 translations.German: must be a language tag such as 'de' or 'pt-BR'"
    ]


# ---- what people type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("überspringen", "skip"),
        ("Ueberspringen", "skip"),
        ("alle überspringen", "skip_all"),
        ("Zurück!", "back"),
        ("stopp", "stop"),
        ("/hilfe", "help"),
        ("fortsetzen", "resume"),
        ("skip", "skip"),  # English works for everyone
    ],
)
def test_german_command_words(text: str, command: str) -> None:
    parsed = parse_command(text)
    assert parsed is not None
    assert parsed.name == command


def test_german_numbers_and_durations() -> None:
    scale = load_builtin_question_sets()["default"].question("hope").scale
    assert scale is not None
    assert [parse_scale(word, scale).value for word in ("vier", "Fünf", "FUENF", "zwei", "four")] == [4, 5, 5, 2, 4]
    assert parse_scale("zehn", scale).out_of_range == "zehn"
    assert [parse_duration(text) for text in ("3 Wochen", "10t", "10 Tage", "1 woche")] == [
        timedelta(weeks=3),
        timedelta(days=10),
        timedelta(days=10),
        timedelta(weeks=1),
    ]
    assert parse_command("Bitte stopp die Freitage") is None


def test_a_pause_is_dated_in_the_clients_language() -> None:
    default = load_builtin_question_sets()["default"]
    context = Context(default.in_language("de"), load_catalog().for_language("de"), ZoneInfo("Europe/Berlin"), "J", "M")
    t = handle_idle(context, TextReply("pause 2 wochen"), NOW, paused=False, opted_out=False)
    assert t.effects == (PauseClient(NOW + timedelta(weeks=2)),)
    assert t.messages[0].text.startswith("Die Check-ins pausieren bis Montag, 7. Dezember 2026.")


# ---- a German client through the runtime ------------------------------------------------------------------

CONFIG = """\
platforms:
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, telegram: {}}
clients:
  - id: jonas
    name: Jonas Weber
    coach: maya
    timezone: Europe/Berlin
    cadence: weekly
    language: de
    telegram: {}
    goals:
      - {id: delegate, title: Planung delegieren}
  - {id: dana, name: Dana Whitfield, coach: maya, timezone: Europe/Paris, cadence: weekly, telegram: {}}
"""
JONAS, DANA, MAYA = "1001", "1002", "1003"


@pytest.fixture
async def runtime(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[tuple[Bot, CollectingAdapter]]:
    path = write_config(tmp_path, CONFIG)
    telegram = CollectingAdapter("telegram")
    built = runtime_for(path, database_target.create(), ManualClock(NOW), {"telegram": telegram})
    await built.start()
    async with built.database.transaction() as session:
        for token, kind, person in (
            ("t-jonas", "client", "jonas"),
            ("t-dana", "client", "dana"),
            ("t-maya", "coach", "maya"),
        ):
            await invites.create_telegram_invite(session, token, kind, person, NOW + timedelta(days=7), NOW)
    yield built, telegram
    await built.stop()


async def say(runtime: Bot, chat: str, text: str, key: str) -> None:
    await runtime.inbound.handle(InboundText("telegram", chat, key, text))
    await runtime.outbox.drain()


async def test_a_german_client_checks_in_in_german(runtime: tuple[Bot, CollectingAdapter]) -> None:
    bot, telegram = runtime
    for chat, token in ((JONAS, "t-jonas"), (DANA, "t-dana"), (MAYA, "t-maya")):
        await say(bot, chat, f"/start {token}", f"start-{chat}")
    assert telegram.to(JONAS)[0].text.startswith("Willkommen, Jonas! Dieser Chat ist jetzt mit Ihrem Coaching bei")
    assert telegram.to(DANA)[0].text.startswith("Welcome, Dana!")
    assert telegram.to(MAYA)[0].text.startswith("Welcome, Maya Chen!")
    telegram.clear()

    checkin_id = await bot.lifecycle.start_checkin("jonas", NOW)
    assert checkin_id is not None
    await bot.outbox.drain()
    assert await bot.lifecycle.remind(checkin_id, 1)
    await bot.outbox.drain()
    privacy, intro, progress, reminder, again = telegram.to(JONAS)
    assert "Ihr Coach, Maya Chen, sieht jeden Check-in, sobald Sie ihn abschließen" in privacy.text
    assert intro.text == "Hallo Jonas, Zeit für einen kurzen Check-in (7 Fragen, etwa zwei Minuten)."
    assert (
        progress.text
        == "(1/7) Wie viel Fortschritt haben Sie seit Ihrer letzten Sitzung bei „Planung delegieren“ gemacht?"
    )
    assert [c.label for c in progress.choices] == [
        "1 · Noch keinen",
        "2 · Ein wenig",
        "3 · Etwas",
        "4 · Gut",
        "5 · Sehr viel",
    ]
    assert reminder.text.startswith("Eine freundliche Erinnerung")
    assert again.step_key == "progress:delegate"

    replies = ["vier", "überspringen", "Voll und ganz", "eins", "Fünf", "4", "Mehr zuhören, bitte", "skip"]
    for n, reply in enumerate(replies):
        telegram.clear()
        await say(bot, JONAS, reply, f"j-{n}")
        if n == 1:
            assert telegram.to(JONAS)[0].text == "(3/7) Wie gut richtet sich Ihr Coaching nach dem, was Sie brauchen?"
        if n == 5:  # the follow-up keeps the count of 7 (issue 13; it used to jump to "7/8")
            assert telegram.to(JONAS)[0].text.startswith("(Nachfrage) Danke für Ihre Offenheit.")
        if n == 6:
            assert telegram.to(JONAS)[0].text.startswith("(7/7) ")
    assert (
        telegram.to(JONAS)[0].text
        == "Vielen Dank, das war alles. Maya Chen sieht Ihre Antworten vor Ihrer nächsten Sitzung."
    )

    record = await bot.lifecycle.checkin_record(checkin_id)
    assert record.checkin.status == "completed"
    answers = {a.step_key: (a.value, a.text) for a in record.answers}
    assert answers == {
        "progress:delegate": (4, None),
        "focus": (5, None),
        "trust": (1, None),
        "perspective": (5, None),
        "support": (4, None),
        "repair": (None, "Mehr zuhören, bitte"),
    }
    summary, alert = telegram.to(MAYA)  # the coach reads English
    assert summary.text.startswith("Jonas Weber answered the check-in of")
    assert "Mehr zuhören" not in summary.text  # quoted once, in the alert
    assert "What changed: trust 1 (floor 2)" in alert.text
    assert "Jonas Weber wrote (repair): “Mehr zuhören, bitte”" in alert.text

    telegram.clear()
    await say(bot, JONAS, "stopp", "j-stop")
    await say(bot, DANA, "stop", "d-stop")
    assert telegram.to(JONAS)[0].text.startswith("Erledigt: Sie erhalten keine weiteren Check-ins.")
    assert telegram.to(DANA)[0].text.startswith("Done: you will get no more check-ins.")


# ---- checkin validate -------------------------------------------------------------------------------------

VALIDATE = """\
question_sets:
  leadership: ./leadership.yaml
platforms:
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya, timezone: Europe/London, telegram: {}}
clients:
  - {id: jonas, name: Jonas, coach: maya, timezone: Europe/Berlin, cadence: weekly, language: de, telegram: {}}
  - id: ana
    name: Ana
    coach: maya
    timezone: Europe/Lisbon
    cadence: weekly
    language: pt-BR
    telegram: {}
  - id: lena
    name: Lena
    coach: maya
    timezone: Europe/Vienna
    cadence: weekly
    question_set: leadership
    language: de-AT
    telegram: {}
"""


def test_validate_warns_about_languages_and_still_succeeds(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(VALIDATE, encoding="utf-8")
    (tmp_path / "leadership.yaml").write_text(SET, encoding="utf-8")
    result = run("validate", "config.yaml", cwd=tmp_path, env={"TELEGRAM_BOT_TOKEN": "123:test"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "config.yaml: OK — 1 coach, 3 clients, 1 cadence, 2 question sets",
        "warning: config.yaml:16 clients[1].language: no texts for 'pt-BR'; English is used",
        "warning: config.yaml:24 clients[2].language: question set 'leadership' has no 'de-AT' texts for "
        "note; those are asked in 'en'",
    ]


def test_validate_names_the_texts_a_shipped_language_lacks(prompts: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(VALIDATE.replace("./leadership.yaml", "./sets/leadership.yaml"), encoding="utf-8")
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "leadership.yaml").write_text(SET.replace("  de:", "  xx:"), encoding="utf-8")
    config = load_config(path)
    document = parse_mapping(path.read_text(encoding="utf-8"), "config.yaml")
    sets: dict[str, QuestionSet] = load_question_sets(config, path)
    warnings = [str(w) for w in language_warnings(document, config, sets, load_catalog(prompts))]
    assert warnings[0].startswith(f"prompts/xx/messages.yaml: {len(PLACEHOLDERS) - 2} texts missing (privacy_notice, ")
    assert warnings[1:] == [
        "prompts/question_sets/default.yaml: question set 'default' has no 'xx' texts; its questions are asked in 'en'",
        "config.yaml:10 clients[0].language: no texts for 'de'; English is used",
        "config.yaml:16 clients[1].language: no texts for 'pt-BR'; English is used",
        "config.yaml:24 clients[2].language: no texts for 'de-AT'; English is used",
    ]
