"""Train the ``words`` model on the development half of the corpus and write ``prompts/words_model.json``.

    .venv/bin/python tools/train_words_model.py            # train on every development note, write the file
    .venv/bin/python tools/train_words_model.py --folds 5  # cross-validate on the development notes only
    .venv/bin/python tools/train_words_model.py --sections # the same, leaving out one author's notes at a time

A developer tool, never run by the bot: multinomial logistic regression with L2 regularisation, fitted on the
whole training set at once by gradient descent with Adam step sizes in numpy (which the bot has through
matplotlib; the bot itself applies the model in plain Python). Full-batch fitting replaced stochastic gradient
descent on 4 December 2026: it reaches the regularised optimum, so the certainties it gives are less extreme
and a threshold on them means more (cross-validated: 0.67 -> 0.71 of the relationship notes at one work or
neutral note in ten flagged). It reads the features that
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
from collections import Counter
from pathlib import Path

import numpy as np

from bot.signals.detectors.lexicon import RiskPhrases, parse_risk_phrases
from bot.signals.detectors.words import model_features, read
from bot.signals.detectors.words_model import NONE, WordsModel, pack_weights, parse_words_model, routine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
OUTPUT = ROOT / "prompts" / "words_model.json"
#: Full-batch Adam steps and their size.
STEPS = 150
RATE = 0.2
#: L2 penalty on the weights (the sum over notes of their weighted log-loss, plus L2/2 times the squared weights).
L2 = 1.0
MIN_NOTES = 2
#: A note that is not about the relationship counts this much more in training: a false alarm costs the coach's
#: trust in every later alert, and the corpus has fewer such notes than risk notes.
NONE_WEIGHT = 4.0
#: Weights smaller than this for every class are left out of the file.
PRUNE = 0.05
CHECKS = 6

Row = tuple[str, str, str]


def read_corpus(path: Path, themes: set[str]) -> tuple[list[Row], list[int]]:
    """(label, language, text) per note, and the section each note is in (each comment line starts one: one
    author's notes, or one earlier held-out set); labels that are not themes read as kinds of ``none``
    (``none:work``)."""
    rows: list[Row] = []
    sections: list[int] = []
    section = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            section += 1
        if not line.strip() or line.startswith("#"):
            continue
        label, language, text = line.split("\t")
        rows.append((label if label in themes else f"{NONE}:{label}", language, text))
        sections.append(section)
    return rows, sections


def train(
    samples: list[tuple[frozenset[str], int]], classes: int, routine_classes: list[int]
) -> tuple[list[float], dict[str, list[float]]]:
    """Bias and weights per feature, fitted on all ``samples`` at once (each step sees every note);
    ``routine_classes`` are the kinds of "none", whose notes weigh ``NONE_WEIGHT``."""
    seen = Counter(f for found, _ in samples for f in found)
    names = sorted(f for f, count in seen.items() if count >= MIN_NOTES)
    column = {f: j for j, f in enumerate(names)}
    pairs = [(i, column[f]) for i, (found, _) in enumerate(samples) for f in found if f in column]
    rows = np.array([i for i, _ in pairs], dtype=np.int64)
    cols = np.array([j for _, j in pairs], dtype=np.int64)
    n, d = len(samples), len(names)
    # The note-feature matrix as index lists: notes by row for the scores, features by column for the gradient.
    has_features = np.bincount(rows, minlength=n) > 0
    row_starts = np.minimum(np.searchsorted(rows, np.arange(n)), max(len(rows) - 1, 0))
    by_column = np.argsort(cols, kind="stable")
    column_rows = rows[by_column]
    column_starts = np.searchsorted(cols[by_column], np.arange(d))
    labels = np.array([label for _, label in samples])
    targets = np.eye(classes)[labels]
    scale = np.where(np.isin(labels, routine_classes), NONE_WEIGHT, 1.0)[:, None]
    weights, bias = np.zeros((d, classes)), np.zeros(classes)
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros_like(bias), np.zeros_like(bias)]
    for step in range(1, STEPS + 1):
        scores = np.zeros((n, classes))
        scores[has_features] = np.add.reduceat(weights[cols], row_starts)[has_features]
        scores += bias
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        errors = (probabilities - targets) * scale
        gradients = (np.add.reduceat(errors[column_rows], column_starts) + L2 * weights, errors.sum(axis=0))
        for k, (value, gradient) in enumerate(zip((weights, bias), gradients, strict=True)):
            first, second = moments[2 * k], moments[2 * k + 1]
            first *= 0.9
            first += 0.1 * gradient
            second *= 0.999
            second += 0.001 * gradient * gradient
            value -= RATE * (first / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)
    return [float(b) for b in bias], {f: [float(w) for w in weights[j]] for f, j in column.items()}


def fit(rows: list[Row], phrases: RiskPhrases, classes: list[str]) -> dict[str, object]:
    """The model file's content, trained on ``rows``."""
    samples = [(model_features(text, phrases), classes.index(label)) for label, _, text in rows]
    bias, weights = train(samples, len(classes), [i for i, c in enumerate(classes) if routine(c)])
    kept = {f: ws for f, ws in sorted(weights.items()) if max(abs(w) for w in ws) >= PRUNE}
    return {
        "about": "words detector model: see tools/train_words_model.py; trained on tests/corpus/words_dev.tsv",
        "classes": classes,
        "bias": [round(b, 3) for b in bias],
        "features": list(kept),
        "weights": pack_weights(kept.values()),
    }


def cross_validate(rows: list[Row], phrases: RiskPhrases, classes: list[str], fold_of: list[int]) -> None:
    """Recall and false alarms of the whole detector on each fold, its model trained on the other folds: on the
    note alone, and (``+scores`` rows) counting the readings that need the scores below the client's usual too."""
    caught: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for fold in sorted(set(fold_of)):
        train_rows = [row for row, f in zip(rows, fold_of, strict=True) if f != fold]
        model: WordsModel = parse_words_model(json.dumps(fit(train_rows, phrases, classes)))
        folded = dataclasses.replace(phrases, model=model)
        for (label, language, text), f in zip(rows, fold_of, strict=True):
            if f == fold:
                reading = read(text, folded)
                themes = {f.theme for f in reading.findings}
                kind = "other" if routine(label) else "risk"
                for key in (kind, f"{kind}-{language}", label):
                    totals[key] += 1
                    caught[key] += bool(themes)
                for key in (f"{kind}+scores", f"{kind}-{language}+scores"):
                    totals[key] += 1
                    caught[key] += bool(themes) or reading.tentative is not None
                if kind == "risk":
                    totals["right theme"] += bool(themes)
                    caught["right theme"] += label in themes
    for key in sorted(totals):
        print(f"{key:16} {caught[key] / totals[key]:.3f}  ({caught[key]} of {totals[key]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=0, help="cross-validate on the development notes, write nothing")
    parser.add_argument(
        "--sections", action="store_true", help="cross-validate leaving one section (one author) out at a time"
    )
    arguments = parser.parse_args()
    phrases = parse_risk_phrases((ROOT / "prompts" / "risk_phrases.yaml").read_text(encoding="utf-8"))
    rows, sections = read_corpus(CORPUS / "words_dev.tsv", set(phrases.themes))
    classes = [*sorted({label for label, _, _ in rows if routine(label)}), *phrases.themes]
    if arguments.sections or arguments.folds:
        folds = sections if arguments.sections else [i % arguments.folds for i in range(len(rows))]
        cross_validate(rows, phrases, classes, folds)
        return
    model = fit(rows, phrases, classes)
    shipped = parse_words_model(json.dumps(model))
    model["checks"] = [
        {"text": text, "label": label, "probabilities": shipped.probabilities(model_features(text, phrases))}
        for label, _, text in rows[:: len(rows) // CHECKS][:CHECKS]
    ]
    OUTPUT.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    features = model["features"]
    assert isinstance(features, list)
    print(f"{OUTPUT.name}: {len(features)} features, {len(classes)} classes, {len(rows)} development notes")


if __name__ == "__main__":
    main()
