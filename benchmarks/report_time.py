"""How long regenerating the findings report takes: on the sample study and on 1,000 transcripts.

Each study is built first (init, import, two coders' codings, suggest), then ``tipqual report``
is timed for ``.html``, ``.md`` and ``.docx`` (on the sample, HTML as the median of three
runs). When this build of tipqual has no ``report`` command yet, the script says so and
measures nothing.

    python -m benchmarks.report_time [--n 1000] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.corpus import REPO, make_corpus

SAMPLE = REPO / "transcripts_sample"
CODEBOOK = REPO / "codebooks" / "tip-sa.yaml"
FORMATS = (".html", ".md", ".docx")


@dataclass
class ReportTimes:
    """Report regeneration seconds per format for one study."""

    study: str
    sources: int
    segments: int
    seconds: dict[str, float] = field(default_factory=dict)


def tipqual(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m tipqual ARGS``; stop with its message if it fails and ``check``."""
    result = subprocess.run([sys.executable, "-m", "tipqual", *args], capture_output=True,
                            text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"tipqual {' '.join(args)} failed:\n{result.stderr}")
    return result


def has_report() -> bool:
    """Whether this build of tipqual has the ``report`` command."""
    return tipqual("report", "--help", check=False).returncode == 0


def sample_study(work: Path) -> Path:
    """The sample study with both coders' codings and suggestions."""
    db = work / "sample.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    tipqual("init", str(db), "--codebook", str(CODEBOOK))
    tipqual("import", str(db), str(SAMPLE / "transcripts"), "--cases", str(SAMPLE / "cases.csv"))
    for name in ("coder-a.csv", "coder-b.csv"):
        tipqual("code", "import", str(db), str(SAMPLE / "codings" / name))
    tipqual("suggest", str(db))
    return db


def _two_coders(db: Path, out: Path, share: int = 10, seed: int = 7) -> Path:
    """Codings CSV: coders a and b code every ``share``-th suggested segment (b differs 1 in 5)."""
    from tipqual.store.project import Project

    rng = random.Random(seed)
    with Project.open(db) as p:
        codes = p.code_ids()
        first: dict[str, str] = {}
        for c in p.codings(statuses=["suggested"]):
            first.setdefault(c.segment, c.code)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["segment", "code", "coder"])
        for i, (seg, code) in enumerate(sorted(first.items())):
            if i % share:
                continue
            w.writerow([seg, code, "coder-a"])
            w.writerow([seg, code if rng.random() < 0.8 else rng.choice(codes), "coder-b"])
    return out


def large_study(work: Path, n: int, reuse: Path | None = None) -> Path:
    """A study of ``n`` generated transcripts with suggestions and two coders' codings.

    ``reuse`` is an already imported and suggested study of that corpus (from the throughput
    benchmark), copied rather than rebuilt.
    """
    db = work / f"report-{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if reuse is not None and reuse.exists():
        shutil.copyfile(reuse, db)
    else:
        corpus = work / f"corpus-{n}"
        if not (corpus / "cases.csv").exists():
            make_corpus(corpus, n)
        tipqual("init", str(db), "--codebook", str(CODEBOOK))
        tipqual("import", str(db), str(corpus / "transcripts"), "--cases",
                str(corpus / "cases.csv"))
        tipqual("suggest", str(db))
    tipqual("code", "import", str(db), str(_two_coders(db, work / f"coders-{n}.csv")))
    return db


def time_reports(db: Path, label: str, work: Path, repeat: int = 3) -> ReportTimes:
    """Time ``tipqual report`` for each format (HTML: the median of ``repeat`` runs)."""
    from tipqual.store.project import Project

    with Project.open(db) as p:
        status = p.status()
    result = ReportTimes(label, status["sources"], status["segments"])
    out = work / f"report-{label}"
    out.mkdir(exist_ok=True)
    for suffix in FORMATS:
        runs = repeat if suffix == ".html" else 1
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            tipqual("report", str(db), "--out", str(out / f"findings{suffix}"),
                    "--coders", "coder-a,coder-b")
            times.append(time.perf_counter() - t0)
        result.seconds[suffix] = statistics.median(times)
    return result


def format_table(results: list[ReportTimes]) -> str:
    """The figures as a fixed-width text table."""
    head = f"{'study':<14} {'sources':>7} {'segments':>8} " + " ".join(
        f"{s + ' s':>8}" for s in FORMATS)
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.study:<14} {r.sources:>7} {r.segments:>8} " + " ".join(
            f"{r.seconds[s]:>8.2f}" for s in FORMATS))
    return "\n".join(lines)


def run(n: int = 1000, work: Path | None = None) -> list[ReportTimes] | None:
    """Measure the sample and an ``n``-transcript study; None when there is no report command."""
    if not has_report():
        print("report_time: this tipqual has no 'report' command yet; nothing measured.")
        return None

    def measure(folder: Path) -> list[ReportTimes]:
        sample = time_reports(sample_study(folder), "sample", folder)
        reuse = folder / f"study-{n}.db"
        big = time_reports(large_study(folder, n, reuse), f"generated-{n}", folder, repeat=1)
        return [sample, big]

    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        return measure(work)
    with tempfile.TemporaryDirectory(prefix="tipqual-report-") as tmp:
        return measure(Path(tmp))


def main() -> None:
    """Command-line entry: measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--work", type=Path, help="keep studies and reports here (a study-N.db "
                        "left by benchmarks.throughput in it is reused)")
    args = parser.parse_args()
    results = run(args.n, args.work)
    if results:
        print(format_table(results))


if __name__ == "__main__":
    main()
