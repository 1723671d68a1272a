"""The codebook a study uses, and every version it used before.

:class:`CodebookStore` keeps each codebook version (its whole content as JSON, and its codes in
order) so the current one can be read back and the history listed.
"""

from __future__ import annotations

import json
from typing import Any

from tipqual.store.connection import Database, now


class CodebookStore:
    """The codebook versions of a study; the newest is the current one."""

    def __init__(self, db: Database):
        self._db = db

    def set_codebook(self, codebook: Any) -> bool:
        """Make ``codebook`` (a :class:`~tipqual.codebook.model.Codebook`) the current version.

        Returns False when that exact version (same content hash) is already the current one.
        """
        info = self.codebook_info()
        if info is not None and info["sha256"] == codebook.sha256:
            return False
        data = json.dumps(codebook.to_dict(), ensure_ascii=False, sort_keys=True)
        db = self._db
        with db.atomic():
            db.write("DELETE FROM codebooks WHERE sha256 = ?", (codebook.sha256,))
            cur = db.write("INSERT INTO codebooks (name, version, sha256, data, added_at) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (codebook.name, codebook.version, codebook.sha256, data, now()))
            book_id = cur.lastrowid
            db.writemany("INSERT INTO codes VALUES (?, ?, ?, ?, ?)",
                         ((book_id, c.id, c.name, c.parent, i)
                          for i, c in enumerate(codebook.codes)))
        return True

    def codebook(self) -> Any:
        """The current codebook (a :class:`~tipqual.codebook.model.Codebook`), or None."""
        from tipqual.codebook.model import Codebook

        rows = self._db.rows("SELECT data FROM codebooks ORDER BY id DESC LIMIT 1")
        return Codebook.from_dict(json.loads(rows[0]["data"])) if rows else None

    def codebook_info(self) -> dict[str, Any] | None:
        """Name, version, content hash and number of codes of the current codebook."""
        rows = self._db.rows("SELECT id, name, version, sha256 FROM codebooks ORDER BY id DESC "
                             "LIMIT 1")
        if not rows:
            return None
        n = self._db.rows("SELECT count(*) AS n FROM codes WHERE codebook_id = ?",
                          (rows[0]["id"],))[0]["n"]
        return {"name": rows[0]["name"], "version": rows[0]["version"],
                "sha256": rows[0]["sha256"], "codes": n}

    def codebook_history(self) -> list[dict[str, Any]]:
        """Every codebook version the study has used, oldest first."""
        return [dict(r) for r in self._db.rows("SELECT name, version, sha256, added_at FROM "
                                               "codebooks ORDER BY id")]

    def versions(self) -> list[dict[str, Any]]:
        """Every stored codebook version, oldest first: its ``name``, ``version`` and whole
        content as stored (``data``, the codebook's JSON object: codes, definitions, examples
        …)."""
        return [{"name": r["name"], "version": r["version"], "data": json.loads(r["data"])}
                for r in self._db.rows("SELECT name, version, data FROM codebooks ORDER BY id")]

    def code_ids(self) -> list[str]:
        """Ids of the current codebook's codes, in codebook order."""
        return [r["id"] for r in self._db.rows(
            "SELECT id FROM codes WHERE codebook_id = (SELECT max(id) FROM codebooks) "
            "ORDER BY position")]
