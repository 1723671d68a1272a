"""Merging coders' copies of a study into one (``tipqual merge TARGET SOURCE...``).

Each evaluator codes in their own copy of the study file. Merging brings every copy's codings
(human codings, suggestions and decisions, with status, score, provenance, memo and
timestamps), its removals and its audit entries into the target, through the
:class:`Project` API.

Rules:

* The transcripts must be identical: the same sources with the same text hash and the same
  segments (id and text). A copy that differs is refused with the differences listed, and
  nothing is merged from any copy. Every copy is planned before anything is written, and the
  whole merge is one transaction (``dry_run`` plans and writes nothing).
* A coding is identified by segment, code, coder and span; coder names are never changed, so
  each evaluator's codings stay under their own name. A coder name new to the target must be
  an allowed one (:func:`tipqual.coding.csvio.check_coder_name`).
* Codes: a copy's coding whose code the target's codebook lacks is refused, naming the codes,
  unless ``code_map`` maps each such code to one of the target's (``--map-code OLD=NEW``);
  a mapped coding and its audit entries are merged under the new code.
* History is read from the audit logs: the states each coding has had on each side, and the
  entries one side has that the other lacks (made since the copies diverged, or since the
  last merge of that copy).
* A coding the target lacks is added, unless the target already passed through that version
  and removed it (a deliberate removal is not undone by re-merging). When the target removed a
  coding that the copy changed since, that is a **conflict**: it stays removed.
* When the target and the copy hold different versions of the same coding: if the target's
  version is one the copy's history passed through, the copy is newer and its version is
  taken; if the copy's version is one the target's history passed through, the target is newer
  and is kept; otherwise both changed it independently: a **conflict**, the target's version
  is kept.
* A removal made in the copy (its audit's last entry for the coding is a removal the target
  has not seen) is applied to the target, unless the target changed that coding to a version
  the copy never had: a **conflict**, the target's version is kept.
* The copy's audit entries the target lacks are copied. Where the target kept its own version
  (a conflict, a kept removal), the merge appends its own entry saying so, so the last entry
  of every coding always matches the data.
* Conflicts are reported for a person to settle; a coder name with new codings in two copies
  merged together is reported, as it may be two people sharing one name.
* Re-merging a copy adds nothing: identical codings are unchanged and audit entries already
  present are skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tipqual.coding.csvio import check_coder_name
from tipqual.errors import CodingError, ProjectError
from tipqual.records import AuditEntry, Coding
from tipqual.store.connection import now
from tipqual.store.project import Project

MAX_LISTED = 12

Key = tuple[str, str, str, int, int]
EntryKey = tuple[str, ...]


@dataclass(frozen=True)
class Conflict:
    """One coding both sides changed independently: the target's version was kept.

    ``kind`` is ``changed`` (both changed it), ``removed in the copy`` (the copy removed what
    the target changed: ``copy`` is None) or ``removed in the target`` (the target removed
    what the copy changed: ``target`` is None).
    """

    segment: str
    code: str
    coder: str
    target: dict[str, Any] | None
    copy: dict[str, Any] | None
    kind: str = "changed"


@dataclass(frozen=True)
class Change:
    """One change the merge makes (or, in a dry run, would make) to the target's codings."""

    action: str  # add, update or remove
    segment: str
    code: str
    coder: str


@dataclass
class SourceReport:
    """What merging one copy did (or would do)."""

    path: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    kept_removed: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    audit_added: int = 0
    coders: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class MergeReport:
    """What a merge did, per copy, with warnings that concern several copies."""

    target: str
    dry_run: bool = False
    sources: list[SourceReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> int:
        """How many conflicts the copies had with the target, over all copies."""
        return sum(len(s.conflicts) for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the report."""
        return asdict(self)


def _state(c: Coding) -> str:
    """A coding's content, as the audit log records it, in a comparable form."""
    return json.dumps({"status": c.status, "score": c.score, "provenance": c.provenance,
                       "memo": c.memo, "span_start": c.span_start, "span_end": c.span_end},
                      sort_keys=True)


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True)


def _audit_key(state: dict[str, Any], e: AuditEntry) -> Key:
    start, end = state.get("span_start"), state.get("span_end")
    return (e.segment or "", e.code or "", e.coder or "",
            -1 if start is None else start, -1 if end is None else end)


def _entry_coding_key(e: AuditEntry) -> Key | None:
    state = e.after if e.after is not None else e.before
    return None if state is None else _audit_key(state, e)


def _entry_key(e: AuditEntry) -> EntryKey:
    return (e.at, e.actor, e.action, e.segment or "", e.code or "", e.coder or "")


def _logged(e: AuditEntry) -> str | None:
    """The state a coding is in after this entry (None: removed)."""
    return None if e.action == "remove" or e.after is None else _dump(e.after)


@dataclass
class _History:
    """Per coding key, every state it has had, and its removals (entry and state removed)."""

    states: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    removals: dict[Key, list[tuple[EntryKey, str]]] = field(
        default_factory=lambda: defaultdict(list))

    def add(self, entries: list[AuditEntry]) -> None:
        for e in entries:
            for state in (e.before, e.after):
                if state is not None:
                    self.states[_audit_key(state, e)].add(_dump(state))
            if e.action == "remove" and e.before is not None:
                self.removals[_audit_key(e.before, e)].append((_entry_key(e), _dump(e.before)))


def _history(entries: list[AuditEntry]) -> _History:
    hist = _History()
    hist.add(entries)
    return hist


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


def _codes(ids: list[str]) -> str:
    """Code ids for a message: the first :data:`MAX_LISTED`, then how many more."""
    more = f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
    return ", ".join(ids[:MAX_LISTED]) + more


def _refuse(refused: list[tuple[Path, list[str]]]) -> None:
    parts = []
    for path, diffs in refused:
        listed = "; ".join(diffs[:MAX_LISTED])
        more = f"; and {len(diffs) - MAX_LISTED} more" if len(diffs) > MAX_LISTED else ""
        parts.append(f"{path}: {listed}{more}")
    raise ProjectError("nothing merged: the transcripts of " + " | ".join(parts) + " | differ "
                       "from the target's; merge only copies of the same study (same imported "
                       "transcripts)", path=refused[0][0])


# --- codes and coder names --------------------------------------------------------------------

def parse_code_map(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["OLD=NEW", ...]`` as a mapping; a malformed or repeated OLD is an error."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise CodingError(f"--map-code {pair!r} is not OLD=NEW; give the copy's code, '=' "
                              "and the target's code, e.g. --map-code stigma=trust")
        if old in mapping and mapping[old] != new:
            raise CodingError(f"--map-code maps {old!r} twice ({mapping[old]!r} and {new!r}); "
                              "give one target code for each")
        mapping[old] = new
    return mapping


def _check_code_map(target: Project, copies: list[tuple[Path, Project]],
                    code_map: dict[str, str]) -> None:
    known = target.code_ids()
    for old, new in code_map.items():
        if known and new not in known:
            raise CodingError(f"--map-code {old}={new}: the target's codebook has no code "
                              f"{new!r}; its codes are {_codes(known)}",
                              path=target.path)
    used = {c.code for _, copy in copies for c in copy.codings()}
    unused = sorted(set(code_map) - used)
    if unused:
        raise CodingError(f"--map-code: no copy has codings of {', '.join(map(repr, unused))}; "
                          "check the spelling of the copy's code (the part before '=')",
                          path=copies[0][0])


def _mapped(path: Path, copy: Project,
            code_map: dict[str, str]) -> tuple[list[Coding], list[AuditEntry]]:
    """The copy's codings and audit entries, with mapped codes under their new id."""
    codings, entries = copy.codings(), copy.audit()
    if not code_map:
        return codings, entries
    codings = [replace(c, code=code_map.get(c.code, c.code)) for c in codings]
    seen: set[Key] = set()
    for c in codings:
        if c.key in seen:
            raise CodingError(f"nothing merged: with --map-code, the copy has two codings of "
                              f"segment {c.segment} with code {c.code!r} by {c.coder!r}; map "
                              "the codes differently or settle the two in the copy first",
                              path=path)
        seen.add(c.key)
    entries = [replace(e, code=code_map.get(e.code, e.code)) if e.code else e for e in entries]
    return codings, entries


def _check_names(path: Path, names: dict[str, bool], existing: set[str]) -> None:
    """Refuse a coder name from the copy that the target lacks and a person may not use.

    ``names`` maps each name to whether all its codings (and audit entries) the merge brings
    are suggestions: tipqual's suggesters keep their own names on their suggestions.
    """
    from tipqual.suggest.engine import SUGGESTERS

    for name, only_suggestions in sorted(names.items()):
        if name in SUGGESTERS and only_suggestions:
            continue
        # A suggester only ever suggests (a decision is stored under its reviewer's name): a
        # person's codings under its name are refused even when the target knows the name.
        if name in existing and name not in SUGGESTERS:
            continue
        try:
            check_coder_name(name)
        except CodingError as exc:
            raise CodingError(f"nothing merged: the copy has codings by a coder name the target "
                              f"would not accept: {exc.message}; rename that coder in the "
                              "copy first", path=path) from None


# --- planning ---------------------------------------------------------------------------------

@dataclass
class _Target:
    """What the target holds while the copies are planned, one after another."""

    index: dict[Key, Coding]
    hist: _History
    known: set[EntryKey]
    codes: list[str]
    coders: set[str]


@dataclass
class _Plan:
    path: Path
    report: SourceReport
    puts: list[Coding] = field(default_factory=list)
    deletes: list[Coding] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    resolutions: list[AuditEntry] = field(default_factory=list)
    unknown_codes: dict[str, int] = field(default_factory=dict)
    names: dict[str, bool] = field(default_factory=dict)  # name -> only suggestions so far
    contributed: set[str] = field(default_factory=set)


def _note_name(plan: _Plan, name: str, status: str | None) -> None:
    plan.names[name] = plan.names.get(name, True) and status == "suggested"


def _conflict(key: Key, have: Coding | None, copy_state: str | None, kind: str) -> Conflict:
    return Conflict(key[0], key[1], key[2], None if have is None else json.loads(_state(have)),
                    None if copy_state is None else json.loads(copy_state), kind)


def _put(plan: _Plan, tgt: _Target, c: Coding, action: str) -> None:
    plan.puts.append(c)
    plan.report.changes.append(Change(action, c.segment, c.code, c.coder))
    if action == "add":
        plan.report.added += 1
    else:
        plan.report.updated += 1
    if tgt.codes and c.code not in tgt.codes:
        plan.unknown_codes[c.code] = plan.unknown_codes.get(c.code, 0) + 1
    _note_name(plan, c.coder, c.status)
    plan.contributed.add(c.coder)
    tgt.index[c.key] = c


def _plan_codings(plan: _Plan, tgt: _Target, codings: list[Coding], copy_hist: _History,
                  copy_entries: set[EntryKey]) -> None:
    """Adds and updates from the copy's codings, and the conflicts among them."""
    for c in codings:
        state = _state(c)
        have = tgt.index.get(c.key)
        if have is None:
            if state in tgt.hist.states.get(c.key, ()):
                plan.report.kept_removed += 1  # the target had this version and removed it
            elif any(entry not in copy_entries and removed in copy_hist.states.get(c.key, ())
                     for entry, removed in tgt.hist.removals.get(c.key, ())):
                plan.report.conflicts.append(
                    _conflict(c.key, None, state, "removed in the target"))
            else:
                _put(plan, tgt, c, "add")
        elif _state(have) == state or state in tgt.hist.states.get(c.key, ()):
            plan.report.unchanged += 1
        elif _state(have) in copy_hist.states.get(c.key, ()):
            _put(plan, tgt, c, "update")
        else:
            plan.report.conflicts.append(_conflict(c.key, have, state, "changed"))


def _plan_removals(plan: _Plan, tgt: _Target, held: set[Key], entries: list[AuditEntry],
                   copy_hist: _History) -> None:
    """Removals the copy made that the target has not seen: applied, or a conflict."""
    last: dict[Key, AuditEntry] = {}
    for e in entries:
        key = _entry_coding_key(e)
        if key is not None:
            last[key] = e
    for key, e in last.items():
        if key in held or e.action != "remove" or e.before is None or _entry_key(e) in tgt.known:
            continue
        have = tgt.index.get(key)
        if have is None:
            continue  # the target does not hold it either
        mine = _state(have)
        if mine == _dump(e.before) or mine in copy_hist.states.get(key, ()):
            plan.deletes.append(have)
            plan.report.changes.append(Change("remove", *key[:3]))
            plan.report.removed += 1
            del tgt.index[key]
        else:
            plan.report.conflicts.append(_conflict(key, have, None, "removed in the copy"))


def _plan_audit(plan: _Plan, tgt: _Target, entries: list[AuditEntry], actor: str,
                command: str) -> None:
    """The copy's new audit entries, and the merge's own where the target kept its version."""
    new = [e for e in entries if _entry_key(e) not in tgt.known]
    plan.audit = new
    plan.report.audit_added = len(new)
    for e in new:
        state = e.after if e.after is not None else e.before
        if e.coder:
            _note_name(plan, e.coder, None if state is None else state.get("status"))
    logged: dict[Key, str | None] = {}
    for e in new:
        key = _entry_coding_key(e)
        if key is not None:
            logged[key] = _logged(e)
    stamp = now()
    for key, last_state in logged.items():
        have = tgt.index.get(key)
        final = None if have is None else _state(have)
        if final == last_state:
            continue
        action = "remove" if final is None else ("add" if last_state is None else "update")
        plan.resolutions.append(AuditEntry(
            id=0, at=stamp, actor=actor, command=command, action=action, segment=key[0],
            code=key[1], coder=key[2],
            before=None if last_state is None else json.loads(last_state),
            after=None if final is None else json.loads(final)))
    tgt.known.update(_entry_key(e) for e in new)
    tgt.hist.add(new)


def _plan_copy(path: Path, copy: Project, tgt: _Target, code_map: dict[str, str],
               actor: str, command: str, target: Project) -> _Plan:
    codings, entries = _mapped(path, copy, code_map)
    copy_hist = _history(entries)
    plan = _Plan(path, SourceReport(str(path), coders=copy.coders(),
                                    notes=_codebook_notes(target, copy)))
    _plan_codings(plan, tgt, codings, copy_hist, {_entry_key(e) for e in entries})
    _plan_removals(plan, tgt, {c.key for c in codings}, entries, copy_hist)
    _plan_audit(plan, tgt, entries, actor, command)
    return plan


def _codebook_notes(target: Project, copy: Project) -> list[str]:
    mine, theirs = target.codebook_info(), copy.codebook_info()
    if theirs is None or (mine is not None and mine["sha256"] == theirs["sha256"]):
        return []
    return [f"the copy's codebook ({theirs['name']} v{theirs['version']}) differs from the "
            "target's; the target's codebook was left as it is"]


def _refuse_unknown_codes(plans: list[_Plan], target: Project) -> None:
    for plan in plans:
        if plan.unknown_codes:
            listed = ", ".join(f"{code} ({n} coding{'s' if n > 1 else ''})"
                               for code, n in sorted(plan.unknown_codes.items()))
            raise CodingError(
                f"nothing merged: the copy has codings of codes the target's codebook lacks: "
                f"{listed}; map each to a target code with --map-code OLD=NEW (the target's "
                f"codes: {_codes(target.code_ids())}), or add them to the "
                "target's codebook first", path=plan.path)


# --- the merge --------------------------------------------------------------------------------

def merge(target: Project, sources: list[Path], *, dry_run: bool = False,
          code_map: dict[str, str] | None = None) -> MergeReport:
    """Merge coders' copies ``sources`` into ``target`` (all or nothing); see the module rules.

    With ``dry_run`` the report is the plan and nothing is written (``target`` may be open
    read-only). ``code_map`` maps copies' codes the target lacks to the target's codes.
    """
    report = MergeReport(str(target.path), dry_run=dry_run)
    code_map = dict(code_map or {})
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
        if code_map:
            _check_code_map(target, copies, code_map)
        plans = _plan_all(target, copies, code_map)
    finally:
        for _, copy in copies:
            copy.close()
    _refuse_unknown_codes(plans, target)
    report.sources = [plan.report for plan in plans]
    _shared_names(plans, report)
    if not dry_run:
        _apply(target, plans)
    return report


def _plan_all(target: Project, copies: list[tuple[Path, Project]],
              code_map: dict[str, str]) -> list[_Plan]:
    target_audit = target.audit()
    tgt = _Target(index={c.key: c for c in target.codings()}, hist=_history(target_audit),
                  known={_entry_key(e) for e in target_audit}, codes=target.code_ids(),
                  coders=set(target.coders()) | {e.coder for e in target_audit if e.coder})
    plans = []
    for path, copy in copies:
        plan = _plan_copy(path, copy, tgt, code_map, target.actor, target.command, target)
        _check_names(path, plan.names, tgt.coders)
        tgt.coders |= set(plan.names)
        plans.append(plan)
    return plans


def _shared_names(plans: list[_Plan], report: MergeReport) -> None:
    contributed: dict[str, set[str]] = defaultdict(set)
    for plan in plans:
        for coder in plan.contributed:
            contributed[coder].add(str(plan.path))
    for coder, paths in sorted(contributed.items()):
        if len(paths) > 1:
            report.warnings.append(
                f"coder {coder!r} has new codings in {len(paths)} copies "
                f"({', '.join(sorted(paths))}); if these are different people, give each "
                "a distinct coder name")


def _apply(target: Project, plans: list[_Plan]) -> None:
    with target.atomic():
        for plan in plans:
            for c in plan.puts:
                target.put_coding(c)
            for c in plan.deletes:
                target.delete_coding(c)
            plan.report.audit_added = target.append_audit(plan.audit)
            target.append_audit(plan.resolutions)
