"""Cross-case matrices: which cases raise which codes, computed from a study's codings.

:func:`load` reads a study once into a :class:`CodingData` (a tidy frame of codings plus the
cases, codes and respondent text each matrix needs); the matrix functions are pure and return
pandas DataFrames whose index is the case (or code) id and whose columns are code ids in
codebook order. Nothing here writes files: :mod:`tipqual.output.xlsx` does that.

Counting rules:

* a **coded segment** is a (segment, code) pair: a segment coded with the same code by several
  coders, or several times by one coder (spans), counts once — unless ``by_coder`` is asked, in
  which case each coder's codings are counted in rows of their own;
* a source without a case stands for itself: its case id is the source id;
* ``coverage`` is the share of a case's respondent text (characters of respondent segments)
  that falls inside segments coded with the code; a coding with a span covers only its span
  (offsets into the segment text), and overlapping codings are counted once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tipqual.analysis.view import StudyView
from tipqual.errors import NO_CODEBOOK_ADVICE, CodingError
from tipqual.records import APPLIED_STATUSES, Coding, Segment

DEFAULT_STATUSES = APPLIED_STATUSES
CODING_COLUMNS = ["case", "source", "segment", "n", "role", "length", "code", "coder",
                  "status", "span_start", "span_end", "text"]


@dataclass
class CodingData:
    """A study's codings as a tidy frame, with the context every matrix needs."""

    codings: pd.DataFrame
    cases: list[str]
    codes: list[str]
    code_names: dict[str, str]
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    respondent_chars: dict[str, int] = field(default_factory=dict)


def load(study: StudyView, *, statuses: Iterable[str] = DEFAULT_STATUSES,
         coders: Iterable[str] | None = None, code: str | None = None) -> CodingData:
    """Read the codings of a study (filtered by status, coder and code subtree) into CodingData."""
    from tipqual.records import STATUSES

    book = study.codebook()
    if book is None:
        raise CodingError(f"the study has no codebook; {NO_CODEBOOK_ADVICE}", path=study.path)
    statuses = sorted(set(statuses))
    for status in statuses:
        if status not in STATUSES:
            raise CodingError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    codes = book.subtree(book.code(code).id) if code is not None else book.ids
    if coders is not None:
        coders = sorted(set(coders))
        known = set(study.coders())
        unknown = [c for c in coders if c not in known]
        if unknown:
            raise CodingError(f"unknown coder {unknown[0]!r}; the study's coders are: "
                              f"{', '.join(sorted(known)) or 'none'}", path=study.path)
    segments = {s.id: s for s in study.segments()}
    rows = []
    for c in study.codings(statuses=statuses, coders=coders, codes=codes):
        seg = segments[c.segment]
        rows.append((seg.case or seg.source, seg.source, seg.id, seg.n, seg.role,
                     len(seg.text), c.code, c.coder, c.status, c.span_start, c.span_end,
                     _quote_text(seg, c)))
    frame = pd.DataFrame(rows, columns=CODING_COLUMNS)
    frame[["span_start", "span_end"]] = frame[["span_start", "span_end"]].astype("Int64")
    case_ids = {c.id for c in study.cases()}
    case_ids.update(s.case or s.source for s in segments.values())
    chars: dict[str, int] = {}
    for seg in segments.values():
        if seg.role == "respondent":
            key = seg.case or seg.source
            chars[key] = chars.get(key, 0) + len(seg.text)
    return CodingData(codings=frame, cases=sorted(case_ids), codes=codes,
                      code_names={c.id: c.name for c in book.codes if c.id in codes},
                      attributes={c.id: dict(c.attributes) for c in study.cases()},
                      respondent_chars=chars)


def _quote_text(segment: Segment, coding: Coding) -> str:
    start, end = _span(len(segment.text), coding.span_start, coding.span_end)
    return segment.text[start:end]


def _span(length: int, start: int | None, end: int | None) -> tuple[int, int]:
    """A coding's span inside its segment text, clipped; the whole segment when unset."""
    if start is None or end is None:
        return 0, length
    start, end = max(0, min(start, length)), max(0, min(end, length))
    return (start, end) if end > start else (0, length)


def _empty(index: list[str], columns: list[str], name: str = "case") -> pd.DataFrame:
    frame = pd.DataFrame(0, index=pd.Index(index, name=name), columns=columns, dtype="int64")
    frame.columns.name = None
    return frame


def counts(data: CodingData, *, by_coder: bool = False) -> pd.DataFrame:
    """Cases × codes: coded segments (rows per case and coder with ``by_coder``)."""
    keys = ["case", "coder"] if by_coder else ["case"]
    unique = data.codings.drop_duplicates(["segment", "code", *keys])
    table = unique.groupby([*keys, "code"]).size()
    if not by_coder:
        frame = table.unstack("code").reindex(index=data.cases, columns=data.codes)
        frame = frame.fillna(0).astype("int64")
        frame.index.name, frame.columns.name = "case", None
        return frame
    pairs = sorted(set(zip(unique["case"], unique["coder"], strict=False)))
    index = pd.MultiIndex.from_tuples(pairs, names=["case", "coder"]) if pairs else \
        pd.MultiIndex.from_arrays([[], []], names=["case", "coder"])
    frame = table.unstack("code").reindex(index=index, columns=data.codes)
    frame = frame.fillna(0).astype("int64")
    frame.columns.name = None
    return frame


def presence(data: CodingData, *, by_coder: bool = False) -> pd.DataFrame:
    """Cases × codes: 1 when the case has at least one segment with the code, else 0."""
    return (counts(data, by_coder=by_coder) > 0).astype("int64")


def coverage(data: CodingData) -> pd.DataFrame:
    """Cases × codes: share of the case's respondent characters covered by the code (0–1)."""
    frame = pd.DataFrame(0.0, index=pd.Index(data.cases, name="case"), columns=data.codes)
    respondent = data.codings[data.codings["role"] == "respondent"]
    covered: dict[tuple[str, str], int] = {}
    for keys, group in respondent.groupby(["case", "code", "segment"]):
        case, code = str(keys[0]), str(keys[1])
        length = int(group["length"].iloc[0])
        spans = sorted(_span(length, _int(a), _int(b))
                       for a, b in zip(group["span_start"], group["span_end"], strict=False))
        covered[(case, code)] = covered.get((case, code), 0) + _union_length(spans)
    for (case, code), chars in covered.items():
        total = data.respondent_chars.get(case, 0)
        if total:
            frame.loc[case, code] = round(chars / total, 4)
    return frame


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _union_length(spans: list[tuple[int, int]]) -> int:
    """Characters covered by sorted spans, overlaps counted once."""
    total, current = 0, None
    for start, end in spans:
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return total


def framework(data: CodingData) -> pd.DataFrame:
    """Cases × codes: the coded passages, each quoted after its segment id, in document order."""
    frame = pd.DataFrame("", index=pd.Index(data.cases, name="case"), columns=data.codes,
                         dtype=object)
    ordered = data.codings.sort_values(["case", "code", "source", "n", "span_start",
                                        "span_end"], na_position="first", kind="stable")
    for (case, code), group in ordered.groupby(["case", "code"], sort=True):
        passages = [f'[{segment}] "{_passage(rows)}"'
                    for segment, rows in group.groupby("segment", sort=False)]
        frame.loc[case, code] = "\n\n".join(passages)
    return frame


def _passage(rows: pd.DataFrame) -> str:
    """One segment's quote: the whole text when any coding is unspanned, else its spans."""
    if rows["span_start"].isna().any():
        whole = rows[rows["span_start"].isna()]["text"].iloc[0]
        return _one_line(whole)
    return " … ".join(dict.fromkeys(_one_line(t) for t in rows["text"]))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cooccurrence(data: CodingData) -> pd.DataFrame:
    """Codes × codes: segments coded with both (the diagonal: segments coded with the code)."""
    frame = _empty(data.codes, data.codes, name="code")
    by_segment = data.codings.drop_duplicates(["segment", "code"]).groupby("segment")["code"]
    position = {c: i for i, c in enumerate(data.codes)}
    for _segment, codes in by_segment:
        present = sorted(set(codes), key=position.__getitem__)
        for i, a in enumerate(present):
            for b in present[i:]:
                frame.loc[a, b] += 1
                if a != b:
                    frame.loc[b, a] += 1
    return frame


MISSING = "(missing)"


def crosstab(data: CodingData, attribute: str) -> pd.DataFrame:
    """Attribute values × codes: coded segments of the cases with each value of ``attribute``."""
    table = counts(data)
    values = [data.attributes.get(case, {}).get(attribute) or MISSING for case in table.index]
    frame = table.groupby(pd.Index(values, name=attribute)).sum()
    return frame.reindex(sorted(frame.index, key=_value_order)).astype("int64")


def _value_order(value: str) -> tuple[int, float, str]:
    """Numbers in numeric order first, then text; the missing marker last."""
    if value == MISSING:
        return (2, 0.0, value)
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def attribute_names(data: CodingData) -> list[str]:
    """Case attributes used by the cases of the study, sorted."""
    return sorted({name for attrs in data.attributes.values() for name in attrs})


def crosstabs(data: CodingData) -> dict[str, pd.DataFrame]:
    """One :func:`crosstab` per case attribute, keyed by attribute name (sorted)."""
    return {name: crosstab(data, name) for name in attribute_names(data)}


MATRICES = ("counts", "presence", "coverage", "framework", "cooccurrence")


def sheets(data: CodingData, *, by_coder: bool = False) -> dict[str, pd.DataFrame]:
    """Every matrix by sheet name: the five matrices, then ``by-ATTRIBUTE`` crosstabs."""
    result = {
        "counts": counts(data, by_coder=by_coder),
        "presence": presence(data, by_coder=by_coder),
        "coverage": coverage(data),
        "framework": framework(data),
        "cooccurrence": cooccurrence(data),
    }
    for name, table in crosstabs(data).items():
        result[sheet_name(f"by-{name}", result)] = table
    return result


def sheet_name(wanted: str, taken: Iterable[str]) -> str:
    """A valid, unused Excel sheet name (31 characters, none of []:*?/\\) close to ``wanted``."""
    base = re.sub(r"[\[\]:*?/\\]", "_", wanted)[:31] or "sheet"
    taken = {t.lower() for t in taken}
    name, i = base, 2
    while name.lower() in taken:
        suffix = f"~{i}"
        name, i = base[:31 - len(suffix)] + suffix, i + 1
    return name
