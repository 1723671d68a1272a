"""The project store: one SQLite file holds one study.

Only the modules of :mod:`tipqual.store` touch :mod:`sqlite3`. A :class:`Project` opens the file
in WAL mode with foreign keys on and a busy timeout, migrates an older schema (after a backup
copy), refuses a newer one, and offers every read and write the rest of tipqual needs. Every
write runs inside :meth:`Project.atomic`, so a command that fails or is killed leaves the study
as it was. Every change to a coding is appended to the audit log in the same transaction.

:class:`Project` is composed of parts, each in its own module, and delegates to them: the
connection and its transactions (:mod:`~tipqual.store.connection`), cases, sources and segments
(:mod:`~tipqual.store.sources`), codings and the audit log (:mod:`~tipqual.store.codings`),
codebook versions (:mod:`~tipqual.store.codebooks`), and settings, mentions, stage keys and
the summary (:mod:`~tipqual.store.meta`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from tipqual.records import (
    STATUSES,
    AuditEntry,
    Case,
    Coding,
    Mention,
    RetiredCoding,
    Segment,
    Source,
    Step,
)
from tipqual.store.codebooks import CodebookStore
from tipqual.store.codings import AuditLog, CodingStore, SuggestionGroup, current_actor
from tipqual.store.connection import (
    Database,
    create_study_file,
    damaged_study_error,
    now,
    open_study,
)
from tipqual.store.meta import MetaStore, study_status
from tipqual.store.schema import MIGRATIONS, SCHEMA_VERSION
from tipqual.store.sources import SourceStore
from tipqual.store.steps import StepRun, StepStore, restore_step

__all__ = ["STATUSES", "SCHEMA_VERSION", "MIGRATIONS", "Project", "AuditEntry", "Case",
           "Coding", "Mention", "Segment", "Source", "damaged_study_error"]


class Project:
    """A study stored in one SQLite file. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, command: str = "api"):
        self._db = Database(path, conn)
        self._audit_log = AuditLog(self._db, command, current_actor())
        self._codings = CodingStore(self._db, self._audit_log)
        self._sources = SourceStore(self._db, self._codings)
        self._codebooks = CodebookStore(self._db)
        self._meta = MetaStore(self._db)
        self._steps = StepStore(self._db, self._audit_log)

    @property
    def path(self) -> Path:
        """The study file."""
        return self._db.path

    @path.setter
    def path(self, value: Path) -> None:
        self._db.path = value

    @property
    def command(self) -> str:
        """The command the audit log records for changes made through this study."""
        return self._audit_log.command

    @command.setter
    def command(self, value: str) -> None:
        self._audit_log.command = value

    @property
    def actor(self) -> str:
        """Who the audit log records as making the changes."""
        return self._audit_log.actor

    @actor.setter
    def actor(self, value: str) -> None:
        self._audit_log.actor = value

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

        def build(conn: sqlite3.Connection) -> None:
            project = cls(path, conn, command)  # messages name the study, not the temp file
            project._db.migrate(MIGRATIONS, SCHEMA_VERSION, backup=False)
            with project.atomic():
                project.set_meta("name", name or path.stem)
                project.set_meta("created_at", now())
                if fill is not None:
                    fill(project)

        create_study_file(path, build)
        return cls.open(path, command=command)

    @classmethod
    def open(cls, path: str | Path, *, command: str = "api", readonly: bool = False) -> Project:
        """Open an existing study, migrating an older schema after a backup copy."""
        path = Path(path)
        conn, _, version = open_study(path, readonly, SCHEMA_VERSION)
        project = cls(path, conn, command)
        if version < SCHEMA_VERSION:
            project._db.migrate(MIGRATIONS, SCHEMA_VERSION, backup=True)
        return project

    def close(self) -> None:
        """Close the connection (uncommitted work, if any, is rolled back)."""
        self._db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions and the file ------------------------------------------------------------

    def atomic(self) -> AbstractContextManager[None]:
        """Run the block in one transaction (nested blocks are savepoints); roll back on error."""
        return self._db.atomic()

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._db.conn

    def _write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self._db.write(sql, params)

    def _writemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.writemany(sql, rows)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self._db.rows(sql, params)

    def migrations(self) -> list[str]:
        """Names of the migrations applied to this file, in order."""
        return self._db.migrations()

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return self._db.schema_version

    def integrity_check(self) -> str:
        """SQLite's own integrity check: ``ok`` for a sound file."""
        return self._db.integrity_check()

    def journal_mode(self) -> str:
        """The journal mode in force (``wal`` for a study)."""
        return self._db.journal_mode()

    def columns(self) -> list[tuple[str, str]]:
        """``(table, column)`` of every column the study file has, sorted."""
        return self._db.columns()

    def text_cells(self, skip: Iterable[tuple[str, str]] = ()
                   ) -> Iterator[tuple[str, int | None, str, str]]:
        """``(table, rowid, column, value)`` of every value stored as text in the file,
        except in the ``skip`` columns (streamed; see :meth:`Database.text_cells`)."""
        return self._db.text_cells(skip)

    # --- meta ---------------------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Set a study-level setting (name, created_at …)."""
        self._meta.set_meta(key, value)

    def meta(self, key: str, default: str | None = None) -> str | None:
        """Read a study-level setting."""
        return self._meta.meta(key, default)

    def settings(self) -> dict[str, str]:
        """Every study-level setting, by key."""
        return self._meta.settings()

    # --- codebook -----------------------------------------------------------------------------

    def set_codebook(self, codebook: Any) -> bool:
        """Make ``codebook`` (a :class:`~tipqual.codebook.model.Codebook`) the current version.

        Returns False when that exact version (same content hash) is already the current one.
        """
        return self._codebooks.set_codebook(codebook)

    def codebook(self) -> Any:
        """The current codebook (a :class:`~tipqual.codebook.model.Codebook`), or None."""
        return self._codebooks.codebook()

    def codebook_info(self) -> dict[str, Any] | None:
        """Name, version, content hash and number of codes of the current codebook."""
        return self._codebooks.codebook_info()

    def codebook_history(self) -> list[dict[str, Any]]:
        """Every codebook version the study has used, oldest first."""
        return self._codebooks.codebook_history()

    def code_ids(self) -> list[str]:
        """Ids of the current codebook's codes, in codebook order."""
        return self._codebooks.code_ids()

    def codebook_versions(self) -> list[dict[str, Any]]:
        """Every codebook version stored, oldest first: ``name``, ``version`` and ``data``
        (its whole content)."""
        return self._codebooks.versions()

    # --- cases --------------------------------------------------------------------------------

    def put_case(self, case_id: str, attributes: dict[str, str] | None = None) -> None:
        """Create a case, or set the given attributes of an existing one."""
        self._sources.put_case(case_id, attributes)

    def cases(self) -> list[Case]:
        """All cases, sorted by id, with their attributes."""
        return self._sources.cases()

    def attribute_names(self) -> list[str]:
        """Names of the case attributes used in the study, sorted."""
        return self._sources.attribute_names()

    # --- sources and segments -----------------------------------------------------------------

    def add_source(self, source: Source, segments: Sequence[Segment]) -> None:
        """Store a new source and its segments (the source id must be new)."""
        self._sources.add_source(source, segments)

    def remove_source(self, source_id: str) -> None:
        """Delete a source and its segments; its codings must have been removed first."""
        self._sources.remove_source(source_id)

    def replace_source(self, source: Source, segments: Sequence[Segment],
                       moves: Sequence[tuple[Coding, Coding, str]] | None = None,
                       carry: Mapping[str, str] | None = None) -> list[Coding]:
        """Swap a source's text and segments; its codings go where ``moves`` says (see
        :meth:`tipqual.store.sources.SourceStore.replace_source`)."""
        return self._sources.replace_source(source, segments, moves, carry)

    def set_source_case(self, source_id: str, case_id: str) -> None:
        """Assign a source to a case (creating the case if needed)."""
        self._sources.set_source_case(source_id, case_id)

    def source(self, source_id: str) -> Source | None:
        """One source by id, or None."""
        return self._sources.source(source_id)

    def sources(self) -> list[Source]:
        """All sources, sorted by id."""
        return self._sources.sources()

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterator[Segment]:
        """Segments in document order (sources sorted by id), streamed in batches."""
        return self._sources.segments(source=source, case=case, role=role, ids=ids, batch=batch)

    def segment_texts(self, ids: Iterable[str] | None = None,
                      batch: int = 500) -> Iterator[tuple[str, str, str]]:
        """``(id, role, text)`` of segments in document order: the light read of
        :meth:`segments` for stages that need the text alone (streamed in batches)."""
        return self._sources.segment_texts(ids, batch)

    def segment(self, segment_id: str) -> Segment | None:
        """One segment by id, or None."""
        return self._sources.segment(segment_id)

    def segment_ids(self) -> set[str]:
        """The ids of every segment in the study."""
        return self._sources.segment_ids()

    # --- codings ------------------------------------------------------------------------------

    def put_coding(self, coding: Coding) -> str:
        """Add a coding, or update the one with the same key; audited.

        Returns ``"added"``, ``"updated"`` or ``"unchanged"``.
        """
        return self._codings.put(coding)

    def move_codings(self, moves: Sequence[tuple[Coding, Coding, str]]) -> None:
        """Carry codings to another segment, span or code, each audited under its action
        (see :meth:`tipqual.store.codings.CodingStore.move`)."""
        self._codings.move(moves)

    def delete_coding(self, coding: Coding, *, action: str = "remove") -> bool:
        """Remove the coding with this key; audited (as ``action``). Returns False if there
        was none."""
        return self._codings.delete(coding, action=action)

    def find_coding(self, segment: str, code: str, coder: str,
                    span: tuple[int, int] | None = None) -> Coding | None:
        """The coding with this key, or None."""
        return self._codings.find(segment, code, coder, span)

    def codings(self, *, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None, codes: Iterable[str] | None = None,
                segments: Iterable[str] | None = None) -> list[Coding]:
        """Codings filtered by status, coder, code and segment; sorted by segment order."""
        return self._codings.codings(statuses=statuses, coders=coders, codes=codes,
                                     segments=segments)

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]:
        """Distinct coder names (optionally only those with codings of these statuses)."""
        return self._codings.coders(statuses=statuses)

    def suggestion_page(self, coder: str, *, code: str | None = None, case: str | None = None,
                        after: Sequence[Any] | None = None, limit: int = 50,
                        prefer: str | None = None,
                        thresholds: dict[str, float] | None = None) -> list[SuggestionGroup]:
        """The next page of ``coder``'s review queue, most uncertain first (one query); see
        :meth:`CodingStore.suggestion_page`."""
        return self._codings.suggestion_page(coder, code=code, case=case, after=after,
                                             limit=limit, prefer=prefer, thresholds=thresholds)

    def suggestion_count(self, coder: str, *, code: str | None = None,
                         case: str | None = None) -> int:
        """How many (segment, code) pairs ``coder``'s review queue holds in all."""
        return self._codings.suggestion_count(coder, code=code, case=case)

    def decisions(self) -> list[dict[str, Any]]:
        """How suggestions fared: ``{"suggester", "reviewer", "status", "count"}`` rows.

        Accepted and rejected codings count under their reviewer and their suggester (named
        by their provenance, else by the stored suggestions they decide, else None);
        undecided suggestions are the rows of status ``"suggested"``, reviewer None (they add
        up to ``status()["codings"]["suggested"]``). See :meth:`CodingStore.decisions`.
        """
        return self._codings.decisions()

    def decided_suggestions(self) -> dict[str | None, tuple[int, int]]:
        """Per suggester: suggestions decided (each once) and decided by several reviewers."""
        return self._codings.decided_suggestions()

    def replace_suggestions(self, coders: Iterable[str], segment_ids: Iterable[str] | None,
                            suggestions: Iterable[Coding]) -> dict[str, int]:
        """Swap unreviewed suggestions by ``coders`` on ``segment_ids`` (None: all) for new ones.

        Human codings and reviewed decisions are never touched. Audited in bulk.
        Returns counts ``{"removed": N, "added": N}``.
        """
        return self._codings.replace_suggestions(coders, segment_ids, suggestions)

    # --- audit --------------------------------------------------------------------------------

    def append_audit(self, entries: Iterable[AuditEntry]) -> int:
        """Copy audit entries from elsewhere (a merged copy), skipping ones already present."""
        return self._audit_log.append(entries)

    def audit(self, *, segment: str | None = None, limit: int | None = None,
              step: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first (optionally for one segment or one step, or the last
        ``limit``)."""
        return self._audit_log.entries(segment=segment, limit=limit, step=step)

    # --- steps and retired codings ------------------------------------------------------------

    def step(self, kind: str, *, backup: bool = True) -> AbstractContextManager[StepRun]:
        """One step (a replace, a codebook applied): one transaction, recorded with its plan,
        a copy of the study made first (see :mod:`tipqual.store.steps`)."""
        return self._steps.step(kind, backup=backup)

    def steps(self) -> list[Step]:
        """Every step taken, oldest first."""
        return self._steps.steps()

    def retire(self, coding: Coding, reason: str, *, segment_text: str,
               source: str | None = None) -> int:
        """Take a coding out of play (``orphaned`` or ``archived``), kept whole; audited."""
        return self._steps.retire(coding, reason, segment_text=segment_text, source=source)

    def retired(self, reason: str | None = None) -> list[RetiredCoding]:
        """The codings steps took out of play, oldest first."""
        return self._steps.retired(reason)

    def reattach(self, retired_id: int, segment: str, *, span_start: int | None = None,
                 span_end: int | None = None, code: str | None = None) -> Coding:
        """Put a retired coding back on a segment (under ``code``, if given); audited."""
        return self._steps.reattach(retired_id, segment, span_start=span_start,
                                    span_end=span_end, code=code)

    def later_changes(self, step: Step) -> dict[str, Any]:
        """Later steps and changes to codings made after ``step``."""
        return self._steps.later_changes(step)

    def restore_step(self, number: int, *, discard_later: bool = False,
                     dry_run: bool = False) -> dict[str, Any]:
        """Put back the study as it was before step ``number`` (the current state kept)."""
        return restore_step(self._db, self._steps, self._audit_log, number,
                            discard_later=discard_later, dry_run=dry_run)

    # --- stakeholder mentions -----------------------------------------------------------------

    def replace_mentions(self, segment_ids: Iterable[str] | None,
                         mentions: Iterable[Mention]) -> None:
        """Replace the stakeholder mentions of these segments (None: of every segment)."""
        self._meta.replace_mentions(segment_ids, mentions)

    def mentions(self) -> list[Mention]:
        """Every stored stakeholder mention, in segment order."""
        return self._meta.mentions()

    # --- per-segment stage state (what a stage computed, to skip unchanged work) --------------

    def stage_keys(self, stage: str) -> dict[str, str]:
        """For a pipeline stage, the key each segment was last processed with."""
        return self._meta.stage_keys(stage)

    def set_stage_keys(self, stage: str, keys: dict[str, str]) -> None:
        """Record the key each of these segments was processed with by ``stage``."""
        self._meta.set_stage_keys(stage, keys)

    def clear_stage(self, stage: str) -> None:
        """Forget what a stage computed (it then reprocesses everything)."""
        self._meta.clear_stage(stage)

    # --- summary ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counts for ``tipqual status`` (keys as in the design contract); ``suggested``
        counts only the suggestions no person has decided yet."""
        return study_status(self._db, self._codebooks, self._codings)

    # --- streamed and aggregate reads (the report and the exchange at scale) ----------------

    def source_headers(self) -> list[Source]:
        """All sources, sorted by id, without their text (``text`` is ``""``)."""
        return self._sources.source_headers()

    def source_texts(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """``(id, text)`` of sources sorted by id, one at a time."""
        return self._sources.source_texts(ids)

    def segment_index(self, ids: Iterable[str] | None = None
                      ) -> Iterator[tuple[str, str, str | None, int, str | None, str, int, int]]:
        """``(id, source, case, n, speaker, role, start, end)`` of segments, without their
        text, in document order (streamed)."""
        return self._sources.segment_index(ids)

    def segment_counts(self) -> list[dict[str, Any]]:
        """Segments and words per source, role and speaker, counted in SQL."""
        return self._sources.segment_counts()

    def iter_codings(self) -> Iterable[Coding]:
        """Every coding in the order of :meth:`codings`, streamed."""
        return self._codings.iter_codings()

    def coding_keys(self, *, statuses: Iterable[str]) -> Iterable[tuple[str, str, str]]:
        """``(segment, code, coder)`` of the codings of ``statuses``, streamed."""
        return self._codings.coding_keys(statuses=statuses)

    def coded_segment_counts(self, *, statuses: Iterable[str],
                             groups: dict[str, list[str]]) -> list[tuple[str, str, int]]:
        """``(case, group, segments)`` with codes of each group, counted in SQL."""
        return self._codings.coded_segment_counts(statuses=statuses, groups=groups)

    def coder_counts(self) -> dict[str, dict[str, int]]:
        """Per coder, non-suggestion codings by status and their distinct segments (SQL)."""
        return self._codings.coder_counts()

    def awaiting_review(self) -> dict[str, int]:
        """Per suggester, its suggestions nobody has decided yet (SQL)."""
        return self._codings.awaiting_review()

    def iter_mentions(self) -> Iterator[Mention]:
        """Every stored stakeholder mention, in the order of :meth:`mentions`, streamed."""
        return self._sources.iter_mentions()

    def unkeyed_segments(self, stage: str) -> int:
        """How many segments have no key recorded for ``stage`` (SQL)."""
        return self._sources.unkeyed_segments(stage)
