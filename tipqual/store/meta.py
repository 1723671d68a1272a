"""Study-level settings, per-segment derived state, and the study's summary counts.

:class:`MetaStore` holds the settings (name, created_at …), the stakeholder mentions found in
segments and the key each pipeline stage last processed a segment with (so unchanged work is
skipped); :func:`study_status` counts what a study holds for ``tipqual status``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tipqual.records import Mention
from tipqual.store.codebooks import CodebookStore
from tipqual.store.codings import CodingStore
from tipqual.store.connection import Database


class MetaStore:
    """Settings, stakeholder mentions and stage keys of a study."""

    def __init__(self, db: Database):
        self._db = db

    # --- settings -----------------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Set a study-level setting (inside a transaction)."""
        self._db.write("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                       "excluded.value", (key, value))

    def meta(self, key: str, default: str | None = None) -> str | None:
        """Read a study-level setting."""
        rows = self._db.rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def settings(self) -> dict[str, str]:
        """Every study-level setting, by key (sorted)."""
        return {r["key"]: r["value"] for r in self._db.rows("SELECT key, value FROM meta "
                                                             "ORDER BY key")}

    # --- stakeholder mentions -----------------------------------------------------------------

    def replace_mentions(self, segment_ids: Iterable[str] | None,
                         mentions: Iterable[Mention]) -> None:
        """Replace the stakeholder mentions of these segments (None: of every segment)."""
        db = self._db
        with db.atomic():
            if segment_ids is None:
                db.write("DELETE FROM mentions")
            else:
                db.write("DELETE FROM mentions WHERE segment_id IN (SELECT value FROM "
                         "json_each(?))", (json.dumps(sorted(set(segment_ids))),))
            db.writemany('INSERT INTO mentions (segment_id, stakeholder_id, start, "end", '
                         "text) VALUES (?, ?, ?, ?, ?)",
                         ((m.segment, m.stakeholder, m.start, m.end, m.text)
                          for m in mentions))

    def mentions(self) -> list[Mention]:
        """Every stored stakeholder mention, in segment order."""
        return [Mention(r["segment_id"], r["stakeholder_id"], r["start"], r["end"], r["text"])
                for r in self._db.rows(
                    'SELECT m.segment_id, m.stakeholder_id, m.start, m."end", m.text FROM '
                    "mentions m JOIN segments s ON s.id = m.segment_id "
                    "ORDER BY s.source_id, s.n, m.start, m.stakeholder_id")]

    # --- per-segment stage state (what a stage computed, to skip unchanged work) --------------

    def stage_keys(self, stage: str) -> dict[str, str]:
        """For a pipeline stage, the key each segment was last processed with."""
        return {r["segment_id"]: r["key"] for r in self._db.rows(
            "SELECT segment_id, key FROM stage_state WHERE stage = ?", (stage,))}

    def set_stage_keys(self, stage: str, keys: dict[str, str]) -> None:
        """Record the key each of these segments was processed with by ``stage``."""
        with self._db.atomic():
            self._db.writemany("INSERT INTO stage_state VALUES (?, ?, ?) ON CONFLICT (stage, "
                               "segment_id) DO UPDATE SET key = excluded.key",
                               ((stage, seg, key) for seg, key in sorted(keys.items())))

    def clear_stage(self, stage: str) -> None:
        """Forget what a stage computed (it then reprocesses everything)."""
        with self._db.atomic():
            self._db.write("DELETE FROM stage_state WHERE stage = ?", (stage,))


def study_status(db: Database, codebooks: CodebookStore, codings: CodingStore) -> dict[str, Any]:
    """Counts for ``tipqual status`` (keys as in the design contract).

    ``codings`` counts codings by status, ``suggested`` only those no person has decided yet
    (see :meth:`CodingStore.status_counts`).
    """
    def count(table: str) -> int:
        return db.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"]

    info = codebooks.codebook_info()
    return {
        "cases": count("cases"),
        "sources": count("sources"),
        "segments": count("segments"),
        "codes": info["codes"] if info else 0,
        "coders": codings.coders(statuses=("human", "accepted", "rejected")),
        # "suggested": only the suggestions no person has decided yet (the contract)
        "codings": codings.status_counts(),
        # codings that steps took out of play (orphaned, archived): only when there are any
        **({"retired": retired} if (retired := _retired_counts(db)) else {}),
    }


def _retired_counts(db: Database) -> dict[str, int]:
    return {r["reason"]: r["n"] for r in db.rows(
        "SELECT reason, count(*) AS n FROM retired_codings GROUP BY reason ORDER BY reason")}
