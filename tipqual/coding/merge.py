"""Merging coders' copies of a study into one (``tipqual merge TARGET SOURCE...``).

Each evaluator codes in their own copy of the study file. Merging brings every copy's codings
(human codings, suggestions and decisions, with status, score, provenance, memo and
timestamps) and its audit entries into the target. Uses only the :class:`Project` API.

Rules:

* The transcripts must be identical: the same sources with the same text hash and the same
  segments (id and text). A copy that differs is refused with the differences listed, and
  nothing is merged from any copy (all copies are checked before anything is written, and the
  whole merge is one transaction).
* A coding is identified by segment, code, coder and span; coder names are never changed, so
  each evaluator's codings stay under their own name.
* A coding the target lacks is added, unless the target's audit shows that exact coding was
  removed there (a deliberate removal is not undone by re-merging).
* When the target and the copy hold different versions of the same coding: if the target's
  version is one the copy's own audit history passed through, the copy is newer and its version
  is taken; if the copy's version is one the target's history passed through, the target is
  newer and is kept; otherwise both changed it independently: that is a **conflict**, the
  target's version is kept and the conflict is reported for a person to settle.
* Removals made in a copy are not carried over (the target may hold the same coding for
  other reasons); a coder name with new codings in two copies merged together is reported,
  as it may be two people sharing one name.
* Re-merging a copy adds nothing: identical codings are unchanged and audit entries already
  present are skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tipqual.errors import ProjectError
from tipqual.records import AuditEntry, Coding
from tipqual.store.project import Project

MAX_LISTED = 12


@dataclass(frozen=True)
class Conflict:
    """One coding both sides changed independently: the target's version was kept."""

    segment: str
    code: str
    coder: str
    target: dict[str, Any]
    copy: dict[str, Any]


@dataclass
class SourceReport:
    """What merging one copy did."""

    path: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_removed: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    audit_added: int = 0
    coders: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class MergeReport:
    """What a merge did, per copy, with warnings that concern several copies."""

    target: str
    sources: list[SourceReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the report."""
        return asdict(self)


def _state(c: Coding) -> str:
    """A coding's content, as the audit log records it, in a comparable form."""
    return json.dumps({"status": c.status, "score": c.score, "provenance": c.provenance,
                       "memo": c.memo, "span_start": c.span_start, "span_end": c.span_end},
                      sort_keys=True)


def _audit_key(state: dict[str, Any], e: AuditEntry) -> tuple[str, str, str, int, int]:
    start, end = state.get("span_start"), state.get("span_end")
    return (e.segment or "", e.code or "", e.coder or "",
            -1 if start is None else start, -1 if end is None else end)


@dataclass
class _History:
    """Per coding key, every state it has had and the states it was removed in."""

    states: dict[tuple, set[str]] = field(default_factory=lambda: defaultdict(set))
    removed: dict[tuple, set[str]] = field(default_factory=lambda: defaultdict(set))


def _history(entries: list[AuditEntry]) -> _History:
    hist = _History()
    for e in entries:
        for state in (e.before, e.after):
            if state is not None:
                hist.states[_audit_key(state, e)].add(json.dumps(state, sort_keys=True))
        if e.action == "remove" and e.before is not None:
            hist.removed[_audit_key(e.before, e)].add(json.dumps(e.before, sort_keys=True))
    return hist


def _entry_key(e: AuditEntry) -> tuple[str, ...]:
    return (e.at, e.actor, e.action, e.segment or "", e.code or "", e.coder or "")


# --- transcripts must match -------------------------------------------------------------------

def _fingerprint(p: Project) -> tuple[dict[str, str], dict[str, str]]:
    sources = {s.id: s.sha256 for s in p.sources()}
    segments = {s.id: hashlib.sha256(s.text.encode("utf-8")).hexdigest() for s in p.segments()}
    return sources, segments


def _differences(target: tuple[dict, dict], copy: tuple[dict, dict]) -> list[str]:
    """How a copy's transcripts differ from the target's (empty when identical)."""
    (t_src, t_seg), (c_src, c_seg) = target, copy
    out = [f"source {s!r} is missing from the copy" for s in sorted(t_src.keys() - c_src.keys())]
    out += [f"source {s!r} is only in the copy" for s in sorted(c_src.keys() - t_src.keys())]
    out += [f"source {s!r} has different text" for s in sorted(t_src.keys() & c_src.keys())
            if t_src[s] != c_src[s]]
    out += [f"segment {s!r} is missing from the copy" for s in sorted(t_seg.keys() - c_seg.keys())]
    out += [f"segment {s!r} is only in the copy" for s in sorted(c_seg.keys() - t_seg.keys())]
    out += [f"segment {s!r} has different text" for s in sorted(t_seg.keys() & c_seg.keys())
            if t_seg[s] != c_seg[s]]
    return out


def _refuse(refused: list[tuple[Path, list[str]]]) -> None:
    parts = []
    for path, diffs in refused:
        listed = "; ".join(diffs[:MAX_LISTED])
        more = f"; and {len(diffs) - MAX_LISTED} more" if len(diffs) > MAX_LISTED else ""
        parts.append(f"{path}: {listed}{more}")
    raise ProjectError("nothing merged: the transcripts of " + " | ".join(parts) + " | differ "
                       "from the target's; merge only copies of the same study (same imported "
                       "transcripts)", path=refused[0][0])


# --- codings and audit ------------------------------------------------------------------------

def _merge_codings(target: Project, copy: Project, index: dict[tuple, Coding],
                   target_hist: _History, report: SourceReport) -> set[str]:
    """Bring one copy's codings in; returns the coders whose codings were added or updated."""
    copy_hist = _history(copy.audit())
    changed_coders: set[str] = set()
    for c in copy.codings():
        state = _state(c)
        have = index.get(c.key)
        if have is None:
            if state in target_hist.removed.get(c.key, ()):
                report.kept_removed += 1
                continue
            target.put_coding(c)
            report.added += 1
        elif _state(have) == state or state in target_hist.states.get(c.key, ()):
            report.unchanged += 1
            continue
        elif _state(have) in copy_hist.states.get(c.key, ()):
            target.put_coding(c)
            report.updated += 1
        else:
            report.conflicts.append(Conflict(c.segment, c.code, c.coder,
                                             json.loads(_state(have)), json.loads(state)))
            continue
        index[c.key] = c
        changed_coders.add(c.coder)
    for key, states in copy_hist.states.items():
        target_hist.states[key] |= states
    return changed_coders


def _merge_audit(target: Project, copy: Project, known: set[tuple[str, ...]]) -> int:
    new = [e for e in copy.audit() if _entry_key(e) not in known]
    added = target.append_audit(new)
    known.update(_entry_key(e) for e in new)
    return added


def _codebook_notes(target: Project, copy: Project) -> list[str]:
    mine, theirs = target.codebook_info(), copy.codebook_info()
    if theirs is None or (mine is not None and mine["sha256"] == theirs["sha256"]):
        return []
    unknown = sorted({c.code for c in copy.codings()} - set(target.code_ids()))
    note = (f"the copy's codebook ({theirs['name']} v{theirs['version']}) differs from the "
            "target's; the target's codebook was left as it is")
    if unknown:
        note += f"; codes not in the target's codebook: {', '.join(unknown)}"
    return [note]


def merge(target: Project, sources: list[Path]) -> MergeReport:
    """Merge coders' copies ``sources`` into ``target`` (all or nothing); see the module rules."""
    report = MergeReport(str(target.path))
    copies: list[tuple[Path, Project]] = []
    try:
        for path in sources:
            path = Path(path)
            if path.exists() and path.resolve() == Path(target.path).resolve():
                raise ProjectError("is the target itself; name the coders' copies to merge "
                                   "into it", path=path)
            copies.append((path, Project.open(path, readonly=True)))
        mine = _fingerprint(target)
        refused = [(path, diffs) for path, copy in copies
                   if (diffs := _differences(mine, _fingerprint(copy)))]
        if refused:
            _refuse(refused)
        _merge_all(target, copies, report)
    finally:
        for _, copy in copies:
            copy.close()
    return report


def _merge_all(target: Project, copies: list[tuple[Path, Project]], report: MergeReport) -> None:
    index = {c.key: c for c in target.codings()}
    target_audit = target.audit()
    target_hist = _history(target_audit)
    known = {_entry_key(e) for e in target_audit}
    contributed: dict[str, list[str]] = defaultdict(list)
    with target.atomic():
        for path, copy in copies:
            part = SourceReport(str(path), coders=copy.coders(),
                                notes=_codebook_notes(target, copy))
            for coder in sorted(_merge_codings(target, copy, index, target_hist, part)):
                contributed[coder].append(str(path))
            part.audit_added = _merge_audit(target, copy, known)
            report.sources.append(part)
    for coder, paths in sorted(contributed.items()):
        if len(set(paths)) > 1:
            report.warnings.append(
                f"coder {coder!r} has new codings in {len(set(paths))} copies "
                f"({', '.join(sorted(set(paths)))}); if these are different people, give each "
                "a distinct coder name")
