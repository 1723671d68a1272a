"""Generate a large corpus of interview transcripts from the sample study, for benchmarks.

Every generated transcript is a new interview assembled from the sample's speaker turns: turns
are drawn (with a fixed seed) from all ten sample interviews and re-ordered, so the text has the
vocabulary, turn structure and stakeholder names of real fieldwork at any size. Only ``.txt``
sample transcripts are used as material; the output is plain ``Interviewer:``/``Respondent:``
text plus a ``cases.csv``.

    python -m benchmarks.corpus OUT_DIR --n 300
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "transcripts_sample" / "transcripts"
PROVINCES = ("Gauteng", "Limpopo", "Western Cape", "KwaZulu-Natal")
_MARKER = re.compile(r"^(\w[\w .'-]{0,40}):\s", re.MULTILINE)


def sample_turns(sample_dir: Path = SAMPLE) -> tuple[list[str], list[str]]:
    """Interviewer and respondent turns (text after the marker) of the sample's .txt files."""
    questions: list[str] = []
    answers: list[str] = []
    for path in sorted(sample_dir.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        marks = list(_MARKER.finditer(text))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            body = text[m.end():end].strip()
            who = m.group(1).strip().lower()
            if not body:
                continue
            (questions if who in {"interviewer", "facilitator", "q", "i"} else answers).append(body)
    if not questions or not answers:
        raise SystemExit(f"no interview turns found in {sample_dir}")
    return questions, answers


def make_corpus(out_dir: Path, n: int, *, words: int = 2000, seed: int = 7,
                sample_dir: Path = SAMPLE) -> int:
    """Write ``n`` transcripts of about ``words`` words and a cases.csv; return total words."""
    questions, answers = sample_turns(sample_dir)
    rng = random.Random(seed)
    tdir = out_dir / "transcripts"
    tdir.mkdir(parents=True, exist_ok=True)
    total = 0
    rows = []
    for i in range(1, n + 1):
        source = f"GEN-{i:04d}"
        parts, count = [], 0
        while count < words:
            q, a = rng.choice(questions), rng.choice(answers)
            parts.append(f"Interviewer: {q}\n\nRespondent: {a}\n")
            count += len(q.split()) + len(a.split())
        (tdir / f"{source}.txt").write_text("\n".join(parts), encoding="utf-8")
        total += count
        case = (i - 1) // 2 + 1  # two interviews per organisation
        rows.append({"case": f"CASE-{case:04d}", "source": f"{source}.txt",
                     "province": PROVINCES[case % len(PROVINCES)]})
    with open(out_dir / "cases.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["case", "source", "province"])
        writer.writeheader()
        writer.writerows(rows)
    return total


def main() -> None:
    """Command-line entry: write a corpus and print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    total = make_corpus(args.out, args.n, words=args.words, seed=args.seed)
    print(f"{args.n} transcripts, {total} words in {args.out}")


if __name__ == "__main__":
    main()
