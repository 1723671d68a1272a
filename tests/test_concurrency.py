"""Several coders at once: concurrent writers all succeed, readers and writers do not block.

Real processes share one study file: each worker opens the store and commits many short
transactions, interleaved with the others by SQLite's write lock (WAL mode, busy timeout,
``BEGIN IMMEDIATE`` with retries).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from benchmarks.corpus import make_corpus
from tests.helpers import SAMPLE, TIP_CODEBOOK, run_tipqual, wait_until
from tipqual.records import Coding
from tipqual.store.project import Project

pytestmark = pytest.mark.skipif(not (SAMPLE / "transcripts").is_dir() or not TIP_CODEBOOK.exists(),
                                reason="needs the sample study and the TIP codebook")

# A coder working through segments: one short transaction per coding, as `code add` does.
# With a go-file, it waits for the file to appear, so that all workers start together.
# A worker with a go-file opens the study, says it is ready (``go.<coder>``), then waits for the
# go-file, so that all workers write at the same time; a short pause after each coding (a person
# coding is slower still) keeps them writing for long enough to interleave on any machine.
WORKER = """
import os, sys, time
from tipqual.store.project import Project
from tipqual.records import Coding
db, coder, codes, go = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
with Project.open(db, command="code add") as p:
    segments = sorted(p.segment_ids())
    if go:
        open(go + "." + coder, "w").close()
        while not os.path.exists(go):
            time.sleep(0.005)
    for i, seg in enumerate(segments):
        with p.atomic():
            p.put_coding(Coding(seg, codes[i % len(codes)], coder))
        if go:
            time.sleep(0.003)
print(len(segments))
"""


@pytest.fixture(scope="module")
def base_study(tmp_path_factory) -> Path:
    """A study holding 20 short generated transcripts."""
    folder = tmp_path_factory.mktemp("concurrency")
    make_corpus(folder / "corpus", 20, words=150, seed=3)
    db = folder / "base.db"
    assert run_tipqual("init", str(db), "--codebook", str(TIP_CODEBOOK)).returncode == 0
    result = run_tipqual("import", str(db), str(folder / "corpus" / "transcripts"),
                         "--cases", str(folder / "corpus" / "cases.csv"))
    assert result.returncode == 0, result.stderr
    return db


@pytest.fixture
def study(tmp_path: Path, base_study: Path) -> Path:
    """A private copy of the base study."""
    db = tmp_path / "study.db"
    db.write_bytes(base_study.read_bytes())
    return db


def start_worker(db: Path, coder: str, codes: str = "trust,funding,delays",
                 go: Path | None = None) -> subprocess.Popen:
    """A process coding every segment of ``db`` as ``coder``, one transaction per coding."""
    return subprocess.Popen([sys.executable, "-c", WORKER, str(db), coder, codes,
                             str(go) if go else ""],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def codings_by_coder(db: Path) -> dict[str, list[Coding]]:
    """The study's codings grouped by coder (after an integrity check)."""
    with Project.open(db) as p:
        assert p.integrity_check() == "ok"
        out: dict[str, list[Coding]] = {}
        for c in p.codings():
            out.setdefault(c.coder, []).append(c)
        return out


@pytest.mark.slow
def test_four_processes_writing_codings_all_succeed(study: Path, tmp_path: Path) -> None:
    with Project.open(study) as p:
        n = len(p.segment_ids())
    coders = ["ayanda", "ben", "chen", "dineo"]
    go = tmp_path / "go"
    procs = [start_worker(study, c, go=go) for c in coders]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"go.{c}").exists() for c in coders):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), results
    assert [out.strip() for _, out, _ in results] == [str(n)] * 4
    by_coder = codings_by_coder(study)
    assert sorted(by_coder) == coders
    for coder in coders:
        assert len(by_coder[coder]) == n
        assert len({c.segment for c in by_coder[coder]}) == n
    with Project.open(study) as p:
        adds = [e for e in p.audit() if e.action == "add"]
    assert len(adds) == 4 * n  # every coding audited once, none lost or doubled
    # The writers really ran at the same time: their transactions interleave in the log.
    switches = sum(a.coder != b.coder for a, b in itertools.pairwise(adds))
    assert switches > 3


@pytest.mark.slow
def test_long_read_does_not_block_writers(study: Path) -> None:
    with Project.open(study) as reader:
        rows = reader.segments(batch=1)
        first = next(rows)  # an unfinished query: the reader's snapshot stays open
        procs = [start_worker(study, c) for c in ("ayanda", "ben")]
        # Both writers commit every coding and end while the read is still open: a reader
        # that blocked them would make them give up ("the study is busy"), or hang until the
        # guard's timeout (not a speed claim).
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert all(rc == 0 for rc, _ in results), results
        # The reader still sees the study as it was when its read began.
        assert reader.codings() == []
        assert first.id == min(reader.segment_ids(), key=lambda s: (s.split(":")[0],
                                                                      int(s.split(":")[1])))
        rest = list(rows)
    assert len(rest) + 1 == len(codings_by_coder(study)["ayanda"])
    assert sorted(codings_by_coder(study)) == ["ayanda", "ben"]


def test_readers_are_not_blocked_by_an_open_write(study: Path) -> None:
    with Project.open(study) as writer:
        seg = min(writer.segment_ids())
        with writer.atomic():
            writer.put_coding(Coding(seg, "trust", "eve"))
            # The reader answers while the write is still open (the timeout only guards
            # against a hang), from the last committed state.
            result = run_tipqual("status", str(study), "--json", timeout=120)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["codings"]["human"] == 0
    result = run_tipqual("status", str(study), "--json")
    assert json.loads(result.stdout)["codings"]["human"] == 1


def _open_files(pid: int) -> set[Path]:
    """The files process ``pid`` has open (Linux /proc; empty once it has ended)."""
    found = set()
    with suppress(OSError):  # the process has ended
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):  # closed meanwhile
                found.add(Path(os.readlink(fd)))
    return found


@pytest.mark.slow
def test_writer_waits_for_another_writer_instead_of_failing(study: Path, tmp_path: Path) -> None:
    err = tmp_path / "stderr.txt"
    with Project.open(study) as holder:
        segs = sorted(holder.segment_ids())
        with holder.atomic(), open(err, "w") as err_file:
            holder.put_coding(Coding(segs[0], "trust", "eve"))
            proc = subprocess.Popen([sys.executable, "-m", "tipqual", "code", "add", str(study),
                                     segs[1], "--coder", "farah", "--code", "funding"],
                                    stdout=subprocess.PIPE, stderr=err_file, text=True)
            # it says at once that it waits for the lock (then waits on), and it still waits
            said = wait_until(lambda: proc.poll() is not None or "Waiting:" in err.read_text(),
                              60, "code add never said it was waiting")
            assert said is True and proc.poll() is None, err.read_text()
        rc = proc.wait(timeout=60)
    assert rc == 0, err.read_text()
    lines = err.read_text().splitlines()
    assert lines == [f"Waiting: another tipqual is writing to {study}; this one goes on when "
                     "it is done (or gives up after 150 s)"]
    by_coder = codings_by_coder(study)
    assert [(c.segment, c.code) for c in by_coder["eve"]] == [(segs[0], "trust")]
    assert [(c.segment, c.code) for c in by_coder["farah"]] == [(segs[1], "funding")]
