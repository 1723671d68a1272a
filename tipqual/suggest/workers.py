"""Per-batch work spread over worker processes, the results coming back in input order.

The expensive stages of tipqual are pure functions of one batch of segments, and one process
(the caller) owns the study and writes. :func:`ordered_map` runs such a function in the
calling process and ``jobs - 1`` worker processes (the caller takes a batch itself whenever
no worker's result is ready), and yields each batch's result in the order the batches were
given, so a parallel run writes exactly what a serial run writes.

- On Linux workers are forked (:func:`start_method`): they start at once and share the
  caller's heavy state (a spaCy pipeline built once, before the fork) page by page, and never
  touch the caller's open study. Elsewhere they are spawned and build that state themselves,
  once each, from picklable arguments.
- At most ``ahead`` batches per worker are in flight, so memory stays bounded whatever the
  number of batches (the batches are read lazily from the iterable).
- Queues carry the messages (a feeder thread sends them), so a large batch or result never
  blocks the two sides on each other.
- A worker whose caller has died (``kill -9``) notices within a second and exits; a worker
  that dies makes the caller raise instead of waiting for ever; an exception in a worker is
  raised again in the caller.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, TypeVar

from tipqual.errors import TipqualError

T = TypeVar("T")
R = TypeVar("R")

_POLL_SECONDS = 1.0


def start_method() -> Literal["fork", "spawn"]:
    """``fork`` on Linux when this process runs no other thread, else ``spawn``.

    Forked workers start at once and get the caller's objects as they are, unpickled; but
    forking a process with other threads (a notebook kernel, say) can deadlock the child, and
    macOS and Windows do not fork safely.
    """
    if not sys.platform.startswith("linux"):
        return "spawn"
    # A queue feeder thread left by an earlier pool whose workers died holds no lock a new
    # worker needs; any other thread might.
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and t.name != "QueueFeederThread"]
    return "spawn" if others else "fork"


def inherits() -> bool:
    """Whether workers started now get the caller's objects unpickled (they are forked)."""
    return start_method() == "fork"


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def ordered_map(make_worker: Callable[..., Callable[[T], R]], args: tuple[Any, ...],
                batches: Iterable[T], jobs: int = 1, ahead: int = 2) -> Iterator[R]:
    """Apply ``make_worker(*args)`` to every batch, yielding the results in input order.

    Args:
        make_worker: a module-level function (picklable by name) returning the per-batch
            function; called once in this process and once in each worker process.
        args: its arguments (picklable when ``jobs`` > 1 and workers are spawned).
        batches: the inputs, consumed lazily.
        jobs: processes doing the work, this one included: ``jobs - 1`` workers are started,
            and this process works on a batch itself whenever no result is ready.
        ahead: batches queued per worker beyond the one it is working on.
    """
    work = make_worker(*args)
    if jobs <= 1:
        for batch in batches:
            yield work(batch)
        return
    yield from _Pool(make_worker, args, jobs - 1).map(work, batches, ahead)


class _Pool:
    """Worker processes sharing one task queue and one result queue."""

    def __init__(self, make_worker: Callable[..., Callable[[Any], Any]], args: tuple[Any, ...],
                 workers: int):
        import multiprocessing

        # One literal per call, so the type checker sees a context that has ``Process``.
        ctx = (multiprocessing.get_context("fork") if start_method() == "fork"
               else multiprocessing.get_context("spawn"))
        self.tasks = ctx.Queue()
        self.results = ctx.Queue()
        self.procs = [ctx.Process(target=_serve, daemon=True, name=f"tipqual-worker-{i}",
                                  args=(make_worker, args, self.tasks, self.results,
                                        os.getpid()))
                      for i in range(workers)]
        for proc in self.procs:
            proc.start()

    def map(self, work: Callable[[Any], Any], batches: Iterable[Any],
            ahead: int) -> Iterator[Any]:
        """The results of every batch in order: the workers' and those ``work`` did here."""
        limit = len(self.procs) * (1 + ahead)  # batches at the workers, at most
        done: dict[int, Any] = {}  # results that came early, by batch number
        issued = received = queued = 0
        source = iter(batches)
        exhausted = False
        finished = False
        try:
            while not exhausted or received < issued:
                while not exhausted and queued < limit and issued - received < 2 * limit:
                    batch = next(source, _END)
                    if batch is _END:
                        exhausted = True
                    else:
                        self.tasks.put((issued, batch))
                        issued += 1
                        queued += 1
                if received in done:
                    yield done.pop(received)
                    received += 1
                    continue
                # Do a batch here while the workers are busy, unless too far ahead of them.
                idle = not exhausted and issued - received < 2 * limit
                result = self._next_result(wait=not idle)
                if result is not None:
                    seq, ok, value = result
                    if not ok:
                        raise value
                    done[seq] = value
                    queued -= 1
                    continue
                batch = next(source, _END)
                if batch is _END:
                    exhausted = True
                else:
                    done[issued] = work(batch)
                    issued += 1
            finished = True
        finally:
            # Interrupted, failed or abandoned: the workers' results are of no use any more.
            self.close(abandon=not finished)

    def _next_result(self, wait: bool) -> tuple[int, bool, Any] | None:
        """The next result from a worker; None when none is ready and ``wait`` is false."""
        if not wait:
            try:
                return self.results.get_nowait()
            except queue.Empty:
                return None
        while True:
            try:
                return self.results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                dead = [p for p in self.procs if not p.is_alive()]
                if dead:
                    raise TipqualError(f"a worker process stopped unexpectedly (exit code "
                                       f"{dead[0].exitcode}); nothing was saved. Run the "
                                       "command again, or with --jobs 1.") from None

    def close(self, abandon: bool = False) -> None:
        """Stop every worker: ask them to finish, or (``abandon``) terminate them at once."""
        if abandon:
            for proc in self.procs:
                proc.terminate()
        else:
            for _ in self.procs:
                self.tasks.put(None)
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():  # pragma: no cover - a worker stuck in its batch
                proc.terminate()
                proc.join()
        # Workers that stopped when asked read every task: the queues' feeder threads have
        # nothing left to send and end at once (joining them leaves this process with no
        # thread of tipqual's). Otherwise whatever is unsent has no reader, and waiting to
        # flush it would wait for ever.
        clean = all(proc.exitcode == 0 for proc in self.procs)
        for q in (self.tasks, self.results):
            if not clean:
                q.cancel_join_thread()
            q.close()
            if clean:
                q.join_thread()


_END = object()


def _serve(make_worker: Callable[..., Callable[[Any], Any]], args: tuple[Any, ...],
           tasks: Any, results: Any, parent: int) -> None:
    """A worker's loop: build the per-batch function once, then answer tasks until told to stop
    (or until the caller is gone)."""
    import signal

    # Ctrl-C reaches the whole process group; the caller decides what an interruption means
    # and stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        work = make_worker(*args)
    except BaseException as exc:  # noqa: BLE001 - reported to the caller, which raises it
        results.put((-1, False, _portable(exc)))
        return
    while True:
        if os.getppid() != parent:  # the caller was killed: nobody will read our results
            results.cancel_join_thread()  # so exiting does not wait to flush them
            return
        try:
            task = tasks.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue
        if task is None:
            return
        seq, batch = task
        try:
            results.put((seq, True, work(batch)))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, which raises it
            results.put((seq, False, _portable(exc)))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a TipqualError describing it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return TipqualError(f"a worker process failed: {text}")
