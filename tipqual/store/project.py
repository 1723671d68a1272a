"""The project store: one SQLite file holds one study.

This is the only module that touches :mod:`sqlite3`. A :class:`Project` opens the file in WAL
mode with foreign keys on and a busy timeout, migrates an older schema (after a backup copy),
refuses a newer one, and offers every read and write the rest of tipqual needs. Every write runs
inside :meth:`Project.atomic`, so a command that fails or is killed leaves the study as it was.
Every change to a coding is appended to the audit log in the same transaction.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tipqual.errors import CodingError, ProjectError, SchemaTooNewError
from tipqual.records import STATUSES, AuditEntry, Case, Coding, Mention, Segment, Source
from tipqual.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["STATUSES", "SCHEMA_VERSION", "MIGRATIONS", "Project", "AuditEntry", "Case",
           "Coding", "Mention", "Segment", "Source"]

BUSY_TIMEOUT_MS = 30_000
APPLICATION_ID = 0x54495051  # "TIPQ": marks a file as a tipqual study
_WRITABLE = "check that the study file and its folder are writable (nothing was changed)"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _actor() -> str:
    try:
        return os.environ.get("TIPQUAL_USER") or getpass.getuser()
    except Exception:  # getuser raises when no user name can be found at all
        return "unknown"



_CODING_COLUMNS = ("segment_id, code_id, coder, status, score, provenance, memo, "
                   "span_start, span_end, created_at, updated_at")


def _coding_from_row(row: sqlite3.Row) -> Coding:
    return Coding(segment=row["segment_id"], code=row["code_id"], coder=row["coder"],
                  status=row["status"], score=row["score"], provenance=row["provenance"],
                  memo=row["memo"], span_start=row["span_start"], span_end=row["span_end"],
                  created_at=row["created_at"], updated_at=row["updated_at"])


# One encoder for every audit record: json.dumps with options builds a new one per call.
_AUDIT_JSON = json.JSONEncoder(sort_keys=True)


def _coding_state(c: Coding) -> dict[str, Any]:
    return {"status": c.status, "score": c.score, "provenance": c.provenance, "memo": c.memo,
            "span_start": c.span_start, "span_end": c.span_end}


class Project:
    """A study stored in one SQLite file. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, command: str = "api"):
        self.path = path
        self._conn = conn
        self._depth = 0
        self.command = command
        self.actor = _actor()

    # --- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, *, name: str | None = None, command: str = "init",
               fill: Callable[[Project], Any] | None = None) -> Project:
        """Create a new study file; refuse if anything exists at that path.

        The file is built under a temporary name and published in one step, so a failed or
        killed creation leaves nothing behind. ``fill``, if given, runs inside the creating
        transaction (to store a codebook, or a whole imported project): when it raises, no
        study file appears.
        """
        path = Path(path)
        if path.exists():
            raise ProjectError("a file already exists there; choose another path or remove it "
                               "first (tipqual never overwrites a study)", path=path)
        if not path.parent.exists():
            raise ProjectError(f"the folder {str(path.parent)!r} does not exist", path=path)
        tmp = path.with_name(path.name + ".tmp-init")
        try:
            tmp.unlink(missing_ok=True)
            conn = cls._connect(tmp)
            try:
                project = cls(path, conn, command)  # messages name the study, not the temp file
                project._migrate(backup=False)
                with project.atomic():
                    project.set_meta("name", name or path.stem)
                    project.set_meta("created_at", _now())
                    if fill is not None:
                        fill(project)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            for suffix in ("-wal", "-shm"):
                Path(str(tmp) + suffix).unlink(missing_ok=True)
            # Publish the finished file in one step; never replace something that appeared.
            os.link(tmp, path)
        except FileExistsError:
            raise ProjectError("a file already exists there; choose another path",
                               path=path) from None
        except OSError as exc:
            raise ProjectError(f"cannot create the study: {exc.strerror or exc}",
                               path=path) from exc
        except sqlite3.Error as exc:
            raise ProjectError(f"cannot create the study ({exc}); check that the folder is "
                               "writable and has free space", path=path) from exc
        finally:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
        return cls.open(path, command=command)

    @classmethod
    def open(cls, path: str | Path, *, command: str = "api", readonly: bool = False) -> Project:
        """Open an existing study, migrating an older schema after a backup copy."""
        path = Path(path)
        if not path.exists():
            raise ProjectError("no such study file; create one with 'tipqual init'", path=path)
        if path.is_dir():
            raise ProjectError("is a folder, not a study file", path=path)
        try:
            with open(path, "rb") as fh:
                header = fh.read(16)
        except OSError as exc:
            raise ProjectError(f"cannot read the study: {exc.strerror or exc}; check its "
                               "permissions", path=path) from exc
        if not header:
            raise ProjectError("the file is empty, not a tipqual study; create a study with "
                               "'tipqual init'", path=path)
        if header != b"SQLite format 3\x00":
            raise ProjectError("not a tipqual study (not an SQLite file)", path=path)
        conn, readonly = cls._connect_checked(path, readonly)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise damaged_study_error(exc, path) or ProjectError(
                f"cannot open the study ({exc})", path=path) from exc
        if app_id != APPLICATION_ID:
            conn.close()
            raise ProjectError("not a tipqual study (an SQLite file of another program)",
                               path=path)
        if not readonly:
            try:
                cls._tune(conn)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise damaged_study_error(exc, path) or ProjectError(
                    f"cannot open the study for writing ({exc}); check that the file and its "
                    "folder are writable", path=path) from exc
        if version > SCHEMA_VERSION:
            conn.close()
            raise SchemaTooNewError(
                f"the study has schema version {version}, newer than this tipqual understands "
                f"({SCHEMA_VERSION}); upgrade tipqual to open it", path=path)
        project = cls(path, conn, command)
        if version < SCHEMA_VERSION:
            if readonly:
                conn.close()
                raise ProjectError("the study needs a schema upgrade; open it once for writing",
                                   path=path)
            project._migrate(backup=True)
        return project

    @classmethod
    def _connect_checked(cls, path: Path, readonly: bool) -> tuple[sqlite3.Connection, bool]:
        """Connect without writing anything (another program's file stays as it was).

        A study whose file or folder cannot be written (a read-only share) cannot keep the
        WAL index beside it; when no write-ahead log is pending the file alone is the whole
        study, so it is opened as an immutable snapshot and every write is refused.
        """
        try:
            conn = cls._connect(path, readonly=readonly, tune=False)
            conn.execute("PRAGMA schema_version").fetchone()
            return conn, readonly
        except sqlite3.OperationalError as exc:
            wal = Path(f"{path}-wal")
            pending = wal.exists() and wal.stat().st_size > 0
            if pending or not ("readonly" in str(exc) or "unable to open" in str(exc)):
                raise ProjectError(f"cannot open the study ({exc}); check that the file and its "
                                   "folder are readable and writable", path=path) from exc
        except sqlite3.DatabaseError as exc:
            raise damaged_study_error(exc, path) or ProjectError(
                f"cannot open the study ({exc})", path=path) from exc
        return cls._connect(path, readonly=True, immutable=True), True

    @staticmethod
    def _connect(path: Path, readonly: bool = False, tune: bool = True,
                 immutable: bool = False) -> sqlite3.Connection:
        # Quoted: '#', '?' and '%' in a file name would otherwise end or escape the URI.
        uri = "file:" + quote(str(path), safe="/:\\")
        if readonly:
            uri += "?mode=ro&immutable=1" if immutable else "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if tune and not readonly:
            Project._tune(conn)
        return conn

    @staticmethod
    def _tune(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        """Close the connection (uncommitted work, if any, is rolled back)."""
        self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run the block in one transaction (nested blocks are savepoints); roll back on error."""
        if self._depth == 0:
            self._begin()
        else:
            self._conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._conn.execute("ROLLBACK")
            else:
                self._conn.execute(f"ROLLBACK TO sp{self._depth}")
                self._conn.execute(f"RELEASE sp{self._depth}")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._commit()
        else:
            self._conn.execute(f"RELEASE sp{self._depth}")

    def _begin(self) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so a writer waits (busy timeout) at the
        # start instead of failing half-way; a few retries cover a timeout under heavy load.
        for attempt in range(5):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise ProjectError(f"cannot write to the study ({exc}); {_WRITABLE}",
                                       path=self.path) from exc
                time.sleep(0.05 * (attempt + 1))
        raise ProjectError("the study is busy (another tipqual is writing); try again",
                           path=self.path)

    def _commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._conn.execute("ROLLBACK")
            raise ProjectError(f"could not save the change, nothing was written: {exc}",
                               path=self.path) from exc

    def _require_tx(self) -> None:
        if self._depth == 0:
            raise RuntimeError("store writes must run inside Project.atomic()")

    def _write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        self._require_tx()
        try:
            return self._conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "disk" in str(exc) or "full" in str(exc):
                raise ProjectError(f"cannot write to the study ({exc}); {_WRITABLE}",
                                   path=self.path) from exc
            raise

    def _writemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._require_tx()
        self._conn.executemany(sql, rows)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    # --- migrations ---------------------------------------------------------------------------

    def _migrate(self, backup: bool) -> None:
        current = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if backup and current < SCHEMA_VERSION:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            backup_path = self.path.with_name(f"{self.path.name}.v{current}.bak")
            shutil.copy2(self.path, backup_path)
        for number, (name, script) in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            with self.atomic():
                for statement in _split_sql(script):
                    self._conn.execute(statement)
                self._conn.execute("CREATE TABLE IF NOT EXISTS migrations "
                                   "(number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                                   "applied_at TEXT NOT NULL)")
                self._conn.execute("INSERT INTO migrations VALUES (?, ?, ?)",
                                   (number, name, _now()))
                self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._conn.execute(f"PRAGMA user_version = {number}")

    def migrations(self) -> list[str]:
        """Names of the migrations applied to this file, in order."""
        return [r["name"] for r in self._rows("SELECT name FROM migrations ORDER BY number")]

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def integrity_check(self) -> str:
        """SQLite's own integrity check: ``ok`` for a sound file."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    def journal_mode(self) -> str:
        """The journal mode in force (``wal`` for a study)."""
        return self._conn.execute("PRAGMA journal_mode").fetchone()[0]

    # --- meta ---------------------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Set a study-level setting (name, created_at …)."""
        self._write("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                    "excluded.value", (key, value))

    def meta(self, key: str, default: str | None = None) -> str | None:
        """Read a study-level setting."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    # --- codebook -----------------------------------------------------------------------------

    def set_codebook(self, codebook: Any) -> bool:
        """Make ``codebook`` (a :class:`~tipqual.codebook.model.Codebook`) the current version.

        Returns False when that exact version (same content hash) is already the current one.
        """
        info = self.codebook_info()
        if info is not None and info["sha256"] == codebook.sha256:
            return False
        data = json.dumps(codebook.to_dict(), ensure_ascii=False, sort_keys=True)
        with self.atomic():
            self._write("DELETE FROM codebooks WHERE sha256 = ?", (codebook.sha256,))
            cur = self._write("INSERT INTO codebooks (name, version, sha256, data, added_at) "
                              "VALUES (?, ?, ?, ?, ?)",
                              (codebook.name, codebook.version, codebook.sha256, data, _now()))
            book_id = cur.lastrowid
            self._writemany("INSERT INTO codes VALUES (?, ?, ?, ?, ?)",
                            ((book_id, c.id, c.name, c.parent, i)
                             for i, c in enumerate(codebook.codes)))
        return True

    def codebook(self) -> Any:
        """The current codebook (a :class:`~tipqual.codebook.model.Codebook`), or None."""
        from tipqual.codebook.model import Codebook

        rows = self._rows("SELECT data FROM codebooks ORDER BY id DESC LIMIT 1")
        return Codebook.from_dict(json.loads(rows[0]["data"])) if rows else None

    def codebook_info(self) -> dict[str, Any] | None:
        """Name, version, content hash and number of codes of the current codebook."""
        rows = self._rows("SELECT id, name, version, sha256 FROM codebooks ORDER BY id DESC "
                          "LIMIT 1")
        if not rows:
            return None
        n = self._rows("SELECT count(*) AS n FROM codes WHERE codebook_id = ?",
                       (rows[0]["id"],))[0]["n"]
        return {"name": rows[0]["name"], "version": rows[0]["version"],
                "sha256": rows[0]["sha256"], "codes": n}

    def codebook_history(self) -> list[dict[str, Any]]:
        """Every codebook version the study has used, oldest first."""
        return [dict(r) for r in self._rows("SELECT name, version, sha256, added_at FROM "
                                            "codebooks ORDER BY id")]

    def code_ids(self) -> list[str]:
        """Ids of the current codebook's codes, in codebook order."""
        return [r["id"] for r in self._rows(
            "SELECT id FROM codes WHERE codebook_id = (SELECT max(id) FROM codebooks) "
            "ORDER BY position")]

    # --- cases --------------------------------------------------------------------------------

    def put_case(self, case_id: str, attributes: dict[str, str] | None = None) -> None:
        """Create a case, or set the given attributes of an existing one."""
        with self.atomic():
            self._write("INSERT OR IGNORE INTO cases VALUES (?)", (case_id,))
            for name, value in sorted((attributes or {}).items()):
                self._write("INSERT INTO case_attributes VALUES (?, ?, ?) ON CONFLICT "
                            "(case_id, name) DO UPDATE SET value = excluded.value",
                            (case_id, name, value))

    def cases(self) -> list[Case]:
        """All cases, sorted by id, with their attributes."""
        attrs: dict[str, dict[str, str]] = {}
        for r in self._rows("SELECT case_id, name, value FROM case_attributes ORDER BY name"):
            attrs.setdefault(r["case_id"], {})[r["name"]] = r["value"]
        return [Case(r["id"], attrs.get(r["id"], {}))
                for r in self._rows("SELECT id FROM cases ORDER BY id")]

    def attribute_names(self) -> list[str]:
        """Names of the case attributes used in the study, sorted."""
        return [r["name"] for r in self._rows(
            "SELECT DISTINCT name FROM case_attributes ORDER BY name")]

    # --- sources and segments -----------------------------------------------------------------

    def add_source(self, source: Source, segments: Sequence[Segment]) -> None:
        """Store a new source and its segments (the source id must be new)."""
        with self.atomic():
            if source.case is not None:
                self._write("INSERT OR IGNORE INTO cases VALUES (?)", (source.case,))
            self._write("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (source.id, source.case, source.path, source.format, source.sha256,
                         source.text, json.dumps(source.meta, sort_keys=True), _now()))
            self._writemany(
                'INSERT INTO segments (id, source_id, n, speaker, role, start, "end", text, meta)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((s.id, source.id, s.n, s.speaker, s.role, s.start, s.end, s.text,
                  json.dumps(s.meta, sort_keys=True)) for s in segments))

    def remove_source(self, source_id: str) -> None:
        """Delete a source and its segments; its codings must have been removed first."""
        with self.atomic():
            left = self._rows("SELECT count(*) AS n FROM codings c JOIN segments s ON "
                              "s.id = c.segment_id WHERE s.source_id = ?", (source_id,))[0]["n"]
            if left:
                raise CodingError(f"source {source_id!r} still has {left} codings; remove "
                                  "them first")
            self._write("DELETE FROM sources WHERE id = ?", (source_id,))

    def replace_source(self, source: Source, segments: Sequence[Segment]) -> list[Coding]:
        """Swap a source's text and segments, keeping every coding whose segment is unchanged.

        A coding stays when its segment id still exists with the same text (its offsets are
        updated); the others are removed (audited) and returned so the caller can report them.
        """
        with self.atomic():
            old_text = {s.id: s.text for s in self.segments(source=source.id)}
            new_by_id = {s.id: s for s in segments}
            dropped = [c for c in self.codings(segments=old_text)
                       if c.segment not in new_by_id or new_by_id[c.segment].text !=
                       old_text[c.segment]]
            for coding in dropped:
                self.delete_coding(coding)
            if source.case is not None:
                self._write("INSERT OR IGNORE INTO cases VALUES (?)", (source.case,))
            self._write("UPDATE sources SET case_id = ?, path = ?, format = ?, sha256 = ?, "
                        "text = ?, meta = ?, imported_at = ? WHERE id = ?",
                        (source.case, source.path, source.format, source.sha256, source.text,
                         json.dumps(source.meta, sort_keys=True), _now(), source.id))
            gone = sorted(set(old_text) - set(new_by_id))
            self._write("DELETE FROM segments WHERE id IN (SELECT value FROM json_each(?))",
                        (json.dumps(gone),))
            # Move kept rows out of the way of the (source, n) uniqueness, then rewrite them.
            self._write("UPDATE segments SET n = -n WHERE source_id = ?", (source.id,))
            self._writemany(
                'INSERT INTO segments (id, source_id, n, speaker, role, start, "end", text, meta)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "n = excluded.n, speaker = excluded.speaker, role = excluded.role, "
                'start = excluded.start, "end" = excluded."end", text = excluded.text, '
                "meta = excluded.meta",
                ((s.id, source.id, s.n, s.speaker, s.role, s.start, s.end, s.text,
                  json.dumps(s.meta, sort_keys=True)) for s in segments))
        return dropped

    def set_source_case(self, source_id: str, case_id: str) -> None:
        """Assign a source to a case (creating the case if needed)."""
        with self.atomic():
            self._write("INSERT OR IGNORE INTO cases VALUES (?)", (case_id,))
            self._write("UPDATE sources SET case_id = ? WHERE id = ?", (case_id, source_id))

    def source(self, source_id: str) -> Source | None:
        """One source by id, or None."""
        rows = self._rows("SELECT * FROM sources WHERE id = ?", (source_id,))
        return self._source(rows[0]) if rows else None

    def sources(self) -> list[Source]:
        """All sources, sorted by id."""
        return [self._source(r) for r in self._rows("SELECT * FROM sources ORDER BY id")]

    @staticmethod
    def _source(r: sqlite3.Row) -> Source:
        return Source(id=r["id"], case=r["case_id"], path=r["path"], format=r["format"],
                      sha256=r["sha256"], text=r["text"], meta=json.loads(r["meta"]))

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterator[Segment]:
        """Segments in document order (sources sorted by id), streamed in batches."""
        where, params = [], []
        if source is not None:
            where.append("s.source_id = ?")
            params.append(source)
        if case is not None:
            where.append("src.case_id = ?")
            params.append(case)
        if role is not None:
            where.append("s.role = ?")
            params.append(role)
        if ids is not None:
            id_list = sorted(set(ids))
            where.append("s.id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(id_list))
        sql = ('SELECT s.id, s.source_id, s.n, s.speaker, s.role, s.start, s."end", s.text, '
               "s.meta, src.case_id FROM segments s JOIN sources src ON src.id = s.source_id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY s.source_id, s.n")
        cur = self._conn.execute(sql, params)
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            for r in rows:
                yield Segment(id=r["id"], source=r["source_id"], n=r["n"], speaker=r["speaker"],
                              role=r["role"], start=r["start"], end=r["end"], text=r["text"],
                              case=r["case_id"], meta=json.loads(r["meta"]))

    def segment_texts(self, ids: Iterable[str] | None = None,
                      batch: int = 500) -> Iterator[tuple[str, str, str]]:
        """``(id, role, text)`` of segments in document order: the light read of
        :meth:`segments` for stages that need the text alone (streamed in batches)."""
        sql = "SELECT id, role, text FROM segments"
        params: list[str] = []
        if ids is not None:
            sql += " WHERE id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(ids))))
        cur = self._conn.cursor()
        cur.row_factory = None  # plain tuples
        cur.execute(sql + " ORDER BY source_id, n", params)
        while rows := cur.fetchmany(batch):
            yield from rows

    def segment(self, segment_id: str) -> Segment | None:
        """One segment by id, or None."""
        return next(self.segments(ids=[segment_id]), None)

    def segment_ids(self) -> set[str]:
        """The ids of every segment in the study."""
        return {r["id"] for r in self._rows("SELECT id FROM segments")}

    # --- codings ------------------------------------------------------------------------------

    def put_coding(self, coding: Coding) -> str:
        """Add a coding, or update the one with the same key; audited.

        Returns ``"added"``, ``"updated"`` or ``"unchanged"``.
        """
        if coding.status not in STATUSES:
            raise CodingError(f"unknown status {coding.status!r}; use one of "
                              f"{', '.join(STATUSES)}")
        with self.atomic():
            old = self._find_coding(coding.key)
            now = _now()
            if old is None:
                if not self._rows("SELECT 1 FROM segments WHERE id = ?", (coding.segment,)):
                    raise CodingError(f"unknown segment {coding.segment!r}; list them with "
                                      "'tipqual segments'")
                self._write(f"INSERT INTO codings ({_CODING_COLUMNS}) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (coding.segment, coding.code, coding.coder, coding.status,
                             coding.score, coding.provenance, coding.memo, coding.span_start,
                             coding.span_end, coding.created_at or now,
                             coding.updated_at or now))
                self._audit("add", coding, None, _coding_state(coding))
                return "added"
            if _coding_state(old) == _coding_state(coding):
                return "unchanged"
            self._write("UPDATE codings SET status = ?, score = ?, provenance = ?, memo = ?, "
                        "updated_at = ? WHERE segment_id = ? AND code_id = ? AND coder = ? "
                        "AND ifnull(span_start, -1) = ? AND ifnull(span_end, -1) = ?",
                        (coding.status, coding.score, coding.provenance, coding.memo,
                         coding.updated_at or now, *coding.key))
            self._audit("update", coding, _coding_state(old), _coding_state(coding))
            return "updated"

    def delete_coding(self, coding: Coding) -> bool:
        """Remove the coding with this key; audited. Returns False if there was none."""
        with self.atomic():
            old = self._find_coding(coding.key)
            if old is None:
                return False
            self._write("DELETE FROM codings WHERE segment_id = ? AND code_id = ? AND coder = ? "
                        "AND ifnull(span_start, -1) = ? AND ifnull(span_end, -1) = ?",
                        coding.key)
            self._audit("remove", old, _coding_state(old), None)
            return True

    def find_coding(self, segment: str, code: str, coder: str,
                    span: tuple[int, int] | None = None) -> Coding | None:
        """The coding with this key, or None."""
        start, end = span if span is not None else (-1, -1)
        return self._find_coding((segment, code, coder, start, end))

    def _find_coding(self, key: tuple[str, str, str, int, int]) -> Coding | None:
        rows = self._rows(f"SELECT {_CODING_COLUMNS} FROM codings WHERE segment_id = ? AND "
                          "code_id = ? AND coder = ? AND ifnull(span_start, -1) = ? AND "
                          "ifnull(span_end, -1) = ?", key)
        return _coding_from_row(rows[0]) if rows else None

    def codings(self, *, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None, codes: Iterable[str] | None = None,
                segments: Iterable[str] | None = None) -> list[Coding]:
        """Codings filtered by status, coder, code and segment; sorted by segment order."""
        where, params = [], []
        for column, values in (("c.status", statuses), ("c.coder", coders),
                               ("c.code_id", codes), ("c.segment_id", segments)):
            if values is not None:
                where.append(f"{column} IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(sorted(set(values))))
        sql = (f"SELECT {', '.join('c.' + col.strip() for col in _CODING_COLUMNS.split(','))} "
               "FROM codings c JOIN segments s ON s.id = c.segment_id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY s.source_id, s.n, c.code_id, c.coder, ifnull(c.span_start, -1)")
        return [_coding_from_row(r) for r in self._rows(sql, params)]

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]:
        """Distinct coder names (optionally only those with codings of these statuses)."""
        if statuses is None:
            rows = self._rows("SELECT DISTINCT coder FROM codings ORDER BY coder")
        else:
            rows = self._rows("SELECT DISTINCT coder FROM codings WHERE status IN (SELECT value "
                              "FROM json_each(?)) ORDER BY coder",
                              (json.dumps(sorted(set(statuses))),))
        return [r["coder"] for r in rows]

    def replace_suggestions(self, coders: Iterable[str], segment_ids: Iterable[str] | None,
                            suggestions: Iterable[Coding]) -> dict[str, int]:
        """Swap unreviewed suggestions by ``coders`` on ``segment_ids`` (None: all) for new ones.

        Human codings and reviewed decisions are never touched. Audited in bulk.
        Returns counts ``{"removed": N, "added": N}``.
        """
        coder_list = json.dumps(sorted(set(coders)))
        with self.atomic():
            where = ("status = 'suggested' AND coder IN (SELECT value FROM json_each(?))")
            params: list[Any] = [coder_list]
            if segment_ids is not None:
                # Look the rows up by segment (the unary + keeps SQLite off the status index,
                # which would scan every earlier suggestion once per batch of segments).
                where = ("+status = 'suggested' AND +coder IN (SELECT value FROM json_each(?)) "
                         "AND segment_id IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(sorted(set(segment_ids))))
            old = [_coding_from_row(r) for r in self._rows(
                f"SELECT {_CODING_COLUMNS} FROM codings WHERE {where}", params)]
            self._write(f"DELETE FROM codings WHERE {where}", params)
            now = _now()
            new = list(suggestions)
            self._writemany(f"INSERT OR IGNORE INTO codings ({_CODING_COLUMNS}) "
                            "VALUES (?, ?, ?, 'suggested', ?, ?, ?, ?, ?, ?, ?)",
                            ((c.segment, c.code, c.coder, c.score, c.provenance, c.memo,
                              c.span_start, c.span_end, now, now) for c in new))
            self._audit_many("remove", [(c, _coding_state(c), None) for c in old])
            self._audit_many("add", [(c, None, {**_coding_state(c), "status": "suggested"})
                                     for c in new])
        return {"removed": len(old), "added": len(new)}

    # --- audit --------------------------------------------------------------------------------

    def _audit(self, action: str, coding: Coding, before: dict[str, Any] | None,
               after: dict[str, Any] | None) -> None:
        self._audit_many(action, [(coding, before, after)])

    def _audit_many(self, action: str,
                    items: Sequence[tuple[Coding, dict[str, Any] | None,
                                          dict[str, Any] | None]]) -> None:
        now = _now()
        self._writemany(
            "INSERT INTO audit (at, actor, command, action, segment_id, code_id, coder, before, "
            "after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((now, self.actor, self.command, action, c.segment, c.code, c.coder,
              None if b is None else _AUDIT_JSON.encode(b),
              None if a is None else _AUDIT_JSON.encode(a)) for c, b, a in items))

    def append_audit(self, entries: Iterable[AuditEntry]) -> int:
        """Copy audit entries from elsewhere (a merged copy), skipping ones already present."""
        added = 0
        with self.atomic():
            for e in entries:
                exists = self._rows(
                    "SELECT 1 FROM audit WHERE at = ? AND actor = ? AND action = ? AND "
                    "ifnull(segment_id, '') = ? AND ifnull(code_id, '') = ? AND "
                    "ifnull(coder, '') = ?",
                    (e.at, e.actor, e.action, e.segment or "", e.code or "", e.coder or ""))
                if exists:
                    continue
                self._write("INSERT INTO audit (at, actor, command, action, segment_id, code_id, "
                            "coder, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (e.at, e.actor, e.command, e.action, e.segment, e.code, e.coder,
                             None if e.before is None else json.dumps(e.before, sort_keys=True),
                             None if e.after is None else json.dumps(e.after, sort_keys=True)))
                added += 1
        return added

    def audit(self, *, segment: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first (optionally for one segment, or the last ``limit``)."""
        sql = "SELECT * FROM audit" + (" WHERE segment_id = ?" if segment else "")
        params: list[Any] = [segment] if segment else []
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
            params.append(limit)
        else:
            sql += " ORDER BY id"
        return [AuditEntry(id=r["id"], at=r["at"], actor=r["actor"], command=r["command"],
                           action=r["action"], segment=r["segment_id"], code=r["code_id"],
                           coder=r["coder"],
                           before=json.loads(r["before"]) if r["before"] else None,
                           after=json.loads(r["after"]) if r["after"] else None)
                for r in self._rows(sql, params)]

    # --- stakeholder mentions -----------------------------------------------------------------

    def replace_mentions(self, segment_ids: Iterable[str] | None,
                         mentions: Iterable[Mention]) -> None:
        """Replace the stakeholder mentions of these segments (None: of every segment)."""
        with self.atomic():
            if segment_ids is None:
                self._write("DELETE FROM mentions")
            else:
                self._write("DELETE FROM mentions WHERE segment_id IN (SELECT value FROM "
                            "json_each(?))", (json.dumps(sorted(set(segment_ids))),))
            self._writemany('INSERT INTO mentions (segment_id, stakeholder_id, start, "end", '
                            "text) VALUES (?, ?, ?, ?, ?)",
                            ((m.segment, m.stakeholder, m.start, m.end, m.text)
                             for m in mentions))

    def mentions(self) -> list[Mention]:
        """Every stored stakeholder mention, in segment order."""
        return [Mention(r["segment_id"], r["stakeholder_id"], r["start"], r["end"], r["text"])
                for r in self._rows(
                    'SELECT m.segment_id, m.stakeholder_id, m.start, m."end", m.text FROM '
                    "mentions m JOIN segments s ON s.id = m.segment_id "
                    "ORDER BY s.source_id, s.n, m.start, m.stakeholder_id")]

    # --- per-segment stage state (what a stage computed, to skip unchanged work) --------------

    def stage_keys(self, stage: str) -> dict[str, str]:
        """For a pipeline stage, the key each segment was last processed with."""
        return {r["segment_id"]: r["key"] for r in self._rows(
            "SELECT segment_id, key FROM stage_state WHERE stage = ?", (stage,))}

    def set_stage_keys(self, stage: str, keys: dict[str, str]) -> None:
        """Record the key each of these segments was processed with by ``stage``."""
        with self.atomic():
            self._writemany("INSERT INTO stage_state VALUES (?, ?, ?) ON CONFLICT (stage, "
                            "segment_id) DO UPDATE SET key = excluded.key",
                            ((stage, seg, key) for seg, key in sorted(keys.items())))

    def clear_stage(self, stage: str) -> None:
        """Forget what a stage computed (it then reprocesses everything)."""
        with self.atomic():
            self._write("DELETE FROM stage_state WHERE stage = ?", (stage,))

    # --- summary ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counts for ``tipqual status`` (keys as in the design contract)."""
        count = lambda table: self._rows(f"SELECT count(*) AS n FROM {table}")[0]["n"]  # noqa: E731
        by_status = {s: 0 for s in STATUSES}
        for r in self._rows("SELECT status, count(*) AS n FROM codings GROUP BY status"):
            by_status[r["status"]] = r["n"]
        info = self.codebook_info()
        return {
            "cases": count("cases"),
            "sources": count("sources"),
            "segments": count("segments"),
            "codes": info["codes"] if info else 0,
            "coders": self.coders(statuses=("human", "accepted", "rejected")),
            "codings": by_status,
        }


def damaged_study_error(exc: BaseException, path: str | Path | None) -> ProjectError | None:
    """The user error for a study file found damaged while a command read it, else None."""
    if type(exc) is not sqlite3.DatabaseError:
        return None  # OperationalError and the like are tipqual's bugs: keep their traceback
    return ProjectError(f"the study file is damaged ({exc}); restore it from a backup copy "
                        "(nothing was changed)", path=path)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner semicolons)."""
    statements, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            statements.append(joined.strip())
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf))
    return statements
