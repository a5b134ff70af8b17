"""The small linear model behind the ``words`` cues: which theme, if any, a note's words lean to.

A multinomial logistic regression (classes: the themes, and the kinds of note not about the relationship) over
the note's words, word pairs, stems and lemmas (negated ones apart), character n-grams across word boundaries,
whom each sentence names (the coach or someone else), the rules' non-theme cues, and whom the note names; trained
by ``tools/train_words_model.py`` on the development half of ``tests/corpus/`` and shipped as
``prompts/words_model.json`` (its features by name, their weights packed: ``pack_weights``). It is applied here in
plain Python (no scikit-learn, nothing downloaded), and it stays explainable: the features that weigh most for a
theme are the note's own words, and the alert names them.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise

from bot.signals.detectors.lemmas import lemma

MODEL_FILE = "words_model.json"
#: Weights are stored in thousandths (``pack_weights``): the trainer rounds them to three decimals.
SCALE = 1000
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


class _Rows(Mapping[str, tuple[float, ...]]):
    """Each feature's weights, one per class, read from one array of 16-bit thousandths.

    As a dictionary of tuples of floats the model's 622,692 weights held 11 MB of the running bot's memory, and
    reading them from JSON lists cost twice that at its peak, which the process kept: 23.5 MB resident for the
    model. A thousandth ``k / 1000`` is the same float as the three-decimal number it stands for, so the
    probabilities are those of the weights as trained and rounded.
    """

    def __init__(self, features: Sequence[str], packed: array[int], width: int) -> None:
        self._row = {feature: i for i, feature in enumerate(features)}
        self._packed = packed
        self._width = width

    def __getitem__(self, feature: str) -> tuple[float, ...]:
        start = self._row[feature] * self._width
        return tuple(k / SCALE for k in self._packed[start : start + self._width])

    def __contains__(self, feature: object) -> bool:
        return feature in self._row

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)


def pack_weights(rows: Iterable[Sequence[float]]) -> str:
    """The model file's ``weights``: every row of weights in thousandths, as little-endian 16-bit integers, in
    base64 (``tools/train_words_model.py`` writes it, ``parse_words_model`` reads it)."""
    packed = array("h", (round(weight * SCALE) for row in rows for weight in row))
    return base64.b64encode(_little_endian(packed).tobytes()).decode("ascii")


def _little_endian(packed: array[int]) -> array[int]:
    """Swap ``packed`` in place between the file's little-endian order and this machine's, if they differ."""
    if sys.byteorder == "big":
        packed.byteswap()
    return packed


def parse_words_model(source: str) -> WordsModel:
    data = json.loads(source)
    classes = tuple(str(c) for c in data["classes"])
    features = [str(f) for f in data["features"]]
    packed = array("h")
    packed.frombytes(base64.b64decode(data["weights"]))
    _little_endian(packed)
    if not any(map(routine, classes)) or len(packed) != len(features) * len(classes):
        raise ValueError(f"{MODEL_FILE}: every feature needs one weight per class, and a '{NONE}' class")
    return WordsModel(classes, tuple(float(b) for b in data["bias"]), _Rows(features, packed, len(classes)))


@cache
def load_words_model() -> WordsModel:
    return parse_words_model(resources.files("prompts").joinpath(MODEL_FILE).read_text(encoding="utf-8"))
