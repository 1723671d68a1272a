"""Shared fixtures: paths of the repository, a fresh study, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = REPO / "transcripts_sample"
TIP_CODEBOOK = REPO / "codebooks" / "tip-sa.yaml"


@pytest.fixture
def runner() -> CliRunner:
    """A click runner (stderr kept apart from stdout)."""
    return CliRunner()


@pytest.fixture
def study(tmp_path: Path):
    """A new, empty study file; yields the open Project and closes it afterwards."""
    from tipqual.project import Project

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
