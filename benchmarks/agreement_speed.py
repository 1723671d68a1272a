"""Krippendorff's alpha: tipqual's own computation against the ``krippendorff`` package.

For each size (coders x units) and level of measurement the same random reliability data
(values 1-5, one value in eight missing, fixed seed) is given to both: tipqual as the
contract's input (Python lists, ``None`` missing), the package as its own (a float numpy
array, NaN missing). Each is timed ``--repeat`` times and the best run kept; the script prints
both times, the ratio tipqual / package (below 1: tipqual is faster) and the largest
difference between the two alphas. A script, not a test: nothing fails.

    python -m benchmarks.agreement_speed --units 1000 10000 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass
class Result:
    size: str
    level: str
    tipqual_s: float
    package_s: float
    difference: float

    @property
    def ratio(self) -> float:
        return self.tipqual_s / self.package_s


def best_of(repeat: int, call: Callable[[], float | None]) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of ``call`` (seconds) and its result (NaN for None)."""
    best, result = math.inf, math.nan
    for _ in range(repeat):
        start = time.perf_counter()
        value = call()
        result = math.nan if value is None else float(value)
        best = min(best, time.perf_counter() - start)
    return best, result


def reliability_data(coders: int, units: int, seed: int = 11) -> list[list[int | None]]:
    rng = random.Random(seed)
    return [[rng.choice([None, 1, 2, 3, 4, 5, 5, 5]) for _ in range(units)]
            for _ in range(coders)]


def run(sizes: list[int], coders: int = 3, repeat: int = 5) -> list[Result]:
    import krippendorff
    import numpy as np

    from tipqual.analysis.agreement import krippendorff_alpha

    results: list[Result] = []
    for units in sizes:
        rows = reliability_data(coders, units)
        array = np.array([[math.nan if v is None else float(v) for v in row] for row in rows])
        for level in LEVELS:
            def ours(rows: list[list[int | None]] = rows, level: str = level) -> float | None:
                return krippendorff_alpha(rows, level=level)

            def theirs(array: Any = array, level: Any = level) -> float:
                return float(krippendorff.alpha(reliability_data=array,
                                                level_of_measurement=level))

            ours_s, ours_value = best_of(repeat, ours)
            theirs_s, theirs_value = best_of(repeat, theirs)
            results.append(Result(f"{coders} x {units:,}", level, ours_s, theirs_s,
                                  abs(ours_value - theirs_value)))
    return results


def format_table(results: list[Result]) -> str:
    lines = ["| size | level | tipqual | krippendorff | tipqual / package | |alpha difference| |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.size} | {r.level} | {r.tipqual_s * 1000:.1f} ms | "
                     f"{r.package_s * 1000:.1f} ms | {r.ratio:.2f} | {r.difference:.1e} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--coders", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(format_table(run(args.units, args.coders, args.repeat)))


if __name__ == "__main__":
    main()
