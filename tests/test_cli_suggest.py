"""``tipqual suggest`` and ``tipqual review`` from the command line (and on a real terminal)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.suggest.build import build_study
from tests.fixtures.suggest.water import WATER_SUGGESTIONS, build_water_study
from tests.helpers import REPO, run_tipqual
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
    assert two.stdout.startswith("8 respondent segments looked at for codes, 0 skipped")
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
    assert lines[0] == ("8 respondent segments looked at for codes, 0 skipped as unchanged; "
                        "1 interviewer segment read for stakeholder mentions only")
    assert lines[1].startswith("7 suggestions added (0 earlier undecided ones removed); "
                               "6 stakeholder mentions found; rules only")
    assert "  corruption                   3" in lines
    again = runner.invoke(cli, ["suggest", str(db)])
    assert again.output.splitlines()[0] == ("0 respondent segments looked at for codes, 8 "
                                            "skipped as unchanged")
    assert _statuses(db)["suggested"] == 7


def test_suggest_min_score_option(runner, db: Path):
    result = runner.invoke(cli, ["suggest", str(db), "--min-score", "0.8"])
    assert result.exit_code == 0
    assert _statuses(db)["suggested"] == 4
    bad = runner.invoke(cli, ["suggest", str(db), "--min-score", "2"])
    assert bad.exit_code == 2 and "--min-score" in bad.output


@pytest.mark.slow
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
    assert result.output.splitlines()[-1] == "bob: 1 accepted, 0 rejected, 1 skipped, 6 left " \
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


def _wait_for_raw_mode(fd: int, timeout: float = 60) -> None:
    """Wait until the terminal of pty master ``fd`` is in raw mode (no line editing): the
    review is then reading one key, and a key typed now is not flushed. (The master reports
    its terminal's modes, as on Linux and macOS.)"""
    import termios

    deadline = time.monotonic() + timeout  # a hang guard, not a speed claim
    while termios.tcgetattr(fd)[3] & termios.ICANON:
        if time.monotonic() > deadline:
            raise AssertionError("the review never put the terminal in raw mode")
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")
def test_review_on_a_real_terminal_takes_single_keys(db: Path):
    assert run_tipqual("suggest", str(db)).returncode == 0
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))  # 60 columns
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm", PYTHONHASHSEED="0")
    proc = subprocess.Popen([sys.executable, "-m", "tipqual", "review", str(db), "--coder",
                             "carol", "--code", "corruption"], stdin=slave, stdout=slave,
                            stderr=slave, cwd=REPO, env=env, close_fds=True)
    os.close(slave)
    seen = bytearray()
    try:
        for count, key in enumerate((b"a", b"r", b"q"), start=1):
            _read_until(master, b"[a/r/s/u/q/?] ", seen, count)
            _wait_for_raw_mode(master)  # a key sent before would be flushed, not read
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
    # a clean screen for each of the three suggestions, each wrapped to the 60 columns
    assert text.count("\x1b[2J") == 3
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).replace("\r", "")
    assert max(len(line) for line in plain.split("\n")) <= 60
    assert "Maybe there is corruption, I do not know. Mostly there is a\nshortage of staff." in (
        plain)
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
                     ["code", "export", str(study), "--out", str(tmp_path / f"{seed}.csv"),
                      "--status", "all"]):
            done = subprocess.run([sys.executable, "-m", "tipqual", *args], env=env,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        exports.append((tmp_path / f"{seed}.csv").read_bytes())
    assert exports[0] == exports[1]
    assert exports[0].count(b"\n") > 1


# --- a study of another domain: what suggest considered, what review leaves -------------------

@pytest.fixture
def water_db(tmp_path: Path) -> Path:
    path = tmp_path / "water.db"
    build_water_study(path).close()
    return path


def test_suggest_says_what_it_looked_at_skipped_and_added(runner, water_db: Path):
    first = runner.invoke(cli, ["suggest", str(water_db)])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[:2] == [
        "7 respondent segments looked at for codes, 0 skipped as unchanged; 2 interviewer "
        "segments read for stakeholder mentions only",
        f"{WATER_SUGGESTIONS} suggestions added (0 earlier undecided ones removed); 2 "
        "stakeholder mentions found; rules only (the model starts at 10 coded segments)"]
    again = runner.invoke(cli, ["suggest", str(water_db)])
    assert again.output.splitlines()[:2] == [
        "0 respondent segments looked at for codes, 7 skipped as unchanged",
        "0 suggestions added (0 earlier undecided ones removed); 0 stakeholder mentions found; "
        "rules only (the model starts at 10 coded segments)"]
    coded = runner.invoke(cli, ["code", "add", str(water_db), "--coder", "nomsa", "--code",
                                "fees", "mabule:9"])
    assert coded.exit_code == 0, coded.output
    third = runner.invoke(cli, ["suggest", str(water_db)])
    assert third.output.splitlines()[:2] == [
        "1 respondent segment looked at for codes, 6 skipped as unchanged",
        "0 suggestions added (1 earlier undecided one removed); 0 stakeholder mentions found; "
        "rules only (the model starts at 10 coded segments)"]


def _suggested(path: Path) -> int:
    return _statuses(path)["suggested"]


def test_review_left_is_exact_and_agrees_with_status(runner, water_db: Path):
    n = WATER_SUGGESTIONS
    runner.invoke(cli, ["suggest", str(water_db)])
    first = runner.invoke(cli, ["review", str(water_db), "--coder", "nomsa"],
                          input="a\na\na\nr\nr\nq\n")
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == (f"nomsa: 3 accepted, 2 rejected, 0 skipped, "
                                             f"{n - 5} left to review")
    assert _suggested(water_db) == n - 5
    assert f"[6/{n}, {n - 5} left] " in first.output
    # a second session starts where the first stopped; skip and undo leave the count alone
    second = runner.invoke(cli, ["review", str(water_db), "--coder", "nomsa"],
                           input="s\na\nu\nq\n")
    out = second.output.splitlines()
    assert out[0].startswith(f"{n - 5} suggestions to review.")
    assert out[-1] == f"nomsa: 0 accepted, 0 rejected, 1 skipped, {n - 5} left to review"
    assert _suggested(water_db) == n - 5
    third = runner.invoke(cli, ["review", str(water_db), "--coder", "nomsa"],
                          input="r\nu\nq\n")
    assert third.output.splitlines()[-1] == (f"nomsa: 0 accepted, 0 rejected, 0 skipped, "
                                             f"{n - 5} left to review")
    assert _suggested(water_db) == n - 5


def test_a_second_reviewer_is_told_what_others_decided_and_status_agrees(runner,
                                                                         water_db: Path):
    """nomsa decides 5 of the 9 suggestions; thabo (blind double coding) is shown all 9, and
    review says how many no one has decided (status's "awaiting review") and how many nomsa
    did, at the start and at the end."""
    n = WATER_SUGGESTIONS
    runner.invoke(cli, ["suggest", str(water_db)])
    runner.invoke(cli, ["review", str(water_db), "--coder", "nomsa"], input="a\na\na\nr\nr\nq\n")
    status = runner.invoke(cli, ["status", str(water_db)]).output
    assert f"suggested {n - 5} (awaiting review)" in status
    second = runner.invoke(cli, ["review", str(water_db), "--coder", "thabo"],
                           input="a\nr\nq\n")
    assert second.exit_code == 0, second.output
    out = second.output.splitlines()
    assert out[0].startswith(
        f"{n} suggestions to review: {n - 5} awaiting review, 5 already decided by nomsa; for "
        "blind double coding their decisions are not shown, and yours are recorded apart. "
        "a accept")
    assert f"[1/{n}, {n} left] " in second.output
    # thabo's first two are two of nomsa's (the same order): 7 left, 3 of them nomsa's
    assert out[-1] == (f"thabo: 1 accepted, 1 rejected, 0 skipped, {n - 2} left to review "
                       f"({n - 5} awaiting review, 3 already decided by nomsa)")
    assert _suggested(water_db) == n - 5


def test_a_single_suggestion_to_review_is_singular(runner, water_db: Path):
    runner.invoke(cli, ["suggest", str(water_db)])
    args = ["review", str(water_db), "--coder", "nomsa", "--code", "breakdown"]
    first = runner.invoke(cli, args, input="r\nq\n")
    assert first.output.splitlines()[0].startswith("2 suggestions to review. a accept")
    second = runner.invoke(cli, args, input="q\n")
    assert second.output.splitlines()[0].startswith("1 suggestion to review. a accept")


def test_review_undo_gives_the_suggestion_back_to_the_count(runner, water_db: Path):
    n = WATER_SUGGESTIONS
    runner.invoke(cli, ["suggest", str(water_db)])
    result = runner.invoke(cli, ["review", str(water_db), "--coder", "nomsa"],
                           input="a\na\na\nr\nr\nu\nq\n")
    assert result.output.splitlines()[-1] == (f"nomsa: 3 accepted, 1 rejected, 0 skipped, "
                                              f"{n - 4} left to review")
    assert _statuses(water_db) == {"human": 0, "suggested": n - 4, "accepted": 3,
                                   "rejected": 1}


def test_review_off_a_terminal_prints_no_terminal_codes(runner, water_db: Path):
    runner.invoke(cli, ["suggest", str(water_db)])
    result = runner.invoke(cli, ["review", str(water_db), "--coder", "nomsa"],
                           input="a\ns\nr\n?\nq\n")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output  # no clearing, no emphasis
    assert result.output.count("[[") >= 3  # matched words marked in plain text instead
    assert result.output.splitlines()[0].startswith(f"{WATER_SUGGESTIONS} suggestions to review")


@pytest.mark.slow
def test_suggest_uses_the_word_vectors_of_a_pipeline_named_with_model(runner, tmp_path: Path,
                                                                     monkeypatch):
    """``--model`` with the path of a tiny saved pipeline whose vectors this test made
    (nothing is downloaded): the model trains with them (hiding them from the same pipeline
    changes the scores), and says which pipeline it used."""
    import json

    from tests.fixtures.suggest.build import coded_copies
    from tests.fixtures.suggest.vectors import vector_pipeline

    pipeline = vector_pipeline(tmp_path / "vectors")
    scores = {}
    for name, extra in (("plain", []), ("vectors", ["--model", pipeline]),
                        ("hidden", ["--model", pipeline])):
        if name == "hidden":
            monkeypatch.setattr("tipqual.suggest.classifier.doc_vector", lambda doc: ())
        coded_copies(tmp_path / f"{name}.db").close()
        done = runner.invoke(cli, ["suggest", str(tmp_path / f"{name}.db"), *extra])
        assert done.exit_code == 0, done.output
        assert "model trained on 24 segments" in done.output
        with Project.open(tmp_path / f"{name}.db") as p:
            model = [c for c in p.codings(statuses=["suggested"]) if c.coder == "tipqual-model"]
        assert model
        assert {json.loads(c.provenance)["model"]["pipeline"] for c in model} == \
            {pipeline if extra else "blank-en"}
        scores[name] = {(c.segment, c.code): c.score for c in model}
    shared = set(scores["hidden"]) & set(scores["vectors"])
    assert shared and any(scores["hidden"][k] != scores["vectors"][k] for k in shared)
