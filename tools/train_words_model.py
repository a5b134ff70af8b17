"""Train the ``words`` model on the development half of the corpus and write ``prompts/words_model.json``.

    .venv/bin/python tools/train_words_model.py

A developer tool, never run by the bot: multinomial logistic regression with L2 regularisation, fitted by
plain gradient descent in Python (no scikit-learn: the corpus is a few hundred notes), on the features that
``bot.signals.detectors.words.model_features`` reads, so training and detecting see the same thing. Only
``tests/corpus/words_dev.tsv`` is read; the held-out half stays unseen. The file also records a few notes
with the probabilities they got, so a test can check that the shipped file is the one trained here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bot.signals.detectors.lexicon import parse_risk_phrases
from bot.signals.detectors.words import model_features
from bot.signals.detectors.words_model import NONE, parse_words_model

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
OUTPUT = ROOT / "prompts" / "words_model.json"
EPOCHS = 400
RATE = 0.5
L2 = 0.01
#: Weights smaller than this for every class are left out of the file.
PRUNE = 0.05
CHECKS = 6


def read_corpus(path: Path, themes: set[str]) -> list[tuple[str, str, str]]:
    """(label, language, text) per note; labels that are not themes (work, family, ...) read as ``none``."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, language, text = line.split("\t")
        rows.append((label if label in themes else NONE, language, text))
    return rows


def train(samples: list[tuple[frozenset[str], int]], classes: int) -> tuple[list[float], dict[str, list[float]]]:
    bias = [0.0] * classes
    weights: dict[str, list[float]] = {f: [0.0] * classes for found, _ in samples for f in found}
    n = len(samples)
    for _ in range(EPOCHS):
        grad_bias = [0.0] * classes
        grad: dict[str, list[float]] = {}
        for found, label in samples:
            scores = list(bias)
            for f in found:
                for c, w in enumerate(weights[f]):
                    scores[c] += w
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            for c in range(classes):
                error = exps[c] / total - (1.0 if c == label else 0.0)
                grad_bias[c] += error
                for f in found:
                    grad.setdefault(f, [0.0] * classes)[c] += error
        for c in range(classes):
            bias[c] -= RATE * grad_bias[c] / n
        for f, ws in weights.items():
            g = grad.get(f)
            for c in range(classes):
                ws[c] -= RATE * ((g[c] if g else 0.0) / n + L2 * ws[c])
    return bias, weights


def main() -> None:
    phrases = parse_risk_phrases((ROOT / "prompts" / "risk_phrases.yaml").read_text(encoding="utf-8"))
    classes = [NONE, *phrases.themes]
    rows = read_corpus(CORPUS / "words_dev.tsv", set(phrases.themes))
    samples = [(model_features(text, phrases), classes.index(label)) for label, _, text in rows]
    bias, weights = train(samples, len(classes))
    kept = {f: [round(w, 3) for w in ws] for f, ws in sorted(weights.items()) if max(abs(w) for w in ws) >= PRUNE}
    model = {
        "about": "words detector model: see tools/train_words_model.py; trained on tests/corpus/words_dev.tsv",
        "classes": classes,
        "bias": [round(b, 3) for b in bias],
        "weights": kept,
    }
    shipped = parse_words_model(json.dumps(model))
    model["checks"] = [
        {"text": text, "label": label, "probabilities": shipped.probabilities(model_features(text, phrases))}
        for label, _, text in rows[:: len(rows) // CHECKS][:CHECKS]
    ]
    OUTPUT.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{OUTPUT.name}: {len(kept)} features, {len(classes)} classes, {len(rows)} development notes")


if __name__ == "__main__":
    main()
