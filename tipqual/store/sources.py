"""Cases, their attributes, sources and their segments.

:class:`SourceStore` stores and reads the material a study codes. Replacing a source carries its
codings to the new segments as the caller planned (:mod:`tipqual.ingest.reanchor` plans it)
through the :class:`CodingStore`, so every move is audited like any other change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

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

    def replace_source(self, source: Source, segments: Sequence[Segment],
                       moves: Sequence[tuple[Coding, Coding, str]] | None = None,
                       carry: Mapping[str, str] | None = None) -> list[Coding]:
        """Swap a source's text and segments; its codings go where the caller planned.

        ``moves``: ``(old, new, action)`` for every coding that goes to another segment id or
        span (audited under its action, see :meth:`CodingStore.move`); the caller has already
        retired or removed the codings that do not survive, so every other coding of the old
        segments must be on a segment ``carry`` keeps under its own id (else CodingError:
        nothing is ever deleted unasked). ``carry``: old id -> new id of the segments whose
        text is unchanged; their stakeholder mentions and stage keys go with them, while every
        other segment of the source loses its own, so the stages compute them afresh.

        Without ``moves`` (the earlier behaviour): a coding stays when its segment id still
        exists with the same text; the others are removed (audited) and returned.
        """
        db = self._db
        with db.atomic():
            old_text = {s.id: s.text for s in self.segments(source=source.id)}
            new_by_id = {s.id: s for s in segments}
            if carry is None:
                carry = {i: i for i, t in old_text.items()
                         if i in new_by_id and new_by_id[i].text == t}
            moving = {old.key for old, _, _ in moves or ()}
            left = [c for c in self._codings.codings(segments=old_text)
                    if c.key not in moving and carry.get(c.segment) != c.segment]
            dropped: list[Coding] = []
            if moves is None:
                for coding in left:
                    self._codings.delete(coding)
                dropped, left = left, []
            if left:
                c = left[0]
                raise CodingError(f"{len(left)} codings of source {source.id!r} have no place "
                                  f"in the new segments (the first: {c.code!r} by {c.coder!r} "
                                  f"on {c.segment!r}); retire or remove them first")
            saved = self._take_derived(old_text, carry)
            if source.case is not None:
                db.write("INSERT OR IGNORE INTO cases VALUES (?)", (source.case,))
            db.write("UPDATE sources SET case_id = ?, path = ?, format = ?, sha256 = ?, "
                     "text = ?, meta = ?, imported_at = ? WHERE id = ?",
                     (source.case, source.path, source.format, source.sha256, source.text,
                      json.dumps(source.meta, sort_keys=True), now(), source.id))
            # Move kept rows out of the way of the (source, n) uniqueness, then rewrite them.
            db.write("UPDATE segments SET n = -n WHERE source_id = ?", (source.id,))
            db.writemany(
                _SEGMENT_INSERT + " ON CONFLICT (id) DO UPDATE SET "
                "n = excluded.n, speaker = excluded.speaker, role = excluded.role, "
                'start = excluded.start, "end" = excluded."end", text = excluded.text, '
                "meta = excluded.meta",
                _segment_params(source.id, segments))
            self._codings.move(moves or ())
            db.writemany("INSERT INTO stage_state VALUES (?, ?, ?)", saved[0])
            db.writemany('INSERT INTO mentions (segment_id, stakeholder_id, start, "end", '
                         "text) VALUES (?, ?, ?, ?, ?)", saved[1])
            gone = sorted(set(old_text) - set(new_by_id))
            db.write("DELETE FROM segments WHERE id IN (SELECT value FROM json_each(?))",
                     (json.dumps(gone),))
        return dropped

    def _take_derived(self, old_ids: Iterable[str], carry: Mapping[str, str]
                      ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Forget the stage keys and stakeholder mentions of the old segments, except those
        ``carry`` keeps under their own id; return the rows of those it moves, rewritten to
        their new ids (stage_state rows, mentions rows) to be put back once the new segments
        exist."""
        db = self._db
        moved = {o: n for o, n in carry.items() if o != n}
        keys = json.dumps(sorted(moved))
        stage = [(r["stage"], moved[r["segment_id"]], r["key"]) for r in db.rows(
            "SELECT stage, segment_id, key FROM stage_state WHERE segment_id IN "
            "(SELECT value FROM json_each(?)) ORDER BY stage, segment_id", (keys,))]
        mentions = [(moved[r["segment_id"]], r["stakeholder_id"], r["start"], r["end"],
                     r["text"]) for r in db.rows(
            'SELECT segment_id, stakeholder_id, start, "end", text FROM mentions WHERE '
            "segment_id IN (SELECT value FROM json_each(?)) ORDER BY id", (keys,))]
        ids = json.dumps(sorted(set(old_ids)))
        same = json.dumps(sorted(o for o, n in carry.items() if o == n))
        for table in ("stage_state", "mentions"):
            db.write(f"DELETE FROM {table} WHERE segment_id IN (SELECT value FROM json_each(?)) "
                     "AND segment_id NOT IN (SELECT value FROM json_each(?))", (ids, same))
        return stage, mentions

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

    def iter_mentions(self, batch: int = 2000) -> Iterator[Any]:
        """Every stored stakeholder mention as a :class:`~tipqual.records.Mention`, in the
        order of :meth:`tipqual.store.meta.MetaStore.mentions`, fetched in batches."""
        from tipqual.records import Mention

        cur = self._db.conn.cursor()
        cur.row_factory = None
        cur.execute('SELECT m.segment_id, m.stakeholder_id, m.start, m."end", m.text FROM '
                    "mentions m JOIN segments s ON s.id = m.segment_id "
                    "ORDER BY s.source_id, s.n, m.start, m.stakeholder_id")
        while rows := cur.fetchmany(batch):
            yield from (Mention(*row) for row in rows)

    def unkeyed_segments(self, stage: str) -> int:
        """How many segments have no key recorded for ``stage`` (counted in SQL)."""
        row = self._db.conn.execute(
            "SELECT count(*) FROM segments s WHERE NOT EXISTS (SELECT 1 FROM stage_state k "
            "WHERE k.stage = ? AND k.segment_id = s.id)", (stage,)).fetchone()
        return int(row[0])


def _word_count(text: str | None) -> int:
    return len(text.split()) if text else 0
