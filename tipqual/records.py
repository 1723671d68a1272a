"""The records of a study: plain frozen dataclasses that the store reads and writes.

They carry no behaviour beyond identity; :mod:`tipqual.store.project` persists them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

# A progress display, given the number of steps and a label: a context manager whose value has
# ``update(n, item=None)`` (``item``: the name of what was just done, shown beside the bar).
# The command line passes click's progress bar; library callers pass none.
Progress = Callable[[int, str], AbstractContextManager[Any]]

# The statuses a coding can have: a person's own, a proposal, and a proposal decided.
STATUSES = ("human", "suggested", "accepted", "rejected")
# The statuses that count as a code applied by default: a person's own and a proposal accepted.
APPLIED_STATUSES = ("human", "accepted")


@dataclass(frozen=True)
class Case:
    """One case (an organisation) with its attributes."""

    id: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One transcript as stored: its text is what segment offsets point into."""

    id: str
    case: str | None
    path: str
    format: str
    sha256: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Segment:
    """A unit of coding: one paragraph of one speaker turn, ``text == source.text[start:end]``."""

    id: str
    source: str
    n: int
    speaker: str | None
    role: str
    start: int
    end: int
    text: str
    case: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Coding:
    """A code applied to a segment (or a span of it) by a coder, with status and provenance."""

    segment: str
    code: str
    coder: str
    status: str = "human"
    score: float | None = None
    provenance: str | None = None
    memo: str | None = None
    span_start: int | None = None
    span_end: int | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        """The identity of a coding in a study: segment, code, coder and span."""
        return (self.segment, self.code, self.coder,
                -1 if self.span_start is None else self.span_start,
                -1 if self.span_end is None else self.span_end)


@dataclass(frozen=True)
class Mention:
    """A stakeholder named in a segment, with character offsets into the segment text."""

    segment: str
    stakeholder: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class AuditEntry:
    """One row of the append-only audit log."""

    id: int
    at: str
    actor: str
    command: str
    action: str
    segment: str | None
    code: str | None
    coder: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    step: int | None = None  # the step (a replace, a codebook applied) it was part of


# Why a coding was taken out of play: its segment went away (a transcript was corrected beyond
# recognition) or its code did (a codebook version dropped the code with no successor).
RETIRED_REASONS = ("orphaned", "archived")


@dataclass(frozen=True)
class RetiredCoding:
    """A coding taken out of play by a step, kept whole so that a person can put it back."""

    id: int
    reason: str
    coding: Coding  # as it was: ``segment`` is the id the segment had then
    source: str | None
    segment_text: str  # the text it was on
    step: int | None
    retired_at: str


@dataclass(frozen=True)
class Step:
    """A change that moved codings wholesale, with the plan it carried out."""

    id: int
    at: str
    actor: str
    command: str
    kind: str  # "replace", "codebook-apply" or "restore"
    summary: str
    plan: dict[str, Any]
    backup: str | None  # the file name of the copy of the study made just before it
