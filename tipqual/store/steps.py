"""Steps: changes that move codings wholesale, recorded with their plan and undoable.

A *step* is a transcript replaced with its codings re-anchored, or a codebook version applied
with its codings renamed, merged or archived. Each runs in one transaction that also writes the
step's row (what it did, by whom, the plan it carried out) and stamps every audit entry made
inside it with the step's id. Before the first change a consistent copy of the study is written
beside it (``NAME.step<N>.bak``), so the state before a step can be put back whole
(:meth:`StepStore.restore`) — the audit log alone cannot rebuild a transcript's old text.

Codings a step takes out of play (their segment or their code went away) are *retired*: removed
from the codings table, so no analysis counts them, and kept whole in ``retired_codings`` with
the text they were on, so that a person can put them back (:meth:`StepStore.reattach`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipqual.errors import CodingError, ProjectError
from tipqual.records import RETIRED_REASONS, Coding, RetiredCoding, Step
from tipqual.store.codings import (
    CODING_COLUMNS,
    AuditLog,
    coding_from_row,
    coding_state,
)
from tipqual.store.connection import Database, connect, now, study_uri

# The audit actions a retirement is logged under, by reason.
_RETIRE_ACTION = {"orphaned": "orphan", "archived": "archive"}


@dataclass
class StepRun:
    """The step being carried out: set ``summary`` and ``plan`` before its block ends."""

    id: int
    kind: str
    backup: Path | None
    summary: str = ""
    plan: dict[str, Any] = field(default_factory=dict)


def backup_name(study: Path, step: int) -> Path:
    """Where the copy of ``study`` made before step ``step`` is kept."""
    return study.with_name(f"{study.name}.step{step}.bak")


def copy_database(study: Path, target: Path) -> None:
    """Write a consistent copy of the committed state of ``study`` to ``target``, published
    whole.

    The copy is read through a connection of its own: SQLite's backup API cannot read through a
    connection that has a write transaction open (it waits for it forever), and a second reader
    sees exactly the last committed state, which is what a step started under ``BEGIN
    IMMEDIATE`` needs (no other writer can commit meanwhile). It goes to a temporary name first
    and is renamed over ``target`` once complete and synced, so a copy interrupted half-way is
    never taken for a good one.
    """
    partial = target.with_name(target.name + ".partial")
    with suppress(FileNotFoundError):
        partial.unlink()
    source = connect(study, readonly=True, tune=False)
    dest = sqlite3.connect(partial)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode = DELETE")
    finally:
        dest.close()
        source.close()
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)


def study_state(db: Database) -> dict[str, Any]:
    """A cheap fingerprint of what a study holds besides its steps and audit log: the sources
    (how many, the last import), segments, cases and their attributes, settings, codebook
    versions, codings (how many, the last change) and retired codings. Two states with the
    same fingerprint hold the same material; a restore compares them to see what it would
    undo."""
    import hashlib

    row = db.rows(
        "SELECT (SELECT count(*) FROM sources) AS sources, "
        "(SELECT ifnull(max(imported_at), '') FROM sources) AS imported, "
        "(SELECT count(*) FROM segments) AS segments, (SELECT count(*) FROM cases) AS cases, "
        "(SELECT count(*) FROM codebooks) AS codebooks, "
        "(SELECT count(*) FROM codings) AS codings, "
        "(SELECT ifnull(max(updated_at), '') FROM codings) AS coded, "
        "(SELECT count(*) FROM retired_codings) AS retired")[0]
    small = hashlib.sha256()
    for table in ("meta", "case_attributes"):
        for r in db.rows(f"SELECT * FROM {table} ORDER BY 1, 2"):
            small.update(json.dumps(list(r), ensure_ascii=False).encode("utf-8"))
    return {**dict(row), "settings": small.hexdigest()[:16]}


def _retired_from_row(r: sqlite3.Row) -> RetiredCoding:
    return RetiredCoding(id=r["id"], reason=r["reason"], coding=coding_from_row(r),
                         source=r["source_id"], segment_text=r["segment_text"],
                         step=r["step_id"], retired_at=r["retired_at"])


def _step_from_row(r: sqlite3.Row) -> Step:
    return Step(id=r["id"], at=r["at"], actor=r["actor"], command=r["command"], kind=r["kind"],
                summary=r["summary"], plan=json.loads(r["plan"]), backup=r["backup"])


class StepStore:
    """The steps of a study and the codings they retired."""

    def __init__(self, db: Database, audit: AuditLog):
        self._db = db
        self._audit = audit

    @contextmanager
    def step(self, kind: str, *, backup: bool = True) -> Iterator[StepRun]:
        """Run the block as one step: one transaction, its row, its audit entries, its copy.

        The copy is taken inside the transaction (after ``BEGIN IMMEDIATE``, before any change),
        so no other writer can slip a change in between the copy and the step. When the block
        raises, the transaction is rolled back and the copy removed.
        """
        db = self._db
        if self._audit.step is not None:
            raise RuntimeError("steps do not nest")
        with db.atomic():
            number = db.rows("SELECT ifnull(max(id), 0) + 1 AS n FROM steps")[0]["n"]
            copy = backup_name(db.path, number) if backup else None
            run = StepRun(id=number, kind=kind, backup=copy)
            try:
                if copy is not None:
                    copy_database(db.path, copy)
                db.write("INSERT INTO steps (id, at, actor, command, kind, backup) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (number, now(), self._audit.actor, self._audit.command, kind,
                          copy.name if copy is not None else None))
                self._audit.step = number
                yield run
                # what the study holds after the step: a restore compares it with later states
                plan = {**run.plan, "state_after": study_state(db)}
                db.write("UPDATE steps SET summary = ?, plan = ? WHERE id = ?",
                         (run.summary, json.dumps(plan, sort_keys=True, ensure_ascii=False),
                          number))
            except BaseException:
                if copy is not None:
                    with suppress(OSError):
                        copy.unlink()
                raise
            finally:
                self._audit.step = None

    def steps(self) -> list[Step]:
        """Every step, oldest first."""
        return [_step_from_row(r) for r in self._db.rows("SELECT * FROM steps ORDER BY id")]

    # --- retired codings ----------------------------------------------------------------------

    def retire(self, coding: Coding, reason: str, *, segment_text: str,
               source: str | None = None) -> int:
        """Take a coding out of play and keep it whole; audited. Returns its retired id."""
        if reason not in RETIRED_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        db = self._db
        with db.atomic():
            rows = db.rows(f"SELECT {CODING_COLUMNS} FROM codings WHERE segment_id = ? AND "
                           "code_id = ? AND coder = ? AND ifnull(span_start, -1) = ? AND "
                           "ifnull(span_end, -1) = ?", coding.key)
            if not rows:
                raise CodingError(f"no coding {coding.code!r} by {coding.coder!r} on "
                                  f"{coding.segment!r} to retire")
            old = coding_from_row(rows[0])
            db.write("DELETE FROM codings WHERE segment_id = ? AND code_id = ? AND coder = ? "
                     "AND ifnull(span_start, -1) = ? AND ifnull(span_end, -1) = ?", coding.key)
            cursor = db.write(
                f"INSERT INTO retired_codings (reason, step_id, source_id, segment_text, "
                f"{CODING_COLUMNS}, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                (reason, self._audit.step, source, segment_text, old.segment, old.code,
                 old.coder, old.status, old.score, old.provenance, old.memo, old.span_start,
                 old.span_end, old.created_at, old.updated_at, now()))
            self._audit.record(_RETIRE_ACTION[reason],
                               [(old, coding_state(old), {"retired": reason})])
            return int(cursor.lastrowid or 0)

    def retired(self, reason: str | None = None) -> list[RetiredCoding]:
        """The retired codings (of one reason), oldest first."""
        sql = "SELECT * FROM retired_codings" + (" WHERE reason = ?" if reason else "")
        return [_retired_from_row(r)
                for r in self._db.rows(sql + " ORDER BY id", (reason,) if reason else ())]

    def reattach(self, retired_id: int, segment: str, *, span_start: int | None = None,
                 span_end: int | None = None, code: str | None = None) -> Coding:
        """Put a retired coding back on ``segment`` (a span of it, if given), under ``code``
        when given (else its own); audited. The caller checks the code is the codebook's."""
        db = self._db
        with db.atomic():
            rows = db.rows("SELECT * FROM retired_codings WHERE id = ?", (retired_id,))
            if not rows:
                raise CodingError(f"no retired coding {retired_id}; list them with "
                                  "'tipqual code orphans'")
            seg = db.rows('SELECT length(text) AS n FROM segments WHERE id = ?', (segment,))
            if not seg:
                raise CodingError(f"unknown segment {segment!r}; list them with "
                                  "'tipqual segments'")
            if (span_start is None) != (span_end is None) or (
                    span_start is not None and span_end is not None
                    and not 0 <= span_start < span_end <= seg[0]["n"]):
                raise CodingError(f"span {span_start}-{span_end} is not inside {segment!r}")
            old = _retired_from_row(rows[0]).coding
            back = Coding(segment=segment, code=code or old.code, coder=old.coder,
                          status=old.status,
                          score=old.score, provenance=old.provenance, memo=old.memo,
                          span_start=span_start, span_end=span_end,
                          created_at=old.created_at, updated_at=now())
            if db.rows("SELECT 1 FROM codings WHERE segment_id = ? AND code_id = ? AND "
                       "coder = ? AND ifnull(span_start, -1) = ? AND ifnull(span_end, -1) = ?",
                       back.key):
                raise CodingError(f"{segment!r} already has {old.code!r} by {old.coder!r}")
            db.write(f"INSERT INTO codings ({CODING_COLUMNS}) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (back.segment, back.code, back.coder, back.status, back.score,
                      back.provenance, back.memo, back.span_start, back.span_end,
                      back.created_at, back.updated_at))
            db.write("DELETE FROM retired_codings WHERE id = ?", (retired_id,))
            self._audit.record("reattach", [(back, {"retired": rows[0]["reason"],
                                                    "segment": old.segment, "code": old.code},
                                             coding_state(back))])
            return back

    # --- putting a step back ------------------------------------------------------------------

    def later_changes(self, step: Step) -> dict[str, Any]:
        """What was changed after ``step``: later steps, audit entries outside any step, and
        (``other``) what else differs from the study as the step left it (sources imported,
        settings, case attributes, codebook versions …; see :func:`study_state`)."""
        db = self._db
        later_steps = db.rows("SELECT count(*) AS n FROM steps WHERE id > ?", (step.id,))[0]["n"]
        last = db.rows("SELECT ifnull(max(id), 0) AS n FROM audit WHERE step_id = ?",
                       (step.id,))[0]["n"]
        if not last:  # a step that logged nothing: its own row's time bounds it
            entries = db.rows("SELECT count(*) AS n FROM audit WHERE at > ? AND "
                              "ifnull(step_id, 0) <> ?", (step.at, step.id))[0]["n"]
        else:
            entries = db.rows("SELECT count(*) AS n FROM audit WHERE id > ? AND "
                              "ifnull(step_id, 0) <> ?", (last, step.id))[0]["n"]
        after = step.plan.get("state_after")
        now_state = study_state(db)
        other = sorted(k for k, v in now_state.items()
                       if isinstance(after, dict) and after.get(k) != v)
        return {"steps": later_steps, "audit_entries": entries, "other": other}


def _check_copy(db: Database, copy: Path) -> None:
    """Refuse a copy that is missing, damaged or of another schema version than the study."""
    study = db.path
    if not copy.is_file():
        raise ProjectError(f"the copy {copy.name} is missing; it was made beside the study "
                           "before the step", path=study)
    try:
        source = connect(copy, readonly=True, tune=False)
        try:
            ok = source.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            version = source.execute("PRAGMA user_version").fetchone()[0]
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise ProjectError(f"cannot read the copy {copy.name}: {exc}", path=study) from exc
    if not ok:
        raise ProjectError(f"the copy {copy.name} is damaged; nothing was restored", path=study)
    current = db.conn.execute("PRAGMA user_version").fetchone()[0]
    if version != current:
        raise ProjectError(f"the copy {copy.name} has schema version {version}, the study "
                           f"{current}; open the copy with tipqual once (it is brought up to "
                           "date) and restore again", path=study)


def restore_step(db: Database, steps: StepStore, audit: AuditLog, number: int, *,
                 discard_later: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Put back the copy of the study made before step ``number``; returns what was (with
    ``dry_run``: would be) done.

    Refused when anything was changed after the step, unless ``discard_later``. The state
    being replaced is kept first (``NAME.restore<N>.bak``). The history survives the restore:
    the steps and the audit log of the current state are carried into the restored one, and the
    restore is recorded there as a step of its own with an audit entry, before the restored
    state is written over the study in one go (SQLite's backup API, under one write lock), so a
    restore that is killed leaves the study as it was or as restored, never in between.
    """
    found = [s for s in steps.steps() if s.id == number]
    if not found:
        raise ProjectError(f"there is no step {number}; list them with 'tipqual history'",
                           path=db.path)
    step = found[0]
    if not step.backup:
        raise ProjectError(f"step {number} ({step.kind}) was made without a copy; it cannot be "
                           "put back", path=db.path)
    later = steps.later_changes(step)
    if (later["steps"] or later["audit_entries"] or later["other"]) and not discard_later:
        other = f" and later changes to: {', '.join(later['other'])}" if later["other"] else ""
        raise ProjectError(
            f"{later['steps']} later step(s), {later['audit_entries']} later change(s) to "
            f"codings{other} would be lost; undo the later steps first, or add "
            f"--discard-later (the current state is kept as a copy)", path=db.path)
    copy = db.path.with_name(step.backup)
    _check_copy(db, copy)
    kept = db.path.with_name(f"{db.path.name}.restore{number}.bak")
    undone = {"id": step.id, "at": step.at, "actor": step.actor, "kind": step.kind,
              "summary": step.summary}
    result: dict[str, Any] = {"restored": step.id, "copy": copy.name, "kept": kept.name,
                              "undone": undone, "discarded": later, "dry_run": dry_run}
    if dry_run:
        return result
    before = _marker(db)
    copy_database(db.path, kept)
    staged = db.path.with_name(f"{db.path.name}.restore{number}.staged")
    copy_database(copy, staged)
    try:
        _carry_history(staged, db.path, step, kept, result, audit)
        if _marker(db) != before:  # another coder wrote meanwhile: their work is in neither
            raise ProjectError("the study changed while it was being restored (another "
                               "command wrote to it); nothing was restored: run the restore "
                               "again", path=db.path)
        source = connect(staged, readonly=True, tune=False)
        try:
            source.backup(db.conn)
        finally:
            source.close()
    finally:
        with suppress(OSError):
            staged.unlink()
    db.conn.execute("PRAGMA journal_mode = WAL")
    return result


def _marker(db: Database) -> tuple[Any, ...]:
    """What changes whenever anything is written: the fingerprint, the last step and audit
    entry."""
    last = db.rows("SELECT (SELECT ifnull(max(id), 0) FROM audit) AS a, "
                   "(SELECT ifnull(max(id), 0) FROM steps) AS s")[0]
    return (tuple(sorted(study_state(db).items())), last["a"], last["s"])


def _carry_history(staged: Path, study: Path, step: Step, kept: Path, result: dict[str, Any],
                   audit: AuditLog) -> None:
    """Into the restored state ``staged``: the current study's steps and the audit entries made
    since the copy, then the restore's own step row and audit entry."""
    conn = connect(staged, tune=False)
    try:
        conn.execute("ATTACH DATABASE ? AS cur", (study_uri(study, readonly=True),))
        conn.execute("BEGIN IMMEDIATE")
        # the copy's steps and audit entries are the first of the current ones, unchanged
        conn.execute("INSERT INTO main.steps SELECT * FROM cur.steps WHERE id > "
                     "(SELECT ifnull(max(id), 0) FROM main.steps) ORDER BY id")
        conn.execute("INSERT INTO main.audit SELECT * FROM cur.audit WHERE id > "
                     "(SELECT ifnull(max(id), 0) FROM main.audit) ORDER BY id")
        new_id = conn.execute("SELECT ifnull(max(id), 0) + 1 FROM main.steps").fetchone()[0]
        result["step"] = new_id
        conn.execute("INSERT INTO main.steps (id, at, actor, command, kind, summary, plan, "
                     "backup) VALUES (?, ?, ?, ?, 'restore', ?, ?, ?)",
                     (new_id, now(), audit.actor, audit.command,
                      f"put back the study as it was before step {step.id} ({step.kind}: "
                      f"{step.summary})",
                      json.dumps(result, sort_keys=True, ensure_ascii=False), kept.name))
        conn.execute("INSERT INTO main.audit (at, actor, command, action, before, after, "
                     "step_id) VALUES (?, ?, ?, 'restore', ?, ?, ?)",
                     (now(), audit.actor, audit.command,
                      json.dumps(result["undone"], sort_keys=True, ensure_ascii=False),
                      json.dumps({"copy": result["copy"], "kept": kept.name}, sort_keys=True),
                      new_id))
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE cur")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
