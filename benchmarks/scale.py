"""How every tipqual command grows with the size of a study.

For each corpus size N the script generates N transcripts of about 2,000 words from the sample
(:mod:`benchmarks.corpus`; two interviews per case), builds a study from them and runs every
command on it as a real subprocess, in the order a study is worked through:

- ``init`` (with the TIP codebook), ``import`` (with ``--cases``);
- the yardstick of the import: the same files cut into segments by tipqual's own segmentation
  and written with a plain sqlite3 bulk insert (``executemany``, one transaction) into an
  empty study of the same schema, in a process of its own (start-up included, like the
  commands'); the target is import at most 2x this;
- ``suggest`` (default ``--jobs``), then ``review`` up to its first screen (stdin ``q``: the
  queue is ordered and one suggestion drawn, then the command quits);
- ``code add`` of one segment (alice), then ``code add xN``: one segment of every transcript
  for alice and again for bob, half of them with the same code (what ``agree`` compares);
- ``status``, ``agree --coders alice,bob``, ``matrix --out .xlsx``, ``network --out .graphml
  --table .csv``, ``refi export``, ``report --out .html`` and ``report --out .docx``.

Each command's wall seconds, CPU seconds of all its processes (``os.wait4``: its own and those
of the workers it waited for) and peak resident memory of all its processes together (sampled
from ``/proc`` every 20 ms) are taken by :func:`benchmarks.throughput.run_measured`. The table
has one row per command and, for each pair of consecutive sizes, the growth of wall and CPU
time (``x wall``, ``x cpu``) beside what linear growth would be (the ratio of the sizes: 5 for
5,000 over 1,000). Start-up (Python, the imports, spaCy's pipeline) is inside every figure, so
a command that does little grows less than linearly at small sizes.

    python -m benchmarks.scale --sizes 100 1000 5000    # roughly ten minutes on two cores
    python -m benchmarks.scale --quick                  # sizes 20 and 100: a smoke run
    python -m benchmarks.scale --sizes 50000 --work /big/disk/scale

The last is the large-study mode: 50,000 transcripts, about 100 million words. It is long:
do not start it on a shared machine. Scaled linearly from the 1,000-transcript run it needs
about 600 MB for the corpus and 5 to 6 GB for the study file (most of it stored
suggestions), so give ``--work`` a disk with room; import alone takes under a minute,
``suggest`` about a quarter of an hour on two cores, and every command after it minutes
each. Those are linear estimates: the analysis commands and the report now read the study
as a stream (their peak memory grew from about 160-190 MB at 1,000 transcripts to 210-260
MB at 5,000), but a command whose memory still grows with the study, if it runs out of
memory, ends the run with its error. Give a smaller size beside it (``--sizes 5000
50000``) to get the growth column. ``--work DIR`` keeps the corpora and studies (a
corpus already there is reused); ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.corpus import REPO, make_corpus
from benchmarks.throughput import Run, run_measured, tipqual

QUICK_SIZES = [20, 100]
TARGET_IMPORT = 2.0  # import over segmentation + a plain sqlite3 bulk insert (CPU)
CODEBOOK = REPO / "codebooks" / "tip-sa.yaml"
COMMANDS = ("init", "import", "bulk insert (yardstick)", "suggest", "review (first screen)",
            "code add", "code add xN", "status", "agree", "matrix .xlsx",
            "network (graph+table)", "refi export", "report .html", "report .docx")


@dataclass
class Scale:
    """The figures of one corpus size: one :class:`Run` per command."""

    n: int
    words: int
    segments: int
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def import_ratio(self) -> float:
        """Import CPU over its yardstick's (segmentation + plain bulk insert)."""
        return self.runs["import"].cpu / self.runs["bulk insert (yardstick)"].cpu

    def row(self) -> dict[str, object]:
        """The figures as a flat dict."""
        data: dict[str, object] = {"n": self.n, "words": self.words, "segments": self.segments,
                                   "import_ratio": self.import_ratio}
        for name, run in self.runs.items():
            data[name] = {"s": run.seconds, "cpu_s": run.cpu, "peak_mb": run.tree_mb}
        return data


def bulk_insert(folder: Path, db: Path) -> None:
    """The import's yardstick: segment every .txt file of ``folder`` with tipqual's own rules
    and write sources and segments into the empty study ``db`` with plain ``executemany``, one
    transaction. Prints the segments written."""
    from tipqual.ingest.importer import SegmentationRules, build_segments, segment_file

    rules = SegmentationRules()
    sources: list[tuple[object, ...]] = []
    segments: list[tuple[object, ...]] = []
    for path in sorted(folder.glob("*.txt")):
        raw, parsed = segment_file(path, rules)
        sources.append((path.stem, None, path.name, raw.format, raw.sha256, parsed.text,
                        json.dumps({"file": path.name}), "2026-01-01T00:00:00Z"))
        segments.extend((s.id, s.source, s.n, s.speaker, s.role, s.start, s.end, s.text,
                         json.dumps(s.meta, sort_keys=True))
                        for s in build_segments(path.stem, parsed))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)", sources)
        conn.executemany('INSERT INTO segments (id, source_id, n, speaker, role, start, "end", '
                         "text, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", segments)
        conn.execute("COMMIT")
    finally:
        conn.close()
    print(len(segments))


def _fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def measure(n: int, work: Path, words: int = 2000) -> Scale:
    """Generate (or reuse) a corpus of ``n`` transcripts and measure every command on it."""
    corpus = work / f"corpus-{n}"
    if not (corpus / "cases.csv").exists():
        make_corpus(corpus, n, words=words)
    folder = corpus / "transcripts"
    paths = sorted(folder.glob("*.txt"))
    total_words = sum(len(p.read_text(encoding="utf-8").split()) for p in paths)
    out = work / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    db, empty = work / f"scale-{n}.db", work / f"scale-{n}-bulk.db"
    _fresh(db)
    _fresh(empty)
    runs: dict[str, Run] = {}

    def run(name: str, *args: str, stdin: bytes | None = None) -> Run:
        runs[name] = run_measured(tipqual(*args), stdin=stdin)
        return runs[name]

    run("init", "init", str(db), "--codebook", str(CODEBOOK))
    run_measured(tipqual("init", str(empty), "--codebook", str(CODEBOOK)))
    run("import", "import", str(db), str(folder), "--cases", str(corpus / "cases.csv"))
    runs["bulk insert (yardstick)"] = bulk = run_measured(
        [sys.executable, "-m", "benchmarks.scale", "--bulk-insert", str(folder), str(empty)])
    segments = int(bulk.stdout.split()[-1])
    _fresh(empty)
    run("suggest", "suggest", str(db))
    review = run("review (first screen)", "review", str(db), "--coder", "carol", stdin=b"q\n")
    if "[1/" not in review.stdout:  # the first suggestion's screen: "[1/N, N left] SEGMENT"
        raise SystemExit(f"review showed no first screen at N={n}:\n{review.stdout[:500]}")
    ids = [f"{p.stem}:2" for p in paths]  # every generated transcript has two segments or more
    run("code add", "code", "add", str(db), "--coder", "alice", "--code", "trust", ids[0])
    t0 = time.perf_counter()
    alice = run_measured(tipqual("code", "add", str(db), "--coder", "alice", "--code", "trust",
                                 *ids[1:]))
    bob_same = run_measured(tipqual("code", "add", str(db), "--coder", "bob", "--code", "trust",
                                    *ids[0::2]))
    bob_other = run_measured(tipqual("code", "add", str(db), "--coder", "bob", "--code",
                                     "funding", *ids[1::2]))
    parts = (alice, bob_same, bob_other)
    runs["code add xN"] = Run(time.perf_counter() - t0, sum(r.cpu for r in parts),
                              max(r.peak_mb for r in parts), "",
                              max(r.tree_mb for r in parts))
    run("status", "status", str(db), "--json")
    run("agree", "agree", str(db), "--coders", "alice,bob", "--json")
    run("matrix .xlsx", "matrix", str(db), "--out", str(out / "matrices.xlsx"))
    run("network (graph+table)", "network", str(db), "--out", str(out / "network.graphml"),
        "--table", str(out / "ranking.csv"))
    run("refi export", "refi", "export", str(db), "--out", str(out / "study.qdpx"))
    run("report .html", "report", str(db), "--out", str(out / "report.html"))
    run("report .docx", "report", str(db), "--out", str(out / "report.docx"))
    return Scale(n=n, words=total_words, segments=segments, runs=runs)


def run(sizes: Sequence[int], work: Path | None = None, words: int = 2000) -> list[Scale]:
    """Measure every size in turn (in a temporary folder unless ``work`` is given)."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="tipqual-scale-") as tmp:
            return run(sizes, Path(tmp), words)
    work.mkdir(parents=True, exist_ok=True)
    return [measure(n, work, words) for n in sizes]


def _growth(big: float, small: float) -> str:
    return f"{big / small:.1f}" if small > 0 else "-"


def format_table(results: Sequence[Scale]) -> str:
    """One row per command: wall s, CPU s and peak MB (all processes) at each size, then the
    growth of wall and CPU time between consecutive sizes, headed by the linear growth."""
    results = sorted(results, key=lambda r: r.n)
    name_w = max(len(c) for c in COMMANDS)
    head = [f"{'command':<{name_w}}"]
    rule = [f"{'':<{name_w}}"]
    for r in results:
        head.append(f"{f'N={r.n:,}':^22}")
        rule.append(f"{'s':>6} {'cpu s':>7} {'MB':>6} ")
    pairs = list(zip(results, results[1:], strict=False))
    for a, b in pairs:
        head.append(f"{f'{b.n:,}/{a.n:,} (linear {b.n / a.n:g})':^18}")
        rule.append(f"{'x wall':>8} {'x cpu':>8} ")
    lines = [" ".join(head).rstrip(), " ".join(rule).rstrip()]
    lines.append("-" * len(lines[1]))
    for name in COMMANDS:
        cells = [f"{name:<{name_w}}"]
        for r in results:
            x = r.runs[name]
            cells.append(f"{x.seconds:>6.2f} {x.cpu:>7.2f} {x.tree_mb:>6.0f} ")
        for a, b in pairs:
            x, y = a.runs[name], b.runs[name]
            cells.append(f"{_growth(y.seconds, x.seconds):>8} {_growth(y.cpu, x.cpu):>8} ")
        lines.append(" ".join(cells).rstrip())
    lines.append("")
    lines.append("corpus: " + "; ".join(f"N={r.n:,}: {r.words:,} words, {r.segments:,} segments"
                                         for r in results))
    return "\n".join(lines)


def verdicts(results: Sequence[Scale]) -> list[str]:
    """The import target at each size: import CPU over segmentation + plain bulk insert."""
    return [f"import vs segmentation + plain sqlite3 bulk insert at N={r.n:,}: "
            f"{r.import_ratio:.2f}x CPU ({'met' if r.import_ratio <= TARGET_IMPORT else 'NOT met'}"
            f"; target <= {TARGET_IMPORT:g}x)" for r in sorted(results, key=lambda r: r.n)]


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: measure and print the table and the import verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        help="corpus sizes (default 100 1000 5000; with --quick 20 100)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: sizes 20 and 100")
    parser.add_argument("--words", type=int, default=2000, help="words a transcript")
    parser.add_argument("--work", type=Path, help="keep corpora and studies here")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--bulk-insert", nargs=2, type=Path, metavar=("FOLDER", "DB"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bulk_insert:
        bulk_insert(*args.bulk_insert)
        return
    sizes = args.sizes or (QUICK_SIZES if args.quick else [100, 1000, 5000])
    results = run(sizes, args.work, args.words)
    print(format_table(results))
    for line in verdicts(results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([r.row() for r in results], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
