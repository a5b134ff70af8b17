"""What the ``words`` model reads in a note: lemmas, negated words, whom each sentence names, character n-grams
across word boundaries, the rules' non-theme cues, and how a weighed feature is quoted back as the client's
words."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bot.signals.detectors.lemmas import lemma
from bot.signals.detectors.lexicon import RiskPhrases, load_risk_phrases
from bot.signals.detectors.words import model_features, read
from bot.signals.detectors.words_model import WordsModel

PHRASES = load_risk_phrases()


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


def _sure_of(probability: float, *, unnamed: float | None) -> RiskPhrases:
    """The shipped lexicon with a model that reads every note as ``unheard`` at about ``probability``."""
    odds = math.log(probability / (1 - probability))
    model = WordsModel(("none", "unheard"), (0.0, odds), {"=today": (0.0, 0.0001)})
    return dataclasses.replace(PHRASES, model=model, model_threshold=0.4, model_threshold_unnamed=unnamed)


@pytest.mark.parametrize(
    ("text", "probability", "unnamed", "read_by_model"),
    [
        ("Our session today, hmm.", 0.5, 0.7, True),  # names the coaching: 0.4 is enough
        ("Odd feeling today.", 0.5, 0.7, False),  # names no one: needs 0.7
        ("Odd feeling today.", 0.8, 0.7, True),
        ("Odd feeling today.", 0.99, None, False),  # no threshold for such notes: left to the cues
        ("My boss today, hmm.", 0.99, 0.7, False),  # names only someone else: never the model's
    ],
)
def test_how_sure_the_model_must_be_depends_on_whom_the_note_names(
    text: str, probability: float, unnamed: float | None, read_by_model: bool
) -> None:
    findings = read(text, _sure_of(probability, unnamed=unnamed)).findings
    assert [f.by_model for f in findings] == ([True] if read_by_model else [])
