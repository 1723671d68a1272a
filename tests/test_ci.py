"""``.ci/run`` runs the README's test command and fails when it fails (or collects nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO


def ci_with(tmp_path: Path, test_command: str) -> subprocess.CompletedProcess:
    """Run a copy of .ci/run in a folder whose README's second Quickstart command is given."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(
        "# x\n\n## Quickstart\n\n```sh\necho first\n" + test_command + "\n```\n",
        encoding="utf-8")
    env = dict(os.environ, TIPQUAL_CI_NO_VENV="1", CI="")
    return subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60)


def test_readme_second_command_is_the_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quickstart", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "tipqual demo --out reports/demo" in commands[0]
    assert "pytest" in commands[1] and ".[test]" in commands[1]


@pytest.mark.parametrize(("command", "passes"), [
    ("true", True),
    ("exit 3", False),  # a failing test run fails CI
    ("exit 5", False),  # pytest's "no tests collected" is not a pass
])
def test_ci_script_follows_the_test_command(tmp_path: Path, command: str, passes: bool) -> None:
    result = ci_with(tmp_path, command)
    assert (result.returncode == 0) is passes, result.stderr
    assert f"ci: {command}" in result.stdout
