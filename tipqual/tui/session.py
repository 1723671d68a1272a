"""One coder's workbench session over a study: what each segment shows, and every action.

Nothing here draws a screen (the Textual app calls it), so every rule is the library's own:
a code by hand goes through :func:`tipqual.coding.csvio.add_coding` (a span, the same coding
with its character offsets), a decision on a suggestion through
:class:`tipqual.coding.review.ReviewSession` (the same coding, provenance and audit entry as
``tipqual review``), a removal or a memo through the store's ``put_coding`` /
``delete_coding``. Each action is one transaction, committed before it is reported, and is
recorded here so that :meth:`WorkbenchSession.undo` can revert this session's last one.

A segment shows this coder's codes, other people's (none in blind mode: honest agreement), this
coder's rejections, and the suggestions this coder has not decided — the pairs ``tipqual review``
would queue for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TYPE_CHECKING

from tipqual.coding.csvio import add_coding, check_coder_name, person_coders
from tipqual.coding.review import ReviewSession, Suggestion
from tipqual.errors import NO_CODEBOOK_ADVICE, CodingError, IngestError, ProjectError
from tipqual.records import APPLIED_STATUSES, Coding, Segment

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.codebook.model import Code, Codebook
    from tipqual.coding.search import Hit
    from tipqual.store.project import Project


SEARCH_LIMIT = 500  # hits shown for one search


@dataclass(frozen=True)
class SegmentState:
    """A segment with what the coder sees on it."""

    segment: Segment
    mine: tuple[Coding, ...] = ()  # this coder's codes (human or accepted), whole or span
    rejected: tuple[Coding, ...] = ()  # suggestions this coder turned down
    others: tuple[Coding, ...] = ()  # other people's codes (none in blind mode)
    pending: tuple[Suggestion, ...] = ()  # suggestions this coder has not decided

    @property
    def codes(self) -> set[str]:
        """The codes applied to the segment that the coder can see."""
        return {c.code for c in self.mine + self.others}


@dataclass(frozen=True)
class Filters:
    """Which segments the transcript shows: one case, one code, uncoded, pending."""

    case: str | None = None
    code: str | None = None  # coded (visibly) or suggested with it or a code below it
    uncoded: bool = False  # respondent segments this coder has not coded yet
    pending: bool = False  # segments with suggestions this coder has not decided

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return bool(self.case or self.code or self.uncoded or self.pending)

    def describe(self) -> str:
        """The filters in words (``"all segments"`` when none is set)."""
        parts = [f"case {self.case}"] if self.case else []
        parts += [f"code {self.code}"] if self.code else []
        parts += ["uncoded"] if self.uncoded else []
        parts += ["pending"] if self.pending else []
        return ", ".join(parts) or "all segments"


@dataclass(frozen=True)
class Action:
    """One action of this session, saved, with what reverts it."""

    message: str  # what was saved, in words
    segment: str
    revert: Callable[[], None] = field(repr=False)


def short(text: str, limit: int = 40) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``…``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


class WorkbenchSession:
    """A coder at work on a study: the segments as they stand, and the coder's actions.

    Args:
        project: the open study (its audit log records the command that opened it).
        coder: the coder's name, checked as everywhere (:func:`check_coder_name`).
        blind: hide other people's codings.
    """

    def __init__(self, project: Project, coder: str, *, blind: bool = False):
        check_coder_name(coder)
        book = project.codebook()
        if book is None:
            raise ProjectError(f"the study has no codebook to code with; {NO_CODEBOOK_ADVICE}",
                               path=project.path)
        self.project, self.coder, self.blind = project, coder, blind
        self.codebook: Codebook = book
        self.sources = project.source_headers()
        if not self.sources:
            raise ProjectError("the study has no transcripts yet; import them with 'tipqual "
                               "import' first", path=project.path)
        self.filters = Filters()
        self.history: list[Action] = []
        self._review: ReviewSession | None = None
        self._order = {c.id: i for i, c in enumerate(book.codes)}

    # --- what there is --------------------------------------------------------------------------

    def source_ids(self) -> list[str]:
        """The sources to move between (those of the filtered case), sorted by id."""
        case = self.filters.case
        return [s.id for s in self.sources if case is None or s.case == case]

    def source_case(self, source_id: str) -> str | None:
        """The case a source belongs to."""
        return next((s.case for s in self.sources if s.id == source_id), None)

    def check_source(self, source_id: str) -> str:
        """``source_id`` if the study has it; else the error ``tipqual segments`` gives."""
        if all(s.id != source_id for s in self.sources):
            raise IngestError(f"no source {source_id!r} in the study; list them with 'tipqual "
                              "segments' without --source", path=self.project.path)
        return source_id

    def find_segment(self, segment_id: str) -> Segment:
        """The segment with this id; a :class:`CodingError` naming it if there is none."""
        segment = self.project.segment(segment_id)
        if segment is None:
            raise CodingError(f"unknown segment {segment_id!r}; list them with 'tipqual "
                              "segments'")
        return segment

    def start(self, source: str | None = None,
              segment: str | None = None) -> tuple[str, str | None]:
        """Where the session opens: ``(source, segment or None)``, checked (the first source
        when neither is given)."""
        if segment is not None:
            found = self.find_segment(segment)
            if source is not None and found.source != source:
                self.check_source(source)
                raise CodingError(f"segment {segment!r} is in source {found.source!r}, not "
                                  f"{source!r}; give --segment alone")
            return found.source, found.id
        if source is not None:
            return self.check_source(source), None
        return self.sources[0].id, None

    def cases(self) -> list[str]:
        """The cases that have sources."""
        return sorted({s.case for s in self.sources if s.case})

    def codes(self) -> list[Code]:
        """The codes a coder can apply (the codebook's codable ones), in codebook order."""
        return [c for c in self.codebook.codes if c.codable]

    def code_name(self, code_id: str) -> str:
        """A code's name (its id when the codebook no longer has it)."""
        return next((c.name for c in self.codebook.codes if c.id == code_id), code_id)

    def states(self, source_id: str) -> list[SegmentState]:
        """The source's segments in document order, each with its codings as seen here."""
        segments = list(self.project.segments(source=source_id))
        by_segment: dict[str, list[Coding]] = {s.id: [] for s in segments}
        for c in self.project.codings(segments=by_segment):
            by_segment[c.segment].append(c)
        return [self._state(s, by_segment[s.id]) for s in segments]

    def state(self, segment_id: str) -> SegmentState:
        """One segment as :meth:`states` shows it."""
        segment = self.find_segment(segment_id)
        return self._state(segment, self.project.codings(segments=[segment_id]))

    def _state(self, segment: Segment, codings: list[Coding]) -> SegmentState:
        people = set(person_coders({c.coder for c in codings}))
        mine = [c for c in codings if c.coder == self.coder]
        decided = {c.code for c in mine}  # as the review queue: any coding of it by this coder
        suggested: dict[str, list[Coding]] = {}
        for c in codings:
            if c.status == "suggested" and c.code not in decided:
                suggested.setdefault(c.code, []).append(c)
        pending = tuple(Suggestion(segment, code, tuple(sorted(cs, key=lambda c: c.coder)))
                        for code, cs in sorted(suggested.items(), key=self._code_key))
        others: tuple[Coding, ...] = () if self.blind else tuple(
            c for c in codings if c.coder != self.coder and c.coder in people
            and c.status in APPLIED_STATUSES)
        return SegmentState(segment, tuple(c for c in mine if c.status in APPLIED_STATUSES),
                            tuple(c for c in mine if c.status == "rejected"), others, pending)

    def _code_key(self, item: tuple[str, object]) -> tuple[int, str]:
        return self._order.get(item[0], len(self._order)), item[0]

    def passes(self, state: SegmentState) -> bool:
        """True when the segment passes the filters (the case is the sources' filter)."""
        f = self.filters
        if f.code is not None:
            wanted = set(self.codebook.subtree(f.code)) | {f.code}
            if not (state.codes & wanted or {s.code for s in state.pending} & wanted):
                return False
        if f.uncoded and (state.segment.role == "interviewer" or state.mine):
            return False
        return not (f.pending and not state.pending)

    def set_filters(self, filters: Filters) -> None:
        """Change the filters (checked: a case or code the study does not have is refused)."""
        if filters.case is not None and filters.case not in self.cases():
            raise CodingError(f"unknown case {filters.case!r}; the study has: "
                              f"{', '.join(self.cases())}")
        if filters.code is not None and filters.code not in self._order:
            raise CodingError(f"unknown code {filters.code!r}")
        self.filters = filters

    # --- actions: each one transaction, then recorded for undo ----------------------------------

    def _did(self, message: str, segment: str, revert: Callable[[], None]) -> str:
        self.history.append(Action(message, segment, revert))
        return message

    def code(self, segment_id: str, code_id: str, span: tuple[int, int] | None = None) -> str:
        """Code a segment (or the span ``[start, end)`` of its text) with ``code_id`` by hand.

        Returns what was saved, in words.
        """
        if code_id not in {c.id for c in self.codes()}:
            raise CodingError(f"unknown code {code_id!r}; choose one of the codebook's codes")
        segment = self.find_segment(segment_id)
        p = self.project
        before = p.find_coding(segment_id, code_id, self.coder, span)
        where = segment_id
        if span is None:
            outcome = add_coding(p, segment_id, code_id, self.coder)
            key = Coding(segment_id, code_id, self.coder)
        else:
            start, end = span
            if not 0 <= start < end <= len(segment.text):
                raise CodingError(f"the span {start}-{end} is not inside segment {segment_id} "
                                  f"(0-{len(segment.text)})")
            key = Coding(segment_id, code_id, self.coder, status="human", provenance="manual",
                         memo=before.memo if before else None, span_start=start,
                         span_end=end, created_at=before.created_at if before else None)
            with p.atomic():
                outcome = p.put_coding(key)
            where = f"«{short(segment.text[start:end], 30)}» in {segment_id}"
        if outcome == "unchanged":
            return f"{where} already has {code_id} from you"

        def revert() -> None:
            with p.atomic():
                if before is None:
                    p.delete_coding(key)
                else:
                    p.put_coding(before)
        return self._did(f"coded {where} with {code_id}", segment_id, revert)

    def remove(self, coding: Coding) -> str:
        """Remove one of this coder's codings."""
        if coding.coder != self.coder:
            raise CodingError(f"{coding.code} on {coding.segment} is {coding.coder}'s, not "
                              "yours; you can remove only your own codings")
        p = self.project
        with p.atomic():
            old = p.find_coding(coding.segment, coding.code, coding.coder, _span(coding))
            if old is None or not p.delete_coding(old):
                return f"{coding.code} on {coding.segment} was already removed"

        def revert() -> None:
            with p.atomic():
                p.put_coding(old)
        return self._did(f"removed {_label(old)} from {old.segment}", old.segment, revert)

    def memo(self, coding: Coding, text: str) -> str:
        """Set (or, with empty ``text``, clear) the memo on one of this coder's codings."""
        if coding.coder != self.coder:
            raise CodingError("you can write memos only on your own codings")
        p = self.project
        memo = text.strip() or None
        with p.atomic():
            old = p.find_coding(coding.segment, coding.code, coding.coder, _span(coding))
            if old is None:
                raise CodingError(f"{coding.code} on {coding.segment} is no longer coded")
            if old.memo == memo:
                return "memo unchanged"
            p.put_coding(replace(old, memo=memo, updated_at=None))

        def revert() -> None:
            with p.atomic():
                p.put_coding(old)
        what = "memo cleared" if memo is None else "memo saved"
        return self._did(f"{what} on {_label(old)}, {old.segment}", old.segment, revert)

    def accept(self, suggestion: Suggestion) -> str:
        """Accept a suggestion: the same decision, coding and audit entry as ``review``."""
        return self._decide(suggestion, accept=True)

    def reject(self, suggestion: Suggestion) -> str:
        """Reject a suggestion, as ``review`` does."""
        return self._decide(suggestion, accept=False)

    def _decide(self, suggestion: Suggestion, *, accept: bool) -> str:
        if self._review is None:  # decisions only: one page of one, no refits of the model
            self._review = ReviewSession(self.project, self.coder, page_size=1, refit_every=0)
        review = self._review
        review.items.insert(review.position, suggestion)  # the one to decide now
        decision = review.accept() if accept else review.reject()

        def revert() -> None:
            undone = review.undo()
            if undone is not decision:
                raise CodingError("this session's last decision is not the review's last; "
                                  "nothing was undone")
        verb = "accepted" if accept else "rejected"
        return self._did(f"{verb} {decision.coding.code} for {decision.coding.segment}",
                         decision.coding.segment, revert)

    def undo(self) -> Action | None:
        """Revert this session's last action (in its own transaction); None if there is none."""
        if not self.history:
            return None
        action = self.history.pop()
        action.revert()
        return action

    def search(self, query: str, *, lemma: bool = False, limit: int = SEARCH_LIMIT) -> list[Hit]:
        """Keyword in context over respondent text (the first ``limit`` hits), within the
        filtered case and code (in blind mode, a code filter looks at this coder's codings
        only)."""
        from tipqual.coding.search import search

        f = self.filters
        coder = self.coder if self.blind and f.code is not None else None
        hits = search(self.project, query, lemma=lemma, code=f.code, case=f.case, coder=coder)
        return list(islice(hits, limit))


def _span(coding: Coding) -> tuple[int, int] | None:
    if coding.span_start is None or coding.span_end is None:
        return None
    return coding.span_start, coding.span_end


def _label(coding: Coding) -> str:
    return coding.code if coding.span_start is None else f"{coding.code} (span)"
