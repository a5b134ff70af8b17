"""Train the ``words`` model on the development half of the corpus and write ``prompts/words_model.json``.

    .venv/bin/python tools/train_words_model.py            # train on every development note, write the file
    .venv/bin/python tools/train_words_model.py --folds 5  # cross-validate on the development notes only

A developer tool, never run by the bot: multinomial logistic regression with L2 regularisation, fitted by
stochastic gradient descent with AdaGrad step sizes in plain Python (no scikit-learn: the corpus is a few
hundred notes, and a dozen passes over it are enough), on the features that
``bot.signals.detectors.words.model_features`` reads, so training and detecting see the same thing. Features
seen in fewer than ``MIN_NOTES`` training notes are left out: a character n-gram from one note teaches nothing.
Only ``tests/corpus/words_dev.tsv`` is read; the held-out half stays unseen, and ``--folds`` is how to compare
features or settings without it: each fold's model is trained on the other folds and the whole detector
(cues, then the model) reads the fold's notes. The file also records a few notes with the probabilities they
got, so a test can check that the shipped file is the one trained here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
from collections import Counter
from pathlib import Path

from bot.signals.detectors.lexicon import RiskPhrases, parse_risk_phrases
from bot.signals.detectors.words import model_features, read
from bot.signals.detectors.words_model import NONE, WordsModel, parse_words_model

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
OUTPUT = ROOT / "prompts" / "words_model.json"
EPOCHS = 12
RATE = 0.3
L2 = 0.01
MIN_NOTES = 2
#: A note that is not about the relationship counts this much more in training: a false alarm costs the coach's
#: trust in every later alert, and the corpus has fewer such notes than risk notes.
NONE_WEIGHT = 4.0
SEED = 20261203
#: Weights smaller than this for every class are left out of the file.
PRUNE = 0.05
CHECKS = 6

Row = tuple[str, str, str]


def read_corpus(path: Path, themes: set[str]) -> list[Row]:
    """(label, language, text) per note; labels that are not themes (work, family, ...) read as ``none``."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, language, text = line.split("\t")
        rows.append((label if label in themes else NONE, language, text))
    return rows


def train(samples: list[tuple[frozenset[str], int]], classes: int) -> tuple[list[float], dict[str, list[float]]]:
    """Bias and weights per feature; each step moves only the weights of the features the note has."""
    seen = Counter(f for found, _ in samples for f in found)
    kept = [(frozenset(f for f in found if seen[f] >= MIN_NOTES), label) for found, label in samples]
    bias, bias_squares = [0.0] * classes, [1e-8] * classes
    weights = {f: [0.0] * classes for f, count in seen.items() if count >= MIN_NOTES}
    squares = {f: [1e-8] * classes for f in weights}
    order = list(range(len(kept)))
    rng = random.Random(SEED)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for index in order:
            found, label = kept[index]
            scores = list(bias)
            for f in found:
                for c, w in enumerate(weights[f]):
                    scores[c] += w
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            scale = NONE_WEIGHT if label == 0 else 1.0
            errors = [scale * (e / total - (1.0 if c == label else 0.0)) for c, e in enumerate(exps)]
            for c, error in enumerate(errors):
                bias_squares[c] += error * error
                bias[c] -= RATE * error / math.sqrt(bias_squares[c])
            for f in found:
                ws, gs = weights[f], squares[f]
                for c, error in enumerate(errors):
                    g = error + L2 * ws[c]
                    gs[c] += g * g
                    ws[c] -= RATE * g / math.sqrt(gs[c])
    return bias, weights


def fit(rows: list[Row], phrases: RiskPhrases, classes: list[str]) -> dict[str, object]:
    """The model file's content, trained on ``rows``."""
    samples = [(model_features(text, phrases), classes.index(label)) for label, _, text in rows]
    bias, weights = train(samples, len(classes))
    kept = {f: [round(w, 3) for w in ws] for f, ws in sorted(weights.items()) if max(abs(w) for w in ws) >= PRUNE}
    return {
        "about": "words detector model: see tools/train_words_model.py; trained on tests/corpus/words_dev.tsv",
        "classes": classes,
        "bias": [round(b, 3) for b in bias],
        "weights": kept,
    }


def cross_validate(rows: list[Row], phrases: RiskPhrases, classes: list[str], folds: int) -> None:
    """Recall and false alarms of the whole detector on each fold, its model trained on the other folds."""
    caught: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for fold in range(folds):
        train_rows = [row for i, row in enumerate(rows) if i % folds != fold]
        model: WordsModel = parse_words_model(json.dumps(fit(train_rows, phrases, classes)))
        folded = dataclasses.replace(phrases, model=model)
        for i, (label, language, text) in enumerate(rows):
            if i % folds == fold:
                themes = {f.theme for f in read(text, folded).findings}
                kind = "other" if label == NONE else "risk"
                for key in (kind, f"{kind}-{language}", *([label] if kind == "risk" else [])):
                    totals[key] += 1
                    caught[key] += bool(themes)
                if kind == "risk":
                    totals["right theme"] += bool(themes)
                    caught["right theme"] += label in themes
    for key in sorted(totals):
        print(f"{key:16} {caught[key] / totals[key]:.3f}  ({caught[key]} of {totals[key]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=0, help="cross-validate on the development notes, write nothing")
    folds = parser.parse_args().folds
    phrases = parse_risk_phrases((ROOT / "prompts" / "risk_phrases.yaml").read_text(encoding="utf-8"))
    classes = [NONE, *phrases.themes]
    rows = read_corpus(CORPUS / "words_dev.tsv", set(phrases.themes))
    if folds:
        cross_validate(rows, parse_risk_phrases((ROOT / "prompts" / "risk_phrases.yaml").read_text()), classes, folds)
        return
    model = fit(rows, phrases, classes)
    shipped = parse_words_model(json.dumps(model))
    model["checks"] = [
        {"text": text, "label": label, "probabilities": shipped.probabilities(model_features(text, phrases))}
        for label, _, text in rows[:: len(rows) // CHECKS][:CHECKS]
    ]
    OUTPUT.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    weights = model["weights"]
    assert isinstance(weights, dict)
    print(f"{OUTPUT.name}: {len(weights)} features, {len(classes)} classes, {len(rows)} development notes")


if __name__ == "__main__":
    main()
