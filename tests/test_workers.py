"""Ordered fan-out of batches to worker processes (tipqual.suggest.workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fixtures.workers import make_dying
from tests.helpers import all_gone, hang_guard, wait_until
from tipqual.errors import TipqualError
from tipqual.suggest.workers import available_cores, ordered_map

REPO = Path(__file__).resolve().parents[1]


def make_scaler(factor: int):
    """A per-batch function: each number times ``factor``, with the worker's pid."""
    def work(batch: list[int]) -> tuple[int, list[int]]:
        if len(batch) > 1 and batch[0] % 2:  # odd batches take longer: results arrive out of order
            time.sleep(0.05)
        return os.getpid(), [x * factor for x in batch]
    return work


def make_failing(bad: int):
    """A per-batch function that raises on the batch holding ``bad``."""
    def work(batch: list[int]) -> list[int]:
        if bad in batch:
            raise ValueError(f"cannot take {bad}")
        return batch
    return work


def make_nothing(caller: int):
    """A worker that cannot even start (in a worker process; here it can)."""
    if os.getpid() != caller:
        raise TipqualError("no pipeline here")
    return lambda batch: batch


def batches(n: int, size: int = 3) -> list[list[int]]:
    return [list(range(i, i + size)) for i in range(0, n * size, size)]


@pytest.mark.slow
@pytest.mark.parametrize(("jobs", "method"), [(1, None), (2, "fork"), (2, "spawn")])
def test_results_come_back_in_input_order(jobs: int, method: str | None, monkeypatch):
    if method:  # fork is the default on Linux; spawn is what macOS and Windows get
        monkeypatch.setattr("tipqual.suggest.workers.start_method", lambda: method)
    out = list(ordered_map(make_scaler, (10,), batches(12), jobs=jobs))
    assert [values for _, values in out] == [[x * 10 for x in b] for b in batches(12)]
    pids = {pid for pid, _ in out}
    if jobs == 1:
        assert pids == {os.getpid()}
    else:  # this process and one worker share the work
        assert len(pids) <= 2 and pids - {os.getpid()}


def test_batches_are_read_lazily():
    """Only a bounded number of batches is taken from the input ahead of the results."""
    pulled = []

    def source():
        for b in batches(40, size=1):
            pulled.append(b[0])
            yield b

    results = ordered_map(make_scaler, (1,), source(), jobs=3, ahead=1)
    first = next(results)
    assert first[1] == [0]
    # Two workers with one batch queued each (4 at most), and this process working at most
    # that far ahead again.
    assert len(pulled) <= 2 * 2 * (1 + 1) + 1
    assert [v for _, v in results] == [[i] for i in range(1, 40)]


def test_an_exception_in_a_worker_is_raised_here():
    with pytest.raises(ValueError, match="cannot take 7"):
        list(ordered_map(make_failing, (7,), batches(6), jobs=2))


def test_a_worker_that_cannot_start_is_reported():
    with pytest.raises(TipqualError, match="no pipeline here"):
        list(ordered_map(make_nothing, (os.getpid(),), batches(40, size=1), jobs=2))


@pytest.mark.slow
def test_a_worker_that_dies_is_reported_not_waited_for():
    with hang_guard(120, "the map whose worker died"), \
            pytest.raises(TipqualError, match="worker process stopped unexpectedly"):
        list(ordered_map(make_dying, (4, os.getpid()), batches(40), jobs=2))


@pytest.mark.slow
def test_dead_workers_with_unread_tasks_do_not_hang_the_caller():
    """Workers die with big batches still queued for them (more than a pipe holds): the
    caller reports it and returns instead of waiting to send what nobody will read."""
    script = textwrap.dedent("""
        import sys
        import os
        from tests.fixtures.workers import make_dying
        from tipqual.errors import TipqualError
        from tipqual.suggest.workers import ordered_map
        big = ([i, "x" * 300_000] for i in range(20))
        try:  # every worker dies on its first batch
            list(ordered_map(make_dying, ("x" * 300_000, os.getpid()), big, jobs=3))
        except TipqualError as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=90)
    assert "worker process stopped unexpectedly" in done.stdout, done.stderr


def test_no_workers_or_threads_outlive_a_finished_map():
    import threading

    before = set(threading.enumerate())  # an earlier test's thread may still be ending
    out = list(ordered_map(make_scaler, (2,), batches(12), jobs=3))
    assert all_gone({pid for pid, _ in out} - {os.getpid()}, 0)
    assert set(threading.enumerate()) - before == set()  # so the next run may fork again


@pytest.mark.slow
def test_an_abandoned_map_stops_its_workers_at_once(tmp_path: Path):
    """Closing the results early (an error or Ctrl-C in the caller) terminates the workers
    instead of letting them finish the batches in hand."""
    pids, marks = tmp_path / "pids", tmp_path / "batches"
    results = ordered_map(make_held, (str(pids), str(marks), os.getpid()),
                          ([i] for i in range(1000)), jobs=3)
    assert next(results) == [0]
    # both workers hold a batch, which they finish 4 s after the caller begins to close
    wait_until(lambda: len(list(marks.glob("started-*"))) >= 2, 60,
               "the two workers did not each start a batch")
    # read once both have started (a worker writes its pid when it starts, and the second
    # may start after the first result is back)
    workers = _read_pids(pids) - {os.getpid()}
    (marks / "closing").touch()
    results.close()
    assert len(workers) == 2 and all_gone(workers, 0)  # stopped once close() returns
    assert sorted(marks.glob("done-*")) == []  # terminated in their batches, not waited for


def test_workers_exit_when_their_caller_is_killed(tmp_path: Path):
    """kill -9 of the caller: its workers notice and stop instead of running on for ever."""
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, sys, time
        from tests.fixtures.workers import make_slow
        from tipqual.suggest.workers import ordered_map
        for _ in ordered_map(make_slow, ({str(pids)!r},), ([i] for i in range(1000)), jobs=3):
            pass
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_read_pids(pids) - {proc.pid}) < 2:
            time.sleep(0.05)
        workers = _read_pids(pids) - {proc.pid}
        assert len(workers) == 2, "the workers did not start"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert all_gone(workers, 10)


def make_held(pid_folder: str, marks: str, caller: int):
    """A per-batch function whose workers hold every batch but the first.

    A held batch is marked ``started-N``; it is finished (marked ``done-N``) 4 s after the file
    ``closing`` appears in ``marks`` (a minute at most without it). Batch 0, and every batch in
    the calling process, return at once.
    """
    Path(pid_folder).mkdir(exist_ok=True)
    (Path(pid_folder) / str(os.getpid())).touch()
    folder = Path(marks)
    folder.mkdir(exist_ok=True)

    def work(batch: list[int]) -> list[int]:
        if os.getpid() == caller or batch == [0]:
            return batch
        (folder / f"started-{batch[0]}").touch()
        for _ in range(6000):
            if (folder / "closing").exists():
                break
            time.sleep(0.01)
        time.sleep(4)
        (folder / f"done-{batch[0]}").touch()
        return batch
    return work


def _read_pids(folder: Path) -> set[int]:
    return {int(p.name) for p in folder.iterdir()} if folder.is_dir() else set()


def test_workers_are_not_forked_from_a_threaded_process():
    import threading

    from tipqual.suggest import workers
    if sys.platform.startswith("linux"):
        assert workers.start_method() == "fork"  # pytest itself runs one thread
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert workers.start_method() == "spawn" and not workers.inherits()
    finally:
        stop.set()
        thread.join()


def test_available_cores_is_at_least_one():
    assert 1 <= available_cores() <= (os.cpu_count() or 1)
