"""Choose the suggestion model's settings on the identities TRAINING half only. Prints figures.

For a split seed (as in ``suggest_quality.py``), the answers of the training half are cut into
stratified folds; each candidate setting of :class:`tipqual.suggest.classifier.CodeClassifier` is
trained on the other folds and predicts one code per held-out answer; the score is Cohen's
kappa of all out-of-fold predictions against coder1. The test half of that seed is never
read past the split: its answers are not even run through the pipeline. Nothing here prints
an answer.

Modes: ``axes`` (one parameter at a time around the defaults), ``grid`` (a joint grid),
``compare`` (lemmas and clusters on/off) and ``small`` (train on 40-160 answers of the training
half, score on the rest of it). The earlier defaults were chosen with ``--seed 0`` (grid, then
small); the present ones (C 0.1, word clusters, context, the codebook as weak examples) by
``benchmarks/suggest_protocol.py``, which also chooses per split inside each training half.

Run from the repository:
``python benchmarks/suggest_select.py [--seed S] [--folds K] [--mode axes|grid|compare|small]``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

# Candidate settings: one axis at a time around the defaults, then a small joint grid.
GRID: dict[str, list[Any]] = {
    "C": [0.03, 0.1, 0.3, 1.0],
    "word_ngrams": [(1, 1), (1, 2)],
    "char_ngrams": [(2, 4), (2, 5), (3, 5)],
    "use_lemmas": [True, False],
    "use_clusters": [True, False],
    "class_weight": ["balanced", None],
    "blend": ["svm", "svm+cnb", "svm+nbsvm", "svm+cnb+nbsvm"],
}
# The joint grid crosses the axes that mattered most on the first pass.
JOINT: dict[str, list[Any]] = {
    "C": [0.1, 0.3, 1.0],
    "char_ngrams": [(2, 4), (2, 5), (3, 5)],
    "use_lemmas": [True, False],
    "use_clusters": [True, False],
}
# The settings compared on every split's own training half and on small subsets of it.
COMPARE: list[dict[str, Any]] = [
    {"use_lemmas": True, "use_clusters": True},
    {"use_lemmas": False, "use_clusters": True},
    {"use_lemmas": True, "use_clusters": False},
    {"use_lemmas": False, "use_clusters": False},
]
SMALL_SIZES = (40, 80, 160)
SMALL_DRAWS = 5


def training_half(seed: int) -> tuple[list[str], list[str]]:
    """The texts and coder1 codes of the training half of split ``seed``."""
    import numpy as np
    from suggest_quality import IDENTITIES

    with open(IDENTITIES, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    order = np.random.RandomState(seed).permutation(len(rows))
    train = sorted(order[: len(rows) // 2])
    return ([rows[i]["trait"].strip() for i in train], [rows[i]["coder1"].strip() for i in train])


def cv_kappa(items: list[Any], labels: list[str], params: dict[str, Any], folds: int,
             seed: int) -> tuple[float, float]:
    """Kappa of out-of-fold single-code predictions against the labels.

    Returns the kappa of the code with the largest margin (``predict_best``) and that of the
    code with the largest calibrated probability.
    """
    import warnings

    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from tipqual.analysis.agreement import cohen_kappa
    from tipqual.suggest.classifier import CodeClassifier

    warnings.filterwarnings("ignore")  # rare codes have fewer members than folds
    y = np.array(labels)
    predicted = np.empty(len(y), dtype=object)
    by_proba = np.empty(len(y), dtype=object)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fit_idx, held_idx in splitter.split(np.zeros(len(y)), y):
        model = CodeClassifier(random_state=seed, **params)
        model.fit([items[i] for i in fit_idx], [{labels[i]} for i in fit_idx])
        held = [items[i] for i in held_idx]
        predicted[held_idx] = model.predict_best(held)
        by_proba[held_idx] = model.classes_[model.predict_proba(held).argmax(axis=1)]
    return (cohen_kappa(list(y), [str(p) for p in predicted]),
            cohen_kappa(list(y), [str(p) for p in by_proba]))


def small_kappa(items: list[Any], labels: list[str], params: dict[str, Any], size: int,
                seed: int) -> float:
    """Mean kappa over draws: train on ``size`` answers, predict the rest of the training half."""
    import warnings

    import numpy as np

    from tipqual.analysis.agreement import cohen_kappa
    from tipqual.suggest.classifier import CodeClassifier

    warnings.filterwarnings("ignore")
    kappas = []
    for draw in range(SMALL_DRAWS):
        order = np.random.RandomState(1000 * seed + draw).permutation(len(items))
        fit_idx, held_idx = order[:size], order[size:]
        model = CodeClassifier(random_state=seed, **params)
        model.fit([items[i] for i in fit_idx], [{labels[i]} for i in fit_idx])
        kappas.append(cohen_kappa([labels[i] for i in held_idx],
                                  model.predict_best([items[i] for i in held_idx])))
    return float(np.mean(kappas))


def candidates(mode: str) -> list[dict[str, Any]]:
    """The settings to score: ``axes`` one parameter at a time, ``grid`` jointly, or COMPARE."""
    from tipqual.suggest.classifier import CodeClassifier

    base = {k: v for k, v in CodeClassifier().get_params().items() if k in GRID}
    if mode in ("compare", "small"):
        return [{**base, **c} for c in COMPARE]
    if mode == "grid":
        keys = sorted(JOINT)
        return [{**base, **dict(zip(keys, combo, strict=False))}
                for combo in itertools.product(*(JOINT[k] for k in keys))]
    out = [dict(base)]
    for key in sorted(GRID):
        out += [{**base, key: value} for value in GRID[key] if value != base[key]]
    return out


def main(argv: list[str] | None = None) -> int:
    """Score the candidate settings by cross-validation inside one training half."""
    from joblib import Parallel, delayed
    from suggest_quality import identities_codebook

    from tipqual.nlp.pipeline import build_pipeline
    from tipqual.suggest.classifier import items_from_docs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="which split's training half")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--mode", choices=["axes", "grid", "compare", "small"], default="axes")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    texts, labels = training_half(args.seed)
    items = items_from_docs(build_pipeline(identities_codebook()).pipe(texts, batch_size=256))
    settings = candidates(args.mode)
    if args.mode == "small":
        jobs = [(p, n) for n in SMALL_SIZES for p in settings]
        found = Parallel(n_jobs=args.jobs)(delayed(small_kappa)(items, labels, p, n, args.seed)
                                           for p, n in jobs)
        print(f"split {args.seed}: train on n answers of the training half, predict the rest "
              f"of it; mean kappa over {SMALL_DRAWS} draws")
        for (params, size), score in zip(jobs, found, strict=False):
            print(f"n={size:<4} {score:.3f}  {params}")
        return 0
    scores = Parallel(n_jobs=args.jobs)(delayed(cv_kappa)(items, labels, p, args.folds, args.seed)
                                        for p in settings)
    print(f"split {args.seed}: {len(texts)} training answers, {args.folds}-fold CV kappa "
          "(by margin, by probability)")
    for score, params in sorted(zip(scores, settings, strict=False), key=lambda t: -t[0][0]):
        print(f"{score[0]:.3f} {score[1]:.3f}  {params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
