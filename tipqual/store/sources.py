"""Cases, their attributes, sources and their segments.

:class:`SourceStore` stores and reads the material a study codes. Replacing a source keeps the
codings of its unchanged segments and removes the others through the :class:`CodingStore`, so
those removals are audited like any other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

from tipqual.errors import CodingError
from tipqual.records import Case, Coding, Segment, Source
from tipqual.store.codings import CodingStore
from tipqual.store.connection import Database, now

_SEGMENT_INSERT = ('INSERT INTO segments (id, source_id, n, speaker, role, start, "end", text, '
                   "meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _source_from_row(r: sqlite3.Row) -> Source:
    return Source(id=r["id"], case=r["case_id"], path=r["path"], format=r["format"],
                  sha256=r["sha256"], text=r["text"], meta=json.loads(r["meta"]))


def _segment_params(source_id: str, segments: Sequence[Segment]
                    ) -> Iterator[tuple[object, ...]]:
    # most segments have no metadata: their "{}" needs no encoder
    return ((s.id, source_id, s.n, s.speaker, s.role, s.start, s.end, s.text,
             json.dumps(s.meta, sort_keys=True) if s.meta else "{}") for s in segments)


class SourceStore:
    """The cases, sources and segments of a study."""

    def __init__(self, db: Database, codings: CodingStore):
        self._db = db
        self._codings = codings

    # --- cases --------------------------------------------------------------------------------

    def put_case(self, case_id: str, attributes: dict[str, str] | None = None) -> None:
        """Create a case, or set the given attributes of an existing one."""
        with self._db.atomic():
            self._db.write("INSERT OR IGNORE INTO cases VALUES (?)", (case_id,))
            for name, value in sorted((attributes or {}).items()):
                self._db.write("INSERT INTO case_attributes VALUES (?, ?, ?) ON CONFLICT "
                               "(case_id, name) DO UPDATE SET value = excluded.value",
                               (case_id, name, value))

    def cases(self) -> list[Case]:
        """All cases, sorted by id, with their attributes."""
        attrs: dict[str, dict[str, str]] = {}
        for r in self._db.rows("SELECT case_id, name, value FROM case_attributes "
                               "ORDER BY name"):
            attrs.setdefault(r["case_id"], {})[r["name"]] = r["value"]
        return [Case(r["id"], attrs.get(r["id"], {}))
                for r in self._db.rows("SELECT id FROM cases ORDER BY id")]

    def attribute_names(self) -> list[str]:
        """Names of the case attributes used in the study, sorted."""
        return [r["name"] for r in self._db.rows(
            "SELECT DISTINCT name FROM case_attributes ORDER BY name")]

    # --- sources ------------------------------------------------------------------------------

    def add_source(self, source: Source, segments: Sequence[Segment]) -> None:
        """Store a new source and its segments (the source id must be new)."""
        db = self._db
        with db.atomic():
            if source.case is not None:
                db.write("INSERT OR IGNORE INTO cases VALUES (?)", (source.case,))
            db.write("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (source.id, source.case, source.path, source.format, source.sha256,
                      source.text, json.dumps(source.meta, sort_keys=True), now()))
            db.writemany(_SEGMENT_INSERT, _segment_params(source.id, segments))

    def remove_source(self, source_id: str) -> None:
        """Delete a source and its segments; its codings must have been removed first."""
        with self._db.atomic():
            left = self._db.rows("SELECT count(*) AS n FROM codings c JOIN segments s ON "
                                 "s.id = c.segment_id WHERE s.source_id = ?",
                                 (source_id,))[0]["n"]
            if left:
                raise CodingError(f"source {source_id!r} still has {left} codings; remove "
                                  "them first")
            self._db.write("DELETE FROM sources WHERE id = ?", (source_id,))

    def replace_source(self, source: Source, segments: Sequence[Segment]) -> list[Coding]:
        """Swap a source's text and segments, keeping every coding whose segment is unchanged.

        A coding stays when its segment id still exists with the same text (its offsets are
        updated); the others are removed (audited) and returned so the caller can report them.
        """
        db = self._db
        with db.atomic():
            old_text = {s.id: s.text for s in self.segments(source=source.id)}
            new_by_id = {s.id: s for s in segments}
            dropped = [c for c in self._codings.codings(segments=old_text)
                       if c.segment not in new_by_id or new_by_id[c.segment].text !=
                       old_text[c.segment]]
            for coding in dropped:
                self._codings.delete(coding)
            if source.case is not None:
                db.write("INSERT OR IGNORE INTO cases VALUES (?)", (source.case,))
            db.write("UPDATE sources SET case_id = ?, path = ?, format = ?, sha256 = ?, "
                     "text = ?, meta = ?, imported_at = ? WHERE id = ?",
                     (source.case, source.path, source.format, source.sha256, source.text,
                      json.dumps(source.meta, sort_keys=True), now(), source.id))
            gone = sorted(set(old_text) - set(new_by_id))
            db.write("DELETE FROM segments WHERE id IN (SELECT value FROM json_each(?))",
                     (json.dumps(gone),))
            # Move kept rows out of the way of the (source, n) uniqueness, then rewrite them.
            db.write("UPDATE segments SET n = -n WHERE source_id = ?", (source.id,))
            db.writemany(
                _SEGMENT_INSERT + " ON CONFLICT (id) DO UPDATE SET "
                "n = excluded.n, speaker = excluded.speaker, role = excluded.role, "
                'start = excluded.start, "end" = excluded."end", text = excluded.text, '
                "meta = excluded.meta",
                _segment_params(source.id, segments))
        return dropped

    def set_source_case(self, source_id: str, case_id: str) -> None:
        """Assign a source to a case (creating the case if needed)."""
        with self._db.atomic():
            self._db.write("INSERT OR IGNORE INTO cases VALUES (?)", (case_id,))
            self._db.write("UPDATE sources SET case_id = ? WHERE id = ?", (case_id, source_id))

    def source(self, source_id: str) -> Source | None:
        """One source by id, or None."""
        rows = self._db.rows("SELECT * FROM sources WHERE id = ?", (source_id,))
        return _source_from_row(rows[0]) if rows else None

    def sources(self) -> list[Source]:
        """All sources, sorted by id."""
        return [_source_from_row(r) for r in self._db.rows("SELECT * FROM sources ORDER BY id")]

    # --- segments -----------------------------------------------------------------------------

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
        cur = self._db.conn.execute(sql, params)
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
        """``(id, role, text)`` of segments in document order (streamed in batches)."""
        sql = "SELECT id, role, text FROM segments"
        params: list[str] = []
        if ids is not None:
            sql += " WHERE id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(ids))))
        cur = self._db.conn.cursor()
        cur.row_factory = None  # plain tuples
        cur.execute(sql + " ORDER BY source_id, n", params)
        while rows := cur.fetchmany(batch):
            yield from rows

    def segment(self, segment_id: str) -> Segment | None:
        """One segment by id, or None."""
        return next(self.segments(ids=[segment_id]), None)

    def segment_ids(self) -> set[str]:
        """The ids of every segment in the study."""
        return {r["id"] for r in self._db.rows("SELECT id FROM segments")}

    # --- light and aggregate reads (the report and the exchange at scale) -------------------

    def source_headers(self) -> list[Source]:
        """All sources, sorted by id, without their text (``text`` is ``""``)."""
        return [_source_from_row(r) for r in self._db.rows(
            "SELECT id, case_id, path, format, sha256, '' AS text, meta FROM sources "
            "ORDER BY id")]

    def source_texts(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """``(id, text)`` of sources sorted by id, one row fetched at a time."""
        sql = "SELECT id, text FROM sources"
        params: list[str] = []
        if ids is not None:
            sql += " WHERE id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(ids))))
        cur = self._db.conn.cursor()
        cur.row_factory = None
        cur.execute(sql + " ORDER BY id", params)
        while (row := cur.fetchone()) is not None:
            yield row[0], row[1]

    def segment_index(self, ids: Iterable[str] | None = None,
                      batch: int = 2000) -> Iterator[tuple[str, str, str | None, int,
                                                           str | None, str, int, int]]:
        """``(id, source, case, n, speaker, role, start, end)`` of segments, without their
        text, in document order (streamed in batches)."""
        sql = ('SELECT s.id, s.source_id, src.case_id, s.n, s.speaker, s.role, s.start, '
               's."end" FROM segments s JOIN sources src ON src.id = s.source_id')
        params: list[str] = []
        if ids is not None:
            sql += " WHERE s.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(ids))))
        cur = self._db.conn.cursor()
        cur.row_factory = None
        cur.execute(sql + " ORDER BY s.source_id, s.n", params)
        while rows := cur.fetchmany(batch):
            yield from rows

    def segment_counts(self) -> list[dict[str, object]]:
        """Segments and words per source, role and speaker, counted in SQL.

        Rows ``{"source", "case", "role", "speaker", "segments", "words"}`` sorted by source,
        role and speaker; a segment's words are its text split at whitespace (as Python's
        ``str.split``).
        """
        self._db.conn.create_function("tipqual_words", 1, _word_count, deterministic=True)
        rows = self._db.rows(
            "SELECT s.source_id, src.case_id, s.role, s.speaker, count(*) AS n, "
            "sum(tipqual_words(s.text)) AS words FROM segments s JOIN sources src "
            "ON src.id = s.source_id GROUP BY s.source_id, s.role, s.speaker "
            "ORDER BY s.source_id, s.role, s.speaker")
        return [{"source": r["source_id"], "case": r["case_id"], "role": r["role"],
                 "speaker": r["speaker"], "segments": r["n"], "words": r["words"]}
                for r in rows]


def _word_count(text: str | None) -> int:
    return len(text.split()) if text else 0
