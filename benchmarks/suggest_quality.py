"""How good are tipqual's suggestions? Prints figures; not a test.

1. identities (real survey answers coded by two people, ``../shared/eval-data/identities``):
   train the suggestion model on coder1's codes for half of the answers (a fixed-seed split),
   predict one code per answer on the other half, and report Cohen's kappa of the model against
   coder1 beside coder2's kappa against coder1 on the same half (the human ceiling).
   The codes get a small codebook written from their published names (phrases only), so the
   rule hits are features exactly as in a study.
2. the sample study (``transcripts_sample/``): train on coder A for cases CSO-01..05, suggest
   for CSO-06..10, and report precision and recall per code against coder A.

Run from the repository: ``python benchmarks/suggest_quality.py [--seeds N]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IDENTITIES = REPO.parent / "shared" / "eval-data" / "identities" / "both.csv"
SAMPLE = REPO / "transcripts_sample"
TIP_CODEBOOK = REPO / "codebooks" / "tip-sa.yaml"
TRAIN_CASES = {f"CSO-{i:02d}" for i in range(1, 6)}

# The identities study's codes (ids as in its data), each with a few words that name it.
IDENTITY_CODES: list[tuple[str, str, list[str]]] = [
    ("1", "age", ["age", "old", "older", "young", "younger", "elderly", "senior", "years old",
                  "generation", "teen", "adult"]),
    ("2", "gender", ["gender", "man", "woman", "male", "female", "men", "women", "boy",
                     "girl", "masculine", "feminine"]),
    ("3", "sexuality", ["sexuality", "sexual orientation", "gay", "lesbian", "straight",
                        "bisexual", "heterosexual", "homosexual", "queer", "lgbt"]),
    ("4", "race, ethnicity or nationality", ["race", "ethnicity", "ethnic", "nationality",
                                             "white", "black", "asian", "hispanic", "latino",
                                             "american", "heritage", "immigrant", "citizen"]),
    ("5", "education", ["education", "educated", "college", "degree", "school", "university",
                        "student", "graduate", "diploma"]),
    ("6", "religion", ["religion", "religious", "faith", "christian", "catholic", "church",
                       "god", "jesus", "muslim", "jewish", "spiritual", "atheist", "bible"]),
    ("7", "family role", ["family", "mother", "father", "mom", "dad", "parent", "husband",
                          "wife", "spouse", "son", "daughter", "sister", "brother",
                          "grandmother", "grandfather", "child", "children", "kids"]),
    ("8", "occupation", ["job", "occupation", "career", "profession", "worker", "employee",
                         "employment", "teacher", "nurse", "doctor", "engineer", "lawyer",
                         "manager", "business owner"]),
    ("9", "political views", ["political", "politics", "conservative", "liberal", "democrat",
                              "republican", "party", "vote", "progressive"]),
    ("10", "hobbies and interests", ["hobby", "hobbies", "interests", "sports", "music",
                                     "reading", "travel", "gaming", "games", "cooking",
                                     "hiking", "fishing", "gardening", "movies", "tv"]),
    ("11", "physical body", ["height", "tall", "weight", "fat", "thin", "skinny", "attractive",
                             "beautiful", "handsome", "pretty", "ugly", "looks", "appearance",
                             "health", "healthy", "fit", "body", "hair"]),
    ("12", "personality, behaviours, traits", []),
    ("13", "ambiguous", []),
    ("14", "none", []),
    ("15", "other", []),
]


def identities_codebook():
    """The identities codes as a tipqual codebook (phrases only)."""
    from tipqual.codebook import Code, Codebook

    return Codebook(name="identities", version="1",
                    codes=[Code(id=cid, name=name, phrases=phrases)
                           for cid, name, phrases in IDENTITY_CODES])


def identities(seeds: int) -> None:
    """Model-vs-coder1 kappa beside coder2-vs-coder1 kappa, on held-out halves."""
    import numpy as np

    from tipqual.agreement import cohen_kappa
    from tipqual.nlp import build_pipeline
    from tipqual.classifier import CodeClassifier, items_from_docs

    if not IDENTITIES.exists():
        print(f"identities: {IDENTITIES} not found; skipped")
        return
    with open(IDENTITIES, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    texts = [r["trait"].strip() for r in rows]
    coder1 = [r["coder1"].strip() for r in rows]
    coder2 = [r["coder2"].strip() for r in rows]
    nlp = build_pipeline(identities_codebook())
    items = items_from_docs(nlp.pipe(texts, batch_size=256))
    print(f"identities: {len(rows)} answers, {len(set(coder1))} codes; train on coder1 for "
          "half, predict one code per answer on the other half")
    print(f"{'seed':>4}  {'n_test':>6}  {'model~coder1':>12}  {'coder2~coder1':>13}  "
          f"{'seconds':>7}")
    results = []
    for seed in range(seeds):
        order = np.random.RandomState(seed).permutation(len(rows))
        train, test = order[: len(rows) // 2], order[len(rows) // 2:]
        started = time.perf_counter()
        model = CodeClassifier(random_state=seed).fit([items[i] for i in train],
                                                      [{coder1[i]} for i in train])
        predicted = model.predict_best([items[i] for i in test])
        k_model = cohen_kappa([coder1[i] for i in test], predicted)
        k_human = cohen_kappa([coder1[i] for i in test], [coder2[i] for i in test])
        results.append((k_model, k_human))
        print(f"{seed:>4}  {len(test):>6}  {k_model:>12.3f}  {k_human:>13.3f}  "
              f"{time.perf_counter() - started:>7.1f}")
    k_model, k_human = results[0]
    verdict = "meets" if k_model >= 0.60 else "misses"
    print(f"identities (seed 0, the benchmark split): model kappa {k_model:.3f} {verdict} the "
          f"0.60 target; human ceiling {k_human:.3f}")
    if seeds > 1:
        means = np.mean(results, axis=0)
        print(f"mean over {seeds} splits: model {means[0]:.3f}, human {means[1]:.3f}")


def _coder_a(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh)]


def sample_study() -> None:
    """Precision and recall per code on CSO-06..10, trained on coder A's CSO-01..05."""
    from tipqual import codebook, ingest
    from tipqual.project import Coding, Project
    from tipqual.suggest import MODEL_CODER, RULES_CODER, suggest

    codings_csv = SAMPLE / "codings" / "coder-a.csv"
    if not codings_csv.exists() or not TIP_CODEBOOK.exists():
        print("sample study: transcripts_sample/codings/ or codebooks/tip-sa.yaml not there "
              "yet; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "sample.db")
        book = codebook.load(TIP_CODEBOOK)
        with project.atomic():
            project.set_codebook(book)
        ingest.import_paths(project, [SAMPLE / "transcripts"], cases_csv=SAMPLE / "cases.csv")
        case_of = {s.id: s.case for s in project.segments()}
        truth = {(r["segment"], r["code"]) for r in _coder_a(codings_csv)
                 if case_of.get(r["segment"]) not in TRAIN_CASES}
        with project.atomic():
            for r in _coder_a(codings_csv):
                if case_of.get(r["segment"]) in TRAIN_CASES:
                    project.put_coding(Coding(segment=r["segment"], code=r["code"],
                                              coder="coder-a"))
        result = suggest(project, min_score=0.5)
        test_ids = {sid for sid, case in case_of.items() if case not in TRAIN_CASES}
        coded_ids = {seg for seg, _ in truth}
        by = {}
        for coder in (RULES_CODER, MODEL_CODER):
            by[coder] = {(c.segment, c.code) for c in project.codings(
                statuses=["suggested"], coders=[coder]) if c.segment in coded_ids}
        project.close()
    print(f"sample study: trained on {result.trained_on} segments coded by coder A "
          f"(CSO-01..05); tested on {len(coded_ids)} segments of CSO-06..10 that coder A "
          f"coded ({len(test_ids)} segments in those cases); suggestions with score >= 0.5")
    _per_code_table(book.ids, truth, by)


def _per_code_table(codes: list[str], truth: set[tuple[str, str]],
                    by: dict[str, set[tuple[str, str]]]) -> None:
    names = list(by)
    print(f"{'code':<24}{'n':>4}  " + "  ".join(f"{n + ' P':>18} {'R':>5}" for n in names))
    for code in codes + ["(all)"]:
        gold = {t for t in truth if code in ("(all)", t[1])}
        cells = []
        for name in names:
            got = {t for t in by[name] if code in ("(all)", t[1])}
            hit = len(gold & got)
            p = f"{hit / len(got):.2f}" if got else "-"
            r = f"{hit / len(gold):.2f}" if gold else "-"
            cells.append(f"{p:>18} {r:>5}")
        print(f"{code:<24}{len(gold):>4}  " + "  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3,
                        help="how many random half splits of the identities data (seed 0 is "
                             "the benchmark split)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    identities(max(1, args.seeds))
    print()
    sample_study()
    return 0


if __name__ == "__main__":
    sys.exit(main())
