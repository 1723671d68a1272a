"""The read-only study view that analysis and the report work from.

:class:`StudyView` names every query agreement, matrices, the network, the stakeholder map and
the report context make of a study. The store's :class:`tipqual.store.project.Project`
satisfies it, and so does any object with these methods (a test's in-memory study, a frozen
export), so none of those modules imports the store.

:class:`Snapshot` wraps a view for one run that asks the same question many times (the report
reads every segment for the matrices, the network, agreement, COREQ and the provenance hash): it
answers the unfiltered queries once and keeps the answer, and passes filtered ones through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tipqual.records import Case, Coding, Mention, Segment, Source

if TYPE_CHECKING:
    from tipqual.codebook.model import Codebook

# A segment without its text: id, source, case, n, speaker, role, start, end.
SegmentEntry = tuple[str, str, str | None, int, str | None, str, int, int]


class StudyView(Protocol):
    """What analysis may ask of a study; every method only reads."""

    @property
    def path(self) -> Path: ...

    def meta(self, key: str, default: str | None = None) -> str | None: ...

    def codebook(self) -> Codebook | None: ...

    def codebook_info(self) -> dict[str, Any] | None: ...

    def codebook_history(self) -> list[dict[str, Any]]: ...

    def code_ids(self) -> list[str]: ...

    def cases(self) -> list[Case]: ...

    def sources(self) -> list[Source]: ...

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterable[Segment]: ...

    def codings(self, *, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None, codes: Iterable[str] | None = None,
                segments: Iterable[str] | None = None) -> list[Coding]: ...

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]: ...

    def mentions(self) -> list[Mention]: ...

    # --- streamed and aggregate reads: what a report of a large study asks ------------------

    def source_headers(self) -> list[Source]:
        """Every source, sorted by id, with ``text`` left empty."""
        ...

    def source_texts(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """``(id, text)`` of the sources (those of ``ids``), sorted by id, one at a time."""
        ...

    def segment_index(self, ids: Iterable[str] | None = None) -> Iterator[SegmentEntry]:
        """``(id, source, case, n, speaker, role, start, end)`` of the segments (those of
        ``ids``) in document order, without their text, streamed."""
        ...

    def segment_counts(self) -> list[dict[str, Any]]:
        """``{"source", "case", "role", "speaker", "segments", "words"}`` per source, role
        and speaker (words: the texts split at whitespace), sorted by those three."""
        ...

    def iter_codings(self) -> Iterable[Coding]:
        """Every coding, in the order of :meth:`codings`, streamed."""
        ...

    def coding_keys(self, *, statuses: Iterable[str]) -> Iterable[tuple[str, str, str]]:
        """``(segment, code, coder)`` of the codings of ``statuses``, in the order of
        :meth:`codings`, streamed."""
        ...

    def coded_segment_counts(self, *, statuses: Iterable[str],
                             groups: dict[str, list[str]]) -> list[tuple[str, str, int]]:
        """``(case, group, n)``: the distinct segments of each case (a source without a case
        is its own) coded with a code of each group, by codings of ``statuses``; non-zero
        counts only, sorted by case and group."""
        ...

    def coder_counts(self) -> dict[str, dict[str, int]]:
        """Per coder (sorted), its codings that are not suggestions by status, and the
        distinct segments they are on under ``"segments"``."""
        ...

    def awaiting_review(self) -> dict[str, int]:
        """Per suggester (sorted), its suggestions no person has accepted or rejected yet
        (a decision on the same segment, code and span)."""
        ...

    def decisions(self) -> list[dict[str, Any]]:
        """How suggestions fared: ``{"suggester", "reviewer", "status", "count"}`` rows.

        Each decision under its reviewer and the suggester it decided (None if nothing
        says); undecided suggestions as status ``"suggested"`` with reviewer None (see
        :meth:`tipqual.store.project.Project.decisions`)."""
        ...

    def decided_suggestions(self) -> dict[str | None, tuple[int, int]]:
        """Per suggester (None when nothing names one): how many suggestions people decided,
        each once however many reviewers decided it, and how many several reviewers decided
        (see :meth:`tipqual.store.project.Project.decided_suggestions`)."""
        ...

    def iter_mentions(self) -> Iterable[Mention]:
        """Every stakeholder mention, in the order of :meth:`mentions`, streamed."""
        ...


def check_coders(study: StudyView, coders: Iterable[str]) -> None:
    """Refuse a coder name the study does not know, naming the ones it does."""
    from tipqual.errors import CodingError

    known = set(study.coders())
    unknown = [c for c in coders if c not in known]
    if unknown:
        raise CodingError(f"unknown coder {unknown[0]!r}; the study's coders are: "
                          f"{', '.join(sorted(known)) or 'none'}", path=study.path)


def iter_mentions(view: Any) -> Iterable[Mention]:
    """The mentions of ``view`` one at a time: its ``iter_mentions`` where it has one (an
    object written before that method was part of :class:`StudyView`), else its
    ``mentions``."""
    stream = getattr(view, "iter_mentions", None)
    return stream() if stream is not None else view.mentions()


class Snapshot:
    """A :class:`StudyView` that reads each small unfiltered answer of ``view`` once.

    Only for a run in which the study does not change (one report, one export): it never sees
    later writes. The codebook, cases, coders and the aggregate counts are kept; segments,
    codings, sources and mentions (which grow with the study) and every filtered query are
    passed to ``view`` each time.
    """

    def __init__(self, view: StudyView):
        self._view = view
        self._kept: dict[str, Any] = {}

    def _once(self, name: str, read: Any) -> Any:
        if name not in self._kept:
            self._kept[name] = read()
        return self._kept[name]

    @property
    def path(self) -> Path:
        return self._view.path

    def meta(self, key: str, default: str | None = None) -> str | None:
        return self._view.meta(key, default)

    def codebook(self) -> Codebook | None:
        book: Codebook | None = self._once("codebook", self._view.codebook)
        return book

    def codebook_info(self) -> dict[str, Any] | None:
        info: dict[str, Any] | None = self._once("codebook_info", self._view.codebook_info)
        return info

    def codebook_history(self) -> list[dict[str, Any]]:
        return self._view.codebook_history()

    def code_ids(self) -> list[str]:
        return list(self._once("code_ids", self._view.code_ids))

    def cases(self) -> list[Case]:
        return list(self._once("cases", self._view.cases))

    def sources(self) -> list[Source]:
        return self._view.sources()

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterable[Segment]:
        return self._view.segments(source=source, case=case, role=role, ids=ids, batch=batch)

    def codings(self, *, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None, codes: Iterable[str] | None = None,
                segments: Iterable[str] | None = None) -> list[Coding]:
        return self._view.codings(statuses=statuses, coders=coders, codes=codes,
                                  segments=segments)

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]:
        if statuses is None:
            return list(self._once("coders", self._view.coders))
        return self._view.coders(statuses=statuses)

    def mentions(self) -> list[Mention]:
        return self._view.mentions()

    def source_headers(self) -> list[Source]:
        return list(self._once("source_headers", self._view.source_headers))

    def source_texts(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        return self._view.source_texts(ids)

    def segment_index(self, ids: Iterable[str] | None = None) -> Iterator[SegmentEntry]:
        return self._view.segment_index(ids)

    def segment_counts(self) -> list[dict[str, Any]]:
        return list(self._once("segment_counts", self._view.segment_counts))

    def iter_codings(self) -> Iterable[Coding]:
        return self._view.iter_codings()

    def coding_keys(self, *, statuses: Iterable[str]) -> Iterable[tuple[str, str, str]]:
        return self._view.coding_keys(statuses=statuses)

    def coded_segment_counts(self, *, statuses: Iterable[str],
                             groups: dict[str, list[str]]) -> list[tuple[str, str, int]]:
        return self._view.coded_segment_counts(statuses=statuses, groups=groups)

    def coder_counts(self) -> dict[str, dict[str, int]]:
        return dict(self._once("coder_counts", self._view.coder_counts))

    def awaiting_review(self) -> dict[str, int]:
        return dict(self._once("awaiting_review", self._view.awaiting_review))

    def decisions(self) -> list[dict[str, Any]]:
        return list(self._once("decisions", self._view.decisions))

    def decided_suggestions(self) -> dict[str | None, tuple[int, int]]:
        return dict(self._once("decided_suggestions", self._view.decided_suggestions))

    def iter_mentions(self) -> Iterable[Mention]:
        return iter_mentions(self._view)
