"""An honest benchmark of suggestion quality on real human-coded data. Prints figures; not a test.

For each human-coded set in ``../shared/eval-data`` (skipped with a message when absent):

- the codebook is the code names and definitions only, what a new study starts with (no phrase
  lists): for ``identities`` the definitions below, written from the published code names and
  general English alone; for ``games-as-art`` the set's own code descriptions;
- several seeded half/half splits (identities by answer; games-as-art by text, so that spans of
  one answer never fall on both sides);
- the model's settings are chosen among :data:`CANDIDATES` by cross-validation inside the
  training half only (the test half is not read until the choice is made); the model's own
  calibration, thresholds and set size come from folds inside what it is trained on, with
  the spans of one answer kept in one fold (``groups``);
- in the same run: a plain baseline (word TF-IDF + scikit-learn's logistic regression, default
  settings but balanced class weights, which beat unweighted ones: identities kappa 0.54
  against 0.17) and, where the set has one, the second human coder;
- single-label sets: Cohen's kappa against coder1 of the single best code; multi-label sets:
  micro-F1 of the predicted code sets (every span carries at least one code, so both the model
  and the baseline return their most likely code when nothing reaches its threshold);
- ratios to the baseline and to the human, and a calibration table of the held-out
  suggestions (every segment-code pair scoring at least :data:`SHOWN`): bins of predicted score
  beside observed precision, and the expected calibration error (ECE, bin-weighted mean gap).

Run from the repository: ``python -m benchmarks.suggest_protocol [--seeds N] [--folds K]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO.parent / "shared" / "eval-data"
IDENTITIES = EVAL / "identities" / "both.csv"
GAMES = EVAL / "games-as-art"
SHOWN = 0.1  # held-out pairs scoring at least this enter the calibration table
BINS = 10

# Written from the published code names (eval-data README) and general English only.
IDENTITY_DEFINITIONS: list[tuple[str, str, str]] = [
    ("1", "age", "The person's age, generation or stage of life."),
    ("2", "gender", "The person's gender or sex: being a man, a woman or another gender."),
    ("3", "sexuality", "The person's sexual orientation or sexual identity."),
    ("4", "race/ethnicity/nationality",
     "The person's race, ethnicity, ancestry, culture of origin or nationality."),
    ("5", "education", "The person's schooling, studies or degrees, or being a student."),
    ("6", "religion", "The person's religion, faith or spiritual beliefs."),
    ("7", "family role",
     "A role in a family: parent, child, sibling, spouse or another relative."),
    ("8", "occupation", "The person's job, profession, work or employment."),
    ("9", "political views", "The person's political views, party or ideology."),
    ("10", "hobbies and interests",
     "What the person enjoys doing in free time: hobbies, sports, pastimes, interests."),
    ("11", "physical body",
     "The person's body: physical appearance, health, fitness or abilities."),
    ("12", "personality/behaviors/traits",
     "Character traits, personality, values and how the person behaves towards others."),
    ("13", "ambiguous", "An answer whose meaning is unclear or that could fit several codes."),
    ("14", "none", "The answer says there is no such identity or gives nothing."),
    ("15", "other", "An identity that fits none of the other codes."),
]

# The settings cross-validation chooses among, inside each training half.
CANDIDATES: list[dict[str, Any]] = [
    {"C": 0.1, "use_clusters": True},  # the defaults (blend "auto": SVM + complement NB)
    {"C": 0.3, "use_clusters": True},
    {"C": 0.1, "use_clusters": True, "blend": "svm"},  # the SVM alone
    {"C": 0.1, "use_clusters": False},
    {"C": 0.1, "use_clusters": True, "prior_weight": 3.0},
    {"C": 0.1, "use_clusters": True, "use_context": False},  # ablations
    {"C": 0.1, "use_clusters": True, "prior_weight": 0.0, "use_context": False},
]


def definitions_codebook(codes: list[tuple[str, str, str]], name: str) -> Any:
    """A tipqual codebook of names and definitions only (no phrases, no patterns)."""
    from tipqual.codebook.model import Code, Codebook

    return Codebook(name=name, version="1",
                    codes=[Code(id=cid, name=cname, definition=text)
                           for cid, cname, text in codes])


class Dataset:
    """One human-coded set: items for the model, label sets, groups for splitting, coder2."""

    def __init__(self, name: str, texts: list[str], contexts: list[str],
                 labels: list[set[str]], groups: list[str], codebook: Any,
                 second: list[set[str]] | None, multi: bool):
        from tipqual.nlp.pipeline import build_pipeline
        from tipqual.suggest.classifier import codebook_examples, items_from_docs

        self.name, self.texts, self.labels, self.groups = name, texts, labels, groups
        self.codebook, self.second, self.multi = codebook, second, multi
        nlp = build_pipeline(codebook)
        self.items = items_from_docs(nlp.pipe(texts, batch_size=256), contexts)
        weak = codebook_examples(codebook)
        self.prior = list(zip([c for c, _ in weak],
                              items_from_docs(nlp.pipe([t for _, t in weak])), strict=False))


def load_identities() -> Dataset | None:
    """The identities answers (coder1 the truth, coder2 the human); None when absent."""
    if not IDENTITIES.exists():
        print(f"identities: {IDENTITIES} not found (no ../shared/eval-data); skipped")
        return None
    with open(IDENTITIES, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return Dataset("identities", [r["trait"].strip() for r in rows],
                   [f"asked as {r['treatment'].strip()}" for r in rows],
                   [{r["coder1"].strip()} for r in rows], [str(i) for i in range(len(rows))],
                   definitions_codebook(IDENTITY_DEFINITIONS, "identities"),
                   [{r["coder2"].strip()} for r in rows], multi=False)


def load_games() -> Dataset | None:
    """The games-as-art spans (one coder, several codes per span); None when absent."""
    spans, book = GAMES / "segments_derived.csv", GAMES / "bopp_test_code_descriptions.csv"
    if not spans.exists() or not book.exists():
        print(f"games-as-art: {GAMES} not found (no ../shared/eval-data); skipped")
        return None
    with open(book, newline="", encoding="utf-8") as fh:
        codes = [(r["code"].strip(), r["code"].strip(), r["description"].strip())
                 for r in csv.DictReader(fh)]
    with open(spans, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    known = {c for c, _, _ in codes}
    labels = [{c.strip() for c in r["codes"].split(";") if c.strip() in known} for r in rows]
    keep = [i for i, lab in enumerate(labels) if lab]
    return Dataset("games-as-art", [rows[i]["segment"].strip() for i in keep], ["" for _ in keep],
                   [labels[i] for i in keep], [rows[i]["text_id"] for i in keep],
                   definitions_codebook(codes, "games-as-art"), None, multi=True)


def split(data: Dataset, seed: int) -> tuple[list[int], list[int]]:
    """Half the groups (answers or texts) for training, the rest for testing."""
    import numpy as np

    groups = sorted(set(data.groups), key=lambda g: (len(g), g))
    order = np.random.RandomState(seed).permutation(len(groups))
    train_groups = {groups[i] for i in order[: len(groups) // 2]}
    train = [i for i, g in enumerate(data.groups) if g in train_groups]
    test = [i for i, g in enumerate(data.groups) if g not in train_groups]
    return train, test


def fit_model(data: Dataset, idx: list[int], params: dict[str, Any], seed: int) -> Any:
    from tipqual.suggest.classifier import CodeClassifier

    model = CodeClassifier(random_state=seed, **params)
    prior = data.prior if model.prior_weight > 0 else None
    groups = [data.groups[i] for i in idx]  # spans of one answer stay in one inner fold
    return model.fit([data.items[i] for i in idx], [data.labels[i] for i in idx], prior=prior,
                     groups=groups if len(set(groups)) < len(groups) else None)


def model_sets(model: Any, items: list[Any], multi: bool) -> tuple[list[set[str]], Any]:
    """Predicted code sets (one code for single-label sets) and the probability matrix."""
    probs = model.predict_proba(items)
    if not multi:
        return [{c} for c in model.predict_best(items)], probs
    out = []
    for row, codes in zip(probs, model.predict(items), strict=False):
        out.append(set(codes) or {str(model.classes_[row.argmax()])})
    return out, probs


def score(truth: list[set[str]], got: list[set[str]], multi: bool) -> float:
    """Cohen's kappa of single codes, or micro-F1 of code sets."""
    from tipqual.analysis.agreement import cohen_kappa

    if not multi:
        value = cohen_kappa([min(t) for t in truth], [min(g) for g in got])
        return float(value) if value is not None else 0.0
    hit = sum(len(t & g) for t, g in zip(truth, got, strict=False))
    total = sum(len(t) for t in truth) + sum(len(g) for g in got)
    return 2 * hit / total if total else 0.0


def baseline(data: Dataset, train: list[int], test: list[int], seed: int) -> list[set[str]]:
    """Plain word TF-IDF + logistic regression (scikit-learn defaults, balanced classes)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    vec = TfidfVectorizer()
    x_train = vec.fit_transform([data.texts[i] for i in train])
    x_test = vec.transform([data.texts[i] for i in test])
    if not data.multi:
        lr = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
        lr.fit(x_train, [min(data.labels[i]) for i in train])
        return [{str(c)} for c in lr.predict(x_test)]
    binar = MultiLabelBinarizer()
    y = binar.fit_transform([data.labels[i] for i in train])
    ovr = OneVsRestClassifier(LogisticRegression(max_iter=2000, class_weight="balanced",
                                                 random_state=seed))
    probs = ovr.fit(x_train, y).predict_proba(x_test)
    return [{str(c) for c, p in zip(binar.classes_, row, strict=False) if p >= 0.5}
            or {str(binar.classes_[int(np.argmax(row))])} for row in probs]


def choose(data: Dataset, train: list[int], folds: int, seed: int) -> tuple[dict[str, Any],
                                                                           list[float]]:
    """The candidate with the best cross-validated score inside the training half."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    groups = [data.groups[i] for i in train]
    splitter = GroupKFold(folds, shuffle=True, random_state=seed)
    fold_list = list(splitter.split(np.zeros(len(train)), groups=groups))
    results = []
    for params in CANDIDATES:
        truth: list[set[str]] = []
        got: list[set[str]] = []
        for fit_pos, held_pos in fold_list:
            model = fit_model(data, [train[i] for i in fit_pos], params, seed)
            held = [train[i] for i in held_pos]
            sets, _ = model_sets(model, [data.items[i] for i in held], data.multi)
            truth += [data.labels[i] for i in held]
            got += sets
        results.append(score(truth, got, data.multi))
    best = int(np.argmax(results))
    return CANDIDATES[best], results


def calibration(pairs: list[tuple[float, bool]]) -> tuple[list[tuple[str, int, float, float]],
                                                          float]:
    """Bins of predicted score: (bin, pairs, mean score, observed precision), and the ECE."""
    rows, gap = [], 0.0
    for b in range(BINS):
        lo, hi = b / BINS, (b + 1) / BINS
        inside = [(s, ok) for s, ok in pairs if lo <= s < hi or (b == BINS - 1 and s == 1.0)]
        if not inside:
            continue
        mean = sum(s for s, _ in inside) / len(inside)
        observed = sum(ok for _, ok in inside) / len(inside)
        rows.append((f"{lo:.1f}-{hi:.1f}", len(inside), mean, observed))
        gap += len(inside) * abs(mean - observed)
    return rows, gap / len(pairs) if pairs else 0.0


def run(data: Dataset, seeds: int, folds: int) -> None:
    """Every split of one set: the choice, the model, the baseline, the human, calibration."""
    import numpy as np

    metric = "micro-F1" if data.multi else "kappa"
    n_codes = len(data.codebook.codes)
    print(f"{data.name}: {len(data.items)} segments, {n_codes} codes (names + definitions "
          f"only); {metric} on held-out halves; settings by {folds}-fold CV in the training "
          "half")
    print(f"{'seed':>4} {'test':>5} {'model':>7} {'base':>7} {'human':>7} {'/base':>6} "
          f"{'/human':>7} {'ECE':>6} {'fit+s':>6}  chosen (CV scores)")
    all_pairs: list[tuple[float, bool]] = []
    table = []
    for seed in range(seeds):
        train, test = split(data, seed)
        params, cv_scores = choose(data, train, folds, seed)
        started = time.perf_counter()
        model = fit_model(data, train, params, seed)
        sets, probs = model_sets(model, [data.items[i] for i in test], data.multi)
        seconds = time.perf_counter() - started
        truth = [data.labels[i] for i in test]
        m = score(truth, sets, data.multi)
        b = score(truth, baseline(data, train, test, seed), data.multi)
        h = (score(truth, [data.second[i] for i in test], data.multi)
             if data.second is not None else None)
        pairs = [(float(p), str(c) in t) for row, t in zip(probs, truth, strict=False)
                 for c, p in zip(model.classes_, row, strict=False) if p >= SHOWN]
        all_pairs += pairs
        _, ece = calibration(pairs)
        table.append((m, b, h, ece))
        human = f"{h:>7.3f}" if h is not None else f"{'-':>7}"
        ratio_h = f"{m / h:>7.2f}" if h else f"{'-':>7}"
        chosen = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"{seed:>4} {len(test):>5} {m:>7.3f} {b:>7.3f} {human} {m / b:>6.2f} {ratio_h} "
              f"{ece:>6.3f} {seconds:>6.1f}  {chosen} ({' '.join(f'{s:.3f}' for s in cv_scores)})")
    arr = np.array([[t[0], t[1], t[3]] for t in table])
    humans = [t[2] for t in table if t[2] is not None]
    print(f"mean {arr[:, 0].mean():.3f} (min {arr[:, 0].min():.3f}), baseline "
          f"{arr[:, 1].mean():.3f}, ratio {arr[:, 0].mean() / arr[:, 1].mean():.2f}"
          + (f", human {np.mean(humans):.3f}, ratio {arr[:, 0].mean() / np.mean(humans):.2f}"
             if humans else "") + f"; ECE mean {arr[:, 2].mean():.3f} (max {arr[:, 2].max():.3f})")
    rows, ece = calibration(all_pairs)
    print(f"calibration, all splits, held-out pairs scoring >= {SHOWN}:")
    print(f"  {'score':>9} {'pairs':>6} {'mean':>6} {'right':>6}")
    for name, count, mean, observed in rows:
        print(f"  {name:>9} {count:>6} {mean:>6.3f} {observed:>6.3f}")
    print(f"  ECE {ece:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Run the protocol on every set found and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeded half/half splits")
    parser.add_argument("--folds", type=int, default=3, help="CV folds inside a training half")
    parser.add_argument("--sets", default="identities,games-as-art",
                        help="which sets, comma-separated")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    warnings.filterwarnings("ignore")  # rare codes have fewer members than folds
    if not EVAL.exists():
        print(f"{EVAL} not found: the evaluation data are not in this clone; nothing to do")
        return 0
    loaders = {"identities": load_identities, "games-as-art": load_games}
    for name in args.sets.split(","):
        data = loaders[name.strip()]()
        if data is not None:
            run(data, max(1, args.seeds), max(2, args.folds))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
