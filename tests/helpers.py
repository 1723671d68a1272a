"""What the tests share: paths of the repository, the ``../shared`` guard, real-process
helpers, hang guards and waits. Imported as ``from tests.helpers import ...`` (the fixtures
live in ``conftest.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = REPO / "transcripts_sample"
TIP_CODEBOOK = REPO / "codebooks" / "tip-sa.yaml"
NO_SHARED = "TIPQUAL_NO_SHARED"  # set (to 1) to run as a fresh clone does: ../shared hidden


def shared(*parts: str) -> Path:
    """A file of the development workplace's ``../shared`` folder; skips the test without it.

    A user's clone has no ``../shared`` (REFI schemas and other tools' samples, published
    evaluation data): the tests that read it skip, naming what is missing, and the behaviour
    they check is also covered by the project's own fixtures. ``TIPQUAL_NO_SHARED=1`` hides the
    folder where it exists, to see what a fresh clone runs without moving anything.
    """
    path = SHARED.joinpath(*parts)
    if os.environ.get(NO_SHARED):
        pytest.skip(f"needs {'/'.join(('shared',) + parts)} beside the repository (hidden by "
                    f"{NO_SHARED}=1)")
    if not path.exists():
        pytest.skip(f"needs {'/'.join(('shared',) + parts)} beside the repository (absent here)")
    return path


def run_tipqual(*args: str, cwd: Path | None = None, input: str | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m tipqual`` in a real subprocess."""
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    return subprocess.run([sys.executable, "-m", "tipqual", *args], cwd=cwd, input=input,
                          capture_output=True, text=True, timeout=timeout, env=env)


def running(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie waiting to be reaped counts as gone; Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def all_gone(pids: set[int], seconds: float) -> bool:
    """Wait up to ``seconds`` for every one of ``pids`` to stop; True if they all did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.05)
    return not any(running(p) for p in pids)


@contextmanager
def hang_guard(seconds: float, what: str) -> Iterator[None]:
    """Fail the test, instead of hanging the run, if the block has not ended after ``seconds``.

    A guard against a hang, never a claim about speed: give a limit far beyond what the block
    takes on a loaded machine. Uses SIGALRM, so on the main thread of a POSIX system only;
    elsewhere the block runs unguarded.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        pytest.fail(f"{what} had not ended after {seconds:g} s: it hangs", pytrace=False)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wait_until(condition, seconds: float, what: str, interval: float = 0.02):
    """Poll ``condition()`` until it returns something true (returned), failing after
    ``seconds`` (a hang guard, not a speed claim)."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still not so after {seconds:g} s", pytrace=False)
        time.sleep(interval)
