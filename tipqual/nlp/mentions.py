"""A study's stakeholder mentions, current for every segment.

The suggest stage stores the mentions it finds and records a key per segment it covered. When
every segment of the study is covered the stored mentions are current; otherwise (a study that
was imported and never suggested, or segments added since) they are found now with the
codebook's stakeholder ruler. The network and the report take the result as data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from tipqual.records import Mention, Segment

if TYPE_CHECKING:
    from tipqual.codebook.model import Codebook

# The stages that record a key per segment once that segment's mentions are stored.
MENTION_STAGES = ("suggest", "mentions")


class MentionSource(Protocol):
    """What :func:`study_mentions` reads: the store answers these."""

    def codebook(self) -> Codebook | None: ...

    def segment_ids(self) -> set[str]: ...

    def stage_keys(self, stage: str) -> dict[str, str]: ...

    def mentions(self) -> list[Mention]: ...

    def segments(self) -> Iterable[Segment]: ...


def study_mentions(study: MentionSource) -> list[Mention]:
    """The stored mentions when a stage covered every segment, else mentions found now."""
    segment_ids = study.segment_ids()
    for stage in MENTION_STAGES:
        if segment_ids and segment_ids <= set(study.stage_keys(stage)):
            return study.mentions()
    book = study.codebook()
    if book is None:
        return study.mentions()
    from tipqual.nlp.pipeline import find_mentions

    return list(find_mentions(study.segments(), book))
