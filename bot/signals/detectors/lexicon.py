"""``prompts/risk_phrases.yaml`` read into what the ``words`` detector needs: per language, cue sets ready to scan.

The file is the coach-editable half of the detector (the other half is the model in ``words_model``); its
comments explain the rules. A malformed file fails at start-up with the key that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import get_args

import yaml

from bot.conversation.questions import Practice
from bot.signals.detectors.wording import CueSet, Matcher, Pattern, PatternError, parse_pattern
from bot.signals.detectors.words_model import WordsModel, load_words_model

#: Labels of the cues that are not themes.
COACH, OTHER, HEDGE, WELLBEING = "<coach>", "<other>", "<hedge>", "<wellbeing>"
NOT_COACH, AFFECT, REASSURANCE, COMPLAINT = "<not-coach>", "<affect>", "<reassurance>", "<complaint>"
#: Ends the label of a theme's ``alone`` cues: they count even when the note names no one.
ALONE = "!"
#: Ends the label of a theme's ``broad`` cues: they count only with the coach named in the same sentence part.
BROAD = "~"

_PRACTICES: dict[str, Practice] = {practice: practice for practice in get_args(Practice)}


class RiskPhrasesError(ValueError):
    """``prompts/risk_phrases.yaml`` is not shaped as documented in the file."""


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    practice: Practice
    #: What the coach reads, by the coach's language.
    meaning: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Language:
    name: str
    markers: frozenset[str]
    rewrite: Mapping[str, tuple[str, ...]]
    negations: frozenset[str]
    contrast: frozenset[str]
    #: Themes, targets (``COACH``, ``OTHER``), ``HEDGE`` and ``WELLBEING`` cues in one scan.
    cues: CueSet
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class RiskPhrases:
    negation_window: int
    broad_window: int
    #: How sure the model must be that a note speaks against the coaching at all (one minus its certainty of
    #: "none") to raise ``words`` on its reading alone.
    model_threshold: float
    #: The model's certainty needed for a note that names no one at all; None: such notes are left to the cues.
    model_threshold_unnamed: float | None
    #: The certainty needed for a note that names only someone else ("my boss..."); None: never the model's.
    model_threshold_others: float | None
    #: A lower certainty that raises ``words`` only when the same check-in's relationship answers are at least
    #: ``scores_below_usual`` below the client's usual; None: the model's reading alone decides.
    model_threshold_scores: float | None
    scores_below_usual: float
    explain: Mapping[str, str]
    #: As ``explain``, for a reading the scores confirmed: also ``{now}`` and ``{usual}``.
    explain_scores: Mapping[str, str]
    languages: Mapping[str, Language]
    themes: Mapping[str, Theme]
    model: WordsModel | None


def _mapping(data: object, where: str) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise RiskPhrasesError(f"risk_phrases.yaml: '{where}' must be a mapping")
    return {str(key): value for key, value in data.items()}


def _strings(data: Mapping[str, object], key: str, where: str, *, optional: bool = False) -> list[str]:
    value = data.get(key, [] if optional else None)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RiskPhrasesError(f"risk_phrases.yaml: '{where}.{key}' must be a list of texts")
    return list(value)


def _patterns(texts: list[str], where: str) -> list[Pattern]:
    try:
        return [parse_pattern(text) for text in texts]
    except PatternError as exc:
        raise RiskPhrasesError(f"risk_phrases.yaml: {where}: {exc}") from exc


def _language(
    name: str, data: Mapping[str, object], themes: Mapping[str, Mapping[str, object]], shared: Mapping[str, object]
) -> Language:
    """One language's cues; ``shared`` is the file itself, for the lists kept by language (``wellbeing``...)."""
    where = f"languages.{name}"
    wellbeing = _mapping(shared.get("wellbeing"), "wellbeing")
    cues = [(WELLBEING, p) for p in _patterns(_strings(wellbeing, name, "wellbeing"), "wellbeing")]
    for label, key in (
        (COACH, "coach"),
        (OTHER, "others"),
        (HEDGE, "hedges"),
        (NOT_COACH, "not_coach"),
        (COMPLAINT, "complaint"),
    ):
        optional = label in (NOT_COACH, COMPLAINT)
        cues += [(label, p) for p in _patterns(_strings(data, key, where, optional=optional), key)]
    for label, key in ((AFFECT, "affect"), (REASSURANCE, "reassurance")):
        by_language = _mapping(shared.get(key, {}), key)
        cues += [(label, p) for p in _patterns(_strings(by_language, name, key, optional=True), key)]
    for theme, theme_data in themes.items():
        by_language = _mapping(theme_data.get("cues"), f"themes.{theme}.cues")
        cues += [(theme, p) for p in _patterns(_strings(by_language, name, f"themes.{theme}.cues"), theme)]
        for suffix, key in ((ALONE, "alone"), (BROAD, "broad")):
            extra = _mapping(theme_data.get(key, {name: []}), f"themes.{theme}.{key}")
            cues += [(theme + suffix, p) for p in _patterns(_strings(extra, name, f"themes.{theme}.{key}"), theme)]
    rewrite = _mapping(data.get("rewrite", {}), f"{where}.rewrite")
    if not all(isinstance(v, str) for v in rewrite.values()):
        raise RiskPhrasesError(f"risk_phrases.yaml: '{where}.rewrite' must map words to texts")
    alternatives = [alt for _, pattern in cues for part in pattern if not isinstance(part, str) for alt in part]
    return Language(
        name=name,
        markers=frozenset(_strings(data, "markers", where)),
        rewrite={word: tuple(str(v).split()) for word, v in rewrite.items()},
        negations=frozenset(_strings(data, "negations", where)),
        contrast=frozenset(_strings(data, "contrast", where)),
        cues=CueSet(cues),
        matcher=Matcher(
            frozenset(a.text for a in alternatives if not a.stem), frozenset(a.text for a in alternatives if a.stem)
        ),
    )


def _theme(name: str, data: Mapping[str, object]) -> Theme:
    practice, meaning = _PRACTICES.get(str(data.get("practice"))), data.get("meaning")
    if practice is None or not isinstance(meaning, dict) or "en" not in meaning:
        raise RiskPhrasesError(f"risk_phrases.yaml: themes.{name} needs a practice and a meaning in 'en'")
    return Theme(name, practice, {str(k): str(v) for k, v in meaning.items()})


def _window(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 20:
        raise RiskPhrasesError(f"risk_phrases.yaml: '{key}' must be a whole number from 0 to 20")
    return value


def _certainty(data: Mapping[str, object], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise RiskPhrasesError(f"risk_phrases.yaml: '{key}' must be a number above 0, at most 1")
    return float(value)


#: libyaml's parser when PyYAML has it: the same data as ``yaml.safe_load``, which took 0.07 s of every start.
_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


def parse_risk_phrases(source: str, model: WordsModel | None = None) -> RiskPhrases:
    data = _mapping(yaml.load(source, Loader=_LOADER), "the file")
    themes_data = {name: _mapping(t, f"themes.{name}") for name, t in _mapping(data.get("themes"), "themes").items()}
    languages = _mapping(data.get("languages"), "languages")
    threshold = _certainty(data, "model_threshold")
    unnamed = _certainty(data, "model_threshold_unnamed") if "model_threshold_unnamed" in data else None
    others = _certainty(data, "model_threshold_others") if "model_threshold_others" in data else None
    with_scores = _certainty(data, "model_threshold_scores") if "model_threshold_scores" in data else None
    below = data.get("scores_below_usual", 0.5)
    if not isinstance(below, int | float) or isinstance(below, bool) or not 0 <= below <= 4:
        raise RiskPhrasesError("risk_phrases.yaml: 'scores_below_usual' must be a number from 0 to 4")
    parsed = {
        name: _language(name, _mapping(lang, f"languages.{name}"), themes_data, data)
        for name, lang in languages.items()
    }
    if "en" not in parsed:
        raise RiskPhrasesError("risk_phrases.yaml: 'languages' needs 'en'")
    explain = _mapping(data.get("explain"), "explain")
    if "en" not in explain:
        raise RiskPhrasesError("risk_phrases.yaml: 'explain' needs an 'en' text")
    explain_scores = _mapping(data.get("explain_scores", explain), "explain_scores")
    if "en" not in explain_scores:
        raise RiskPhrasesError("risk_phrases.yaml: 'explain_scores' needs an 'en' text")
    return RiskPhrases(
        negation_window=_window(data, "negation_window"),
        broad_window=_window(data, "broad_window"),
        model_threshold=threshold,
        model_threshold_unnamed=unnamed,
        model_threshold_others=others,
        model_threshold_scores=with_scores,
        scores_below_usual=float(below),
        explain={k: str(v) for k, v in explain.items()},
        explain_scores={k: str(v) for k, v in explain_scores.items()},
        languages=parsed,
        themes={name: _theme(name, theme) for name, theme in themes_data.items()},
        model=model,
    )


@cache
def load_risk_phrases() -> RiskPhrases:
    """The shipped lexicon and model, read once."""
    source = resources.files("prompts").joinpath("risk_phrases.yaml").read_text(encoding="utf-8")
    return parse_risk_phrases(source, load_words_model())
