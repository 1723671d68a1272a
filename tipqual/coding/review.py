"""Reviewing suggestions: a queue ordered by uncertainty, decisions, undo, and rendering.

A reviewer sees one (segment, code) suggestion at a time, the most uncertain first (scores
nearest 0.5: each decision then teaches the model most). Accepting or rejecting records a coding
under the reviewer's name with status ``accepted`` / ``rejected`` and provenance
``review of <suggester> <score>``, committed at once; undo reverts the last decision (the store
audits both). Suggestions the reviewer has already coded or decided are not shown again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tipqual.errors import CodingError
from tipqual.records import Coding

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.codebook.model import Codebook
    from tipqual.records import Segment
    from tipqual.store.project import Project

KEYS_HELP = ("a accept   r reject   s skip   u undo the last decision   q quit   ? this help")


@dataclass(frozen=True)
class Suggestion:
    """One code proposed for one segment, by one or more suggesters."""

    segment: Segment
    code: str
    suggestions: tuple[Coding, ...]

    @property
    def score(self) -> float:
        """The model's calibrated score when it proposed the code, else the best rule score."""
        model = [c.score for c in self.suggestions if c.coder == "tipqual-model"]
        scores = model or [c.score for c in self.suggestions]
        return float(max(s or 0.0 for s in scores))

    @property
    def suggester(self) -> str:
        """Who proposed it (``tipqual-rules``, ``tipqual-model``, or both joined by ``+``)."""
        return "+".join(sorted(c.coder for c in self.suggestions))

    def matches(self) -> list[tuple[int, int]]:
        """Character ranges in the segment text that the rules matched for this code."""
        ranges = set()
        for c in self.suggestions:
            for m in _provenance(c).get("matches", []):
                ranges.add((int(m[0]), int(m[1])))
        return sorted(ranges)

    def reasons(self) -> list[str]:
        """Why it was suggested, one line per suggester."""
        lines = []
        for c in sorted(self.suggestions, key=lambda c: c.coder):
            prov = _provenance(c)
            if "model" in prov:
                m = prov["model"]
                why = (f"learned model (v{m.get('version')}, trained on "
                       f"{m.get('trained_on')} coded segments)")
            else:
                why = "matched " + ", ".join(prov.get("rules", [])) if prov.get("rules") else (
                    c.provenance or "")
                if prov.get("cues"):
                    why += " (after " + ", ".join(f'"{w}"' for w in prov["cues"]) + ")"
            lines.append(f"{c.coder} {c.score:.2f}: {why}")
        return lines


def _provenance(coding: Coding) -> dict[str, Any]:
    try:
        data = json.loads(coding.provenance or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def review_queue(project: Project, coder: str, code: str | None = None,
                 case: str | None = None) -> list[Suggestion]:
    """Open suggestions for ``coder`` to decide, most uncertain first.

    Args:
        project: the study.
        coder: the reviewer; suggestions they already coded or decided are left out.
        code: only this code (None: all).
        case: only segments of this case (None: all).
    """
    from tipqual.suggest.engine import review_order

    if code is not None and code not in project.code_ids():
        raise CodingError(f"unknown code {code!r}; the codebook has: "
                          f"{', '.join(project.code_ids())}")
    if case is not None and case not in {c.id for c in project.cases()}:
        raise CodingError(f"unknown case {case!r}; the study has: "
                          f"{', '.join(c.id for c in project.cases())}")
    own = {(c.segment, c.code) for c in project.codings(coders=[coder])}
    grouped: dict[tuple[str, str], list[Coding]] = {}
    for c in project.codings(statuses=["suggested"], codes=None if code is None else [code]):
        if (c.segment, c.code) not in own:
            grouped.setdefault((c.segment, c.code), []).append(c)
    segments = {s.id: s for s in project.segments(ids={k[0] for k in grouped}, case=case)}
    order = {cid: i for i, cid in enumerate(project.code_ids())}
    items = [Suggestion(segments[seg], cd, tuple(cs)) for (seg, cd), cs in grouped.items()
             if seg in segments]
    items.sort(key=lambda s: (s.segment.source, s.segment.n, order.get(s.code, len(order))))
    return review_order(items)


@dataclass
class Decision:
    """A decision taken in a session: the coding written and what it replaced (for undo)."""

    index: int
    coding: Coding
    previous: Coding | None


@dataclass
class ReviewSession:
    """A reviewer working through the queue; every decision is saved as it is made."""

    project: Project
    coder: str
    code: str | None = None
    case: str | None = None
    items: list[Suggestion] = field(default_factory=list)
    position: int = 0
    history: list[Decision] = field(default_factory=list)
    skipped: int = 0

    def __post_init__(self) -> None:
        from tipqual.coding.csvio import check_coder_name

        try:
            check_coder_name(self.coder)
        except CodingError as exc:
            raise CodingError(f"give your own name as reviewer (--coder): {exc.message}") from None
        self.items = review_queue(self.project, self.coder, self.code, self.case)

    def current(self) -> Suggestion | None:
        """The suggestion to decide now, or None when the queue is done."""
        return self.items[self.position] if self.position < len(self.items) else None

    def accept(self) -> Decision:
        """Code the segment with the suggested code, under the reviewer's name."""
        return self._decide("accepted")

    def reject(self) -> Decision:
        """Record that the reviewer turned the suggestion down."""
        return self._decide("rejected")

    def _decide(self, status: str) -> Decision:
        item = self.current()
        if item is None:
            raise CodingError("nothing left to review")
        coding = Coding(segment=item.segment.id, code=item.code, coder=self.coder,
                        status=status, score=round(item.score, 4),
                        provenance=f"review of {item.suggester} {item.score:.2f}")
        with self.project.atomic():
            previous = self.project.find_coding(item.segment.id, item.code, self.coder)
            self.project.put_coding(coding)
        decision = Decision(self.position, coding, previous)
        self.history.append(decision)
        self.position += 1
        return decision

    def skip(self) -> None:
        """Leave this suggestion undecided and move on."""
        if self.current() is not None:
            self.position += 1
            self.skipped += 1

    def undo(self) -> Decision | None:
        """Revert the last decision (the suggestion is shown again); None if there is none."""
        if not self.history:
            return None
        decision = self.history.pop()
        with self.project.atomic():
            if decision.previous is None:
                self.project.delete_coding(decision.coding)
            else:
                self.project.put_coding(decision.previous)
        self.position = decision.index
        return decision

    def summary(self) -> dict[str, int]:
        """Counts of this session's decisions and what is left."""
        accepted = sum(d.coding.status == "accepted" for d in self.history)
        return {"accepted": accepted, "rejected": len(self.history) - accepted,
                "skipped": self.skipped, "left": max(len(self.items) - self.position, 0)}

    def handle(self, key: str) -> str:
        """Apply one key (a r s u q ?); returns a short message, ``"quit"`` to stop."""
        key = key.strip().lower()[:1]
        if key in ("a", "r", "s") and self.current() is None:
            return "nothing left to review (u undo, q quit)"
        if key == "a":
            d = self.accept()
            return f"accepted {d.coding.code} for {d.coding.segment}"
        if key == "r":
            d = self.reject()
            return f"rejected {d.coding.code} for {d.coding.segment}"
        if key == "s":
            self.skip()
            return "skipped"
        if key == "u":
            undone = self.undo()
            return "nothing to undo" if undone is None else (
                f"undid {undone.coding.status} {undone.coding.code} for {undone.coding.segment}")
        if key == "q":
            return "quit"
        return KEYS_HELP


# ANSI select graphic rendition: bold and underline on, then everything off.
_BOLD_UNDERLINE = "\x1b[1m\x1b[4m"
_RESET = "\x1b[0m"


def highlight(text: str, ranges: list[tuple[int, int]], styled: bool) -> str:
    """The text with the given character ranges emphasised (bold+underline, or ``[[...]]``)."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        if start < pos or end > len(text):
            continue
        out.append(text[pos:start])
        word = text[start:end]
        out.append(f"{_BOLD_UNDERLINE}{word}{_RESET}" if styled else f"[[{word}]]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def render(item: Suggestion, codebook: Codebook, styled: bool = False, number: int = 0,
           total: int = 0) -> str:
    """One suggestion as the reviewer sees it: text, code, criteria, score and why."""
    code = codebook.code(item.code)
    seg = item.segment
    head = f"[{number}/{total}] " if total else ""
    lines = [f"{head}{seg.id}  case {seg.case or '-'}  speaker {seg.speaker or '-'}", "",
             highlight(seg.text, item.matches(), styled), "",
             f"code      {code.id}: {code.name}  (score {item.score:.2f})"]
    if code.definition:
        lines.append(f"means     {code.definition.strip()}")
    for label, values in (("include", code.include), ("exclude", code.exclude)):
        for value in values:
            lines.append(f"{label:<9} {value}")
    lines += [f"why       {r}" for r in item.reasons()]
    return "\n".join(lines)
