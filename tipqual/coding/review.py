"""Reviewing suggestions: a queue ordered by uncertainty, decisions, undo, and rendering.

A reviewer sees one (segment, code) suggestion at a time, the most uncertain first (scores
nearest 0.5: each decision then teaches the model most). Accepting or rejecting records a coding
under the reviewer's name with status ``accepted`` / ``rejected`` and provenance
``review of <suggester> <score>``, committed at once; undo reverts the last decision (the store
audits both). Suggestions the reviewer has already coded or decided are not shown again.

On screen a suggestion is wrapped to the terminal's width on word boundaries, its matched words
emphasised, and "why" names each rule match in plain words with the words it matched in the
segment (``phrase «…asked for a bribe…»``) and the model's score.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from tipqual.errors import CodingError
from tipqual.records import Coding
from tipqual.suggest.rules import rule_kind

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
        return sorted({(m.start, m.end) for c in self.suggestions for m in _matches(c)})

    def reasons(self) -> list[str]:
        """Why it was suggested, in plain words: the model's score, and one line per rule
        match with its kind and the words it matched in the segment (in context)."""
        lines: list[str] = []
        has_rules = any("rules" in _provenance(c) for c in self.suggestions)
        for c in sorted(self.suggestions, key=lambda c: c.coder):
            prov = _provenance(c)
            score = "" if c.score is None else f" {c.score:.2f}"
            if not prov:  # not tipqual's record: say what it says
                lines.append(f"{c.coder}{score}: {_printable(c.provenance or 'no provenance')}")
                continue
            hits = [f"{m.kind} «{context(self.segment.text, m.start, m.end)}»"
                    + (f' (after "{m.cue}")' if m.cue else "") for m in _matches(c)]
            if "model" in prov:
                model = prov["model"] if isinstance(prov["model"], dict) else {}
                line = f"model score{score}"
                if model.get("trained_on"):
                    line += f" (learned from {model['trained_on']} coded segments)"
                lines.append(line)
                if has_rules:  # the rules' own lines show these matches
                    hits = []
            elif hits:
                hits[0] = f"rules{score}: {hits[0]}"
            lines += hits
        return lines


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` with control characters (a terminal escape, a line break) shown as ``?``."""
    return _CONTROL.sub("?", text)


class Match(NamedTuple):
    """One rule match recorded in a suggestion's provenance."""

    start: int
    end: int
    kind: str  # "phrase" or "pattern"
    cue: str | None  # the negation or hedge word before it, if any


def _matches(coding: Coding) -> list[Match]:
    """The rule matches of a suggestion, from its provenance (``[start, end, text, kind,
    cue]`` each; records written before kinds and cues were kept per match take them from
    the coding's ``rules`` and ``cues``)."""
    prov = _provenance(coding)
    kinds = {rule_kind(r) for r in prov.get("rules", []) if isinstance(r, str)}
    kind = kinds.pop() if len(kinds) == 1 else "rule"
    cues = [str(w) for w in prov.get("cues", []) if isinstance(w, str)]
    found: dict[tuple[int, int], Match] = {}
    for m in prov.get("matches", []):
        if not isinstance(m, list):
            continue
        try:
            start, end = int(m[0]), int(m[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if len(m) >= 5:
            hit = Match(start, end, str(m[3]), None if m[4] is None else str(m[4]))
        else:
            hit = Match(start, end, kind, ", ".join(cues) or None)
        found.setdefault((start, end), hit)
    return [found[k] for k in sorted(found)]


CONTEXT_WORDS = 5  # words shown either side of a match in "why"


def context(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> str:
    """The matched words of ``text[start:end]`` with up to ``words`` words either side, on one
    line; ``…`` marks text left out."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    words = max(words, 1)
    before = [m.start() for m in re.finditer(r"\S+", text[:start])]
    after = [m.end() for m in re.finditer(r"\S+", text[end:])]
    lo = before[-words] if len(before) > words else 0
    hi = end + after[words - 1] if len(after) > words else len(text)
    snippet = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else "")


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
    skips: set[int] = field(default_factory=set)  # positions skipped and still undecided

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
        self.skips.discard(self.position)
        self.position += 1
        return decision

    def skip(self) -> None:
        """Leave this suggestion undecided and move on."""
        if self.current() is not None:
            self.skips.add(self.position)
            self.position += 1

    @property
    def skipped(self) -> int:
        """Suggestions of the queue skipped in this session (and not decided since)."""
        return len(self.skips)

    @property
    def left(self) -> int:
        """Suggestions of the queue still undecided: the ones ahead and the ones skipped."""
        return len(self.items) - len(self.history)

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
                "skipped": self.skipped, "left": self.left}

    def handle(self, key: str) -> str:
        """Apply one key (a r s u q ?); returns a short message, ``"quit"`` to stop."""
        key = key.strip().lower()[:1]
        if key in ("a", "r", "s") and self.current() is None:
            if self.left:
                return (f"end of the queue; {self.left} skipped, still undecided "
                        "(u undo, q quit)")
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


def _merged(ranges: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Ranges sorted and merged where they overlap; those reaching past ``length`` dropped."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged if start >= 0 and end <= length]


def highlight(text: str, ranges: list[tuple[int, int]], styled: bool) -> str:
    """The text with the given character ranges emphasised (bold+underline, or ``[[...]]``)."""
    out, pos = [], 0
    for start, end in _merged(ranges, len(text)):
        out.append(text[pos:start])
        word = text[start:end]
        out.append(f"{_BOLD_UNDERLINE}{word}{_RESET}" if styled else f"[[{word}]]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


MIN_WIDTH = 30  # narrower terminals get lines this long all the same


def screen_width(width: int | None = None) -> int:
    """The width to wrap to: ``width``, else the terminal's (80 when there is none)."""
    return max(width or shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def _wrapper(width: int, indent: str = "", subsequent: str = "") -> textwrap.TextWrapper:
    # Break at spaces only (a hyphenated word stays whole unless it is longer than a line).
    return textwrap.TextWrapper(width=width, initial_indent=indent,
                                subsequent_indent=subsequent, break_on_hyphens=False,
                                expand_tabs=False, replace_whitespace=True)


_SPACES = str.maketrans("\t\n\v\f\r", "     ")


def wrap_highlighted(text: str, ranges: list[tuple[int, int]], styled: bool,
                     width: int) -> list[str]:
    """``text`` as lines of at most ``width`` characters, broken between words, with the
    ranges emphasised (see :func:`highlight`; the markers ``[[ ]]`` count in the width, the
    terminal's emphasis does not). The text's own line breaks are kept."""
    shown = text if styled else highlight(text, ranges, False)
    marked = [False] * len(shown)
    if styled:
        for start, end in _merged(ranges, len(text)):
            marked[start:end] = [True] * (end - start)
    wrapper = _wrapper(width)
    lines: list[str] = []
    base = 0
    for hard in shown.split("\n"):
        flat, cursor = hard.translate(_SPACES), 0
        pieces = wrapper.wrap(hard) or [""]
        for piece in pieces:
            # textwrap only drops the spaces it breaks at: each line is a run of the text.
            at = flat.find(piece, cursor) if piece else cursor
            cursor = at + len(piece)
            lines.append(_emphasise(shown[base + at:base + cursor],
                                    marked[base + at:base + cursor]))
        base += len(hard) + 1
    return lines


def _emphasise(text: str, marked: list[bool]) -> str:
    """``text`` with its marked characters in terminal bold+underline."""
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and marked[j] == marked[i]:
            j += 1
        out.append(f"{_BOLD_UNDERLINE}{text[i:j]}{_RESET}" if marked[i] else text[i:j])
        i = j
    return "".join(out)


def _field(label: str, value: str, width: int) -> list[str]:
    """A labelled line (``label`` in a column of 10), wrapped under itself."""
    return _wrapper(width, f"{label:<9} ", " " * 10).wrap(value) or [label]


def render(item: Suggestion, codebook: Codebook, styled: bool = False, number: int = 0,
           total: int = 0, width: int | None = None, left: int | None = None) -> str:
    """One suggestion as the reviewer sees it: text, code, criteria, score and why.

    Lines are wrapped between words to ``width`` (default: the terminal's width); ``styled``
    emphasises the matched words with terminal bold+underline instead of ``[[ ]]``.
    ``number``/``total`` (and ``left``, the suggestions still undecided) head the screen.
    """
    width = screen_width(width)
    code = codebook.code(item.code)
    seg = item.segment
    head = ""
    if total:
        head = f"[{number}/{total}" + ("" if left is None else f", {left} left") + "] "
    lines = _wrapper(width, "", "    ").wrap(
        f"{head}{seg.id}  case {seg.case or '-'}  speaker {seg.speaker or '-'}")
    lines += ["", *wrap_highlighted(seg.text, item.matches(), styled, width), ""]
    lines += _field("code", f"{code.id}: {code.name}  (score {item.score:.2f})", width)
    if code.definition:
        lines += _field("means", " ".join(code.definition.split()), width)
    for label, values in (("include", code.include), ("exclude", code.exclude)):
        for value in values:
            lines += _field(label, value, width)
    for i, reason in enumerate(item.reasons()):
        lines += _field("why" if i == 0 else "", reason, width)
    return "\n".join(lines)
