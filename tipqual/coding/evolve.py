"""A study moved to a new version of its codebook, its codings carried along.

A code of the new version may declare ``replaces: [old-id, …]`` (see
:func:`tipqual.codebook.model.classify`): an old id one code replaces is *renamed* into it, and
*merged* when that code replaces several; an old id several codes replace (or one the new
version keeps) is *split*. :func:`plan_apply` works out, touching no study, what that means for
every coding, and :func:`apply_codebook` carries it out as one step (see
:mod:`tipqual.store.steps`):

- a renamed or merged code's codings move to their new code, every status (a reviewer's
  rejection of a suggestion stays a rejection of the renamed code); where a coding would land
  on one that is already there (the same segment, coder and span: two merged codes applied
  together) the two *collapse* into one, which keeps the stronger status (human, then accepted,
  then rejected, then suggested) and both memos;
- a split code's codings stay on it, listed for recoding, and the review queue offers each of
  its successors on the segments a person coded with it (suggestions by :data:`SPLIT_SUGGESTER`
  with score 0.5: nothing says which successor fits better);
- a code the new version drops with no successor has its codings *archived* (kept whole,
  recoverable with ``tipqual code reattach``; counted in no analysis), and its unreviewed
  suggestions dropped;
- an id in ``replaces`` that the study has neither in its codebook nor on any coding (a rename
  applied in an earlier round, whose line the YAML kept) moves nothing and is listed as such.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tipqual.codebook.model import Codebook, classify, replacements
from tipqual.records import Coding

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.store.project import Project
    from tipqual.store.steps import StepRun

SPLIT_SUGGESTER = "tipqual-split"
SPLIT_SCORE = 0.5
# Which of two collapsing codings' statuses survives: the person's own coding first.
_STRENGTH = {"human": 3, "accepted": 2, "rejected": 1, "suggested": 0}
APPLIED = ("human", "accepted")


@dataclass(frozen=True)
class Collapse:
    """A moved coding that met another with the same key: ``dropped`` goes, ``survivor`` (the
    other, with the stronger status and both memos) remains. ``onto_staying``: the other is a
    coding that was already there (updated in place), not one moving there too (whose move
    carries the survivor)."""

    dropped: Coding
    survivor: Coding
    onto_staying: bool


@dataclass
class EvolvePlan:
    """What applying a codebook version does to a study's codings. Pure data."""

    old: str
    new: str
    renames: list[tuple[str, str]] = field(default_factory=list)
    merges: list[tuple[str, list[str]]] = field(default_factory=list)
    splits: list[tuple[str, list[str]]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # dropped with no successor
    absent: list[str] = field(default_factory=list)  # replaced ids the study does not have
    moves: list[tuple[Coding, Coding, str]] = field(default_factory=list)  # old, new, action
    collapses: list[Collapse] = field(default_factory=list)
    recode: list[Coding] = field(default_factory=list)  # codings kept on a split code
    offered: list[Coding] = field(default_factory=list)  # suggestions of split successors
    archived: list[Coding] = field(default_factory=list)
    dropped: list[Coding] = field(default_factory=list)  # unreviewed suggestions of removed codes

    @property
    def empty(self) -> bool:
        """True when no coding moves, collapses, is archived, dropped or offered."""
        return not (self.moves or self.collapses or self.archived or self.dropped
                    or self.offered or self.recode)

    def counts(self) -> dict[str, int]:
        """How many codings meet each fate."""
        return {"renamed": sum(1 for *_, a in self.moves if a == "rename"),
                "merged": sum(1 for *_, a in self.moves if a == "merge"),
                "collapsed": len(self.collapses), "recode": len(self.recode),
                "offered": len(self.offered), "archived": len(self.archived),
                "dropped": len(self.dropped)}

    def by_code(self) -> dict[str, dict[str, int]]:
        """Per old code id: its codings by fate (as :meth:`counts`), sorted."""
        found: dict[str, Counter[str]] = {}
        for old, _, action in self.moves:
            found.setdefault(old.code, Counter())["renamed" if action == "rename"
                                                  else "merged"] += 1
        for c in self.collapses:
            found.setdefault(c.dropped.code, Counter())["collapsed"] += 1
        for name, items in (("recode", self.recode), ("archived", self.archived),
                            ("dropped", self.dropped)):
            for coding in items:
                found.setdefault(coding.code, Counter())[name] += 1
        return {code: dict(sorted(found[code].items())) for code in sorted(found)}

    def summary(self) -> str:
        """One line: what the step did."""
        n = self.counts()
        parts = [f"{len(self.renames)} renamed", f"{len(self.merges)} merged",
                 f"{len(self.splits)} split", f"{len(self.removed)} removed",
                 f"{len(self.added)} added"]
        fates = [f"{n['renamed'] + n['merged']} moved", f"{n['collapsed']} collapsed",
                 f"{n['recode']} to recode", f"{n['archived']} archived"]
        return f"{self.old} -> {self.new}: codes {', '.join(parts)}; codings {', '.join(fates)}"

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON data (``codebook apply --json``, and what the step records)."""
        def item(c: Coding) -> dict[str, Any]:
            span = None if c.span_start is None else [c.span_start, c.span_end]
            return {"segment": c.segment, "code": c.code, "coder": c.coder,
                    "status": c.status, "span": span}

        return {"old": self.old, "new": self.new,
                "renames": [{"old": o, "new": n} for o, n in self.renames],
                "merges": [{"new": n, "old": olds} for n, olds in self.merges],
                "splits": [{"old": o, "new": news} for o, news in self.splits],
                "added": self.added, "removed": self.removed, "absent": self.absent,
                "counts": self.counts(), "codes": self.by_code(),
                "moves": [{**item(o), "to": n.code, "action": a} for o, n, a in self.moves],
                "collapsed": [{**item(c.dropped), "into": c.survivor.code,
                               "status": c.survivor.status} for c in self.collapses],
                "recode": [item(c) for c in self.recode],
                "offered": [item(c) for c in self.offered],
                "archived": [item(c) for c in self.archived],
                "dropped_suggestions": len(self.dropped)}


def _stronger(a: str, b: str) -> str:
    return a if _STRENGTH.get(a, 0) >= _STRENGTH.get(b, 0) else b


def _memo(*memos: str | None) -> str | None:
    kept = list(dict.fromkeys(m.strip() for m in memos if m and m.strip()))
    return "; ".join(kept) if kept else None


def plan_apply(old_book: Codebook | None, new_book: Codebook,
               codings: Iterable[Coding]) -> EvolvePlan:
    """What moving ``codings`` (all of a study's) from ``old_book`` to ``new_book`` does."""
    codings = sorted(codings, key=lambda c: (c.code, c.segment, c.coder, *c.key[3:]))
    old_ids = [c.id for c in old_book.codes] if old_book is not None else []
    new_ids = {c.id for c in new_book.codes}
    coded = {c.code for c in codings}
    known = set(old_ids) | coded
    lineage = {o: news for o, news in replacements(new_book).items() if o in known}
    renames, merges, splits = classify(lineage, new_ids)
    old_label = f"{old_book.name} v{old_book.version}" if old_book else "no codebook"
    new_label = f"{new_book.name} v{new_book.version}"
    if old_book is not None and old_label == new_label:  # one label, other contents
        old_label += f" ({old_book.sha256[:8]})"
        new_label += f" ({new_book.sha256[:8]})"
    plan = EvolvePlan(
        old=old_label, new=new_label, renames=renames, merges=merges,
        splits=splits,
        absent=sorted(o for o in replacements(new_book) if o not in known))
    into = {o: n for o, n in renames} | {o: n for n, olds in merges for o in olds}
    split = {o: news for o, news in splits}
    successors = set(into.values())
    plan.added = [c.id for c in new_book.codes if c.id not in old_ids and c.id not in successors]
    gone = [i for i in [*old_ids, *sorted(coded - set(old_ids))]
            if i not in new_ids and i not in into and i not in split]
    plan.removed = list(dict.fromkeys(gone))
    removed = set(plan.removed)
    # the codings that stay where they are, by key: a move that lands on one collapses into it
    staying = {c.key for c in codings if c.code not in into and c.code not in removed}
    placed: dict[tuple[Any, ...], Coding] = {c.key: c for c in codings if c.key in staying}
    dropped_into: list[tuple[Coding, tuple[Any, ...]]] = []
    for c in codings:
        if c.code in into:
            target = replace(c, code=into[c.code])
            there = placed.get(target.key)
            if there is None:
                placed[target.key] = target
                plan.moves.append((c, target, "rename" if (c.code, target.code) in renames
                                   else "merge"))
                continue
            placed[target.key] = replace(there, status=_stronger(there.status, c.status),
                                         memo=_memo(there.memo, c.memo))
            dropped_into.append((c, target.key))
        elif c.code in removed:
            (plan.dropped if c.status == "suggested" else plan.archived).append(c)
        elif c.code in split:
            plan.recode.append(c)
    # a survivor that is moving too carries its final state on its move
    plan.moves = [(o, placed[n.key], a) for o, n, a in plan.moves]
    plan.collapses = [Collapse(c, placed[key], key in staying) for c, key in dropped_into]
    offered: dict[tuple[Any, ...], Coding] = {}
    for c in plan.recode:
        if c.status not in APPLIED:
            continue
        for new in split[c.code]:
            s = Coding(c.segment, new, SPLIT_SUGGESTER, status="suggested", score=SPLIT_SCORE,
                       provenance=json.dumps({"suggester": SPLIT_SUGGESTER, "split_from": c.code},
                                             sort_keys=True))
            if s.key not in placed:
                offered.setdefault(s.key, s)
    plan.offered = list(offered.values())
    return plan


def apply_plan(project: Project, plan: EvolvePlan, new_book: Codebook,
               run: StepRun | None = None) -> None:
    """Carry out ``plan`` inside the caller's step (or transaction); every change audited."""
    segments = {s.id: s for s in project.segments(
        ids=sorted({c.segment for c in plan.archived}))} if plan.archived else {}
    for fold in plan.collapses:
        project.delete_coding(fold.dropped, action="collapse")
    for key in dict.fromkeys(f.survivor.key for f in plan.collapses if f.onto_staying):
        survivor = next(f.survivor for f in plan.collapses if f.survivor.key == key)
        project.put_coding(replace(survivor, updated_at=None))
    project.move_codings(plan.moves)
    for c in plan.archived:
        seg = segments[c.segment]
        project.retire(c, "archived", segment_text=seg.text, source=seg.source)
    for c in plan.dropped:
        project.delete_coding(c)
    old_book = project.codebook()
    if old_book is None or old_book.stakeholders != new_book.stakeholders:
        from tipqual.nlp.mentions import MENTION_STAGES

        # the stored mentions were found with the old registry: the network and the report
        # find them again with the new one until the next 'suggest' stores them
        for stage in MENTION_STAGES:
            project.clear_stage(stage)
    project.set_codebook(new_book)
    for s in plan.offered:
        project.put_coding(s)
    if run is not None:
        run.summary = plan.summary()
        run.plan = plan.to_dict()


def apply_codebook(project: Project, new_book: Codebook, *, dry_run: bool = False
                   ) -> tuple[EvolvePlan, int | None, str | None]:
    """Move ``project`` to ``new_book``: one step (none with ``dry_run``, or when the book is
    already the study's). Returns the plan, the step's number and its copy's file name."""
    info = project.codebook_info()
    if dry_run or (info is not None and info["sha256"] == new_book.sha256):
        return plan_apply(project.codebook(), new_book, project.codings()), None, None
    with project.step("codebook-apply") as run:
        # planned inside the step's transaction: no other writer can change a coding between
        # the plan and its carrying out
        plan = plan_apply(project.codebook(), new_book, project.codings())
        apply_plan(project, plan, new_book, run)
    return plan, run.id, run.backup.name if run.backup is not None else None


def describe(plan: EvolvePlan) -> list[str]:
    """The plan in lines a person reads before applying it."""
    per = plan.by_code()

    def fates(code: str) -> str:
        n = per.get(code, {})
        return ", ".join(f"{v} {k}" for k, v in n.items()) or "no codings"

    out = [f"Codebook {plan.old} -> {plan.new}"]
    out += [f"  rename  {o} -> {n}: {fates(o)}" for o, n in plan.renames]
    out += [f"  merge   {', '.join(olds)} -> {n}: " + "; ".join(f"{o} {fates(o)}" for o in olds)
            for n, olds in plan.merges]
    for o, news in plan.splits:
        offered = sum(1 for s in plan.offered if json.loads(s.provenance or "{}").get(
            "split_from") == o)
        out.append(f"  split   {o} -> {', '.join(news)}: {fates(o)} (kept on {o}); "
                   f"{offered} suggestions of its successors offered for review")
    out += [f"  remove  {o}: {fates(o)}" for o in plan.removed]
    out += [f"  add     {a}" for a in plan.added]
    out += [f"  (replaces {a}: not in this study, nothing to move)" for a in plan.absent]
    for c in plan.recode:
        out.append(f"    recode {c.segment} {c.code} by {c.coder} ({c.status})")
    for fold in plan.collapses:
        out.append(f"    collapse {fold.dropped.segment} {fold.dropped.code} by "
                   f"{fold.dropped.coder} into {fold.survivor.code} ({fold.survivor.status})")
    for c in plan.archived:
        out.append(f"    archive {c.segment} {c.code} by {c.coder} ({c.status})")
    return out


def successors(plan: EvolvePlan) -> dict[str, Sequence[str]]:
    """Old code id -> the code(s) its codings went to or are to be recoded into."""
    out: dict[str, Sequence[str]] = {o: [n] for o, n in plan.renames}
    out.update({o: [n] for n, olds in plan.merges for o in olds})
    out.update({o: news for o, news in plan.splits})
    return out
