"""Shared fixtures: paths of the repository, a fresh study, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = REPO / "transcripts_sample"
TIP_CODEBOOK = REPO / "codebooks" / "tip-sa.yaml"


def shared(*parts: str) -> Path:
    """A file of the development workplace's ``../shared`` folder; skips the test without it.

    A user's clone has no ``../shared`` (REFI schemas and other tools' samples, published
    evaluation data): the tests that read it skip, naming what is missing, and the behaviour
    they check is also covered by the project's own fixtures.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {'/'.join(('shared',) + parts)} beside the repository (absent here)")
    return path


@pytest.fixture
def runner() -> CliRunner:
    """A click runner (stderr kept apart from stdout)."""
    return CliRunner()


@pytest.fixture
def study(tmp_path: Path):
    """A new, empty study file; yields the open Project and closes it afterwards."""
    from tipqual.store.project import Project

    p = Project.create(tmp_path / "study.db")
    yield p
    p.close()


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
