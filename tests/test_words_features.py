"""What the ``words`` model reads in a note: lemmas, negated words, whom each sentence names, character n-grams
across word boundaries, the rules' non-theme cues, and how a weighed feature is quoted back as the client's
words; how sure it must be, and when a reading it is only fairly sure of needs the scores below usual."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets
from bot.signals.detectors.common import relationship_questions
from bot.signals.detectors.lemmas import lemma
from bot.signals.detectors.lexicon import RiskPhrases, load_risk_phrases
from bot.signals.detectors.words import detect_words, model_features, read
from bot.signals.detectors.words_model import WordsModel, pack_weights, parse_words_model
from bot.signals.history import HistoryEntry

PHRASES = load_risk_phrases()
TEXTS = load_texts()


@pytest.mark.parametrize(
    ("words", "language"),
    [
        (("listening", "listened", "listens", "listen"), "en"),
        (("pushed", "pushing", "pushes"), "en"),
        (("stopped", "stopping", "stop"), "en"),
        (("gedrangt", "drangen", "drangt"), "de"),
        (("gehort", "horen", "hort"), "de"),
        (("verstehst", "verstehen", "versteht"), "de"),
    ],
)
def test_inflected_forms_share_one_lemma(words: tuple[str, ...], language: str) -> None:
    assert len({lemma(word, language) for word in words}) == 1


def test_short_words_keep_their_letters() -> None:
    assert lemma("bed", "en") == "bed" and lemma("ist", "de") == "ist"


@pytest.mark.parametrize(
    ("coach", "boss"),
    [
        ("You don't listen to me.", "My boss doesn't listen to me."),
        ("Sie hören mir nicht zu.", "Mein Chef hört mir nicht zu."),
    ],
)
def test_a_sentence_marks_its_words_with_whom_it_names(coach: str, boss: str) -> None:
    assert any(f.startswith("you:") and f.endswith(("listen", "hor")) for f in model_features(coach, PHRASES))
    about_the_boss = model_features(boss, PHRASES)
    assert not any(f.startswith("you:") for f in about_the_boss)
    assert any(f.startswith("other:") for f in about_the_boss)


def test_a_negation_marks_the_words_it_governs_and_a_hedge_does_not() -> None:
    negated = model_features("I never feel rushed in our sessions.", PHRASES)
    assert "!rush" in negated and "=rush" not in negated
    hedged = model_features("Not sure our sessions are worth it.", PHRASES)
    assert "=worth" in hedged and "!worth" not in hedged
    # A contrast word ends what the negation governs.
    contrasted = model_features("Not a great week but our sessions help.", PHRASES)
    assert "=help" in contrasted


def test_character_ngrams_run_across_word_boundaries_and_typos_still_share_most() -> None:
    found = model_features("you never listen", PHRASES)
    assert "#u nev" in found
    typo = model_features("you nevr listn", PHRASES)
    grams = {f for f in found if f.startswith("#")}
    assert len(grams & typo) >= 3


def test_the_rules_non_theme_cues_reach_the_model() -> None:
    assert "<cue><reassurance>" in model_features("Thanks, our session was really helpful.", PHRASES)


def test_a_weighed_ngram_is_quoted_as_the_whole_words_it_touches() -> None:
    model = WordsModel(("none", "unheard"), (2.0, 0.0), {"<coach>": (0.0, 0.0), "#u nev": (0.0, 9.0)})
    phrases = dataclasses.replace(PHRASES, model=model)
    (finding,) = read("Honestly you nevr really get to it.", phrases).findings
    assert finding.by_model and finding.theme == "unheard" and finding.words == "you nevr"


def _sure_of(probability: float, *, unnamed: float | None, others: float | None = None) -> RiskPhrases:
    """The shipped lexicon with a model that reads every note as ``unheard`` at about ``probability``."""
    odds = math.log(probability / (1 - probability))
    model = WordsModel(("none", "unheard"), (0.0, odds), {"=today": (0.0, 0.0001)})
    return dataclasses.replace(
        PHRASES, model=model, model_threshold=0.4, model_threshold_unnamed=unnamed, model_threshold_others=others
    )


@pytest.mark.parametrize(
    ("text", "probability", "unnamed", "others", "read_by_model"),
    [
        ("Our session today, hmm.", 0.5, 0.7, 0.8, True),  # names the coaching: 0.4 is enough
        ("Odd feeling today.", 0.5, 0.7, 0.8, False),  # names no one: needs 0.7
        ("Odd feeling today.", 0.8, 0.7, 0.8, True),
        ("Odd feeling today.", 0.99, None, 0.8, False),  # no threshold for such notes: left to the cues
        ("My boss today, hmm.", 0.75, 0.7, 0.8, False),  # names only someone else: needs 0.8
        ("My boss today, hmm.", 0.85, 0.7, 0.8, True),
        ("My boss today, hmm.", 0.99, 0.7, None, False),  # no threshold for such notes: never the model's
    ],
)
def test_how_sure_the_model_must_be_depends_on_whom_the_note_names(
    text: str, probability: float, unnamed: float | None, others: float | None, read_by_model: bool
) -> None:
    findings = read(text, _sure_of(probability, unnamed=unnamed, others=others)).findings
    assert [f.by_model for f in findings] == ([True] if read_by_model else [])


def test_a_note_that_names_only_someone_else_gets_no_tentative_reading() -> None:
    """Low scores that week say nothing about whether "my boss..." is about the coach."""
    phrases = dataclasses.replace(_reads_at(0.7), model_threshold_others=0.9)
    assert read("My boss today, hmm.", phrases).tentative is None
    assert read("Odd feeling today.", phrases).tentative is not None


def _reads_at(probability: float, *, split: bool = False) -> RiskPhrases:
    """The shipped lexicon with a model that reads every note as a risk at about ``probability`` (shared by two
    themes when ``split``), sure at 0.9 and tentative from 0.5."""
    odds = math.log(probability / (1 - probability))
    if split:
        model = WordsModel(("none", "unheard", "judged"), (0.0, odds - math.log(2), odds - math.log(2) - 0.01), {})
    else:
        model = WordsModel(("none", "unheard"), (0.0, odds), {})
    model = dataclasses.replace(model, weights={"=today": (0.0,) + (0.0001,) * (len(model.classes) - 1)})
    return dataclasses.replace(
        PHRASES,
        model=model,
        model_threshold=0.9,
        model_threshold_unnamed=0.9,
        model_threshold_scores=0.5,
        scores_below_usual=0.5,
    )


def test_the_model_reads_how_sure_it_is_of_any_risk_and_names_the_likeliest_theme() -> None:
    # 0.95 of risk split between two themes: neither theme reaches 0.9, but the note reads as a risk.
    (finding,) = read("Our session today, hmm.", _reads_at(0.95, split=True)).findings
    assert finding.by_model and finding.theme == "unheard" and finding.words == "today"


def test_a_fairly_sure_reading_is_tentative_and_a_doubtful_one_nothing() -> None:
    tentative = read("Our session today, hmm.", _reads_at(0.7))
    assert tentative.findings == () and tentative.tentative is not None and tentative.tentative.theme == "unheard"
    assert read("Our session today, hmm.", _reads_at(0.3)).tentative is None


QUESTIONS = relationship_questions(load_builtin_question_sets()["default"])
ITEMS = ("hope", "focus", "trust", "perspective", "support")


def _checkin(week: int, score: float, note: str | None = None) -> HistoryEntry:
    at = datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(weeks=week)
    return HistoryEntry("dana", at, "completed", dict.fromkeys(ITEMS, score), {"note": note} if note else {})


@pytest.mark.parametrize(
    ("probability", "usual", "now", "earlier", "reason"),
    [
        # sure: the note alone
        (0.95, 4.5, 4.5, 4, 'from the words "today": "Our session today, hmm"'),
        # fairly sure, and the answers a point below the client's usual: the alert says both
        (0.7, 4.5, 3.5, 4, 'from the words "today", with the relationship answers below their usual (3.5 against 4.5)'),
        (0.7, 4.5, 4.0, 4, "below their usual (4 against 4.5)"),
        # fairly sure, but the answers are as usual, or there is no usual yet (fewer than 3 earlier check-ins)
        (0.7, 4.5, 4.2, 4, None),
        (0.7, 4.5, 3.5, 2, None),
        # doubtful: not even with the answers down
        (0.3, 4.5, 3.0, 4, None),
    ],
)
def test_a_tentative_reading_raises_words_only_with_the_scores_below_the_clients_usual(
    probability: float, usual: float, now: float, earlier: int, reason: str | None
) -> None:
    history = [_checkin(week, usual) for week in range(earlier)]
    current = _checkin(earlier, now, "Our session today, hmm.")
    signals = detect_words(current, TEXTS, _reads_at(probability), history, QUESTIONS)
    words = [s for s in signals if s.kind == "words"]
    if reason is None:
        assert words == []
    else:
        (signal,) = words
        assert signal.theme == "unheard" and reason in signal.reason


def test_every_kind_of_none_counts_against_a_risk() -> None:
    model = WordsModel(("none:work", "none:neutral", "unheard"), (0.0, 0.0, math.log(0.4 / 0.3)), {})
    probabilities = model.probabilities(())
    assert model.risk(probabilities) == pytest.approx(0.4)
    assert WordsModel(("none", "unheard"), (0.0, 0.0), {}).risk({"none": 0.25, "unheard": 0.75}) == 0.75


def test_packed_weights_read_back_as_the_three_decimal_numbers_they_were() -> None:
    rows = {"=listen": (0.123, -2.235, 1.701), "you:!listen": (0.0, -0.001, 0.5)}
    source = json.dumps(
        {
            "classes": ["none", "unheard", "agenda"],
            "bias": [0.0, 0.1, 0.2],
            "features": list(rows),
            "weights": pack_weights(rows.values()),
        }
    )
    model = parse_words_model(source)
    assert dict(model.weights) == rows  # the same floats, not merely close ones
    assert "=listen" in model.weights and "=talk" not in model.weights and len(model.weights) == 2


def test_a_model_file_whose_weights_do_not_fit_its_features_is_refused() -> None:
    source = json.dumps(
        {
            "classes": ["none", "unheard"],
            "bias": [0.0, 0.0],
            "features": ["=listen", "=talk"],
            "weights": pack_weights([(0.5, 0.5)]),
        }
    )
    with pytest.raises(ValueError, match="one weight per class"):
        parse_words_model(source)
