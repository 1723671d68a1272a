"""How long ``tipqual --help`` takes: the median of repeated runs, beside a bare Python start.

``--help`` must stay instant: the command modules load lazily and none of spaCy, pandas,
scikit-learn, numpy or matplotlib is imported. The script also lists any such module that a
``--help`` run did import.

    python -m benchmarks.cli_latency --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

HEAVY = ("spacy", "pandas", "sklearn", "numpy", "matplotlib", "networkx", "openpyxl", "docx",
         "scipy")

_PROBE = ("import sys\nfrom tipqual.cli import main\ntry:\n    main(['--help'])\n"
          "except SystemExit:\n    pass\n"
          "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))),"
          " file=sys.stderr)")


@dataclass
class Latency:
    """Median and spread of ``tipqual --help`` and of an empty Python start, in seconds."""

    runs: int
    help_median: float
    help_min: float
    help_max: float
    python_median: float
    heavy_imports: list[str]

    @property
    def overhead(self) -> float:
        """What tipqual adds to a bare interpreter start."""
        return self.help_median - self.python_median


def _times(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def measure(runs: int = 15) -> Latency:
    """Time ``python -m tipqual --help`` and ``python -c pass`` ``runs`` times each."""
    _times([sys.executable, "-m", "tipqual", "--help"], 2)  # warm the file cache
    help_times = _times([sys.executable, "-m", "tipqual", "--help"], runs)
    bare = _times([sys.executable, "-c", "pass"], runs)
    probe = subprocess.run([sys.executable, "-c", _PROBE, *HEAVY], capture_output=True,
                           text=True, check=True)
    heavy = probe.stderr.split()
    return Latency(runs, statistics.median(help_times), min(help_times), max(help_times),
                   statistics.median(bare), heavy)


def format_result(r: Latency) -> str:
    """The figures as a few lines of text."""
    return (f"tipqual --help: median {r.help_median * 1000:.0f} ms over {r.runs} runs "
            f"(min {r.help_min * 1000:.0f}, max {r.help_max * 1000:.0f}); bare python "
            f"{r.python_median * 1000:.0f} ms, so tipqual adds {r.overhead * 1000:.0f} ms\n"
            f"heavy modules imported by --help: {', '.join(r.heavy_imports) or 'none'}")


def main() -> None:
    """Command-line entry: measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(format_result(measure(args.runs)))


if __name__ == "__main__":
    main()
