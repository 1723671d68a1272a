"""The study file's connection: opening, creating, transactions and migrations.

:class:`Database` owns the one :mod:`sqlite3` connection of an open study and the transaction
machinery every write runs in (:meth:`Database.atomic`, nested blocks being savepoints). The
functions here connect to a file in WAL mode with foreign keys on and a busy timeout
(:func:`connect`), open an existing study after checking it is one (:func:`open_study`), and
build a new study file under a temporary name and publish it in one step
(:func:`create_study_file`). The repositories of the other store modules receive a
:class:`Database` and run their SQL through it.
"""

from __future__ import annotations

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

from tipqual.errors import ProjectError, SchemaTooNewError

BUSY_TIMEOUT_MS = 30_000
FIRST_WAIT_MS = 1_000  # before a writer is told that it waits for another's lock
# Called (with the study's path) when a write has to wait for another writer's lock: the
# command line sets it to say so on stderr; the store itself prints nothing.
BUSY_NOTICE: Callable[[Path], Any] | None = None
APPLICATION_ID = 0x54495051  # "TIPQ": marks a file as a tipqual study
_WRITABLE = "check that the study file and its folder are writable (nothing was changed)"


def now() -> str:
    """The current time as the store records it (UTC, microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Database:
    """The open connection of one study, and the transactions run on it.

    ``path`` is the study's name in messages (while a study is being created the connection is
    to a temporary file, but errors name the study).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn
        self._depth = 0

    def close(self) -> None:
        """Close the connection (uncommitted work, if any, is rolled back)."""
        self.conn.close()

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run the block in one transaction (nested blocks are savepoints); roll back on error.

        SQLite rolls a whole transaction back by itself on some errors (a full disk, an I/O
        error); the savepoints are then gone, so the roll-back here only undoes what is left
        and the block's own error, not a failed roll-back, is what the caller sees.
        """
        if self._depth == 0:
            self._begin()
        else:
            self._require_open_tx()
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._undo()
            raise
        self._depth -= 1
        if self._depth == 0:
            self._commit()
        else:
            self._require_open_tx()
            self.conn.execute(f"RELEASE sp{self._depth}")

    def _undo(self) -> None:
        """Roll back the innermost block (a savepoint, or the whole transaction at depth 0)."""
        if not self.conn.in_transaction:
            return  # SQLite has already rolled the whole transaction back
        try:
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
        except sqlite3.Error:
            # The roll-back itself failed (the disk went away): abandon the whole transaction
            # so the outer blocks find nothing left to undo and nothing half-done is kept.
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def _require_open_tx(self) -> None:
        """Refuse to go on writing once SQLite has rolled the transaction back by itself.

        Without this a caller that caught the error would carry on in autocommit mode, each
        later statement saved on its own.
        """
        if not self.conn.in_transaction:
            raise ProjectError("the change was abandoned after a write error (nothing was "
                               "written); run the command again", path=self.path)

    def _begin(self) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so a writer waits (busy timeout) at the
        # start instead of failing half-way; a few retries cover a timeout under heavy load.
        # The first try waits a moment only: when the lock is held, the person is told that
        # the command waits (see BUSY_NOTICE) before the long wait begins.
        self.conn.execute(f"PRAGMA busy_timeout = {FIRST_WAIT_MS}")
        try:
            if self._try_begin():
                return
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if BUSY_NOTICE is not None:
            BUSY_NOTICE(self.path)
        for attempt in range(5):
            if self._try_begin():
                return
            time.sleep(0.05 * (attempt + 1))
        raise ProjectError("the study is busy (another tipqual is writing); try again",
                           path=self.path)

    def _try_begin(self) -> bool:
        """Take the write lock; False when another connection holds it past the timeout."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise ProjectError(f"cannot write to the study ({exc}); {_WRITABLE}",
                                   path=self.path) from exc
            return False

    def _commit(self) -> None:
        self._require_open_tx()
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise write_error(exc, self.path) or ProjectError(
                f"could not save the change, nothing was written: {exc}",
                path=self.path) from exc

    def _require_tx(self) -> None:
        if self._depth == 0:
            raise RuntimeError("store writes must run inside Project.atomic()")
        self._require_open_tx()

    def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one writing statement (inside :meth:`atomic`, else RuntimeError)."""
        self._require_tx()
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            self._raise_write_error(exc)
            raise

    def writemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one writing statement for each of ``rows`` (inside :meth:`atomic`)."""
        self._require_tx()
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            self._raise_write_error(exc)
            raise

    def _raise_write_error(self, exc: sqlite3.OperationalError) -> None:
        """Raise the one-line error for a write the disk or the file refused (else return)."""
        error = write_error(exc, self.path)
        if error is not None:
            raise error from exc

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Every row a query returns."""
        return self.conn.execute(sql, params).fetchall()

    # --- schema and file checks ---------------------------------------------------------------

    def migrate(self, migrations: Sequence[tuple[str, str]], schema_version: int,
                backup: bool) -> None:
        """Apply the ``migrations`` the file lacks, each in one transaction.

        With ``backup``, an older file is first copied beside itself (``name.v<N>.bak``).
        """
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if backup and current < schema_version:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            backup_path = self.path.with_name(f"{self.path.name}.v{current}.bak")
            shutil.copy2(self.path, backup_path)
        for number, (name, script) in enumerate(migrations, start=1):
            if number <= current:
                continue
            with self.atomic():
                for statement in split_sql(script):
                    try:
                        self.conn.execute(statement)
                    except sqlite3.OperationalError as exc:
                        self._raise_write_error(exc)
                        raise
                self.conn.execute("CREATE TABLE IF NOT EXISTS migrations "
                                  "(number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                                  "applied_at TEXT NOT NULL)")
                self.conn.execute("INSERT INTO migrations VALUES (?, ?, ?)",
                                  (number, name, now()))
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.conn.execute(f"PRAGMA user_version = {number}")

    def migrations(self) -> list[str]:
        """Names of the migrations applied to this file, in order."""
        return [r["name"] for r in self.rows("SELECT name FROM migrations ORDER BY number")]

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def integrity_check(self) -> str:
        """SQLite's own integrity check: ``ok`` for a sound file."""
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def journal_mode(self) -> str:
        """The journal mode in force (``wal`` for a study)."""
        return self.conn.execute("PRAGMA journal_mode").fetchone()[0]

    # --- every string in the file (the residual PII check) -----------------------------------

    def columns(self) -> list[tuple[str, str]]:
        """``(table, column)`` of every column of every table of the study, sorted."""
        return sorted((table, column) for table in self._tables()
                      for column in self._columns_of(table))

    def text_cells(self, skip: Iterable[tuple[str, str]] = ()
                   ) -> Iterator[tuple[str, int | None, str, str]]:
        """``(table, rowid, column, value)`` of every value stored as text, streamed.

        Any column of any table, whatever its declared type, except the ``(table, column)``
        pairs in ``skip``; ``rowid`` is None in a table without one. Read-only.
        """
        skipped = set(skip)
        for table in self._tables():
            rowid = "NULL" if self._without_rowid(table) else "rowid"
            for column in self._columns_of(table):
                if (table, column) in skipped:
                    continue
                name = _identifier(column)
                cursor = self.conn.execute(
                    f"SELECT {rowid} AS r, {name} AS v FROM {_identifier(table)} "
                    f"WHERE typeof({name}) = 'text' ORDER BY 1")
                for r in cursor:
                    yield table, r["r"], column, r["v"]

    def _tables(self) -> list[str]:
        return [r["name"] for r in self.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY name")]

    def _columns_of(self, table: str) -> list[str]:
        return [r["name"] for r in self.rows(
            f"SELECT name FROM pragma_table_info({_literal(table)}) ORDER BY cid")]

    def _without_rowid(self, table: str) -> bool:
        sql = self.rows("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (table,))[0]["sql"] or ""
        return "WITHOUT ROWID" in " ".join(sql.upper().split())


# --- connecting -------------------------------------------------------------------------------

def study_uri(path: Path, readonly: bool = False) -> str:
    """The SQLite URI of ``path`` (``mode=ro`` when ``readonly``)."""
    # Quoted: '#', '?' and '%' in a file name would otherwise end or escape the URI.
    return "file:" + quote(str(path), safe="/:\\") + ("?mode=ro" if readonly else "")


def connect(path: Path, readonly: bool = False, tune: bool = True,
            immutable: bool = False) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode (transactions are explicit), rows by name."""
    uri = study_uri(path, readonly)
    if readonly and immutable:
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                           isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if tune and not readonly:
        tune_connection(conn)
    return conn


def tune_connection(conn: sqlite3.Connection) -> None:
    """WAL mode, and the synchronous level WAL makes safe."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")


def _connect_checked(path: Path, readonly: bool) -> tuple[sqlite3.Connection, bool]:
    """Connect without writing anything (another program's file stays as it was).

    A study whose file or folder cannot be written (a read-only share) cannot keep the
    WAL index beside it; when no write-ahead log is pending the file alone is the whole
    study, so it is opened as an immutable snapshot and every write is refused.
    """
    try:
        conn = connect(path, readonly=readonly, tune=False)
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
    return connect(path, readonly=True, immutable=True), True


def open_study(path: Path, readonly: bool,
               schema_version: int) -> tuple[sqlite3.Connection, bool, int]:
    """Connect to an existing study file after checking that it is one.

    Returns the connection, whether it is read-only (a read-only share is opened read-only
    even when writing was asked for) and the file's schema version. Refuses a file of a newer
    schema than ``schema_version``, and an older one opened read-only (it needs migrating).
    """
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
    conn, readonly = _connect_checked(path, readonly)
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
    if version > schema_version:
        conn.close()
        raise SchemaTooNewError(
            f"the study has schema version {version}, newer than this tipqual understands "
            f"({schema_version}); upgrade tipqual to open it", path=path)
    recorded = _recorded_version(conn)
    if version < 1 or (recorded is not None and recorded != version):
        conn.close()
        said = f"the migrations it records end at {recorded}" if recorded is not None else \
            "it records no migrations"
        raise ProjectError(f"the study's schema version is {version} but {said}: the file is "
                           "damaged; restore it from a backup (tipqual leaves NAME.v<N>.bak "
                           "and NAME.step<N>.bak copies beside it)", path=path)
    if version < schema_version and readonly:
        conn.close()
        raise ProjectError("the study needs a schema upgrade; open it once for writing",
                           path=path)
    if not readonly:
        try:
            tune_connection(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise damaged_study_error(exc, path) or ProjectError(
                f"cannot open the study for writing ({exc}); check that the file and its "
                "folder are writable", path=path) from exc
    return conn, readonly, version


def _recorded_version(conn: sqlite3.Connection) -> int | None:
    """The last migration the file's ``migrations`` table records (None: no such table)."""
    try:
        row = conn.execute("SELECT max(number) FROM migrations").fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(row[0]) if row and row[0] is not None else None


def create_study_file(path: Path, build: Callable[[sqlite3.Connection], Any]) -> None:
    """Build a new study file at ``path``; refuse if anything exists there.

    The file is built under a temporary name by ``build`` (given the connection to it) and
    published in one step, so a failed or killed creation leaves nothing behind.
    """
    if path.exists():
        raise ProjectError("a file already exists there; choose another path or remove it "
                           "first (tipqual never overwrites a study)", path=path)
    if not path.parent.exists():
        raise ProjectError(f"the folder {str(path.parent)!r} does not exist", path=path)
    tmp = path.with_name(path.name + ".tmp-init")
    try:
        tmp.unlink(missing_ok=True)
        conn = connect(tmp)
        try:
            build(conn)
            # Everything into the main file before its WAL is deleted; PASSIVE, so that a
            # reader holding the file open is reported at once instead of waited for.
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or frames != copied:  # another process holds the file: its WAL is needed
                raise ProjectError("cannot create the study: another process has its "
                                   "temporary file open; try again", path=path)
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


# --- errors and scripts -----------------------------------------------------------------------

def write_error(exc: sqlite3.OperationalError, path: str | Path) -> ProjectError | None:
    """The one-line error for a write the disk or the file refused, else None (a bug).

    Every write runs in one transaction, so when the disk is full or fails nothing was written.
    """
    text = str(exc).lower()
    if "full" in text:
        return ProjectError("the disk is full: nothing was written; free space and run the "
                            "command again", path=path)
    if "disk i/o error" in text:
        return ProjectError("the disk could not be written (disk I/O error): nothing was "
                            "written; check the disk and run the command again", path=path)
    if "readonly" in text:
        return ProjectError(f"cannot write to the study ({exc}); {_WRITABLE}", path=path)
    return None


def damaged_study_error(exc: BaseException, path: str | Path | None) -> ProjectError | None:
    """The user error for a study file found damaged while a command read it, else None."""
    if type(exc) is not sqlite3.DatabaseError:
        return None  # OperationalError and the like are tipqual's bugs: keep their traceback
    return ProjectError(f"the study file is damaged ({exc}); restore it from a backup copy "
                        "(nothing was changed)", path=path)


def _identifier(name: str) -> str:
    """An SQL identifier quoted (a table or column name read from the schema)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """An SQL string literal (for the table-valued pragma functions)."""
    return "'" + text.replace("'", "''") + "'"


def split_sql(script: str) -> list[str]:
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
