"""The ``words`` detector reading what clients write: themes, negation, hedging, whom a sentence is about,
German, typos, the explanation a coach reads, and the shipped model file."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from bot.config.message_files import load_catalog
from bot.signals.detectors.lexicon import RiskPhrases, load_risk_phrases
from bot.signals.detectors.words import detect_words, model_features, read
from bot.signals.detectors.words_model import MODEL_FILE, WordsModel, load_words_model
from bot.signals.history import HistoryEntry

PHRASES = load_risk_phrases()
CATALOG = load_catalog()


def themes(text: str) -> list[str]:
    return [finding.theme for finding in read(text, PHRASES).findings]


def note(text: str, question: str = "note") -> HistoryEntry:
    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    return HistoryEntry("dana", at, "completed", {}, {question: text}, None, None)


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        # the phrases the issue found missed
        ("You keep giving me advice instead of listening", "unheard"),
        ("I might pause coaching after this quarter", "leaving"),
        ("I'm thinking about finding a different coach", "leaving"),
        ("Not sure this is worth the money", "value"),
        ("I feel I'm not a priority", "priority"),
        ("Honestly I dread our sessions", "dread"),
        # one more per theme
        ("You talked over me for most of the call.", "unheard"),
        ("Our sessions follow your agenda, not mine.", "agenda"),
        ("I felt lectured by you last week.", "judged"),
        ("I'm not sure what I tell you stays between us.", "confidentiality"),
        ("You cancelled again, second time this month.", "priority"),
        ("Our sessions feel like a waste of time.", "value"),
        ("I'd like to take a break from coaching.", "leaving"),
        ("I feel uncomfortable in our sessions lately.", "dread"),
        ("I felt pressured by you to decide on the spot.", "pushed"),
        ("You just don't get how our industry works.", "not_getting_it"),
        # German, one per theme
        ("Sie hören mir nicht richtig zu.", "unheard"),
        ("Sie geben mir ständig Ratschläge, statt zuzuhören.", "agenda"),
        ("Ich habe mich von dir verurteilt gefühlt.", "judged"),
        ("Ich weiß nicht, ob unsere Gespräche vertraulich bleiben.", "confidentiality"),
        ("Du hast schon wieder abgesagt.", "priority"),
        ("Ich bin nicht sicher, ob das Coaching das Geld wert ist.", "value"),
        ("Ich denke darüber nach, das Coaching zu beenden.", "leaving"),
        ("Ehrlich gesagt graut mir vor unseren Sitzungen.", "dread"),
        ("Sie setzen mich zu sehr unter Druck.", "pushed"),
        ("Du verstehst meine Situation nicht.", "not_getting_it"),
    ],
)
def test_each_theme_is_read(text: str, theme: str) -> None:
    assert theme in themes(text)


@pytest.mark.parametrize(
    "text",
    [
        "I never felt judged by you.",
        "I'm not thinking of stopping the coaching.",
        "It's not that I dread our sessions, I'm just tired.",
        "I don't feel pushed by you at all.",
        "No doubt the sessions are paying off.",
        "I never feel rushed in our calls.",
        "Ich fühle mich von Ihnen nie bewertet.",
        "Ich habe nicht vor, das Coaching zu beenden.",
        "Ich fühle mich von dir nicht unter Druck gesetzt.",
    ],
)
def test_a_negation_before_a_cue_cancels_it(text: str) -> None:
    assert themes(text) == []


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("I'm not sure the sessions are helping.", "value"),
        ("Not sure you were really listening on Tuesday.", "unheard"),
        ("Our last session felt a bit rushed.", "priority"),
        ("i kind of dread our calls now", "dread"),
        ("Maybe it's time to stop our sessions, I'm not sure.", "leaving"),
        ("Ich bin nicht sicher, ob mir die Sitzungen helfen.", "value"),
        ("Unsere letzte Sitzung war ein bisschen gehetzt.", "priority"),
    ],
)
def test_a_hedge_is_not_a_negation(text: str, theme: str) -> None:
    assert theme in themes(text)


@pytest.mark.parametrize(
    ("about_someone_else", "about_the_coach"),
    [
        ("My boss doesn't listen to me.", "You don't listen to me."),
        ("My CEO keeps giving me advice instead of listening.", "You keep giving me advice instead of listening."),
        ("I felt judged by the CFO in the review.", "I felt judged by you in our session."),
        ("My boss cancelled again, I'm clearly not a priority for him.", "You cancelled again, I'm not a priority."),
        ("The consultants don't get how our business works.", "You don't get how our business works."),
        ("I'm thinking about finding a different job.", "I'm thinking about finding a different coach."),
        ("My wife says I don't listen to her.", "I don't think you listen to me."),
        ("Mein Chef hört mir nicht zu.", "Sie hören mir nicht zu."),
        ("Der Vorstand setzt mich unter Druck.", "Sie setzen mich unter Druck."),
        ("Mein Chef sagt ständig unsere Meetings ab.", "Sie sagen ständig unsere Termine ab."),
        ("Meine Frau versteht mich nicht.", "Du verstehst mich nicht."),
        ("My boss keeps pushing me too hard.", "You keep pushing me too hard."),
    ],
)
def test_whom_the_sentence_is_about(about_someone_else: str, about_the_coach: str) -> None:
    assert themes(about_someone_else) == []
    assert themes(about_the_coach) != []


def test_work_is_read_apart_from_the_coaching_in_one_note() -> None:
    text = "My boss never listens and I'm exhausted. But our sessions are really helping."
    reading = read(text, PHRASES)
    assert reading.findings == () and reading.wellbeing == "My boss never listens and I'm exhausted"


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("Ich habe das Gefühl, dass Sie mir nicht richtig zuhören.", "unheard"),
        ("Ihre Bemerkung fand ich herablassend.", "judged"),
        ("Bleibt das, was ich Ihnen sage, wirklich unter uns?", "confidentiality"),
        ("Die letzte Sitzung war sehr gehetzt.", "priority"),
        ("Ich bin nicht sicher, ob sich das Coaching lohnt.", "value"),
        ("Ich überlege, das Coaching zu pausieren.", "leaving"),
        ("ich fuhle mich in unseren sitzungen unwohl", "dread"),
        ("Du verstehst einfach nicht, wie es bei uns läuft.", "not_getting_it"),
    ],
)
def test_german_notes_are_read(text: str, theme: str) -> None:
    reading = read(text, PHRASES)
    assert reading.language == "de" and theme in [f.theme for f in reading.findings]


def test_german_she_in_lower_case_is_not_the_coach() -> None:
    assert themes("meine frau sagt, sie fühlt sich nicht gehört") == []


def test_a_german_coach_reads_the_explanation_in_german() -> None:
    german = CATALOG.for_language("de")
    (signal,) = detect_words(note("Sie hören mir nicht zu."), german, PHRASES)
    assert signal.reason == (
        "Die Antwort „note“ liest sich als nicht gehört zu werden, nach den Worten „hören mir nicht zu“: "
        "„Sie hören mir nicht zu“"
    )


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("you dont listne to me in our sessions", "unheard"),
        ("the coachign isnt helping", "value"),
        ("Im thinkng about finding a diferent coach", "leaving"),
    ],
)
def test_typos_and_missing_apostrophes(text: str, theme: str) -> None:
    assert theme in themes(text)


def test_the_alert_names_the_words_it_read_and_why() -> None:
    signals = detect_words(note("You keep giving me advice instead of listening."), CATALOG.english, PHRASES)
    assert [(s.kind, s.practice) for s in signals] == [("words", "focus"), ("words", "focus")]
    assert signals[0].reason == (
        'The note reads as advice or an agenda imposed, from the words "giving me advice": '
        '"You keep giving me advice instead of listening"'
    )
    assert 'not being heard or listened to, from the words "instead of listening"' in signals[1].reason


def test_sarcasm_and_long_notes() -> None:
    assert "priority" in themes("Love how our sessions keep getting rescheduled, very reassuring.")
    rambling = (
        "So this week was a lot, the launch slipped again and I spent most of Thursday firefighting with the ops "
        "team, and then on Friday I sat down to prepare for our session and honestly I couldn't think of what to "
        "bring, and I've started wondering if the coaching is actually moving anything for me."
    )
    reading = read(rambling, PHRASES)
    assert [f.theme for f in reading.findings] == ["value"] and reading.wellbeing is not None


def test_the_model_reads_what_the_cues_miss_and_says_which_words_weighed() -> None:
    text = "ich schiebe den nächsten termin mit dir vor mir her"
    (finding,) = read(text, PHRASES).findings
    assert finding.by_model and finding.theme == "dread"
    words = finding.words.split('", "')
    assert words and all(any(w.rstrip("…") in token for token in text.split()) for w in " ".join(words).split())


def test_the_model_stays_silent_when_the_note_names_no_coach() -> None:
    assert themes("schiebe das alles vor mir her") == []


def test_the_shipped_model_is_the_one_trained_on_the_development_notes() -> None:
    shipped = json.loads(resources.files("prompts").joinpath(MODEL_FILE).read_text(encoding="utf-8"))
    model = load_words_model()
    assert list(model.classes) == shipped["classes"]
    assert set(model.classes) == {"none:work", "none:family", "none:health", "none:neutral", *PHRASES.themes}
    assert len(shipped["checks"]) >= 5
    development = (Path(__file__).parent / "corpus" / "words_dev.tsv").read_text(encoding="utf-8")
    for check in shipped["checks"]:
        assert check["text"] in development
        probabilities = model.probabilities(model_features(check["text"], PHRASES))
        assert probabilities == pytest.approx(check["probabilities"], abs=1e-9)
        assert max(probabilities, key=probabilities.__getitem__) == check["label"]


def test_broad_words_count_only_with_the_coach_named_close_by() -> None:
    assert "priority" in themes("You were late again.")
    # No cue reads it, and the model, which reads notes that name no one from 0.6 on, has learnt from the notes
    # about the client's own lateness and absences that it is routine (until 4 December it read it as "not a
    # priority").
    assert themes("I was late again.") == []
    assert themes("I missed the last one, was travelling") == []
    assert themes("You know the board was late again with the numbers, which made the whole week late.") == []


def test_unease_names_the_word_and_takes_the_theme_the_model_finds_likeliest() -> None:
    (finding,) = read("I'm frustrated with our sessions.", PHRASES).findings
    assert finding.words == "frustrated" and not finding.by_model and finding.theme in PHRASES.themes


def test_reassurance_after_a_contrast_word_cancels_unease() -> None:
    assert themes("I was nervous before our session, but it was really useful.") == []
    assert "dread" in themes("I was nervous before our session.")


def test_idioms_with_you_do_not_address_the_coach() -> None:
    assert themes("The restructuring is pointless if you ask me.") == []
    assert "value" in themes("Our sessions feel pointless.")


def test_a_complaint_about_the_coach_is_read_unless_it_negates_a_negative_word() -> None:
    (finding,) = read("You didn't even ask how the launch went.", PHRASES).findings
    assert finding.words == "You didn't" and finding.theme in PHRASES.themes
    assert themes("You never judge me, and I value that.") == []
    assert themes("Can you not send it by email?") == []
    assert themes("Sorry, you didn't get my email I think.") == []


def test_a_huge_text_is_read_in_part_and_a_huge_word_is_no_typo() -> None:
    assert read("x" * 40_000, PHRASES).findings == ()
    assert themes("You are not listening. " * 2_000) == ["unheard"]


def _treadmill_model(risk: float) -> WordsModel:
    """A model that reads only the word "treadmill", as a doubt about the value with certainty ``risk``."""
    weight = 5.0 + math.log(risk / (1 - risk))
    return WordsModel(("none:work", "value"), (0.0, -5.0), {"treadmill": (0.0, weight)})


def _with_model(risk: float) -> RiskPhrases:
    return dataclasses.replace(
        PHRASES,
        model=_treadmill_model(risk),
        model_threshold=0.7,
        model_threshold_unnamed=0.6,
        model_threshold_others=0.8,
    )


def test_a_cue_about_someone_else_leaves_the_rest_of_the_note_to_the_model() -> None:
    text = "My boss doesn't listen. And our sessions feel like a treadmill."
    (finding,) = read(text, _with_model(0.75)).findings
    assert finding.by_model and finding.words == "treadmill"


def test_a_note_that_denies_a_theme_in_so_many_words_is_not_the_models() -> None:
    text = "I'm not planning to stop the coaching, even if it feels like a treadmill."
    reading = read(text, _with_model(0.95))
    assert reading.findings == () and reading.tentative is None
    assert read("It feels like a treadmill.", _with_model(0.95)).findings != ()


def test_the_model_does_not_read_a_theme_from_words_the_cues_placed_elsewhere() -> None:
    # "a waste of money" is about the CRM, so the model reading "value" there would be the same words again...
    assert read("The new CRM is a waste of money, a real treadmill.", _with_model(0.95)).findings == ()
    # ...while a cue placed elsewhere leaves the model's other themes alone.
    (finding,) = read("I want to stop working weekends, it is a treadmill.", _with_model(0.95)).findings
    assert finding.theme == "value" and finding.by_model
