"""The suggestion model on a wide codebook: many questions, hundreds of codes, few answers.

A survey of open questions coded with a codebook per question is the shape that strains a
one-vs-rest model most: hundreds of codes, most with one or two coded answers, each answer
carrying one to three codes, and the question it answers (its context) telling which codes
are possible. Nothing here is real data: the answers are made of per-code key words among
common words and noise, so the figures say how the model scales with the codes and how it
uses the question, not how well it reads English.

For each seeded half/half split, in the same run: the model (tipqual's defaults, the
codebook's definitions as weak examples, the question as context), the plain baseline of
``benchmarks/suggest_protocol.py`` (word TF-IDF + balanced logistic regression), the model
without the question, and the model's suggestions kept only where the score reaches 0.5
(what a user filtering the exported scores by hand would see), as micro-F1; the mean set
size; the expected calibration error of the held-out pairs scoring at least 0.1 (as in
``suggest_protocol``); and the seconds and CPU seconds of fit + suggest.

    python -m benchmarks.suggest_wide [--questions 14] [--codes 355] [--answers 580] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COMMON = ("the", "a", "and", "it", "is", "to", "of", "we", "they", "that", "so", "but")


def make_survey(questions: int, codes: int, answers: int, seed: int) -> Any:
    """The generated survey as a :class:`benchmarks.suggest_protocol.Dataset`."""
    import numpy as np

    from benchmarks.suggest_protocol import Dataset, definitions_codebook

    rng = np.random.RandomState(seed)
    vocabulary = [f"w{i}" for i in range(3000)]
    book: list[tuple[int, str, list[str]]] = []  # (question, code id, key words)
    for q in range(questions):
        for k in range(codes // questions + (1 if q < codes % questions else 0)):
            book.append((q, f"q{q}-c{k}", [str(w) for w in rng.choice(vocabulary, 4,
                                                                      replace=False)]))
    texts, contexts, labels = [], [], []
    for a in range(answers):
        q = a % questions
        mine = [entry for entry in book if entry[0] == q]
        weights = 1.0 / np.arange(1, len(mine) + 1)  # a few codes common, most rare
        picked = rng.choice(len(mine), rng.choice([1, 1, 2, 2, 3]), replace=False,
                            p=weights / weights.sum())
        words = [str(w) for w in rng.choice(COMMON, 6)]
        for i in picked:
            words += [str(w) for w in rng.choice(mine[i][2], 2)]
        words += [str(w) for w in rng.choice(vocabulary, 4)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        contexts.append(f"question {q}: what do you think about topic {q}?")
        labels.append({mine[i][1] for i in picked})
    codebook = definitions_codebook(
        [(cid, cid, f"Answers that speak of {words[0]} or {words[1]}.")
         for _, cid, words in book], "wide survey")
    return Dataset("wide survey", texts, contexts, labels, [str(i) for i in range(answers)],
                   codebook, None, multi=True)


def run(data: Any, seeds: int) -> None:
    import numpy as np

    from benchmarks.suggest_protocol import (
        SHOWN,
        baseline,
        calibration,
        fit_model,
        model_sets,
        score,
        split,
    )

    print(f"{data.name}: {len(data.items)} answers, {len(data.codebook.codes)} codes; micro-F1 "
          "on held-out halves")
    print(f"{'seed':>4} {'model':>7} {'base':>7} {'/base':>6} {'no ctx':>7} {'>=0.5':>7} "
          f"{'set':>5} {'ECE':>6} {'fit+s s':>8} {'CPU s':>6}")
    for seed in range(seeds):
        train, test = split(data, seed)
        truth = [data.labels[i] for i in test]
        items = [data.items[i] for i in test]
        wall, cpu = time.perf_counter(), time.process_time()
        model = fit_model(data, train, {}, seed)
        sets, probs = model_sets(model, items, True)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        m = score(truth, sets, True)
        b = score(truth, baseline(data, train, test, seed), True)
        half = [{str(c) for c, p in zip(model.classes_, row, strict=True) if p >= 0.5}
                for row in probs]
        plain = fit_model(data, train, {"use_context": False}, seed)
        no_ctx = score(truth, model_sets(plain, items, True)[0], True)
        size = float(np.mean([len(s) for s in sets]))
        pairs = [(float(p), str(c) in t) for row, t in zip(probs, truth, strict=True)
                 for c, p in zip(model.classes_, row, strict=True) if p >= SHOWN]
        ece = calibration(pairs)[1]
        print(f"{seed:>4} {m:>7.3f} {b:>7.3f} {m / b:>6.2f} {no_ctx:>7.3f} "
              f"{score(truth, half, True):>7.3f} {size:>5.2f} {ece:>6.3f} {wall:>8.1f} "
              f"{cpu:>6.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=14)
    parser.add_argument("--codes", type=int, default=355)
    parser.add_argument("--answers", type=int, default=580, help="both halves together")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    warnings.filterwarnings("ignore")  # rare codes have fewer members than folds
    run(make_survey(args.questions, args.codes, args.answers, 0), max(1, args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
