"""Keyword in context: every place a word or phrase occurs in what respondents said.

:func:`search` is the text-search query of qualitative analysis (a concordance): each hit is
the segment it is in, with the words to its left and right. It reads any
:class:`tipqual.analysis.view.StudyView` and streams the segments, so it runs in the same
memory on ten interviews as on thousands. ``tipqual search`` prints it and the workbench's
``/`` calls it.

Two ways to match:

- **plain** (the default): the query as typed, letters in any case, every other character
  literally (``?``, ``*``, ``(`` or ``.`` are not patterns). Where the query begins or ends with
  a letter or digit, the match must begin or end a word there, so ``trust`` finds "Trust" and
  "trust," but not "distrust" or "trusted"; runs of spaces in the query match any whitespace.
- **lemma**: the query and the text go through the same lookup lemmatizer the suggestions use
  (:func:`tipqual.nlp.pipeline.blank_pipeline`), and a hit is a run of tokens whose lemmas are
  the query's, so ``delay`` also finds "delayed" and "delays", and ``go to court`` "went to
  court".

``code`` keeps the segments coded with that code (coded retrieval: by people and accepted
suggestions, or by ``coder`` only); ``case`` one case's segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tipqual.errors import TipqualError
from tipqual.records import APPLIED_STATUSES, Segment

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.analysis.view import StudyView

MAX_QUERY = 200  # characters: a query is a word or phrase, not a text
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Hit:
    """One occurrence: ``text[start:end]`` of segment ``segment`` is ``match``."""

    segment: str
    case: str | None
    source: str
    start: int
    end: int
    left: str
    match: str
    right: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``search --json`` prints (exactly the contract's keys)."""
        return {"segment": self.segment, "case": self.case, "left": self.left,
                "match": self.match, "right": self.right}


def plain_pattern(query: str) -> re.Pattern[str]:
    """The compiled pattern of a plain query (see the module's docstring). Only ``re.escape``d
    text and fixed lookarounds go into it, so no query can make it slow."""
    words = _SPACE.split(query.strip())
    body = r"\s+".join(re.escape(w) for w in words)
    head = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    tail = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def _context(text: str, start: int, end: int, width: int) -> tuple[str, str, str]:
    """The match and up to ``width`` characters each side, cut between words, on one line."""
    at = max(0, start - width)
    left = text[at:start]
    if at > 0 and not text[at - 1].isspace() and " " in left:  # the window cut a word
        left = left[left.index(" ") + 1:]
    stop = end + width
    right = text[end:stop]
    if stop < len(text) and not text[stop].isspace() and " " in right:
        right = right[:right.rindex(" ")]
    flat = " ".join
    return (flat(left.split()) + (" " if left[-1:].isspace() else ""),
            flat(text[start:end].split()),
            (" " if right[:1].isspace() else "") + flat(right.split()))


def _check(study: StudyView, query: str) -> str:
    if not query.strip():
        raise TipqualError("the query is empty; give a word or phrase, e.g. 'trust'",
                           path=study.path)
    if len(query) > MAX_QUERY:
        raise TipqualError(f"the query has {len(query)} characters; give a word or phrase "
                           f"of at most {MAX_QUERY}", path=study.path)
    return query


def _coded(study: StudyView, code: str, coder: str | None) -> set[str]:
    """The segments coded with ``code`` or a code below it (as the matrices and the report
    count a parent code), by ``coder`` if given."""
    if code not in study.code_ids():
        known = ", ".join(study.code_ids()) or "none"
        raise TipqualError(f"unknown code {code!r}; this study's codes: {known}",
                           path=study.path)
    book = study.codebook()
    codes = book.subtree(code) if book is not None else [code]
    return {c.segment for c in study.codings(codes=codes, statuses=APPLIED_STATUSES,
                                              coders=[coder] if coder else None)}



def _plain_hits(segments: Iterable[Segment], query: str, width: int) -> Iterator[Hit]:
    pattern = plain_pattern(query)
    for seg in segments:
        for m in pattern.finditer(seg.text):
            yield Hit(seg.id, seg.case, seg.source, m.start(), m.end(),
                      *_context(seg.text, m.start(), m.end(), width))


def _lemma_hits(segments: Iterable[Segment], query: str, width: int) -> Iterator[Hit]:
    from tipqual.nlp.pipeline import blank_pipeline

    nlp = blank_pipeline()
    wanted = [_lemma(t) for t in nlp(query.strip()) if not t.is_space]
    n = len(wanted)
    batch: list[Segment] = []

    def flush() -> Iterator[Hit]:
        for seg, doc in zip(batch, nlp.pipe(s.text for s in batch), strict=True):
            tokens = [t for t in doc if not t.is_space]
            lemmas = [_lemma(t) for t in tokens]
            i = 0
            while i + n <= len(tokens):
                if lemmas[i:i + n] == wanted:
                    start, end = tokens[i].idx, tokens[i + n - 1].idx + len(tokens[i + n - 1])
                    yield Hit(seg.id, seg.case, seg.source, start, end,
                              *_context(seg.text, start, end, width))
                    i += n
                else:
                    i += 1
        batch.clear()

    for seg in segments:
        batch.append(seg)
        if len(batch) == 256:
            yield from flush()
    yield from flush()


def _lemma(token: Any) -> str:
    return (token.lemma_ or token.text).lower()


def search(study: StudyView, query: str, *, lemma: bool = False, code: str | None = None,
           case: str | None = None, coder: str | None = None, width: int = 40,
           role: str | None = "respondent", segments: Iterable[str] | None = None
           ) -> Iterator[Hit]:
    """The hits of ``query`` in document order (see the module's docstring), streamed.

    ``role``: whose words (respondents' by default; None for everyone's). ``segments``: only
    these segment ids (the workbench's filters). ``code`` keeps the segments coded with it or
    a code below it; ``coder`` (one of the study's) without ``code`` keeps the segments that
    coder coded with anything.
    """
    _check(study, query)
    if coder is not None:
        from tipqual.analysis.view import check_coders

        check_coders(study, [coder])
    keep: set[str] | None = None if segments is None else set(segments)
    if code is not None:
        coded = _coded(study, code, coder)
        keep = coded if keep is None else keep & coded
    elif coder is not None:
        coded = {k[0] for k in study.coding_keys(statuses=APPLIED_STATUSES) if k[2] == coder}
        keep = coded if keep is None else keep & coded
    if case is not None and case not in {c.id for c in study.cases()}:
        raise TipqualError(f"unknown case {case!r}; list the cases with 'tipqual segments'",
                           path=study.path)
    rows: Iterable[Segment] = study.segments(case=case, role=role,
                                             ids=sorted(keep) if keep is not None else None)
    if keep is not None and not keep:
        rows = []
    finder = _lemma_hits if lemma else _plain_hits
    return finder(rows, query, width)
