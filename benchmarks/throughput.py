"""Throughput, peak memory and re-run time of ``tipqual import`` + ``tipqual suggest``.

For each corpus size N the script generates N transcripts of about 2,000 words from the sample
(see :mod:`benchmarks.corpus`), then in the same run:

- tokenises every transcript file with spaCy's bare tokenizer (``spacy.blank("en").pipe``) in
  a process of its own: the yardstick;
- runs ``tipqual init``, ``tipqual import`` and ``tipqual suggest`` as real subprocesses, timing
  each wall-clock and reading each one's peak resident memory from its own ``getrusage``
  (``os.wait4``);
- tokenises, the same way, the segment texts the import stored (what ``suggest`` tokenises):
  a second, stricter yardstick, reported but not the target. spaCy's tokenizer stops adding
  to its cache for the rest of a text once the text has used one of its special cases
  ("don't", "e.g."), so it gets through the same words about twice as fast in short segments
  as in whole transcripts;
- runs ``suggest`` a second time on the unchanged study.

It prints words per second, the ratio of import + suggest to bare tokenisation of the files
(target: at most 4) and of the segment texts, peak memory (target: under 500 MB at N = 1,000)
and the re-run ratio (target: under 0.1).

With ``--repeat R`` the whole measurement (yardstick, import, suggest, re-run: a fresh study
each time) is repeated R times, the sizes taking turns, and the verdicts are judged on each
size's median run: on a machine shared with other work the speed of both the yardstick and
tipqual drifts over minutes, and one run can catch either at a fast or a slow moment.

    python -m benchmarks.throughput --sizes 100 300 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.corpus import REPO, make_corpus

TARGET_RATIO = 4.0
TARGET_RSS_MB = 500.0
TARGET_RERUN = 0.1


@dataclass
class Run:
    """One timed subprocess: wall and CPU seconds (its workers' included), the peak resident
    memory of its largest process and of all its processes together, in MB."""

    seconds: float
    cpu: float
    peak_mb: float
    stdout: str
    tree_mb: float = 0.0


@dataclass
class Throughput:
    """The figures for one corpus size."""

    n: int
    words: int
    tokenize: Run
    import_: Run
    suggest: Run
    resuggest: Run
    run: int = 1
    tokenize_segments: Run | None = None

    @property
    def words_per_s(self) -> float:
        """Words per second (wall clock) through import + suggest."""
        return self.words / (self.import_.seconds + self.suggest.seconds)

    @property
    def ratio(self) -> float:
        """Import + suggest wall time over bare tokenisation wall time (lower is better)."""
        return (self.import_.seconds + self.suggest.seconds) / self.tokenize.seconds

    @property
    def segment_ratio(self) -> float | None:
        """Import + suggest over bare tokenisation of the stored segment texts (wall)."""
        if self.tokenize_segments is None:
            return None
        return (self.import_.seconds + self.suggest.seconds) / self.tokenize_segments.seconds

    @property
    def cpu_ratio(self) -> float:
        """The same ratio in CPU seconds (steady on a machine shared with other work)."""
        return (self.import_.cpu + self.suggest.cpu) / self.tokenize.cpu

    @property
    def rerun_ratio(self) -> float:
        """Second suggest on the unchanged study over the first (wall clock)."""
        return self.resuggest.seconds / self.suggest.seconds

    @property
    def peak_mb(self) -> float:
        """The larger peak resident memory of the import and suggest processes."""
        return max(self.import_.peak_mb, self.suggest.peak_mb)

    @property
    def tree_mb(self) -> float:
        """The larger peak of import's and suggest's processes together (workers included)."""
        return max(self.import_.tree_mb, self.suggest.tree_mb)

    def row(self) -> dict[str, object]:
        """The figures as a flat dict (raw values and derived ones)."""
        data: dict[str, object] = {"n": self.n, "run": self.run, "words": self.words}
        for name in ("tokenize", "tokenize_segments", "import_", "suggest", "resuggest"):
            run = getattr(self, name)
            if run is None:
                continue
            key = name.rstrip("_")
            data.update({f"{key}_s": run.seconds, f"{key}_cpu_s": run.cpu,
                         f"{key}_peak_mb": run.peak_mb, f"{key}_tree_mb": run.tree_mb})
        data.update(words_per_s=self.words_per_s, ratio=self.ratio,
                    segment_ratio=self.segment_ratio, cpu_ratio=self.cpu_ratio,
                    rerun_ratio=self.rerun_ratio, peak_mb=self.peak_mb, tree_mb=self.tree_mb)
        return data


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants now, in MB (Linux /proc).

    Pages a forked worker shares with its parent count in both, so this is an upper bound.
    """
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text(encoding="ascii")
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children")
                     .read_text(encoding="ascii").split()]
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _sample_tree(pid: int, peak: list[float], stop: threading.Event) -> None:
    """Keep the largest :func:`_tree_rss_mb` of ``pid`` in ``peak[0]`` until ``stop``."""
    while not stop.wait(0.02):
        peak[0] = max(peak[0], _tree_rss_mb(pid))


def run_measured(args: list[str], stdin: bytes | None = None) -> Run:
    """Run a command; wall time, CPU time and the peak RSS of its largest process (Linux:
    KB -> MB) and, sampled every 20 ms, of all its processes together. ``stdin``: what the
    command reads (default: nothing, an empty input)."""
    with (tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err,
          tempfile.TemporaryFile() as inp):
        inp.write(stdin or b"")
        inp.seek(0)
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdin=inp, stdout=out, stderr=err, cwd=REPO)
        tree, stop = [0.0], threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, tree, stop), daemon=True)
        sampler.start()
        # Reap the child with wait4 (not Popen.wait) to get its rusage: its own and that of
        # the worker processes it waited for (CPU summed, peak memory the largest one's).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{stderr}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout,
               max(tree[0], usage.ru_maxrss / 1024))


def tipqual(*args: str) -> list[str]:
    """The argv of ``python -m tipqual ARGS``."""
    return [sys.executable, "-m", "tipqual", *args]


def _tokenize_timed(texts: Iterable[str]) -> None:
    """Tokenise ``texts`` with the bare tokenizer; print seconds (wall, CPU) and tokens as JSON.

    The texts are read inside the timing (they are a lazy iterable), as tipqual reads them;
    spaCy's import and ``spacy.blank`` are outside it.
    """
    import spacy

    nlp = spacy.blank("en")
    t0, c0 = time.perf_counter(), time.process_time()
    tokens = sum(len(doc) for doc in nlp.pipe(texts))
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                      "tokens": tokens}))


def tokenize_folder(folder: Path) -> None:
    """The yardstick: every .txt file of ``folder``, each a text, as ``import`` reads them."""
    paths = sorted(folder.glob("*.txt"))
    _tokenize_timed(p.read_text(encoding="utf-8") for p in paths)


def _segment_texts(db: Path) -> Iterator[str]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield from (row[0] for row in conn.execute("SELECT text FROM segments ORDER BY rowid"))
    finally:
        conn.close()


def tokenize_study(db: Path) -> None:
    """The stricter yardstick: the segment texts of the study ``db``, each a text, read from
    the store as ``suggest`` reads them."""
    _tokenize_timed(_segment_texts(db))


def tokenize(path: Path, segments: bool = False) -> Run:
    """The bare tokenizer's wall and CPU seconds over a folder of transcripts, or over the
    segment texts of a study (in its own process, like the tipqual commands, so spaCy's
    start-up is outside the timing but its memory is its own)."""
    flag = "--tokenize-segments" if segments else "--tokenize"
    run = run_measured([sys.executable, "-m", "benchmarks.throughput", flag, str(path)])
    data = json.loads(run.stdout)
    return Run(data["seconds"], data["cpu"], run.peak_mb, str(data["tokens"]))


def measure(n: int, work: Path, codebook: Path, words: int = 2000, run: int = 1) -> Throughput:
    """Generate a corpus of ``n`` transcripts and measure the pipeline on it."""
    corpus = work / f"corpus-{n}"
    if not (corpus / "cases.csv").exists():
        make_corpus(corpus, n, words=words)
    paths = sorted((corpus / "transcripts").glob("*.txt"))
    total_words = sum(len(p.read_text(encoding="utf-8").split()) for p in paths)
    db = work / f"study-{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run_measured(tipqual("init", str(db), "--codebook", str(codebook)))
    tok = tokenize(corpus / "transcripts")
    imp = run_measured(tipqual("import", str(db), str(corpus / "transcripts"),
                               "--cases", str(corpus / "cases.csv")))
    seg = tokenize(db, segments=True)
    sug = run_measured(tipqual("suggest", str(db)))
    again = run_measured(tipqual("suggest", str(db)))
    return Throughput(n=n, words=total_words, tokenize=tok, import_=imp, suggest=sug,
                      resuggest=again, run=run, tokenize_segments=seg)


def medians(results: list[Throughput]) -> list[Throughput]:
    """For each size, its run with the median ratio to the yardstick (the lower middle one
    for an even number of runs)."""
    out = []
    for n in dict.fromkeys(r.n for r in results):
        runs = sorted((r for r in results if r.n == n), key=lambda r: r.ratio)
        out.append(runs[(len(runs) - 1) // 2])
    return out


def format_table(results: list[Throughput]) -> str:
    """The figures as a fixed-width text table."""
    head = (f"{'N':>5} {'run':>3} {'words':>9} {'tok s':>6} {'seg tok s':>9} {'import s':>8} "
            f"{'suggest s':>9} {'words/s':>8} {'x tok':>6} {'x seg tok':>9} {'x tok cpu':>9} "
            f"{'peak MB':>7} {'all MB':>6} {'re-run s':>8} {'re-run':>6}")
    lines = [head, "-" * len(head)]
    for r in results:
        seg_s = "-" if r.tokenize_segments is None else f"{r.tokenize_segments.seconds:.2f}"
        seg_x = "-" if r.segment_ratio is None else f"{r.segment_ratio:.2f}"
        lines.append(f"{r.n:>5} {r.run:>3} {r.words:>9,} {r.tokenize.seconds:>6.2f} "
                     f"{seg_s:>9} {r.import_.seconds:>8.2f} {r.suggest.seconds:>9.2f} "
                     f"{r.words_per_s:>8,.0f} {r.ratio:>6.2f} {seg_x:>9} {r.cpu_ratio:>9.2f} "
                     f"{r.peak_mb:>7.0f} {r.tree_mb:>6.0f} {r.resuggest.seconds:>8.2f} "
                     f"{r.rerun_ratio:>6.3f}")
    return "\n".join(lines)


def verdicts(results: list[Throughput]) -> list[str]:
    """One line per target, judged on each size's median run: met or not, with the figure."""
    results = medians(results)
    worst = max(r.ratio for r in results)
    worst_cpu = max(r.cpu_ratio for r in results)
    peak = max(r.tree_mb for r in results)
    rerun = max(r.rerun_ratio for r in results)
    segments = [r.segment_ratio for r in results if r.segment_ratio is not None]
    stricter = [("import + suggest vs bare tokenizer on the stored segment texts (not the "
                 f"target): worst {max(segments):.2f}x wall")] if segments else []
    return [(f"import + suggest vs bare tokenizer: worst {worst:.2f}x wall, {worst_cpu:.2f}x "
             f"CPU ({'met' if worst <= TARGET_RATIO else 'NOT met'}; target <= "
             f"{TARGET_RATIO:g}x)"),
            *stricter,
            (f"peak memory of a tipqual command, all its processes: {peak:.0f} MB "
             f"({'met' if peak < TARGET_RSS_MB else 'NOT met'}; target < {TARGET_RSS_MB:g} MB)"),
            (f"re-run suggest on an unchanged study: worst {rerun:.3f} of the first run "
             f"({'met' if rerun < TARGET_RERUN else 'NOT met'}; target < {TARGET_RERUN:g})")]


def run(sizes: list[int], work: Path | None = None, words: int = 2000,
        repeat: int = 1) -> list[Throughput]:
    """Measure every size ``repeat`` times, sizes taking turns (in a temporary folder unless
    ``work`` is given)."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="tipqual-bench-") as tmp:
            return run(sizes, Path(tmp), words, repeat)
    work.mkdir(parents=True, exist_ok=True)
    codebook = REPO / "codebooks" / "tip-sa.yaml"
    return [measure(n, work, codebook, words, k) for k in range(1, repeat + 1) for n in sizes]


def main() -> None:
    """Command-line entry: measure and print the table and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each size this many times; verdicts on the median run")
    parser.add_argument("--work", type=Path, help="keep corpora and studies here")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--tokenize", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenize-segments", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tokenize:
        tokenize_folder(args.tokenize)
        return
    if args.tokenize_segments:
        tokenize_study(args.tokenize_segments)
        return
    results = run(args.sizes, args.work, args.words, args.repeat)
    print(format_table(results))
    for line in verdicts(results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([r.row() for r in results], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
