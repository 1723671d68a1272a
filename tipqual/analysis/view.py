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

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tipqual.records import Case, Coding, Mention, Segment, Source

if TYPE_CHECKING:
    from tipqual.codebook.model import Codebook


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


class Snapshot:
    """A :class:`StudyView` that reads each unfiltered answer of ``view`` once.

    Only for a run in which the study does not change (one report, one export): it never sees
    later writes. Filtered queries are passed to ``view`` each time.
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
        return list(self._once("sources", self._view.sources))

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterable[Segment]:
        if source is None and case is None and role is None and ids is None:
            return list(self._once("segments", lambda: list(self._view.segments())))
        return self._view.segments(source=source, case=case, role=role, ids=ids, batch=batch)

    def codings(self, *, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None, codes: Iterable[str] | None = None,
                segments: Iterable[str] | None = None) -> list[Coding]:
        if statuses is None and coders is None and codes is None and segments is None:
            return list(self._once("codings", self._view.codings))
        return self._view.codings(statuses=statuses, coders=coders, codes=codes,
                                  segments=segments)

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]:
        if statuses is None:
            return list(self._once("coders", self._view.coders))
        return self._view.coders(statuses=statuses)

    def mentions(self) -> list[Mention]:
        return list(self._once("mentions", self._view.mentions))
