"""Why ``suggest`` keeps its own worker pool rather than ``concurrent.futures``.

Two measurements, side by side in one run, of tipqual's :func:`tipqual.suggest.workers.
ordered_map` and of the standard library's :class:`concurrent.futures.ProcessPoolExecutor`
(forked workers, results in input order, the same bounded number of batches in flight):

1. **kill -9 of the caller.** A parent process starts the pool on a long stream of batches and
   is killed with SIGKILL; the script then counts how many of its workers are still alive after
   a few seconds. An orphaned worker keeps its memory (a forked copy of the spaCy pipeline and
   the model) until someone kills it by hand.
2. **Throughput.** CPU-bound batches (tokenising text with the blank spaCy pipeline) with
   ``--jobs`` processes: tipqual's pool also works on batches in the calling process whenever no
   result is ready; the executor's caller only waits.

Run: ``python -m benchmarks.pool_choice [--jobs 2] [--batches 200]``. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

TEXT = ("The police came late again and the prosecutor withdrew the case without telling "
        "anyone, so the shelter had to start from the beginning with the social worker. ") * 6


def make_tokenise() -> Callable[[list[str]], int]:
    """The per-batch function: tokens in a batch of texts (module level: picklable by name)."""
    from tipqual.nlp.pipeline import blank_pipeline

    nlp = blank_pipeline()
    return lambda batch: sum(len(doc) for doc in nlp.pipe(batch))


_WORK: Callable[[list[str]], int] | None = None


def _init() -> None:
    global _WORK
    _WORK = make_tokenise()


def _call(batch: list[str]) -> int:
    assert _WORK is not None
    return _WORK(batch)


def executor_map(batches: Iterable[list[str]], jobs: int, ahead: int = 2) -> Iterator[int]:
    """``ProcessPoolExecutor`` with the same window of batches in flight, results in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, jobs - 1) if jobs > 1 else 1
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_init) as pool:
        window: deque[Any] = deque()
        for batch in batches:
            window.append(pool.submit(_call, batch))
            if len(window) >= workers * (1 + ahead):
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def tipqual_map(batches: Iterable[list[str]], jobs: int) -> Iterator[int]:
    from tipqual.suggest.workers import ordered_map

    return ordered_map(make_tokenise, (), batches, jobs=jobs)


def _batches(n: int) -> Iterator[list[str]]:
    for i in range(n):
        yield [f"{i} {TEXT}"] * 20


def throughput(jobs: int, n: int) -> dict[str, float]:
    """Wall seconds of each pool over the same ``n`` batches (tipqual's first, then the
    executor's, then tipqual's again: the machine's drift shows as the two tipqual runs
    differing)."""
    out: dict[str, float] = {}
    for name, run in (("tipqual", tipqual_map), ("executor", executor_map),
                      ("tipqual again", tipqual_map)):
        t0 = time.perf_counter()
        total = sum(run(_batches(n), jobs))
        out[name] = time.perf_counter() - t0
        assert total > 0
    return out


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def orphans(pool: str, jobs: int, wait: float = 4.0) -> int:
    """Workers of ``pool`` still alive ``wait`` seconds after their caller was killed -9."""
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.pool_choice", "--serve", pool,
                              "--jobs", str(jobs)], stdout=subprocess.DEVNULL)
    time.sleep(3.0)  # the pool is up and busy
    workers = _children(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(wait)
    alive = [w for w in workers if os.path.exists(f"/proc/{w}")]
    for w in alive:  # clean up after the measurement
        os.kill(w, signal.SIGKILL)
    return len(alive)


def _serve(pool: str, jobs: int) -> None:
    run = tipqual_map if pool == "tipqual" else executor_map
    for _ in run(_batches(10**6), jobs):
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--serve", choices=["tipqual", "executor"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.jobs)
        return
    if not sys.platform.startswith("linux"):
        sys.exit("this benchmark reads /proc: run it on Linux")
    times = throughput(args.jobs, args.batches)
    print(f"throughput, {args.batches} batches of 20 texts, --jobs {args.jobs} (wall s):")
    for name, seconds in times.items():
        print(f"  {name:<14} {seconds:6.2f}")
    print("workers still alive 4 s after their caller was killed -9:")
    for pool in ("tipqual", "executor"):
        print(f"  {pool:<14} {orphans(pool, args.jobs)} of {max(1, args.jobs - 1)}")


if __name__ == "__main__":
    main()
