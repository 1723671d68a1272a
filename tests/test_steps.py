"""Steps: one transaction with its plan and a copy made before it; retired codings; restores;
``tipqual history``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import run_tipqual
from tipqual.errors import CodingError, ProjectError
from tipqual.records import Coding, Segment, Source
from tipqual.store import project as store
from tipqual.store.connection import APPLICATION_ID
from tipqual.store.project import Project
from tipqual.store.steps import backup_name


def _study(path: Path) -> Project:
    p = Project.create(path)
    with p.atomic():
        p.add_source(Source("s", None, "s.txt", "txt", "x", "One. Two."),
                     [Segment("s:1", "s", 1, None, "respondent", 0, 4, "One."),
                      Segment("s:2", "s", 2, None, "respondent", 5, 9, "Two.")])
        p.put_coding(Coding("s:1", "trust", "ann"))
        p.put_coding(Coding("s:2", "funding", "ann", span_start=0, span_end=3))
    return p


def _rows(path: Path, table: str) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def test_a_step_is_one_transaction_with_its_row_copy_and_audit_stamp(tmp_path: Path) -> None:
    p = _study(tmp_path / "s.db")
    with p.step("replace") as run:
        coding = p.codings(segments=["s:1"])[0]
        p.retire(coding, "orphaned", segment_text="One.", source="s")
        run.summary, run.plan = "retired one", {"n": 1}
    [step] = p.steps()
    assert (step.id, step.kind, step.summary, step.plan["n"]) == (1, "replace", "retired one", 1)
    assert step.plan["state_after"]["retired"] == 1  # what the study held after it
    copy = backup_name(p.path, 1)
    assert step.backup == copy.name and copy.is_file()
    assert len(_rows(copy, "codings")) == 2  # the copy is the study before the step
    [entry] = [e for e in p.audit() if e.action == "orphan"]
    assert entry.step == 1 and p.audit(step=1) == [entry]
    assert [e.step for e in p.audit() if e.action == "add"] == [None, None]
    p.close()


def test_a_failed_step_leaves_nothing(tmp_path: Path) -> None:
    p = _study(tmp_path / "s.db")
    before = (p.codings(), p.audit())
    with pytest.raises(RuntimeError, match="boom"), p.step("replace"):
        p.retire(p.codings()[0], "orphaned", segment_text="One.")
        raise RuntimeError("boom")
    assert (p.codings(), p.audit()) == before and p.steps() == [] and p.retired() == []
    assert not list(tmp_path.glob("*.bak*"))
    with pytest.raises(RuntimeError, match="nest"), p.step("a"), p.step("b"):
        pass
    p.close()


def test_retired_codings_count_nowhere_and_can_be_reattached(tmp_path: Path) -> None:
    p = _study(tmp_path / "s.db")
    span = p.codings(segments=["s:2"])[0]
    with p.atomic():
        rid = p.retire(span, "archived", segment_text="Two.")
    assert p.codings(segments=["s:2"]) == [] and p.status()["retired"] == {"archived": 1}
    [kept] = p.retired("archived")
    assert (kept.id, kept.coding.code, kept.coding.span_end, kept.segment_text) == (
        rid, "funding", 3, "Two.")
    with pytest.raises(CodingError, match="not inside"), p.atomic():
        p.reattach(rid, "s:1", span_start=2, span_end=40)
    with p.atomic():
        back = p.reattach(rid, "s:1", span_start=0, span_end=3)
    assert (back.segment, back.code, back.coder, back.span_start) == ("s:1", "funding", "ann", 0)
    assert p.retired() == [] and "retired" not in p.status()
    assert [e.action for e in p.audit()][-2:] == ["archive", "reattach"]
    with pytest.raises(CodingError, match="no retired coding"), p.atomic():
        p.reattach(rid, "s:1")
    p.close()


def test_restore_puts_back_the_state_before_and_keeps_the_history(tmp_path: Path) -> None:
    p = _study(tmp_path / "s.db")
    with p.step("replace") as run:
        p.retire(p.codings()[0], "orphaned", segment_text="One.")
        run.summary = "one orphaned"
    with p.atomic():
        p.put_coding(Coding("s:2", "trust", "ben"))
    with pytest.raises(ProjectError, match="1 later change"):
        p.restore_step(1)
    assert p.restore_step(1, dry_run=True, discard_later=True)["dry_run"] and len(p.codings()) == 2
    done = p.restore_step(1, discard_later=True)
    assert done["step"] == 2 and done["discarded"] == {"steps": 0, "audit_entries": 1,
                                                       "other": ["coded", "codings"]}
    assert sorted((c.segment, c.code, c.coder) for c in p.codings()) == [
        ("s:1", "trust", "ann"), ("s:2", "funding", "ann")]
    assert p.retired() == []
    assert [s.kind for s in p.steps()] == ["replace", "restore"]
    actions = [e.action for e in p.audit()]
    assert actions[-3:] == ["orphan", "add", "restore"]  # the log survives, append-only
    kept = tmp_path / done["kept"]
    assert sorted(r[2] for r in _rows(kept, "codings")) == ["funding", "trust"]
    assert p.integrity_check() == "ok"
    # the restore has its own copy: restoring it is a redo
    p.restore_step(2)
    assert sorted((c.segment, c.coder) for c in p.codings()) == [("s:2", "ann"), ("s:2", "ben")]
    assert [s.kind for s in p.steps()] == ["replace", "restore", "restore"]
    with pytest.raises(ProjectError, match="no step 9"):
        p.restore_step(9)
    p.close()


def test_restore_refuses_a_damaged_or_missing_copy(tmp_path: Path) -> None:
    p = _study(tmp_path / "s.db")
    with p.step("replace"):
        p.retire(p.codings()[0], "orphaned", segment_text="One.")
    copy = backup_name(p.path, 1)
    copy.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(ProjectError, match="copy"):
        p.restore_step(1)
    copy.unlink()
    with pytest.raises(ProjectError, match="missing"):
        p.restore_step(1)
    assert len(p.retired()) == 1  # nothing was changed
    p.close()


def test_a_study_of_schema_two_gains_steps_and_keeps_its_audit(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)  # a study as the schema-2 tipqual wrote it
    for statement in ";".join(script for _, script in store.MIGRATIONS[:2]).split(";\n"):
        if statement.strip():
            conn.executescript(statement + ";")
    conn.execute("CREATE TABLE migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL "
                 "UNIQUE, applied_at TEXT NOT NULL)")
    conn.executemany("INSERT INTO migrations VALUES (?, ?, 'then')",
                     [(n, name) for n, (name, _) in enumerate(store.MIGRATIONS[:2], 1)])
    conn.execute("INSERT INTO audit (at, actor, command, action) VALUES ('then', 'ann', "
                 "'code add', 'add')")
    conn.execute("PRAGMA user_version = 2")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.commit()
    conn.close()
    p = Project.open(path)
    assert p.schema_version == store.SCHEMA_VERSION
    assert [(e.actor, e.step) for e in p.audit()] == [("ann", None)]
    with p.step("replace") as run:
        run.summary = "nothing moved"
    assert p.steps()[0].summary == "nothing moved" and (tmp_path / "old.db.v2.bak").is_file()
    p.close()


@pytest.mark.slow
def test_history_command_lists_and_restores(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    p = _study(db)
    p.close()
    empty = run_tipqual("history", str(db))
    assert empty.returncode == 0 and "No steps yet" in empty.stdout
    with Project.open(db) as p, p.step("replace") as run:
        p.retire(p.codings()[0], "orphaned", segment_text="One.")
        run.summary = "replaced s: codings 1 orphaned"
    listed = run_tipqual("history", str(db))
    assert "replace" in listed.stdout and "replaced s: codings 1 orphaned" in listed.stdout
    [row] = json.loads(run_tipqual("history", str(db), "--json").stdout)
    assert (row["id"], row["kind"], row["backup"]) == (1, "replace", "s.db.step1.bak")
    usage = run_tipqual("history", str(db), "--dry-run")
    assert usage.returncode == 2 and "go with --restore" in usage.stderr
    dry = run_tipqual("history", str(db), "--restore", "1", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("Dry run: nothing was changed.")
    assert len(_rows(db, "retired_codings")) == 1
    done = run_tipqual("history", str(db), "--restore", "1")
    assert done.returncode == 0, done.stderr
    assert "Recorded as step 2" in done.stdout and _rows(db, "retired_codings") == []
    again = run_tipqual("history", str(db), "--restore", "1")
    assert again.returncode == 1 and again.stderr.startswith("Error: ")
    assert "--discard-later" in again.stderr and "Traceback" not in again.stderr


def test_restore_refuses_to_undo_changes_that_are_not_codings(tmp_path: Path) -> None:
    p = _study(tmp_path / "s.db")
    with p.step("replace"):
        p.retire(p.codings()[0], "orphaned", segment_text="One.")
    with p.atomic():  # a transcript imported and the study renamed: no audit entries
        p.add_source(Source("t", None, "t.txt", "txt", "y", "Three."),
                     [Segment("t:1", "t", 1, None, "respondent", 0, 6, "Three.")])
        p.set_meta("name", "renamed")
    with pytest.raises(ProjectError, match="later changes to: .*settings.*sources"):
        p.restore_step(1)
    assert len(p.sources()) == 2
    p.restore_step(1, discard_later=True)
    assert [s.id for s in p.sources()] == ["s"]
    p.close()


def test_a_restore_that_meets_another_writer_restores_nothing(tmp_path: Path,
                                                              monkeypatch) -> None:
    from tipqual.store import steps

    p = _study(tmp_path / "s.db")
    with p.step("replace"):
        p.retire(p.codings()[0], "orphaned", segment_text="One.")
    real = steps._carry_history

    def carry_while_someone_codes(*args, **kwargs):
        real(*args, **kwargs)
        with Project.open(p.path) as other, other.atomic():
            other.put_coding(Coding("s:2", "trust", "zoe"))

    monkeypatch.setattr(steps, "_carry_history", carry_while_someone_codes)
    with pytest.raises(ProjectError, match="changed while it was being restored"):
        p.restore_step(1, discard_later=True)
    assert ("s:2", "trust", "zoe") in {(c.segment, c.code, c.coder) for c in p.codings()}
    assert len(p.retired()) == 1 and [s.kind for s in p.steps()] == ["replace"]
    p.close()
