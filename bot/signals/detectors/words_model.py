"""The small linear model behind the ``words`` cues: which theme, if any, a note's words lean to.

A multinomial logistic regression (classes: the themes, and the kinds of note not about the relationship) over
the note's words, word pairs, stems and lemmas (negated ones apart), character n-grams across word boundaries,
whom each sentence names (the coach or someone else), the rules' non-theme cues, and whom the note names; trained
by ``tools/train_words_model.py`` on the development half of ``tests/corpus/`` and shipped as
``prompts/words_model.json``. It is applied here in plain Python (a dictionary of weights, no scikit-learn,
nothing downloaded), and it stays explainable: the features that weigh most for a theme are the note's own words,
and the alert names them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise

from bot.signals.detectors.lemmas import lemma

MODEL_FILE = "words_model.json"
#: The class of notes that are not about the relationship, or (``none:work``, ``none:neutral``...) one of its kinds:
#: a class per kind lets a linear model tell each kind apart from the risks in its own way, where one class for
#: all of them had to find one set of weights that sets thanks, logistics, work and family apart at once
#: (cross-validated on the development notes: 0.63 -> 0.67 of the relationship notes at the same false alarms).
NONE = "none"
COACH_FEATURE, OTHER_FEATURE = "<coach>", "<other>"
#: Words longer than this also count by their first ``STEM`` letters, so "listening" and "listend" share one.
STEM = 6
#: Letters in a character n-gram. Only n-grams that run across a word boundary count ("u nev" in "you never"):
#: they catch two words together even misspelt, while the n-grams inside words added features that only made
#: the model surer of itself (cross-validated on the development notes: more false alarms at the same recall).
CHARS = 5
#: Marks a lemma (``=listen``), a negated one (``!listen`` in "never listens"), a character n-gram (``#u nev``),
#: a lemma in a sentence that names the coach (``you:listen``) or someone else (``other:listen``), and a cue of
#: ``risk_phrases.yaml`` that is not a theme's (``<cue><reassurance>``), so the rules' reading informs the model.
LEMMA, NEGATED, GRAM, CUE = "=", "!", "#", "<cue>"
YOU, THEY = "you", "other"


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence's words as the tokenizer left them, whom it names (``YOU``, ``THEY`` or "" for neither or both),
    which of its words a negation governs, and the labels of the non-theme cues found in it."""

    words: tuple[str, ...]
    target: str
    negated: frozenset[int]
    cues: frozenset[str]


def features(
    sentences: Sequence[Sentence], *, coach: bool, other: bool, stop: frozenset[str], language: str
) -> frozenset[str]:
    """What the model reads in a note: words, neighbouring pairs, stems, lemmas, character n-grams across word
    boundaries, the lemmas of each sentence marked with whom it names, and whom the note names at all.

    Words in ``stop`` ("the", "und") count only within pairs and n-grams, so what the alert names as weighing
    most is a word that carries meaning. The marked lemmas tell "you don't listen" (``you:!listen``) from "my
    boss doesn't listen" (``other:!listen``) and "you listened" (``you:=listen``), which a bag of words cannot.
    """
    found = {COACH_FEATURE} if coach else set()
    if other:
        found.add(OTHER_FEATURE)
    for sentence in sentences:
        words = sentence.words
        meaningful = [w for w in words if w not in stop]
        lemmas = [
            (NEGATED if i in sentence.negated else LEMMA) + lemma(w, language)
            for i, w in enumerate(words)
            if w not in stop
        ]
        found.update(meaningful)
        found.update(CUE + cue for cue in sentence.cues)
        found.update(lemmas)
        found.update(w[:STEM] + "~" for w in words if len(w) > STEM)
        found.update(f"{a} {b}" for a, b in pairwise(words))
        if sentence.target:
            found.update(sentence.target + ":" + m for m in lemmas)
        joined = f" {' '.join(words)} "
        grams = (joined[i : i + CHARS] for i in range(len(joined) - CHARS + 1))
        found.update(GRAM + gram for gram in grams if " " in gram[1:-1])
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class WordsModel:
    classes: tuple[str, ...]
    bias: tuple[float, ...]
    weights: Mapping[str, tuple[float, ...]]

    def risk(self, probabilities: Mapping[str, float]) -> float:
        """How sure the model is that the note is about the relationship at all: one minus its certainty of
        every kind of "none"."""
        return 1.0 - sum(p for label, p in probabilities.items() if routine(label))

    def probabilities(self, found: Iterable[str]) -> dict[str, float]:
        scores = list(self.bias)
        for feature in found:
            for i, weight in enumerate(self.weights.get(feature, ())):
                scores[i] += weight
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.classes, exps, strict=True)}

    def reasons(self, found: Iterable[str], label: str, count: int = 3, against: str | None = None) -> list[str]:
        """The features (words, pairs, ``stem~``) that weigh most toward ``label`` (rather than ``against``, when
        given): what the coach is told."""
        index = self.classes.index(label)
        other = self.classes.index(against) if against is not None else None
        words = [f for f in found if f not in (COACH_FEATURE, OTHER_FEATURE) and f in self.weights]
        weighed = sorted(
            ((self.weights[f][index] - (self.weights[f][other] if other is not None else 0.0), f) for f in words),
            reverse=True,
        )
        return [feature for weight, feature in weighed[:count] if weight > 0]


def routine(label: str) -> bool:
    """Whether a class says the note is not about the relationship: ``none`` or one of its kinds."""
    return label == NONE or label.startswith(NONE + ":")


class _Floats(dict[str, float]):
    """One float object per number as written: the model's 399,770 weights take 1,016 values (three decimals),
    and a float object each would be 9 MB of the running bot's memory."""

    def __missing__(self, text: str) -> float:
        value = self[text] = float(text)
        return value


def parse_words_model(source: str) -> WordsModel:
    data = json.loads(source, parse_float=_Floats().__getitem__)
    classes = tuple(str(c) for c in data["classes"])
    weights = {str(f): tuple(map(float, ws)) for f, ws in data["weights"].items()}
    if not any(map(routine, classes)) or any(len(ws) != len(classes) for ws in weights.values()):
        raise ValueError(f"{MODEL_FILE}: every weight needs one number per class, and a '{NONE}' class")
    return WordsModel(classes, tuple(float(b) for b in data["bias"]), weights)


@cache
def load_words_model() -> WordsModel:
    return parse_words_model(resources.files("prompts").joinpath(MODEL_FILE).read_text(encoding="utf-8"))
