"""Run every benchmark and print one table of figures with the machine they ran on.

    python -m benchmarks.run_all [--sizes 100 300 1000] [--repeat 3] [--work DIR] [--skip-quality]

(a) throughput of import + suggest and its ratio to spaCy's bare tokenizer, (b) peak memory,
(c) ``tipqual --help`` latency, (d) report regeneration time, (e) re-running suggest on an
unchanged study, (f) suggestion quality (``benchmarks/suggest_quality.py``, printed below the
table as it reports itself).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import cli_latency, report_time, throughput
from benchmarks.corpus import REPO


def machine() -> list[str]:
    """CPU model, cores, memory, Python and library versions, one per line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        ram = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError):
        ram = "unknown"
    versions = subprocess.run(
        [sys.executable, "-c", "import spacy, sklearn, tipqual, sqlite3; print(spacy.__version__, "
         "sklearn.__version__, tipqual.__version__, sqlite3.sqlite_version)"],
        capture_output=True, text=True, check=False).stdout.split() or ["?"] * 4
    return [f"CPU: {cpu}; {os.cpu_count()} cores; RAM {ram}",
            f"Python {platform.python_version()} on {platform.system()} {platform.release()}",
            f"spaCy {versions[0]}, scikit-learn {versions[1]}, tipqual {versions[2]}, "
            f"SQLite {versions[3]}"]


def summary(results: list[throughput.Throughput], latency: cli_latency.Latency,
            reports: list[report_time.ReportTimes] | None) -> str:
    """One table: measure, value, target, verdict."""
    rows: list[tuple[str, str, str, str]] = []
    results = throughput.medians(results)
    for r in results:
        stricter = ("" if r.segment_ratio is None else
                    f" ({r.segment_ratio:.2f}x tokenizing the segment texts)")
        rows.append((f"(a) import + suggest, N={r.n} ({r.words:,} words; median run)",
                     f"{r.words_per_s:,.0f} words/s; {r.ratio:.2f}x tok wall{stricter}, "
                     f"{r.cpu_ratio:.2f}x CPU", "<= 4x",
                     "met" if r.ratio <= throughput.TARGET_RATIO else "not met"))
    for r in results:
        rows.append((f"(b) peak memory, N={r.n}",
                     f"import {r.import_.tree_mb:.0f} MB, suggest {r.suggest.tree_mb:.0f} MB "
                     "(all processes)",
                     "< 500 MB", "met" if r.tree_mb < throughput.TARGET_RSS_MB else "not met"))
    rows.append(("(c) tipqual --help", f"median {latency.help_median * 1000:.0f} ms "
                 f"(python alone {latency.python_median * 1000:.0f} ms)",
                 "no heavy imports", "met" if not latency.heavy_imports else "not met"))
    if reports is None:
        rows.append(("(d) report", "no report command in this build", "-", "skipped"))
    else:
        for rt in reports:
            rows.append((f"(d) report, {rt.study} ({rt.segments:,} segments)",
                         ", ".join(f"{k} {v:.2f} s" for k, v in rt.seconds.items()), "-", "-"))
    for r in results:
        rows.append((f"(e) suggest re-run, N={r.n}",
                     f"{r.resuggest.seconds:.2f} s = {r.rerun_ratio:.3f} of the first run",
                     "< 0.1", "met" if r.rerun_ratio < throughput.TARGET_RERUN else "not met"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    head = ("measure", "figure", "target", "verdict")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows]
    return "\n".join(lines)


def main() -> None:
    """Command-line entry: run everything and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--repeat", type=int, default=3,
                        help="throughput runs per size; the summary shows the median run")
    parser.add_argument("--work", type=Path, help="keep corpora and studies here")
    parser.add_argument("--skip-quality", action="store_true",
                        help="leave out the suggestion-quality benchmark (f)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tipqual-bench-") as tmp:
        work = args.work or Path(tmp)
        results = throughput.run(args.sizes, work, repeat=args.repeat)
        latency = cli_latency.measure()
        reports = report_time.run(max(args.sizes), work)
    print("\n".join(machine()))
    print()
    print(throughput.format_table(results))
    print()
    if reports:
        print(report_time.format_table(reports))
        print()
    print(summary(results, latency, reports))
    if not args.skip_quality:
        print("\n(f) suggestion quality (benchmarks/suggest_quality.py):", flush=True)
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "suggest_quality.py")],
                       cwd=REPO, check=False)


if __name__ == "__main__":
    main()
