"""The tests' fixtures: a fresh study and a CLI runner (shared helpers: ``tests/helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner


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
