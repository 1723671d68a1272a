"""``tipqual suggest`` and ``tipqual review`` from the command line (and on a real terminal)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_tipqual

from tests.fixtures.suggest.build import build_study
from tipqual.cli import cli
from tipqual.store.project import Project


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "study.db"
    build_study(path).close()
    return path


def _statuses(path: Path) -> dict[str, int]:
    with Project.open(path) as p:
        return p.status()["codings"]


@pytest.mark.slow
def test_suggest_jobs_from_the_command_line(tmp_path: Path, db: Path):
    """A real ``tipqual suggest --jobs 2`` (this process and a worker) stores what one
    process stores; --jobs 0 is refused before anything is done."""
    other = tmp_path / "other.db"
    build_study(other).close()
    assert run_tipqual("suggest", str(db), "--jobs", "1").returncode == 0
    two = run_tipqual("suggest", str(other), "--jobs", "2")
    assert two.returncode == 0, two.stderr
    assert two.stdout.startswith("9 segments: 9 processed")
    rows = []
    for path in (db, other):
        with Project.open(path) as p:
            rows.append([(c.segment, c.code, c.score, c.provenance)
                         for c in p.codings(statuses=["suggested"])])
    assert rows[0] == rows[1] and rows[0]
    zero = run_tipqual("suggest", str(db), "--jobs", "0")
    assert zero.returncode == 2 and "--jobs" in zero.stderr


def test_suggest_reports_and_reruns_without_duplicates(runner, db: Path):
    first = runner.invoke(cli, ["suggest", str(db)])
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == "9 segments: 9 processed, 0 unchanged and skipped"
    assert lines[1].startswith("7 suggestions stored (0 earlier ones replaced); "
                               "6 stakeholder mentions; rules only")
    assert "  corruption                   3" in lines
    again = runner.invoke(cli, ["suggest", str(db)])
    assert again.output.splitlines()[0] == "9 segments: 0 processed, 9 unchanged and skipped"
    assert _statuses(db)["suggested"] == 7


def test_suggest_min_score_option(runner, db: Path):
    result = runner.invoke(cli, ["suggest", str(db), "--min-score", "0.8"])
    assert result.exit_code == 0
    assert _statuses(db)["suggested"] == 4
    bad = runner.invoke(cli, ["suggest", str(db), "--min-score", "2"])
    assert bad.exit_code == 2 and "--min-score" in bad.output


def test_suggest_errors_are_one_clean_line(tmp_path: Path, db: Path):
    result = run_tipqual("suggest", str(db), "--model", "xx_no_such_pipeline")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: no installed spaCy pipeline named 'xx_no_such_pipeline'; install it (python -m "
        "spacy download xx_no_such_pipeline) or leave out --model to use the built-in rules"]
    empty = tmp_path / "empty.db"
    Project.create(empty).close()
    result = run_tipqual("suggest", str(empty))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the study has no codebook" in result.stderr
    assert _statuses(db)["suggested"] == 0


def test_review_accept_reject_undo_quit_through_input(runner, db: Path):
    runner.invoke(cli, ["suggest", str(db)])
    result = runner.invoke(cli, ["review", str(db), "--coder", "alice", "--code", "corruption"],
                           input="a\nr\nu\n?\nr\nq\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.splitlines()[0].startswith("3 suggestions to review.")
    assert "Maybe there is [[corruption]], I do not know." in out
    assert "accepted corruption for interview:6" in out
    assert "undid rejected corruption for interview:3" in out
    assert out.splitlines()[-1] == ("alice: 1 accepted, 1 rejected, 0 skipped, 1 left to "
                                    "review")
    with Project.open(db) as p:
        mine = {(c.segment, c.status) for c in p.codings(coders=["alice"])}
    assert mine == {("interview:6", "accepted"), ("interview:3", "rejected")}


def test_review_end_of_input_quits_and_saves(runner, db: Path):
    runner.invoke(cli, ["suggest", str(db)])
    result = runner.invoke(cli, ["review", str(db), "--coder", "bob"], input="a\ns\n")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "bob: 1 accepted, 0 rejected, 1 skipped, 5 left " \
                                             "to review"
    assert _statuses(db)["accepted"] == 1


def test_review_can_undo_at_the_end_of_the_queue(runner, db: Path):
    runner.invoke(cli, ["suggest", str(db)])
    result = runner.invoke(cli, ["review", str(db), "--coder", "dan", "--code", "funding"],
                           input="r\na\nu\na\n")
    lines = result.output.splitlines()
    assert "Nothing left to review. [u/q] nothing left to review (u undo, q quit)" in lines
    assert "Nothing left to review. [u/q] undid rejected funding for interview:4" in lines
    assert lines[-1] == "dan: 1 accepted, 0 rejected, 0 skipped, 0 left to review"
    with Project.open(db) as p:
        assert p.find_coding("interview:4", "funding", "dan").status == "accepted"


def test_review_with_nothing_to_review(runner, db: Path):
    result = runner.invoke(cli, ["review", str(db), "--coder", "erin"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == ("erin: 0 accepted, 0 rejected, 0 skipped, 0 left "
                                              "to review")


def test_review_unknown_code_is_an_error(runner, db: Path):
    result = runner.invoke(cli, ["review", str(db), "--coder", "alice", "--code", "nope"])
    assert result.exit_code == 1
    assert "unknown code 'nope'" in result.output


def _read_until(fd: int, marker: bytes, seen: bytearray, count: int = 1,
                timeout: float = 60) -> None:
    """Read the terminal into ``seen`` until ``marker`` has appeared ``count`` times."""
    deadline = time.monotonic() + timeout
    while seen.count(marker) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} in {seen.decode(errors='replace')!r}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")
def test_review_on_a_real_terminal_takes_single_keys(db: Path):
    assert run_tipqual("suggest", str(db)).returncode == 0
    master, slave = os.openpty()
    env = dict(os.environ, TERM="xterm", PYTHONHASHSEED="0")
    proc = subprocess.Popen([sys.executable, "-m", "tipqual", "review", str(db), "--coder",
                             "carol", "--code", "corruption"], stdin=slave, stdout=slave,
                            stderr=slave, cwd=REPO, env=env, close_fds=True)
    os.close(slave)
    seen = bytearray()
    try:
        for count, key in enumerate((b"a", b"r", b"q"), start=1):
            _read_until(master, b"[a/r/s/u/q/?] ", seen, count)
            time.sleep(0.5)  # as a person would: the terminal is in raw mode by then
            os.write(master, key)  # one key press, no Enter
        _read_until(master, b"left to review", seen)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = seen.decode(errors="replace")
    assert "\x1b[1m\x1b[4mcorruption\x1b[0m" in text  # highlighted on a terminal
    assert "carol: 1 accepted, 1 rejected, 0 skipped, 1 left to review" in text
    with Project.open(db) as p:
        assert {(c.segment, c.status) for c in p.codings(coders=["carol"])} == {
            ("interview:6", "accepted"), ("interview:3", "rejected")}


def test_help_lists_the_options(runner):
    assert "--min-score" in runner.invoke(cli, ["suggest", "--help"]).output
    out = runner.invoke(cli, ["review", "--help"]).output
    assert "--coder" in out and "--case" in out and "a accept" in out


@pytest.mark.slow
def test_suggestions_do_not_depend_on_the_hash_seed(tmp_path: Path):
    """Two processes with different PYTHONHASHSEED store identical suggestions (determinism)."""
    exports = []
    for seed in ("1", "2"):
        study = tmp_path / f"s{seed}.db"
        build_study(study).close()
        env = dict(os.environ, PYTHONHASHSEED=seed)
        for args in (["suggest", str(study)],
                     ["code", "export", str(study), "--out", str(tmp_path / f"{seed}.csv")]):
            done = subprocess.run([sys.executable, "-m", "tipqual", *args], env=env,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        exports.append((tmp_path / f"{seed}.csv").read_bytes())
    assert exports[0] == exports[1]
    assert exports[0].count(b"\n") > 1
