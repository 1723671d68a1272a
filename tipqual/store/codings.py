"""Codings and their audit log.

:class:`AuditLog` appends one entry per change to a coding (who, which command, the state before
and after) and reads the log back; :class:`CodingStore` adds, updates, removes and finds
codings, each change audited in the same transaction.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any, NamedTuple

from tipqual.errors import CodingError
from tipqual.records import STATUSES, AuditEntry, Coding
from tipqual.store.connection import Database, now

CODING_COLUMNS = ("segment_id, code_id, coder, status, score, provenance, memo, "
                  "span_start, span_end, created_at, updated_at")

# A suggestion ``c`` that a person has accepted or rejected: a decision on the same segment, code
# and span (the codings_key index finds it by segment and code).
_DECIDED = ("EXISTS (SELECT 1 FROM codings d WHERE d.segment_id = c.segment_id AND "
            "d.code_id = c.code_id AND d.status IN ('accepted', 'rejected') AND "
            "ifnull(d.span_start, -1) = ifnull(c.span_start, -1) AND "
            "ifnull(d.span_end, -1) = ifnull(c.span_end, -1))")
# The suggestions that a person has decided (see _DECIDED), each once, looked up from the
# decisions: CROSS JOIN keeps the decisions outside (the codings_status index), and the unary +
# keeps each decision's suggestions looked up by segment and code (codings_key).
_DECIDED_SUGGESTIONS = (
    "(SELECT DISTINCT s.id FROM codings d CROSS JOIN codings s ON s.segment_id = d.segment_id "
    "AND s.code_id = d.code_id AND ifnull(s.span_start, -1) = ifnull(d.span_start, -1) AND "
    "ifnull(s.span_end, -1) = ifnull(d.span_end, -1) "
    "WHERE d.status IN ('accepted', 'rejected') AND +s.status = 'suggested')")
# The suggester a decision ``c`` was taken on. First what its provenance names, ``t`` (trimmed):
# the review writes ``review of <suggester> <score>`` (``tipqual-model+tipqual-rules`` when both
# proposed the code); other tools may write a JSON object whose "suggester" is a name or a list
# of names. Else the suggesters of the stored suggestions it decides, joined by "+"; else NULL.
_NAMED = (
    "nullif(CASE WHEN substr(t, 1, 10) = 'review of ' THEN "
    "substr(t, 11, instr(substr(t, 11) || ' ', ' ') - 1) "
    "WHEN substr(t, 1, 1) = '{' AND json_valid(t) THEN "
    "CASE json_type(t, '$.suggester') WHEN 'text' THEN json_extract(t, '$.suggester') "
    "WHEN 'array' THEN (SELECT group_concat(v, '+') FROM (SELECT CAST(value AS TEXT) AS v "
    "FROM json_each(t, '$.suggester') WHERE ifnull(CAST(value AS TEXT), '') <> '' "
    "ORDER BY v)) END END, '')")
_STORED = (
    "(SELECT group_concat(coder, '+') FROM (SELECT DISTINCT s.coder FROM codings s "
    "WHERE s.segment_id = c.segment_id AND s.code_id = c.code_id AND s.status = 'suggested' "
    "AND ifnull(s.span_start, -1) = ifnull(c.span_start, -1) AND "
    "ifnull(s.span_end, -1) = ifnull(c.span_end, -1) ORDER BY s.coder))")
_WHITESPACE = "' ' || char(9, 10, 11, 12, 13)"

# One encoder for every audit record: json.dumps with options builds a new one per call.
_AUDIT_JSON = json.JSONEncoder(sort_keys=True)

State = dict[str, Any]


def current_actor() -> str:
    """Who is making the changes: ``$TIPQUAL_USER``, else the login name."""
    try:
        return os.environ.get("TIPQUAL_USER") or getpass.getuser()
    except Exception:  # getuser raises when no user name can be found at all
        return "unknown"


def coding_from_row(row: sqlite3.Row) -> Coding:
    return Coding(segment=row["segment_id"], code=row["code_id"], coder=row["coder"],
                  status=row["status"], score=row["score"], provenance=row["provenance"],
                  memo=row["memo"], span_start=row["span_start"], span_end=row["span_end"],
                  created_at=row["created_at"], updated_at=row["updated_at"])


def coding_state(c: Coding) -> State:
    """What an audit entry records of a coding (everything but its key and times)."""
    return {"status": c.status, "score": c.score, "provenance": c.provenance, "memo": c.memo,
            "span_start": c.span_start, "span_end": c.span_end}


class AuditLog:
    """The append-only log of changes to codings, stamped with ``actor`` and ``command``."""

    def __init__(self, db: Database, command: str, actor: str):
        self._db = db
        self.command = command
        self.actor = actor
        self.step: int | None = None  # set while a step runs: its entries carry the step's id

    def record(self, action: str, items: Sequence[tuple[Coding, State | None, State | None]]
               ) -> None:
        """Append one entry per ``(coding, before, after)`` (inside a transaction)."""
        at = now()
        self._db.writemany(
            "INSERT INTO audit (at, actor, command, action, segment_id, code_id, coder, before, "
            "after, step_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((at, self.actor, self.command, action, c.segment, c.code, c.coder,
              None if b is None else _AUDIT_JSON.encode(b),
              None if a is None else _AUDIT_JSON.encode(a), self.step) for c, b, a in items))

    def append(self, entries: Iterable[AuditEntry]) -> int:
        """Copy audit entries from elsewhere (a merged copy), skipping ones already present."""
        db = self._db
        added = 0
        with db.atomic():
            for e in entries:
                exists = db.rows(
                    "SELECT 1 FROM audit WHERE at = ? AND actor = ? AND action = ? AND "
                    "ifnull(segment_id, '') = ? AND ifnull(code_id, '') = ? AND "
                    "ifnull(coder, '') = ?",
                    (e.at, e.actor, e.action, e.segment or "", e.code or "", e.coder or ""))
                if exists:
                    continue
                db.write("INSERT INTO audit (at, actor, command, action, segment_id, code_id, "
                         "coder, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (e.at, e.actor, e.command, e.action, e.segment, e.code, e.coder,
                          None if e.before is None else json.dumps(e.before, sort_keys=True),
                          None if e.after is None else json.dumps(e.after, sort_keys=True)))
                added += 1
        return added

    def entries(self, *, segment: str | None = None, limit: int | None = None,
                step: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first (optionally for one segment or one step, or the last
        ``limit``)."""
        where = [w for w, v in (("segment_id = ?", segment), ("step_id = ?", step)) if v]
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
        params: list[Any] = [v for v in (segment, step) if v]
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id"
            params.append(limit)
        else:
            sql += " ORDER BY id"
        return [AuditEntry(id=r["id"], at=r["at"], actor=r["actor"], command=r["command"],
                           action=r["action"], segment=r["segment_id"], code=r["code_id"],
                           coder=r["coder"],
                           before=json.loads(r["before"]) if r["before"] else None,
                           after=json.loads(r["after"]) if r["after"] else None,
                           step=r["step_id"])
                for r in self._db.rows(sql, params)]


class SuggestionGroup(NamedTuple):
    """One (segment, code) pair of the review queue: its stored suggestions (one per
    suggester and span), the score the queue ranks it by, and where the next page starts."""

    segment: str
    code: str
    score: float  # the preferred suggester's score when it proposed the code, else the best
    uncertainty: float  # |score - the code's threshold (0.5 when none is given)|
    after: tuple[Any, ...]  # the sort key of this pair: pass it as ``after`` for the next page
    codings: list[Coding]


# The review queue's pairs, ranked: every undecided-by-the-reviewer suggestion grouped by
# (segment, code), scored (the preferred suggester's score, else the best), its uncertainty the
# distance of that score from the code's threshold; ties go in document order, then codebook
# order (codes not in the current codebook last), then code id.
_QUEUE = (
    "WITH book AS (SELECT id, position FROM codes "
    "WHERE codebook_id = (SELECT max(id) FROM codebooks)), "
    "{candidates}"
    "pairs AS (SELECT c.segment_id, c.code_id, s.source_id, s.n, "
    "CASE WHEN max(c.coder = :prefer) THEN ifnull(max(CASE WHEN c.coder = :prefer "
    "THEN c.score END), 0.0) ELSE ifnull(max(c.score), 0.0) END AS score "
    "FROM {rows} JOIN segments s ON s.id = c.segment_id "
    "WHERE c.status = 'suggested'{filters} AND NOT EXISTS (SELECT 1 FROM codings o "
    "WHERE o.segment_id = c.segment_id AND o.code_id = c.code_id AND o.coder = :coder) "
    "GROUP BY c.segment_id, c.code_id), "
    "ranked AS (SELECT p.*, abs(p.score - {threshold}) AS uncertainty, "
    "ifnull(b.position, 2147483647) AS position FROM pairs p "
    "LEFT JOIN book b ON b.id = p.code_id{thresholds})")
# A code's threshold: given per code in :thresholds (0.5 for the others), or 0.5 for all.
_THRESHOLDS = (" LEFT JOIN json_each(:thresholds) t ON t.key = p.code_id", "ifnull(t.value, 0.5)")
_QUEUE_ORDER = "uncertainty, source_id, n, position, code_id"


# A stored suggestion's distance from 0.5, as the codings_uncertainty index (migration 0004)
# writes it: a pair's uncertainty (its chosen suggestion's distance; 0.5 for no score) is never
# below the smallest of its suggestions', so every pair at most ``u`` from 0.5 has a suggestion
# at most ``u`` from 0.5, found by a range of that index.
_ROW_UNCERTAINTY = "abs(ifnull(score, 0.0) - 0.5)"
_BY_UNCERTAINTY = "codings INDEXED BY codings_uncertainty WHERE status = 'suggested'"
# The queue's pairs that have a suggestion at most :bound from 0.5 (a bounded page reads these).
_CANDIDATES = (f"cand AS (SELECT DISTINCT segment_id, code_id FROM {_BY_UNCERTAINTY} "
               f"AND {_ROW_UNCERTAINTY} <= :bound{{code}}), ")
_CANDIDATE_ROWS = ("cand k CROSS JOIN codings c ON c.segment_id = k.segment_id "
                   "AND c.code_id = k.code_id")


# The segments of the case :case (a case's suggestions are looked up by segment).
_CASE_SEGMENTS = ("(SELECT cs.id FROM segments cs JOIN sources src ON src.id = cs.source_id "
                  "WHERE src.case_id = :case)")


def _queue_sql(code: str | None, case: str | None, bounded: bool = False,
               thresholds: bool = True) -> str:
    """The queue's CTEs (``book``, ``pairs``, ``ranked``); ``bounded``: only the pairs that
    have a suggestion at most ``:bound`` from 0.5 (read through the uncertainty index), else
    every suggestion in pair order (the codings_pairs index holds all the columns needed);
    ``thresholds``: the codes' thresholds are in ``:thresholds`` (else 0.5 for all)."""
    join, threshold = _THRESHOLDS if thresholds else ("", "0.5")
    filters = (" AND c.code_id = :code" if code is not None else "") + (
        f" AND c.segment_id IN {_CASE_SEGMENTS}" if case is not None else "")
    candidates = (_CANDIDATES.format(code=" AND code_id = :code" if code is not None else "")
                  if bounded else "")
    return _QUEUE.format(filters=filters, candidates=candidates, thresholds=join,
                         threshold=threshold,
                         rows=_CANDIDATE_ROWS if bounded else "codings c INDEXED BY codings_pairs")


class CodingStore:
    """The codings of a study: every change goes through here and into the audit log."""

    def __init__(self, db: Database, audit: AuditLog):
        self._db = db
        self._audit = audit

    def put(self, coding: Coding) -> str:
        """Add a coding, or update the one with the same key; audited.

        Returns ``"added"``, ``"updated"`` or ``"unchanged"``.
        """
        if coding.status not in STATUSES:
            raise CodingError(f"unknown status {coding.status!r}; use one of "
                              f"{', '.join(STATUSES)}")
        db = self._db
        with db.atomic():
            old = self._find(coding.key)
            stamp = now()
            if old is None:
                if not db.rows("SELECT 1 FROM segments WHERE id = ?", (coding.segment,)):
                    raise CodingError(f"unknown segment {coding.segment!r}; list them with "
                                      "'tipqual segments'")
                db.write(f"INSERT INTO codings ({CODING_COLUMNS}) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (coding.segment, coding.code, coding.coder, coding.status,
                          coding.score, coding.provenance, coding.memo, coding.span_start,
                          coding.span_end, coding.created_at or stamp,
                          coding.updated_at or stamp))
                self._audit.record("add", [(coding, None, coding_state(coding))])
                return "added"
            if coding_state(old) == coding_state(coding):
                return "unchanged"
            db.write("UPDATE codings SET status = ?, score = ?, provenance = ?, memo = ?, "
                     "updated_at = ? WHERE segment_id = ? AND code_id = ? AND coder = ? "
                     "AND ifnull(span_start, -1) = ? AND ifnull(span_end, -1) = ?",
                     (coding.status, coding.score, coding.provenance, coding.memo,
                      coding.updated_at or stamp, *coding.key))
            self._audit.record("update", [(coding, coding_state(old), coding_state(coding))])
            return "updated"

    def delete(self, coding: Coding, *, action: str = "remove") -> bool:
        """Remove the coding with this key; audited as ``action`` (``remove``; ``collapse``
        when it is folded into another). Returns False if there was none."""
        with self._db.atomic():
            old = self._find(coding.key)
            if old is None:
                return False
            self._db.write("DELETE FROM codings WHERE segment_id = ? AND code_id = ? AND "
                           "coder = ? AND ifnull(span_start, -1) = ? AND "
                           "ifnull(span_end, -1) = ?", coding.key)
            self._audit.record(action, [(old, coding_state(old), None)])
            return True

    def find(self, segment: str, code: str, coder: str,
             span: tuple[int, int] | None = None) -> Coding | None:
        """The coding with this key, or None."""
        start, end = span if span is not None else (-1, -1)
        return self._find((segment, code, coder, start, end))

    def _find(self, key: tuple[str, str, str, int, int]) -> Coding | None:
        rows = self._db.rows(f"SELECT {CODING_COLUMNS} FROM codings WHERE segment_id = ? AND "
                             "code_id = ? AND coder = ? AND ifnull(span_start, -1) = ? AND "
                             "ifnull(span_end, -1) = ?", key)
        return coding_from_row(rows[0]) if rows else None

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
        sql = (f"SELECT {', '.join('c.' + col.strip() for col in CODING_COLUMNS.split(','))} "
               "FROM codings c JOIN segments s ON s.id = c.segment_id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY s.source_id, s.n, c.code_id, c.coder, ifnull(c.span_start, -1)")
        return [coding_from_row(r) for r in self._db.rows(sql, params)]

    def suggestion_page(self, coder: str, *, code: str | None = None, case: str | None = None,
                        after: Sequence[Any] | None = None, limit: int = 50,
                        prefer: str | None = None,
                        thresholds: Mapping[str, float] | None = None) -> list[SuggestionGroup]:
        """The next ``limit`` pairs of ``coder``'s review queue, most uncertain first; no row
        is loaded whole, and the queue is not read whole either (see below).

        The queue holds every (segment, code) with a stored suggestion that ``coder`` has not
        coded or decided (any status, any span), of ``code`` and ``case`` when given. A pair's
        score is ``prefer``'s suggestion's score when that suggester proposed it, else the best
        one; its uncertainty is its distance from ``thresholds[code]`` (0.5 when absent). Ties
        go in document order, then codebook order, then code id. ``after``: the ``after`` of
        the last pair of the previous page (None: the first page).

        Without ``thresholds`` the page is looked for among the pairs that have a suggestion
        at most some bound from 0.5 (a range of the codings_uncertainty index, a few pages'
        worth of rows past ``after``): when at least ``limit`` of those pairs are themselves
        within the bound, no pair outside can come before them, so they are the page. Else the
        bound grows fourfold, up to the whole queue. With ``thresholds`` the whole queue is
        ranked (one query; SQLite keeps only the best ``limit`` while it reads).
        """
        limit = max(int(limit), 0)
        if limit == 0:
            return []
        params: dict[str, Any] = {
            "coder": coder, "code": code, "case": case, "prefer": prefer or "",
            "thresholds": json.dumps({k: float(v) for k, v in (thresholds or {}).items()}),
            "limit": limit}
        if after is not None:
            params.update({f"a{i}": v for i, v in enumerate(after)})
        if thresholds or case is not None:  # a case's pairs are read by its segments
            return self._page(code, case, after is not None, None, params)
        only = " AND code_id = :code" if code is not None else ""
        offset = 0
        if after is not None:  # the rows nearer 0.5 than the last pair shown come first
            offset = self._db.rows(f"SELECT count(*) AS n FROM {_BY_UNCERTAINTY} AND "
                                   f"{_ROW_UNCERTAINTY} < :a0{only}", params)[0]["n"]
        step = 4 * limit
        while True:
            found = self._db.rows(
                f"SELECT {_ROW_UNCERTAINTY} AS u FROM {_BY_UNCERTAINTY}{only} "
                f"ORDER BY {_ROW_UNCERTAINTY} LIMIT 1 OFFSET :offset",
                {**params, "offset": offset + step})
            bound = found[0]["u"] if found else None  # None: past the last row, rank them all
            groups = self._page(code, case, after is not None, bound, params)
            if bound is None or len(groups) >= limit:
                return groups
            step *= 4

    def _page(self, code: str | None, case: str | None, after: bool, bound: float | None,
              params: dict[str, Any]) -> list[SuggestionGroup]:
        """One page of the queue (see :meth:`suggestion_page`): among the pairs within
        ``bound`` of 0.5 (None: all of them)."""
        conditions = []
        if bound is not None:
            conditions.append("uncertainty <= :bound")
        if after:
            conditions.append(f"({_QUEUE_ORDER}) > (:a0, :a1, :a2, :a3, :a4)")
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        cols = ", ".join("c." + col.strip() for col in CODING_COLUMNS.split(","))
        sql = (_queue_sql(code, case, bounded=bound is not None,
                          thresholds=params["thresholds"] != "{}")
               + f", page AS (SELECT * FROM ranked{where} ORDER BY {_QUEUE_ORDER} LIMIT :limit) "
               "SELECT pg.score AS pair_score, pg.uncertainty, pg.source_id, pg.n, pg.position, "
               f"{cols} FROM page pg JOIN codings c ON c.segment_id = pg.segment_id AND "
               "c.code_id = pg.code_id AND c.status = 'suggested' "
               "ORDER BY pg.uncertainty, pg.source_id, pg.n, pg.position, pg.code_id, c.coder, "
               "ifnull(c.span_start, -1), ifnull(c.span_end, -1)")
        groups: list[SuggestionGroup] = []
        for r in self._db.rows(sql, {**params, "bound": bound}):
            key = (r["uncertainty"], r["source_id"], r["n"], r["position"], r["code_id"])
            if not groups or groups[-1].after != key:
                groups.append(SuggestionGroup(r["segment_id"], r["code_id"], r["pair_score"],
                                              r["uncertainty"], key, []))
            groups[-1].codings.append(coding_from_row(r))
        return groups

    def suggestion_count(self, coder: str, *, code: str | None = None,
                         case: str | None = None) -> int:
        """How many pairs :meth:`suggestion_page` has for ``coder`` in all, counted in SQL:
        the pairs with a stored suggestion (the codings_pairs index alone), less those that
        ``coder`` has coded or decided (found from ``coder``'s own codings)."""
        only = (" AND {t}code_id = :code" if code is not None else "") + (
            f" AND {{t}}segment_id IN {_CASE_SEGMENTS}" if case is not None else "")
        statuses = ", ".join(f"'{s}'" for s in STATUSES)  # every coding: coder's index range
        rows = self._db.rows(
            "SELECT (SELECT count(*) FROM (SELECT DISTINCT segment_id, code_id FROM codings "
            f"INDEXED BY codings_pairs WHERE status = 'suggested'{only.format(t='')})) - "
            "(SELECT count(*) FROM (SELECT DISTINCT o.segment_id, o.code_id FROM codings o "
            f"WHERE o.status IN ({statuses}) AND o.coder = :coder{only.format(t='o.')} AND "
            "EXISTS (SELECT 1 FROM codings p INDEXED BY codings_pairs WHERE "
            "p.status = 'suggested' AND p.segment_id = o.segment_id AND "
            "p.code_id = o.code_id))) AS n",
            {"coder": coder, "code": code, "case": case})
        return int(rows[0]["n"])

    def status_counts(self) -> dict[str, int]:
        """Codings by status; ``suggested`` counts only suggestions no person has decided yet.

        A suggestion is decided once someone has accepted or rejected its code on its segment
        (and span): that decision is a coding of its own, under the person's name, and the
        suggestion's row stays until ``suggest`` runs again. Counted in SQL.
        """
        counts = {s: 0 for s in STATUSES}
        # Every coding by status (the codings_status index alone), then the suggestions that
        # are decided, found from the decisions (few) rather than from every suggestion.
        for r in self._db.rows("SELECT status, count(*) AS n FROM codings GROUP BY status"):
            counts[r["status"]] = r["n"]
        counts["suggested"] -= self._db.rows(f"SELECT count(*) AS n FROM {_DECIDED_SUGGESTIONS}"
                                             )[0]["n"]
        return counts

    def decisions(self) -> list[dict[str, Any]]:
        """How suggestions fared, counted in SQL: ``{"suggester", "reviewer", "status",
        "count"}`` rows.

        Each accepted or rejected coding counts under its reviewer (its coder) and the
        suggester its provenance names (``review of <suggester> <score>``, or a JSON object's
        ``"suggester"``), else the suggesters of the stored suggestions it decides (joined by
        ``+``), else None. Suggestions no person has decided yet are the rows of status
        ``"suggested"`` with reviewer None: they add up to ``status_counts()["suggested"]``.
        Sorted by suggester (None last), then reviewer (None first), then status.
        """
        rows = self._db.rows(
            "SELECT suggester, reviewer, status, n FROM ("
            "SELECT suggester, reviewer, status, count(*) AS n FROM ("
            f"SELECT coalesce({_NAMED}, {_STORED}) AS suggester, c.coder AS reviewer, "
            "c.status AS status "
            f"FROM (SELECT *, trim(ifnull(provenance, ''), {_WHITESPACE}) AS t FROM codings) c "
            "WHERE c.status IN ('accepted', 'rejected')) "
            "GROUP BY suggester, reviewer, status "
            "UNION ALL "
            "SELECT c.coder AS suggester, NULL AS reviewer, c.status AS status, count(*) AS n "
            f"FROM codings c WHERE c.status = 'suggested' AND NOT {_DECIDED} "
            "GROUP BY c.coder) "
            "ORDER BY suggester IS NULL, suggester, reviewer IS NOT NULL, reviewer, status")
        return [{"suggester": r["suggester"], "reviewer": r["reviewer"], "status": r["status"],
                 "count": r["n"]} for r in rows]

    def decided_suggestions(self) -> dict[str | None, tuple[int, int]]:
        """Per suggester (as :meth:`decisions` names it, None when nothing does): how many
        suggestions people decided, each counted once however many reviewers decided it (a
        segment, code and span), and how many of those more than one reviewer decided."""
        rows = self._db.rows(
            "SELECT suggester, count(*) AS n, sum(k > 1) AS again FROM ("
            f"SELECT coalesce({_NAMED}, {_STORED}) AS suggester, count(*) AS k "
            f"FROM (SELECT *, trim(ifnull(provenance, ''), {_WHITESPACE}) AS t FROM codings) c "
            "WHERE c.status IN ('accepted', 'rejected') "
            "GROUP BY suggester, c.segment_id, c.code_id, ifnull(c.span_start, -1), "
            "ifnull(c.span_end, -1)) "
            "GROUP BY suggester ORDER BY suggester IS NULL, suggester")
        return {r["suggester"]: (r["n"], r["again"]) for r in rows}

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]:
        """Distinct coder names (optionally only those with codings of these statuses)."""
        if statuses is None:
            rows = self._db.rows("SELECT DISTINCT coder FROM codings ORDER BY coder")
        else:
            rows = self._db.rows("SELECT DISTINCT coder FROM codings WHERE status IN (SELECT "
                                 "value FROM json_each(?)) ORDER BY coder",
                                 (json.dumps(sorted(set(statuses))),))
        return [r["coder"] for r in rows]

    def replace_suggestions(self, coders: Iterable[str], segment_ids: Iterable[str] | None,
                            suggestions: Iterable[Coding]) -> dict[str, int]:
        """Swap unreviewed suggestions by ``coders`` on ``segment_ids`` (None: all) for new ones.

        Human codings and reviewed decisions are never touched. Audited in bulk.
        Returns counts ``{"removed": N, "added": N}``.
        """
        db = self._db
        coder_list = json.dumps(sorted(set(coders)))
        with db.atomic():
            where = ("status = 'suggested' AND coder IN (SELECT value FROM json_each(?))")
            params: list[Any] = [coder_list]
            if segment_ids is not None:
                # Look the rows up by segment (the unary + keeps SQLite off the status index,
                # which would scan every earlier suggestion once per batch of segments).
                where = ("+status = 'suggested' AND +coder IN (SELECT value FROM json_each(?)) "
                         "AND segment_id IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(sorted(set(segment_ids))))
            old = [coding_from_row(r) for r in db.rows(
                f"SELECT {CODING_COLUMNS} FROM codings WHERE {where}", params)]
            db.write(f"DELETE FROM codings WHERE {where}", params)
            stamp = now()
            new = list(suggestions)
            db.writemany(f"INSERT OR IGNORE INTO codings ({CODING_COLUMNS}) "
                         "VALUES (?, ?, ?, 'suggested', ?, ?, ?, ?, ?, ?, ?)",
                         ((c.segment, c.code, c.coder, c.score, c.provenance, c.memo,
                           c.span_start, c.span_end, stamp, stamp) for c in new))
            self._audit.record("remove", [(c, coding_state(c), None) for c in old])
            self._audit.record("add", [(c, None, {**coding_state(c), "status": "suggested"})
                                       for c in new])
        return {"removed": len(old), "added": len(new)}

    # --- streamed and aggregate reads (the report and the exchange at scale) ----------------

    def iter_codings(self, batch: int = 2000) -> Iterable[Coding]:
        """Every coding, in the order of :meth:`codings`, fetched in batches."""
        sql = (f"SELECT {', '.join('c.' + col.strip() for col in CODING_COLUMNS.split(','))} "
               "FROM codings c JOIN segments s ON s.id = c.segment_id "
               "ORDER BY s.source_id, s.n, c.code_id, c.coder, ifnull(c.span_start, -1)")
        cur = self._db.conn.execute(sql)
        while rows := cur.fetchmany(batch):
            yield from (coding_from_row(r) for r in rows)

    def coding_keys(self, *, statuses: Iterable[str],
                    batch: int = 2000) -> Iterable[tuple[str, str, str]]:
        """``(segment, code, coder)`` of the codings of ``statuses``, in the order of
        :meth:`codings`, fetched in batches."""
        cur = self._db.conn.cursor()
        cur.row_factory = None
        cur.execute("SELECT c.segment_id, c.code_id, c.coder FROM codings c "
                    "JOIN segments s ON s.id = c.segment_id "
                    "WHERE c.status IN (SELECT value FROM json_each(?)) "
                    "ORDER BY s.source_id, s.n, c.code_id, c.coder, ifnull(c.span_start, -1)",
                    (json.dumps(sorted(set(statuses))),))
        while rows := cur.fetchmany(batch):
            yield from rows

    def coded_segment_counts(self, *, statuses: Iterable[str],
                             groups: Mapping[str, Iterable[str]]) -> list[tuple[str, str, int]]:
        """``(case, group, segments)``: how many distinct segments of each case carry a code
        of each group (codings of ``statuses``), counted in SQL; a source without a case
        counts as its own case. Only non-zero counts, sorted by case and group."""
        pairs = json.dumps(sorted({(code, name) for name, codes in groups.items()
                                   for code in codes}))
        rows = self._db.rows(
            "SELECT ifnull(src.case_id, s.source_id) AS case_id, g.name, "
            "count(DISTINCT c.segment_id) AS n FROM codings c "
            "JOIN (SELECT json_extract(value, '$[0]') AS code, json_extract(value, '$[1]') "
            "AS name FROM json_each(?)) g ON g.code = c.code_id "
            "JOIN segments s ON s.id = c.segment_id JOIN sources src ON src.id = s.source_id "
            "WHERE c.status IN (SELECT value FROM json_each(?)) "
            "GROUP BY case_id, g.name ORDER BY case_id, g.name",
            (pairs, json.dumps(sorted(set(statuses)))))
        return [(r["case_id"], r["name"], r["n"]) for r in rows]

    def coder_counts(self) -> dict[str, dict[str, int]]:
        """Per coder, codings that are not suggestions: how many of each status, and the
        distinct segments they are on (``"segments"``); counted in SQL, coders sorted."""
        found: dict[str, dict[str, int]] = {}
        for r in self._db.rows("SELECT coder, status, count(*) AS n FROM codings "
                               "WHERE status <> 'suggested' GROUP BY coder, status "
                               "ORDER BY coder, status"):
            found.setdefault(r["coder"], {})[r["status"]] = r["n"]
        for r in self._db.rows("SELECT coder, count(DISTINCT segment_id) AS n FROM codings "
                               "WHERE status <> 'suggested' GROUP BY coder"):
            found[r["coder"]]["segments"] = r["n"]
        return {name: found[name] for name in sorted(found)}

    def awaiting_review(self) -> dict[str, int]:
        """Per suggester, its suggestions no person has accepted or rejected yet (SQL): all
        its suggestions (the codings_status index) less the decided ones (from the decisions).
        """
        found = {r["coder"]: r["n"] for r in self._db.rows(
            "SELECT coder, count(*) AS n FROM codings WHERE status = 'suggested' "
            "GROUP BY coder ORDER BY coder")}
        for r in self._db.rows("SELECT coder, count(*) AS n FROM codings WHERE id IN "
                               f"{_DECIDED_SUGGESTIONS} GROUP BY coder"):
            found[r["coder"]] -= r["n"]
        return {coder: n for coder, n in found.items() if n}

    def move(self, moves: Sequence[tuple[Coding, Coding, str]]) -> None:
        """Carry codings to new segments, spans or codes: ``(old, new, action)``, each audited
        under its action (``move``, ``reanchor``, ``rename``, ``merge``) with the segment and
        code before and after.

        The coding put in is ``new`` as given (its key, status, score, provenance and memo),
        keeping ``old``'s creation time and getting a new update time. All the old rows are
        taken out before any new one goes in, so codings may swap places (a paragraph
        inserted renumbers the ones after it). The new segments must exist; a new key already
        held by another coding is refused (CodingError).
        """
        if not moves:
            return
        db = self._db
        with db.atomic():
            olds = [self._find(old.key) for old, _, _ in moves]
            missing = [old for (old, _, _), row in zip(moves, olds, strict=True) if row is None]
            if missing:
                raise CodingError(f"no coding {missing[0].code!r} by {missing[0].coder!r} on "
                                  f"{missing[0].segment!r} to move")
            db.writemany("DELETE FROM codings WHERE segment_id = ? AND code_id = ? AND "
                         "coder = ? AND ifnull(span_start, -1) = ? AND ifnull(span_end, -1) = ?",
                         (old.key for old, _, _ in moves))
            stamp = now()
            placed: list[tuple[Coding, Coding, str]] = []
            for (_, new, action), row in zip(moves, olds, strict=True):
                assert row is not None
                moved = Coding(segment=new.segment, code=new.code, coder=new.coder,
                               status=new.status, score=new.score, provenance=new.provenance,
                               memo=new.memo, span_start=new.span_start,
                               span_end=new.span_end, created_at=row.created_at,
                               updated_at=stamp)
                placed.append((row, moved, action))
            try:
                db.writemany(f"INSERT INTO codings ({CODING_COLUMNS}) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             ((c.segment, c.code, c.coder, c.status, c.score, c.provenance,
                               c.memo, c.span_start, c.span_end, c.created_at, c.updated_at)
                              for _, c, _ in placed))
            except sqlite3.IntegrityError as exc:
                raise CodingError(f"cannot move the codings ({exc}): each needs an existing "
                                  "segment and a key of its own") from exc
            for action, run in groupby(placed, key=lambda item: item[2]):
                self._audit.record(action, [
                    (moved, {**coding_state(row), "segment": row.segment, "code": row.code},
                     {**coding_state(moved), "segment": moved.segment, "code": moved.code})
                    for row, moved, _ in run])
