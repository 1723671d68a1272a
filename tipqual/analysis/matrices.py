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
  (offsets into the segment text), and overlapping codings are counted once;
* a **parent code** (one with sub-codes among the codes loaded) has, right after its own
  column, a roll-up column ``ID (all)``: segments coded with the code or any of its
  descendants, each segment once (its coverage is the union of their spans, its framework
  cell quotes each such segment once and names the codes it carries). The parent's own column
  keeps its direct codings only. Every matrix gets its roll-ups from :func:`rolled_up`, and
  :func:`rollup_counts` gives the cases × codes numbers the findings report shows (a parent's
  column over its whole subtree), so the spreadsheet and the report cannot differ;
* in a ``by-ATTRIBUTE`` crosstab a case counts in the row of its value, except that a **list**
  (an attribute with ``;`` in any case's value: ``a; b; c``) counts the case in the row of
  each of its items, and **numbers** are binned (:func:`number_bins`: at most
  :data:`MAX_BINS` equal-width bins whose width is 1, 2 or 5 times a power of ten, the
  smallest such width that needs no more; whole numbers give ``10–19`` rows, fractions
  ``[0.5, 1)`` rows; empty bins are left out), and so are **dates** (ISO 8601, ``2024-03-05``,
  ``2024-03`` or with a time: :func:`date_bins`: the days themselves when there are at most
  :data:`MAX_BINS` of them, else their months, their years, or ranges of years, whichever is
  the finest that needs no more rows; in time order). Text values of a numeric or date
  attribute keep rows of their own; a case without a value (or a list without items) counts
  in ``(missing)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from typing import Any

import numpy as np
import pandas as pd

from tipqual.analysis.view import StudyView, check_coders
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
    parents: dict[str, str | None] = field(default_factory=dict)


def load(study: StudyView, *, statuses: Iterable[str] = DEFAULT_STATUSES,
         coders: Iterable[str] | None = None, code: str | None = None) -> CodingData:
    """Read the codings of a study (filtered by status, coder and code subtree) into CodingData;
    the status ``all`` stands for every status, as for ``tipqual code export``."""
    from tipqual.records import STATUSES

    book = study.codebook()
    if book is None:
        raise CodingError(f"the study has no codebook; {NO_CODEBOOK_ADVICE}", path=study.path)
    wanted = set(statuses)
    statuses = sorted(set(STATUSES) if "all" in wanted else wanted)
    for status in statuses:
        if status not in STATUSES:
            raise CodingError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    codes = book.subtree(book.code(code).id) if code is not None else book.ids
    if coders is not None:
        coders = sorted(set(coders))
        check_coders(study, coders)
    coded = study.codings(statuses=statuses, coders=coders, codes=codes)
    wanted = {c.segment for c in coded}
    # one pass over the segments, streamed: every case and its respondent text is counted,
    # and only the coded segments are kept (their text gives the framework's quotes)
    segments: dict[str, Segment] = {}
    case_ids = {c.id for c in study.cases()}
    chars: dict[str, int] = {}
    for seg in study.segments():
        key = seg.case or seg.source
        case_ids.add(key)
        if seg.role == "respondent":
            chars[key] = chars.get(key, 0) + len(seg.text)
        if seg.id in wanted:
            segments[seg.id] = seg
    rows = []
    for c in coded:
        seg = segments[c.segment]
        rows.append((seg.case or seg.source, seg.source, seg.id, seg.n, seg.role,
                     len(seg.text), c.code, c.coder, c.status, c.span_start, c.span_end,
                     _quote_text(seg, c)))
    frame = pd.DataFrame(rows, columns=CODING_COLUMNS)
    frame[["span_start", "span_end"]] = frame[["span_start", "span_end"]].astype("Int64")
    return CodingData(codings=frame, cases=sorted(case_ids), codes=codes,
                      code_names={c.id: c.name for c in book.codes if c.id in codes},
                      attributes={c.id: dict(c.attributes) for c in study.cases()},
                      respondent_chars=chars,
                      parents={c.id: c.parent for c in book.codes if c.id in codes})


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


# --- parent codes and their roll-ups ----------------------------------------------------------

ROLLUP_SUFFIX = " (all)"


def rollup_column(code: str) -> str:
    """The roll-up column of a parent code: ``ID (all)`` (no code id holds a space)."""
    return code + ROLLUP_SUFFIX


def parent_codes(data: CodingData) -> list[str]:
    """The codes with at least one sub-code among the codes loaded, in codebook order."""
    loaded = set(data.codes)
    has_child = {data.parents.get(c) for c in data.codes} & loaded
    return [c for c in data.codes if c in has_child]


def columns(data: CodingData) -> list[str]:
    """The code columns of the matrices: each code, a parent followed by its roll-up."""
    parents = set(parent_codes(data))
    result: list[str] = []
    for code in data.codes:
        result.append(code)
        if code in parents:
            result.append(rollup_column(code))
    return result


def column_names(data: CodingData) -> dict[str, str]:
    """Each column's code name; a roll-up column's is the parent's name with `` (all)``."""
    names = dict(data.code_names)
    for code in parent_codes(data):
        names[rollup_column(code)] = data.code_names.get(code, code) + ROLLUP_SUFFIX
    return names


def _rollups_of(data: CodingData, code: str) -> list[str]:
    """The roll-up columns a coding with ``code`` counts in: its own and its ancestors'."""
    parents, loaded = set(parent_codes(data)), set(data.codes)
    found: list[str] = []
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current in loaded and current not in seen:
        seen.add(current)
        if current in parents:
            found.append(rollup_column(current))
        current = data.parents.get(current)
    return found


def rolled_up(data: CodingData) -> pd.DataFrame:
    """The codings with a ``column`` label: every matrix counts this frame, grouped by it.

    Each coding appears under its own code and once more under the roll-up column of every
    parent code above it (the code itself, if it is a parent). The report's numbers and the
    spreadsheet's both come from here (see :func:`rollup_counts`).
    """
    labels = {code: [code, *_rollups_of(data, code)] for code in data.codes}
    frame = data.codings.assign(column=data.codings["code"].map(labels))
    frame = frame.explode("column", ignore_index=True)
    return frame[frame["column"].notna()].reset_index(drop=True)


def rollup_counts(data: CodingData, *, by_coder: bool = False) -> pd.DataFrame:
    """Cases × codes as the findings report counts them: a parent code over its whole subtree.

    The columns are the code ids; a parent's column holds its ``ID (all)`` roll-up (segments
    coded with it or any descendant, each segment once), a code without sub-codes its own
    count.
    """
    table = counts(data, by_coder=by_coder)
    parents = set(parent_codes(data))
    frame = table[[rollup_column(c) if c in parents else c for c in data.codes]]
    return frame.set_axis(data.codes, axis="columns")


# --- the matrices -----------------------------------------------------------------------------

def counts(data: CodingData, *, by_coder: bool = False) -> pd.DataFrame:
    """Cases × columns: coded segments (rows per case and coder with ``by_coder``).

    The columns are :func:`columns`: every code, and after each parent code its roll-up.
    """
    keys = ["case", "coder"] if by_coder else ["case"]
    unique = rolled_up(data).drop_duplicates(["segment", "column", *keys])
    table = unique.groupby([*keys, "column"]).size()
    wanted = columns(data)
    if not by_coder:
        frame = table.unstack("column").reindex(index=data.cases, columns=wanted)
        frame = frame.fillna(0).astype("int64")
        frame.index.name, frame.columns.name = "case", None
        return frame
    pairs = sorted(set(zip(unique["case"], unique["coder"], strict=False)))
    index = pd.MultiIndex.from_tuples(pairs, names=["case", "coder"]) if pairs else \
        pd.MultiIndex.from_arrays([[], []], names=["case", "coder"])
    frame = table.unstack("column").reindex(index=index, columns=wanted)
    frame = frame.fillna(0).astype("int64")
    frame.columns.name = None
    return frame


def presence(data: CodingData, *, by_coder: bool = False) -> pd.DataFrame:
    """Cases × columns: 1 when the case has at least one segment with the code, else 0."""
    return (counts(data, by_coder=by_coder) > 0).astype("int64")


def coverage(data: CodingData) -> pd.DataFrame:
    """Cases × columns: share of the case's respondent characters covered by the code (0–1).

    Computed on whole columns: each coding's span is clipped to its segment, the spans of one
    segment under one column are merged where they overlap (a running maximum of their ends
    marks where a new stretch begins), and the stretches are summed per case and column.
    """
    wanted = columns(data)
    rolled = rolled_up(data)
    respondent = rolled[rolled["role"] == "respondent"]
    frame = pd.DataFrame(0.0, index=pd.Index(data.cases, name="case"), columns=wanted)
    if respondent.empty:
        return frame
    keys = ["case", "column", "segment"]
    spans = _clipped_spans(respondent).sort_values([*keys, "start", "end"], kind="stable")
    group = spans.groupby(keys, sort=False)
    reach = group["end"].cummax()
    before = reach.groupby([spans[k] for k in keys], sort=False).shift(1)
    spans = spans.assign(stretch=(before.isna() | (spans["start"] > before)).cumsum())
    stretches = spans.groupby("stretch", sort=False).agg(
        case=("case", "first"), column=("column", "first"), start=("start", "min"),
        end=("end", "max"))
    covered = (stretches["end"] - stretches["start"]).groupby(
        [stretches["case"], stretches["column"]], sort=False).sum()
    totals = covered.index.get_level_values("case").map(
        lambda case: data.respondent_chars.get(case, 0))
    shares = [round(chars / total, 4) if total else 0.0
              for chars, total in zip(covered.tolist(), totals.tolist(), strict=True)]
    table = pd.Series(shares, index=covered.index, dtype="float64").unstack("column")
    table = table.reindex(index=data.cases, columns=wanted).fillna(0.0)
    frame.loc[:, :] = table.to_numpy(dtype="float64")
    return frame


def _clipped_spans(codings: pd.DataFrame) -> pd.DataFrame:
    """The codings with ``start`` and ``end``: their spans clipped as :func:`_span` does."""
    length = codings["length"].to_numpy(dtype="int64")
    raw_start = codings["span_start"].to_numpy(dtype="float64", na_value=float("nan"))
    raw_end = codings["span_end"].to_numpy(dtype="float64", na_value=float("nan"))
    unset = np.isnan(raw_start) | np.isnan(raw_end)
    start = np.clip(np.nan_to_num(raw_start), 0, length).astype("int64")
    end = np.clip(np.nan_to_num(raw_end), 0, length).astype("int64")
    whole = unset | (end <= start)
    return codings.assign(start=np.where(whole, 0, start), end=np.where(whole, length, end))


def framework(data: CodingData) -> pd.DataFrame:
    """Cases × columns: the coded passages, each quoted after its segment id, in document order.

    A roll-up cell quotes each segment of the subtree once, after its id and the codes of the
    subtree it carries: ``[A1:2 · access, access-cost] "…"``.

    Computed on whole columns: one quote and one label per (case, column, segment), then the
    passages of a cell joined in document order (its codings sorted by source, segment
    number and span).
    """
    frame = pd.DataFrame("", index=pd.Index(data.cases, name="case"), columns=columns(data),
                         dtype=object)
    ordered = rolled_up(data).sort_values(["case", "column", "source", "n", "span_start",
                                           "span_end"], na_position="first", kind="stable")
    if ordered.empty:
        return frame
    keys = ["case", "column", "segment"]
    ordered = ordered.assign(quote=ordered["text"].map(_one_line),
                             unspanned=ordered["span_start"].isna().to_numpy())
    # the order passages take in a cell: each segment where its first coding sorts
    passages = ordered.drop_duplicates(keys)[keys].set_index(keys)
    # a segment with any unspanned coding is quoted whole (its first unspanned coding's text);
    # otherwise its spans are merged where they overlap or touch (two coders' spans over the
    # same words are quoted once) and the stretches' distinct quotes are joined
    whole = ordered[ordered["unspanned"]].drop_duplicates(keys).set_index(keys)["quote"]
    spanned = ordered[~ordered.set_index(keys).index.isin(whole.index)]
    quotes = pd.concat([whole, _merged_quotes(spanned, keys)])
    # a roll-up cell names the codes of the subtree each segment carries, in codebook order
    position = {c: i for i, c in enumerate(data.codes)}
    rollups = ordered[ordered["column"].str.endswith(ROLLUP_SUFFIX)]
    carried = rollups.drop_duplicates([*keys, "code"])
    carried = carried.assign(position=carried["code"].map(position)).sort_values(
        [*keys, "position"], kind="stable")
    names = carried.groupby(keys, sort=False)["code"].agg(", ".join)
    labels = passages.index.get_level_values("segment").to_series(index=passages.index)
    labels = labels.astype(str)
    named = labels.index.isin(names.index)
    labels[named] = labels[named] + " · " + names.reindex(labels.index[named])
    text = "[" + labels + '] "' + quotes.reindex(passages.index) + '"'
    cells = text.groupby(level=["case", "column"], sort=False).agg("\n\n".join)
    table = cells.unstack("column", fill_value="").reindex(index=data.cases,
                                                           columns=frame.columns, fill_value="")
    frame.loc[:, :] = table.to_numpy(dtype=object)
    return frame


def _merged_quotes(spanned: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One quote per ``keys`` group of span codings: the spans' text, overlapping or touching
    spans merged into one stretch (their texts are slices of the same segment text, so the
    stretch is the first text extended by what the next adds), the stretches' distinct
    one-line quotes joined with `` … `` in text order."""
    if spanned.empty:
        return pd.Series([], dtype=object, index=pd.MultiIndex.from_tuples([], names=keys),
                         name="quote")
    spans = _clipped_spans(spanned).sort_values([*keys, "start", "end"], kind="stable")
    index, values = [], []
    columns = [spans[k].tolist() for k in keys]
    starts, ends = spans["start"].tolist(), spans["end"].tolist()
    texts = spans["text"].tolist()
    stretches: list[list[Any]] = []
    current: tuple | None = None

    def flush() -> None:
        if current is None:
            return
        quotes = list(dict.fromkeys(_one_line(s[2]) for s in stretches))
        index.append(current)
        values.append(" … ".join(quotes))

    for i, (start, end, text) in enumerate(zip(starts, ends, texts, strict=True)):
        key = tuple(col[i] for col in columns)
        if key != current:
            flush()
            current, stretches = key, []
        if stretches and start <= stretches[-1][1]:
            last = stretches[-1]
            if end > last[1]:
                last[2] += text[last[1] - start:]
                last[1] = end
        else:
            stretches.append([start, end, text])
    flush()
    return pd.Series(values, index=pd.MultiIndex.from_tuples(index, names=keys), dtype=object,
                     name="quote")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cooccurrence(data: CodingData) -> pd.DataFrame:
    """Columns × columns: segments coded with both (the diagonal: segments coded with it).

    Roll-up columns take part like codes: ``X (all)`` × ``Y`` counts the segments coded with
    ``Y`` and with ``X`` or any of its descendants.
    """
    wanted = columns(data)
    unique = rolled_up(data).drop_duplicates(["segment", "column"])
    if unique.empty:
        return _empty(wanted, wanted, name="code")
    marks = pd.crosstab(unique["segment"], unique["column"]).reindex(columns=wanted,
                                                                      fill_value=0)
    matrix = marks.to_numpy(dtype="int64")
    frame = pd.DataFrame(matrix.T @ matrix, index=pd.Index(wanted, name="code"),
                         columns=wanted, dtype="int64")
    frame.columns.name = None
    return frame


MISSING = "(missing)"
MAX_BINS = 5
LIST_SEPARATOR = ";"
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_STEPS = (1, 2, 5)
_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                   r"(?:Z|[+-]\d{2}:?\d{2})?)?)?$")
_MISSING_KEY = (2, Decimal(0), MISSING)


def crosstab(data: CodingData, attribute: str) -> pd.DataFrame:
    """Attribute values × columns: coded segments of the cases with each value of ``attribute``.

    Lists count a case under each of its items and numbers are binned (see the module's
    counting rules); rows are in order: bins by their lower edge, text, ``(missing)``.
    """
    table = counts(data)
    rows = attribute_rows(data, attribute)
    labels: list[str] = []
    cases: list[str] = []
    order: dict[str, tuple[int, Decimal, str]] = {}
    for case in table.index:
        for key, label in rows.get(str(case), [(_MISSING_KEY, MISSING)]):
            labels.append(label)
            cases.append(case)
            order.setdefault(label, key)
    frame = table.loc[cases].set_axis(pd.Index(labels, name=attribute))
    frame = frame.groupby(level=0, sort=False).sum()
    frame = frame.reindex(sorted(frame.index, key=lambda label: (order[label], label)))
    frame.index.name, frame.columns.name = attribute, None
    return frame.astype("int64")


def attribute_rows(data: CodingData,
                   attribute: str) -> dict[str, list[tuple[tuple[int, Decimal, str], str]]]:
    """Each case's crosstab rows for ``attribute``: ``(sort key, label)`` pairs.

    A list gives one row per distinct item, a number its bin (:func:`number_bins`, computed
    over all the cases' numbers), any other value itself; no value gives ``(missing)``.
    """
    values = {case: (data.attributes.get(case, {}).get(attribute) or "").strip()
              for case in data.cases}
    result: dict[str, list[tuple[tuple[int, Decimal, str], str]]] = {}
    if any(LIST_SEPARATOR in v for v in values.values()):
        for case, value in values.items():
            items = sorted({i.strip() for i in value.split(LIST_SEPARATOR)} - {""})
            result[case] = [((1, Decimal(0), i), i) for i in items] or [(_MISSING_KEY, MISSING)]
        return result
    bins = number_bins(v for v in values.values() if _NUMBER.match(v))
    bins.update(date_bins(v for v in values.values() if v not in bins))
    for case, value in values.items():
        if not value:
            result[case] = [(_MISSING_KEY, MISSING)]
        elif value in bins:
            low, label = bins[value]
            result[case] = [((0, low, label), label)]
        else:
            result[case] = [((1, Decimal(0), value), value)]
    return result


def number_bins(values: Iterable[str]) -> dict[str, tuple[Decimal, str]]:
    """Each number (as written, spaces stripped) → its bin's lower edge and label; exact.

    At most :data:`MAX_BINS` bins of equal width, the width the smallest of 1, 2 or 5 times a
    power of ten (at least 1 for whole numbers) for which the numbers span no more bins; bin
    edges are multiples of the width. Whole numbers get ``10–19`` (or ``7`` for a bin of
    width 1), fractions ``[0.5, 1)``; numbers that are all equal get one bin, the number.
    """
    written = [v.strip() for v in values]
    if not written:
        return {}
    # exact for any length of number: the context holds every digit written, and more
    with localcontext(Context(prec=max(len(v) for v in written) + 12)):
        numbers = dict(zip(written, map(Decimal, written), strict=True))
        low, high = min(numbers.values()), max(numbers.values())
        if low == high:
            return {v: (n, _decimal_text(n)) for v, n in numbers.items()}
        whole = all(n == n.to_integral_value() for n in numbers.values())
        width = _bin_width(low, high, whole)
        result = {}
        for value, number in numbers.items():
            start = _floor(number / width) * width
            if not whole:
                label = f"[{_decimal_text(start)}, {_decimal_text(start + width)})"
            elif width == 1:
                label = _decimal_text(start)
            else:
                label = f"{_decimal_text(start)}–{_decimal_text(start + width - 1)}"
            result[value] = (start, label)
        return result


def date_bins(values: Iterable[str]) -> dict[str, tuple[Decimal, str]]:
    """Each ISO 8601 date among ``values`` (a day, a month, or a day with a time) → its row's
    sort key and label; values that are not such dates are left out.

    The rows are the finest of days (when every date names its day), months, years and
    ranges of years (:func:`number_bins` of the years) that gives at most :data:`MAX_BINS`
    rows: ``2024-03-05``, ``2024-03``, ``2024``, ``2020–2024``.
    """
    import datetime as dt

    dates: dict[str, tuple[int, int, int | None]] = {}
    for value in values:
        m = _DATE.match(value.strip())
        if m is None:
            continue
        year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
        try:
            dt.date(year, month, int(day) if day else 1)
        except ValueError:  # 2024-02-30, month 13: not a date, a text value
            continue
        dates[value] = (year, month, int(day) if day else None)
    if not dates:
        return {}
    parts = dates.values()
    if all(d is not None for _, _, d in parts) and len(set(parts)) <= MAX_BINS:
        return {v: (Decimal(y * 10000 + m * 100 + (d or 0)), f"{y:04d}-{m:02d}-{d:02d}")
                for v, (y, m, d) in dates.items()}
    if len({(y, m) for y, m, _ in parts}) <= MAX_BINS:
        return {v: (Decimal(y * 10000 + m * 100), f"{y:04d}-{m:02d}")
                for v, (y, m, _) in dates.items()}
    years = number_bins(str(y) for y, _, _ in parts)
    return {v: (years[str(y)][0] * 10000, years[str(y)][1]) for v, (y, _, _) in dates.items()}


def _bin_width(low: Decimal, high: Decimal, whole: bool) -> Decimal:
    exponent = int(_floor(((high - low) / MAX_BINS).log10())) - 1
    while True:
        for step in _STEPS:
            width = Decimal(step).scaleb(exponent)
            if whole and width < 1:
                continue
            if _floor(high / width) - _floor(low / width) + 1 <= MAX_BINS:
                return width
        exponent += 1


def _floor(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


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
