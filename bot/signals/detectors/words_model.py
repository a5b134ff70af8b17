"""The small linear model behind the ``words`` cues: which theme, if any, a note's words lean to.

A multinomial logistic regression over the note's words, word pairs, word stems and whether it names the coach
or someone else, trained by ``tools/train_words_model.py`` on the development half of ``tests/corpus/`` and
shipped as ``prompts/words_model.json``. It is applied here in plain Python (a few hundred weights, no
scikit-learn, nothing downloaded), and it stays explainable: the features that weigh most for a theme are
words from the note, and the alert names them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise

MODEL_FILE = "words_model.json"
NONE = "none"
COACH_FEATURE, OTHER_FEATURE = "<coach>", "<other>"
#: Words longer than this also count by their first ``STEM`` letters, so "listening" and "listend" share one.
STEM = 6


def features(words: Sequence[str], *, coach: bool, other: bool, stop: frozenset[str]) -> frozenset[str]:
    """What the model reads in a note: its words, neighbouring pairs, stems, and who it names.

    Words in ``stop`` ("the", "und") count only within pairs, so what the alert names as weighing most is a
    word that carries meaning.
    """
    found = {COACH_FEATURE} if coach else set()
    if other:
        found.add(OTHER_FEATURE)
    found.update(w for w in words if w not in stop)
    found.update(w[:STEM] + "~" for w in words if len(w) > STEM)
    found.update(f"{a} {b}" for a, b in pairwise(words))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class WordsModel:
    classes: tuple[str, ...]
    bias: tuple[float, ...]
    weights: Mapping[str, tuple[float, ...]]

    def probabilities(self, found: Iterable[str]) -> dict[str, float]:
        scores = list(self.bias)
        for feature in found:
            for i, weight in enumerate(self.weights.get(feature, ())):
                scores[i] += weight
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.classes, exps, strict=True)}

    def reasons(self, found: Iterable[str], label: str, count: int = 3) -> list[str]:
        """The features (words, pairs, ``stem~``) that weigh most toward ``label``: what the coach is told."""
        index = self.classes.index(label)
        words = [f for f in found if f not in (COACH_FEATURE, OTHER_FEATURE) and f in self.weights]
        weighed = sorted(((self.weights[f][index], f) for f in words), reverse=True)
        return [feature for weight, feature in weighed[:count] if weight > 0]


def parse_words_model(source: str) -> WordsModel:
    data = json.loads(source)
    classes = tuple(str(c) for c in data["classes"])
    weights = {str(f): tuple(float(w) for w in ws) for f, ws in data["weights"].items()}
    if NONE not in classes or any(len(ws) != len(classes) for ws in weights.values()):
        raise ValueError(f"{MODEL_FILE}: every weight needs one number per class, and a '{NONE}' class")
    return WordsModel(classes, tuple(float(b) for b in data["bias"]), weights)


@cache
def load_words_model() -> WordsModel:
    return parse_words_model(resources.files("prompts").joinpath(MODEL_FILE).read_text(encoding="utf-8"))
