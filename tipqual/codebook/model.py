"""Codebooks and stakeholder registries: the data model, the validating loader and version diffs.

A codebook is a YAML file with a ``name``, a ``version`` and a list of ``codes``; each code has a
stable lowercase ``id`` and, optionally, a ``parent``. A stakeholder registry lists the actors a
study talks about, with their aliases; it sits inside the codebook (``stakeholders:`` as a list)
or in its own file referenced by path (``stakeholders: sa-stakeholders.yaml``). An optional
``map:`` section says what the stakeholder map's vertical axis measures (:class:`MapAxis`).

``load`` is pure: it reads files and returns dataclasses, it never touches a study.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tipqual.errors import CodebookError


@dataclass
class Code:
    """One code of a codebook."""

    id: str
    name: str
    definition: str = ""
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    parent: str | None = None
    color: str | None = None
    phrases: list[str] = field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = field(default_factory=list)
    codable: bool = True  # False: a category that only groups other codes (REFI isCodable)
    # ids of the previous version's codes this one takes over: one a rename, several a merge;
    # an id several codes list is split between them (see tipqual.coding.evolve)
    replaces: list[str] = field(default_factory=list)


@dataclass
class Stakeholder:
    """One actor of a stakeholder registry (a department, a network, an organisation)."""

    id: str
    name: str
    aliases: list[str] = field(default_factory=list)
    sector: str = "other"
    level: str | None = None
    description: str = ""


@dataclass
class MapAxis:
    """The stakeholder map's vertical axis, as a codebook's ``map:`` section declares it.

    A stakeholder's height is the share of the respondent passages naming it that carry one of
    ``axis_codes`` or a code below one of them. The labels are the map's words: ``axis_label``
    names the measure (the axis title), ``passages_label`` the passages ("victim-support" in
    "share of mentions in victim-support passages"), ``centre_label`` the marker at the top of
    the divide, ``high_label`` and ``low_label`` the upper and lower quadrants. An empty label
    takes the map's own wording (:func:`tipqual.analysis.stakemap.map_axis`).
    """

    axis_codes: list[str] = field(default_factory=list)
    axis_label: str = ""
    passages_label: str = ""
    centre_label: str = ""
    high_label: str = ""
    low_label: str = ""


MAP_KEYS = tuple(f.name for f in fields(MapAxis))


@dataclass
class Codebook:
    """A versioned set of codes, in document order, with an optional stakeholder registry."""

    name: str
    version: str
    codes: list[Code] = field(default_factory=list)
    stakeholders: list[Stakeholder] = field(default_factory=list)
    description: str = ""
    map: MapAxis | None = None  # the stakeholder map's axis; None: the map's fallback

    def code(self, code_id: str) -> Code:
        """Return the code with this id; raise CodebookError if there is none."""
        for code in self.codes:
            if code.id == code_id:
                return code
        raise CodebookError(f"unknown code {code_id!r}; the codebook {self.name!r} has: "
                            f"{', '.join(self.ids)}")

    @property
    def ids(self) -> list[str]:
        """Code ids in codebook order."""
        return [c.id for c in self.codes]

    def children(self, code_id: str | None) -> list[Code]:
        """Direct children of a code (``None``: the top-level codes), in codebook order."""
        return [c for c in self.codes if c.parent == code_id]

    def subtree(self, code_id: str) -> list[str]:
        """The code and all its descendants, in codebook order."""
        wanted = {code_id}
        changed = True
        while changed:
            changed = False
            for c in self.codes:
                if c.parent in wanted and c.id not in wanted:
                    wanted.add(c.id)
                    changed = True
        return [c.id for c in self.codes if c.id in wanted]

    def depth(self, code_id: str) -> int:
        """How many ancestors a code has (0 for a top-level code)."""
        parents = {c.id: c.parent for c in self.codes}
        depth, seen = 0, {code_id}
        parent = parents.get(code_id)
        while parent is not None and parent not in seen:
            depth += 1
            seen.add(parent)
            parent = parents.get(parent)
        return depth

    def stakeholder(self, stakeholder_id: str) -> Stakeholder:
        """Return the registry entry with this id; raise CodebookError if there is none."""
        for s in self.stakeholders:
            if s.id == stakeholder_id:
                return s
        raise CodebookError(f"unknown stakeholder {stakeholder_id!r}")

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON- and YAML-ready dict with every field.

        ``map`` is there only when the codebook has one, and a code's ``replaces`` only when it
        lists any, so a codebook without them has the same dict (and :attr:`sha256`) as before
        codebooks could have them.
        """
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "codes": [_code_dict(c) for c in self.codes],
            "stakeholders": [asdict(s) for s in self.stakeholders],
        }
        if self.map is not None:
            out["map"] = asdict(self.map)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Codebook:
        """Inverse of :meth:`to_dict`."""
        axis = data.get("map")
        return cls(
            name=data["name"],
            version=str(data["version"]),
            description=data.get("description", ""),
            codes=[Code(**c) for c in data.get("codes", [])],
            stakeholders=[Stakeholder(**s) for s in data.get("stakeholders", [])],
            map=MapAxis(**axis) if axis is not None else None,
        )

    @property
    def sha256(self) -> str:
        """Content hash of the codebook (all fields, canonical JSON): identifies a version."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _code_dict(code: Code) -> dict[str, Any]:
    out = asdict(code)
    if not out["replaces"]:
        del out["replaces"]
    return out


# --- versions ------------------------------------------------------------------------------

@dataclass
class CodebookDiff:
    """What changed between two versions of a codebook, by code id."""

    old: str
    new: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)
    redefined: list[tuple[str, list[str]]] = field(default_factory=list)
    moved: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    changed: list[tuple[str, list[str]]] = field(default_factory=list)
    stakeholders: dict[str, list[str]] = field(default_factory=dict)
    map: list[str] = field(default_factory=list)  # the map section's keys that changed
    # from the new version's ``replaces``: (old id, new id); (new id, old ids); (old id, new ids)
    renames: list[tuple[str, str]] = field(default_factory=list)
    merges: list[tuple[str, list[str]]] = field(default_factory=list)
    splits: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the codes, the stakeholders and the map section are all the same."""
        return not (self.added or self.removed or self.renamed or self.redefined or self.moved
                    or self.changed or any(self.stakeholders.values()) or self.map
                    or self.renames or self.merges or self.splits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"old": self.old, "new": self.new, "added": self.added, "removed": self.removed,
                "renamed": [{"id": i, "old": o, "new": n} for i, o, n in self.renamed],
                "redefined": [{"id": i, "fields": f} for i, f in self.redefined],
                "moved": [{"id": i, "old_parent": o, "new_parent": n} for i, o, n in self.moved],
                "changed": [{"id": i, "fields": f} for i, f in self.changed],
                "stakeholders": self.stakeholders, "map": self.map,
                "renames": [{"old": o, "new": n} for o, n in self.renames],
                "merges": [{"new": n, "old": olds} for n, olds in self.merges],
                "splits": [{"old": o, "new": news} for o, news in self.splits]}

    def lines(self) -> list[str]:
        """A readable report, one change a line."""
        out = [f"{self.old} -> {self.new}"]
        out += [f"rename     {o} -> {n}" for o, n in self.renames]
        out += [f"merge      {', '.join(olds)} -> {n}" for n, olds in self.merges]
        out += [f"split      {o} -> {', '.join(news)}" for o, news in self.splits]
        out += [f"added      {i}" for i in self.added]
        out += [f"removed    {i}" for i in self.removed]
        out += [f"renamed    {i}: {o!r} -> {n!r}" for i, o, n in self.renamed]
        out += [f"redefined  {i}: {', '.join(f)}" for i, f in self.redefined]
        out += [f"moved      {i}: parent {o or '-'} -> {n or '-'}" for i, o, n in self.moved]
        out += [f"changed    {i}: {', '.join(f)}" for i, f in self.changed]
        for kind, ids in self.stakeholders.items():
            out += [f"stakeholder {kind} {i}" for i in ids]
        if self.map:
            out.append(f"map        {', '.join(self.map)}")
        if self.empty:
            out.append("no changes to the codes or stakeholders")
        return out


def diff(old: Codebook, new: Codebook) -> CodebookDiff:
    """Added, removed, renamed, redefined, moved and otherwise changed codes; the renames,
    merges and splits the new version declares with ``replaces`` (a code id taken over by
    another is listed there, not as removed and added)."""
    before, after = {c.id: c for c in old.codes}, {c.id: c for c in new.codes}
    lineage = replacements(new)
    renames, merges, splits = classify(lineage, set(after))
    taken = {o for o, _ in renames} | {o for _, olds in merges for o in olds}
    successors = {n for _, n in renames} | {n for n, _ in merges}
    result = CodebookDiff(old=f"{old.name} v{old.version}", new=f"{new.name} v{new.version}",
                          added=[c.id for c in new.codes if c.id not in before
                                 and c.id not in successors],
                          removed=[c.id for c in old.codes if c.id not in after
                                   and c.id not in taken and c.id not in lineage],
                          renames=renames, merges=merges, splits=splits)
    for code in new.codes:
        was = before.get(code.id)
        if was is None:
            continue
        if was.name != code.name:
            result.renamed.append((code.id, was.name, code.name))
        meaning = [f for f in ("definition", "include", "exclude")
                   if getattr(was, f) != getattr(code, f)]
        if meaning:
            result.redefined.append((code.id, meaning))
        if was.parent != code.parent:
            result.moved.append((code.id, was.parent, code.parent))
        other = [f for f in ("examples", "color", "phrases", "patterns", "codable")
                 if getattr(was, f) != getattr(code, f)]
        if other:
            result.changed.append((code.id, other))
    result.stakeholders = _stakeholder_changes(old.stakeholders, new.stakeholders)
    result.map = _map_changes(old.map, new.map)
    return result


def replacements(book: Codebook) -> dict[str, list[str]]:
    """Old code id -> the codes of ``book`` that declare they replace it, in codebook order."""
    found: dict[str, list[str]] = {}
    for code in book.codes:
        for old in code.replaces:
            found.setdefault(old, []).append(code.id)
    return found


def classify(lineage: dict[str, list[str]], kept: set[str]
             ) -> tuple[list[tuple[str, str]], list[tuple[str, list[str]]],
                        list[tuple[str, list[str]]]]:
    """Renames (old, new), merges (new, olds) and splits (old, news) from :func:`replacements`.

    An old id one code replaces is renamed into it — merged, when that code replaces other ids
    too; an old id several codes replace, or one the new version still has (``kept``), is
    split: its codings stay where they are, to be recoded into its successors.
    """
    into: dict[str, list[str]] = {}
    splits: list[tuple[str, list[str]]] = []
    for old, news in lineage.items():
        if len(news) == 1 and old not in kept:
            into.setdefault(news[0], []).append(old)
        else:
            splits.append((old, news))
    renames = [(olds[0], new) for new, olds in into.items() if len(olds) == 1]
    merges = [(new, olds) for new, olds in into.items() if len(olds) > 1]
    return renames, merges, splits


def _map_changes(old: MapAxis | None, new: MapAxis | None) -> list[str]:
    """The map section's keys that differ (all of a section added or removed)."""
    if old is None and new is None:
        return []
    before = asdict(old) if old is not None else {}
    after = asdict(new) if new is not None else {}
    return [key for key in MAP_KEYS if before.get(key) != after.get(key)]


def _stakeholder_changes(old: list[Stakeholder], new: list[Stakeholder]) -> dict[str, list[str]]:
    """Registry entries added, removed or changed (in any field), by id."""
    before, after = {s.id: s for s in old}, {s.id: s for s in new}
    return {"added": [s.id for s in new if s.id not in before],
            "removed": [s.id for s in old if s.id not in after],
            "changed": [s.id for s in new if s.id in before and before[s.id] != s]}


def load(path: str | Path) -> Codebook:
    """Read and fully validate a codebook YAML file (and the registry it references).

    Raises CodebookError naming the file, the line and the code id of the first problem; run
    :func:`tipqual.codebook.check.check` to see them all.
    """
    from tipqual.codebook.check import analyse

    result = analyse(path)
    if result.problems:
        first, more = result.problems[0], len(result.problems) - 1
        message = first.text
        if more:
            message += (f" (and {more} more problem{'s' if more > 1 else ''}; "
                        f"run 'tipqual codebook validate {path}' to see them all)")
        raise CodebookError(message, path=first.path, line=first.line)
    if result.codebook is None:
        raise CodebookError("this is a stakeholder registry, not a codebook; give the codebook "
                            "YAML that references it ('stakeholders: FILE')", path=path)
    return Codebook.from_dict({**result.codebook, "stakeholders": result.stakeholders})


def validate(book: Codebook, path: str | Path | None = None, *,
             lines: dict[str, int] | None = None) -> Codebook:
    """Refuse a codebook read from another format that would be unsafe to store or run.

    Codebooks from YAML are checked by :func:`load`; one read from a ``.qdc``, a ``.qdpx``
    project or a workbook comes through here: a token pattern whose REGEX could take
    exponential time, or codes nested too deeply, raise CodebookError naming the code (and
    ``path``, and the code's line from ``lines`` where the format has one). Returns ``book``.
    """
    from tipqual.codebook.check import book_problems

    problems = book_problems(book, path, lines=lines)
    if not problems:
        return book
    first, more = problems[0], len(problems) - 1
    message = first.text
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    raise CodebookError(message, path=path, line=first.line)
