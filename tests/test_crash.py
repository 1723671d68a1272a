"""Nothing lost: ``kill -9`` at random moments leaves a study as before or as after a command.

These tests run real ``tipqual`` subprocesses and kill them with SIGKILL at random points (fixed
seeds) during the command, then check that the study passes SQLite's integrity check and holds
either none or all of the command's work — and, for ``review``, every decision made before the
kill.
"""

from __future__ import annotations

import csv
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.corpus import make_corpus
from tests.helpers import SAMPLE, TIP_CODEBOOK, all_gone, run_tipqual
from tipqual.records import Coding
from tipqual.store.project import Project

pytestmark = pytest.mark.skipif(not (SAMPLE / "transcripts").is_dir() or not TIP_CODEBOOK.exists(),
                                reason="needs the sample study and the TIP codebook")

HUMAN_CODES = ["capacity", "trust", "funding"]


def start(*args: str) -> subprocess.Popen:
    """Start ``python -m tipqual`` with these arguments (pipes for all three streams)."""
    return subprocess.Popen([sys.executable, "-m", "tipqual", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True)


def kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL the process after ``delay`` seconds; False if it had already finished."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def timed_run(*args: str) -> float:
    """Run a tipqual command to completion and return how long it took."""
    t0 = time.monotonic()
    result = run_tipqual(*args)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - t0


def snapshot(path: Path) -> dict:
    """What a study holds, for before/after comparisons (opening it also recovers the WAL)."""
    with Project.open(path) as p:
        assert p.integrity_check() == "ok"
        return {"sources": len(p.sources()), "segments": len(p.segment_ids()),
                "codings": sorted((c.segment, c.code, c.coder, c.status) for c in p.codings())}


def copy_study(src: Path, dst: Path) -> Path:
    """Copy a closed study file (its WAL is checkpointed when the last connection closes)."""
    shutil.copyfile(src, dst)
    return dst


def new_study(folder: Path, name: str) -> Path:
    """A fresh study with the TIP codebook."""
    db = folder / name
    assert run_tipqual("init", str(db), "--codebook", str(TIP_CODEBOOK)).returncode == 0
    return db


def remove_study(db: Path) -> None:
    """Delete a study file and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def kill_repeatedly(db: Path, fresh: Path, args: list[str], full: float, kills: int,
                    rng: random.Random, check) -> int:
    """Run ``tipqual ARGS`` on ``db`` and SIGKILL it at random moments until ``kills`` kills.

    ``check(state)`` judges the study after each run. A run that finished before its kill
    shortens the delays, and ``db`` is reset from ``fresh`` so the next run has work to do.
    Returns how many runs were killed.
    """
    done = 0
    for _ in range(4 * kills):
        t0 = time.monotonic()
        killed = kill_after(start(*args), rng.uniform(0.05, 0.9) * full)
        if not killed:
            full = min(full, time.monotonic() - t0)
        finished = check(snapshot(db))
        if finished:
            remove_study(db)
            copy_study(fresh, db)
        done += killed
        if done == kills:
            break
    return done


def write_codings(path: Path, segments: list[str], coder: str, codes: list[str]) -> None:
    """A codings CSV coding each segment with one of ``codes`` in turn."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["segment", "code", "coder"])
        for i, seg in enumerate(segments):
            w.writerow([seg, codes[i % len(codes)], coder])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """200 short generated transcripts made from the sample's turns."""
    out = tmp_path_factory.mktemp("corpus")
    make_corpus(out, 200, words=250, seed=11)
    return out


def import_args(db: Path, corpus: Path) -> list[str]:
    """``import`` of the whole generated corpus with its cases.csv."""
    return ["import", str(db), str(corpus / "transcripts"), "--cases", str(corpus / "cases.csv")]


@pytest.fixture(scope="module")
def imported(tmp_path_factory, corpus: Path) -> tuple[Path, float]:
    """The corpus imported into a study, and how long the import took."""
    db = new_study(tmp_path_factory.mktemp("imported"), "imported.db")
    return db, timed_run(*import_args(db, corpus))


@pytest.fixture(scope="module")
def coded(tmp_path_factory, imported: tuple[Path, float]) -> Path:
    """The imported study with one coder's human codings on every tenth segment."""
    folder = tmp_path_factory.mktemp("coded")
    db = copy_study(imported[0], folder / "coded.db")
    with Project.open(db) as p:
        segs = sorted(p.segment_ids())[::10]
    write_codings(folder / "dineo.csv", segs, "dineo", HUMAN_CODES)
    timed_run("code", "import", str(db), str(folder / "dineo.csv"))
    return db


@pytest.fixture(scope="module")
def suggested(tmp_path_factory, coded: Path) -> tuple[Path, float]:
    """The coded study after a full ``suggest``, and how long that took."""
    db = copy_study(coded, tmp_path_factory.mktemp("suggested") / "suggested.db")
    return db, timed_run("suggest", str(db))


@pytest.mark.slow
def test_kill_during_import_leaves_none_or_all(tmp_path: Path, corpus: Path,
                                               imported: tuple[Path, float]) -> None:
    reference, full = imported
    done = snapshot(reference)
    assert done["sources"] == 200
    empty_study = new_study(tmp_path, "empty.db")
    db = copy_study(empty_study, tmp_path / "study.db")
    empty = snapshot(db)

    def check(state: dict) -> bool:
        assert state in (empty, done)
        return state == done

    kills = kill_repeatedly(db, empty_study, import_args(db, corpus), full, 5,
                            random.Random(2026), check)
    assert kills == 5, "the import kept finishing before the kill: lengthen the corpus"
    timed_run(*import_args(db, corpus))
    assert snapshot(db) == done


@pytest.mark.slow
def test_three_coders_importing_at_once_all_succeed(tmp_path: Path,
                                                    imported: tuple[Path, float]) -> None:
    db = copy_study(imported[0], tmp_path / "study.db")
    with Project.open(db) as p:
        segs = sorted(p.segment_ids())
    files = []
    for coder in ("ayanda", "ben", "chen"):
        f = tmp_path / f"{coder}.csv"
        write_codings(f, segs, coder, ["trust", "funding", "delays"])
        files.append(f)
    procs = [start("code", "import", str(db), str(f)) for f in files]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results
    state = snapshot(db)
    assert len(state["codings"]) == 3 * len(segs)
    for coder, first in (("ayanda", "trust"), ("ben", "trust"), ("chen", "trust")):
        mine = [c for c in state["codings"] if c[2] == coder]
        assert len(mine) == len(segs) and all(c[3] == "human" for c in mine)
        assert (segs[0], first, coder, "human") in mine


@pytest.mark.slow
def test_kill_during_code_import_leaves_none_or_all(tmp_path: Path,
                                                    imported: tuple[Path, float]) -> None:
    db = copy_study(imported[0], tmp_path / "study.db")
    with Project.open(db) as p:
        segs = sorted(p.segment_ids())
    f = tmp_path / "coder.csv"
    write_codings(f, segs, "dineo", ["capacity", "trust"])
    before = snapshot(db)
    reference = copy_study(db, tmp_path / "ref.db")
    full = timed_run("code", "import", str(reference), str(f))
    after = snapshot(reference)
    fresh = copy_study(db, tmp_path / "fresh.db")

    def check(state: dict) -> bool:
        assert state in (before, after)
        return state == after

    kill_repeatedly(db, fresh, ["code", "import", str(db), str(f)], full, 3,
                    random.Random(5), check)
    timed_run("code", "import", str(db), str(f))
    assert snapshot(db) == after


@pytest.mark.slow
def test_kill_during_suggest_loses_no_human_coding(tmp_path: Path, coded: Path,
                                                   suggested: tuple[Path, float]) -> None:
    db = copy_study(coded, tmp_path / "study.db")
    human = [c for c in snapshot(db)["codings"] if c[3] == "human"]
    assert len(human) > 100
    before_suggest = snapshot(db)
    after_suggest = snapshot(suggested[0])

    def check(state: dict) -> bool:
        assert [c for c in state["codings"] if c[3] == "human"] == human
        assert state in (before_suggest, after_suggest)
        return state == after_suggest

    kills = kill_repeatedly(db, coded, ["suggest", str(db)], suggested[1], 3,
                            random.Random(17), check)
    assert kills == 3, "suggest kept finishing before the kill"
    timed_run("suggest", str(db))
    assert snapshot(db) == after_suggest


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except FileNotFoundError:
        return set()
    return {int(p) for p in text.split()}


def cpu_ticks(pid: int) -> int:
    """The CPU time ``pid`` has used so far, in clock ticks (0 once it is gone; Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def at_work(proc: subprocess.Popen, workers: set[int]) -> None:
    """Wait (up to a minute, a hang guard) until every worker has run on the CPU for a tenth
    of a second of its own: they are at work, not just started. Fails if ``proc`` ends."""
    enough = max(1, os.sysconf("SC_CLK_TCK") // 10)
    deadline = time.monotonic() + 60
    while any(cpu_ticks(w) < enough for w in workers):
        assert proc.poll() is None, f"{' '.join(proc.args[2:])} finished before its workers " \
                                    "were seen at work"
        assert time.monotonic() < deadline, "the workers never got to work"
        time.sleep(0.01)


def started_workers(proc: subprocess.Popen, n: int) -> set[int]:
    """Wait (up to a minute) until ``proc`` has ``n`` child processes; their pids."""
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < n and proc.poll() is None:
        workers = children(proc.pid)
        time.sleep(0.01)
    assert len(workers) == n, f"{' '.join(proc.args[2:])} did not start {n} workers"
    return workers


@pytest.mark.slow
def test_kill_during_parallel_suggest_stops_its_workers(tmp_path: Path, coded: Path,
                                                        suggested: tuple[Path, float]) -> None:
    """kill -9 of suggest while its worker processes run: the study is as before or as after,
    and the workers stop on their own (nothing keeps running, or holds memory, for ever)."""
    db = copy_study(coded, tmp_path / "study.db")
    before = snapshot(db)
    proc = start("suggest", str(db), "--jobs", "3")  # this process and two workers
    workers = started_workers(proc, 2)
    at_work(proc, workers)
    assert proc.poll() is None, "suggest finished before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert all_gone(workers, 15)
    assert snapshot(db) in (before, snapshot(suggested[0]))


@pytest.mark.slow
def test_ctrl_c_during_parallel_suggest_stops_cleanly(tmp_path: Path, coded: Path) -> None:
    """Ctrl-C reaches suggest and its workers (one process group): a short message, exit 130,
    no traceback from any process, the study as before, and no worker left running."""
    db = copy_study(coded, tmp_path / "study.db")
    before = snapshot(db)
    proc = subprocess.Popen([sys.executable, "-m", "tipqual", "suggest", str(db), "--jobs", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,  # its own group, as a terminal gives it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers = started_workers(proc, 2)
    at_work(proc, workers)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)  # a hang guard
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    # and no worker is left running (that they are terminated in their batches, not waited
    # for, is test_workers' test_an_abandoned_map_stops_its_workers_at_once)
    assert all_gone(workers, 5)
    assert snapshot(db) == before


@pytest.mark.slow
def test_kill_during_merge_leaves_target_as_before_or_after(tmp_path: Path,
                                                            imported: tuple[Path, float]) -> None:
    base = copy_study(imported[0], tmp_path / "base.db")
    copy = copy_study(imported[0], tmp_path / "copy.db")
    with Project.open(copy) as p, p.atomic():
        for seg in sorted(p.segment_ids()):
            p.put_coding(Coding(seg, "funding", "eve"))
    reference = copy_study(base, tmp_path / "ref.db")
    full = timed_run("merge", str(reference), str(copy))
    before, after = snapshot(base), snapshot(reference)
    assert len(after["codings"]) > len(before["codings"])
    fresh = copy_study(base, tmp_path / "fresh.db")

    def check(state: dict) -> bool:
        assert state["codings"] in (before["codings"], after["codings"])
        return state["codings"] == after["codings"]

    kill_repeatedly(base, fresh, ["merge", str(base), str(copy)], full, 3,
                    random.Random(9), check)


_DECISION = re.compile(r"\b(accepted|rejected) (\S+) for (\S+)")


def _lines(stream) -> queue.Queue:
    """A queue fed with the stream's lines by a reader thread (None at end of stream)."""
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _decide_and_kill(db: Path, coder: str, n_confirmed: int, n_extra: int,
                     rng: random.Random) -> set[tuple[str, str, str]]:
    """Review with a/r keys, wait for ``n_confirmed`` echoed decisions, send ``n_extra`` more
    keys and SIGKILL the reviewer; returns the decisions it confirmed."""
    proc = start("review", str(db), "--coder", coder)
    lines = _lines(proc.stdout)
    confirmed: set[tuple[str, str, str]] = set()
    try:
        while len(confirmed) < n_confirmed:
            proc.stdin.write(rng.choice("ar") + "\n")
            proc.stdin.flush()
            while True:
                line = lines.get(timeout=60)
                assert line is not None, proc.stderr.read()
                m = _DECISION.search(line)
                if m:
                    confirmed.add((m.group(3), m.group(2), m.group(1)))
                    break
        proc.stdin.write("".join(rng.choice("ar") + "\n" for _ in range(n_extra)))
        proc.stdin.flush()
        time.sleep(rng.uniform(0.0, 0.05))
    finally:
        proc.kill()
        proc.wait()
    # Anything echoed before the kill was confirmed too.
    while True:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            break
        if line is None:
            break
        m = _DECISION.search(line)
        if m:
            confirmed.add((m.group(3), m.group(2), m.group(1)))
    return confirmed


@pytest.mark.slow
def test_kill_during_review_keeps_every_decision_made(tmp_path: Path,
                                                      suggested: tuple[Path, float]) -> None:
    db = copy_study(suggested[0], tmp_path / "study.db")
    before = snapshot(db)
    rng = random.Random(31)
    made: set[tuple[str, str, str]] = set()
    for _round in range(2):
        made |= _decide_and_kill(db, "farah", rng.randint(3, 12), rng.randint(1, 8), rng)
        state = snapshot(db)
        mine = {(s, c, st) for s, c, who, st in state["codings"] if who == "farah"}
        assert made <= mine, made - mine
        # Everything else is as it was: the kill lost nothing and half-wrote nothing.
        others = [c for c in state["codings"] if c[2] != "farah"]
        assert others == [c for c in before["codings"] if c[2] != "farah"]
        assert len(mine) >= len(made)
    assert len(made) >= 6


# --- a full disk ------------------------------------------------------------------------------

# Runs the real command line with every study connection allowed to grow the file by only a
# few pages (SQLite's max_page_count), so writing fails with SQLITE_FULL as on a full disk.
_CAPPED_TIPQUAL = """
import sys
from tipqual.store import connection
_tune = connection.tune_connection
def capped(conn):
    _tune(conn)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 3}")
connection.tune_connection = capped
from tipqual.cli import main
main(sys.argv[1:])
"""


def _transcripts(folder: Path, names: list[str], turns: int) -> Path:
    folder.mkdir()
    for name in names:
        lines = [f"Interviewer: Question {i}?\nRespondent: " + "We refer survivors to the "
                 f"shelter and the police follow up on case {i}. " * 6 for i in range(turns)]
        (folder / f"{name}.txt").write_text("\n".join(lines), encoding="utf-8")
    return folder


@pytest.fixture
def small_study(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A study holding one transcript, a folder of many more to import, and its snapshot."""
    db = tmp_path / "study.db"
    assert run_tipqual("init", str(db)).returncode == 0
    first = _transcripts(tmp_path / "first", ["cso-01"], 3)
    assert run_tipqual("import", str(db), str(first)).returncode == 0
    more = _transcripts(tmp_path / "more", [f"cso-{i:02d}" for i in range(2, 8)], 80)
    return db, more, snapshot(db)


@pytest.mark.slow
def test_full_disk_during_import_is_one_line_and_leaves_the_study(small_study) -> None:
    db, more, before = small_study
    result = subprocess.run([sys.executable, "-c", _CAPPED_TIPQUAL, "import", str(db),
                             str(more)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr == (f"Error: {db}: the disk is full: nothing was written; free space "
                             "and run the command again\n")
    assert snapshot(db) == before
    assert run_tipqual("import", str(db), str(more)).returncode == 0  # room again: it works


@pytest.mark.slow
def test_file_size_limit_during_import_is_one_line_and_leaves_the_study(small_study) -> None:
    """The operating system refuses to grow the files (RLIMIT_FSIZE), as a full disk does."""
    import resource

    db, more, before = small_study
    limit = db.stat().st_size + 64 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "tipqual", "import", str(db), str(more)],
                            capture_output=True, text=True, timeout=300, preexec_fn=cap)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {db}: the disk ")
    assert "nothing was written" in lines[0] and "Traceback" not in result.stderr
    assert snapshot(db) == before


@pytest.mark.slow
def test_kill_during_replace_leaves_before_or_after(tmp_path: Path, corpus: Path,
                                                    coded: Path) -> None:
    """Every transcript corrected (a paragraph inserted at the top, so every coding moves) and
    re-imported with --replace: killed at random moments, the study is as before or after."""
    folder = tmp_path / "corrected"
    shutil.copytree(corpus, folder)
    for path in sorted((folder / "transcripts").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        path.write_text("Interviewer: One more question first, if I may.\n\n" + text,
                        encoding="utf-8")
    fresh = copy_study(coded, tmp_path / "fresh.db")
    before = snapshot(fresh)
    reference = copy_study(coded, tmp_path / "reference.db")
    full = timed_run(*import_args(reference, folder), "--replace")
    after = snapshot(reference)
    assert after != before and len(after["codings"]) == len(before["codings"])
    db = copy_study(fresh, tmp_path / "study.db")

    def check(state: dict) -> bool:
        assert state in (before, after)
        with Project.open(db) as p:
            steps = p.steps()
        assert len(steps) == (1 if state == after else 0)
        return state == after

    kills = kill_repeatedly(db, fresh, [*import_args(db, folder), "--replace"], full, 4,
                            random.Random(7), check)
    assert kills == 4, "the replacement kept finishing before the kill: lengthen the corpus"


@pytest.mark.slow
def test_kill_during_codebook_apply_leaves_before_or_after(tmp_path: Path,
                                                           suggested: tuple[Path, float]) -> None:
    """A new codebook version renaming trust and capacity (every coding of theirs moves, the
    suggestions too): killed at random moments, the study is as before or after."""
    text = TIP_CODEBOOK.read_text(encoding="utf-8")
    text = text.replace("  - id: trust\n", "  - id: trust-in-state\n    replaces: [trust]\n")
    text = text.replace("  - id: capacity\n",
                        "  - id: capacity-gaps\n    replaces: [capacity]\n")
    text = text.replace("stakeholders: sa-stakeholders.yaml",
                        f"stakeholders: {TIP_CODEBOOK.parent / 'sa-stakeholders.yaml'}")
    new = tmp_path / "tip-v2.yaml"
    new.write_text(text.replace("parent: trust\n", "parent: trust-in-state\n")
                   .replace("parent: capacity\n", "parent: capacity-gaps\n"), encoding="utf-8")
    fresh = copy_study(suggested[0], tmp_path / "fresh.db")
    before = snapshot(fresh)
    reference = copy_study(fresh, tmp_path / "reference.db")
    full = timed_run("codebook", "apply", str(reference), str(new))
    after = snapshot(reference)
    assert after != before and len(after["codings"]) == len(before["codings"])
    db = copy_study(fresh, tmp_path / "study.db")

    from tipqual.codebook.model import load

    shas = {False: load(TIP_CODEBOOK).sha256, True: load(new).sha256}

    def check(state: dict) -> bool:
        assert state in (before, after)
        with Project.open(db) as p:
            assert len(p.steps()) == (1 if state == after else 0)
            assert p.codebook_info()["sha256"] == shas[state == after]
        return state == after

    kills = kill_repeatedly(db, fresh, ["codebook", "apply", str(db), str(new)], full, 3,
                            random.Random(5), check)
    assert kills == 3, "the apply kept finishing before the kill"
