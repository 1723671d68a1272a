"""Inter-coder agreement: the statistics, and how a study's codings become units.

The statistics are pure functions over plain label sequences. Each has a ``*_stat`` form that
returns a :class:`Stat` (a value, or ``None`` with the reason it is undefined) and a plain form
that returns the float or ``None``. Undefined cases (one coder, no overlapping units, no
variation at all) never raise and never pretend to perfect agreement.

Units are segments. With two coders the units are the segments both coded; with three or more,
alpha uses every segment coded by at least two of them (the others missing) and Fleiss' kappa
the segments all of them coded. Per code, each coder's judgement on a unit is present/absent;
``overall`` treats each unit's set of codes as one category.

Cohen's and Fleiss' kappa are computed here directly (a few lines, no heavy import; the tests
check Cohen's against scikit-learn). Krippendorff's alpha is computed here too, from the
coincidence matrix with the distance of each level of measurement (Krippendorff 2011); the
``krippendorff`` package is GPL-licensed, so it serves only the tests, as a cross-check.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from tipqual.analysis.view import StudyView
from tipqual.errors import AgreementError
from tipqual.output.files import safe_cell as guard_cell  # the one formula guard
from tipqual.output.files import write_text
from tipqual.records import APPLIED_STATUSES

LEVELS = ("nominal", "ordinal", "interval", "ratio")
DEFAULT_STATUSES = APPLIED_STATUSES


@dataclass(frozen=True)
class Stat:
    """A statistic's value, or ``None`` with the reason it cannot be computed."""

    value: float | None
    reason: str | None = None


def _undefined(reason: str) -> Stat:
    return Stat(None, reason)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_rows(data: Sequence[Sequence[Any]]) -> list[list[Any]]:
    rows = [list(row) for row in data]
    if len({len(row) for row in rows}) > 1:
        raise AgreementError("every coder's row must cover the same units (rows differ in "
                             f"length: {sorted({len(r) for r in rows})})")
    return rows


# --- Cohen's kappa ----------------------------------------------------------------------------

def cohen_kappa_stat(a: Sequence[Hashable], b: Sequence[Hashable]) -> Stat:
    """Cohen's (1960) kappa for two coders' labels on the same units, as a :class:`Stat`."""
    if len(a) != len(b):
        raise AgreementError(f"the two label sequences differ in length ({len(a)} and {len(b)})")
    n = len(a)
    if n == 0:
        return _undefined("no units to compare")
    observed = sum(x == y for x, y in zip(a, b, strict=False)) / n
    count_a, count_b = Counter(a), Counter(b)
    if len(count_a) == 1 and count_a.keys() == count_b.keys():
        return _undefined("no variation: both coders gave every unit the same category")
    expected = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    return Stat((observed - expected) / (1 - expected))


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa for two equal-length label sequences; None when undefined."""
    return cohen_kappa_stat(a, b).value


# --- percent agreement ------------------------------------------------------------------------

def percent_agreement_stat(data: Sequence[Sequence[Any]]) -> Stat:
    """Percent agreement (0-100) over units with two or more values, as a :class:`Stat`.

    ``data`` is one row per coder over the same units, ``None`` for missing. A unit's agreement
    is the share of its coder pairs that gave the same value; the result is the mean over units
    (with two coders: the share of units where they agree).
    """
    rows = _check_rows(data)
    if len(rows) < 2:
        return _undefined("only one coder")
    shares = []
    for values in zip(*rows, strict=False):
        present = [v for v in values if not _is_missing(v)]
        m = len(present)
        if m < 2:
            continue
        same = sum(c * (c - 1) for c in Counter(present).values())
        shares.append(same / (m * (m - 1)))
    if not shares:
        return _undefined("no unit was coded by two or more coders")
    return Stat(100.0 * sum(shares) / len(shares))


def percent_agreement(data: Sequence[Sequence[Any]]) -> float | None:
    """Percent agreement (0-100) of coders' rows over the same units; None when undefined."""
    return percent_agreement_stat(data).value


# --- Fleiss' kappa ----------------------------------------------------------------------------

def fleiss_kappa_stat(ratings: Sequence[Sequence[Any]]) -> Stat:
    """Fleiss' (1971) kappa, as a :class:`Stat`.

    ``ratings`` is one row per coder (rater slot) over the same units, like
    :func:`krippendorff_alpha`; units with a missing value are left out, because Fleiss' kappa
    needs the same number of ratings on every unit.
    """
    rows = _check_rows(ratings)
    if len(rows) < 2:
        return _undefined("only one coder")
    units = [values for values in zip(*rows, strict=False)
             if not any(_is_missing(v) for v in values)]
    if not units:
        return _undefined("no unit was coded by every coder")
    n, raters = len(units), len(rows)
    totals: Counter = Counter()
    agreement = 0.0
    for values in units:
        counts = Counter(values)
        totals.update(counts)
        agreement += (sum(c * c for c in counts.values()) - raters) / (raters * (raters - 1))
    if len(totals) == 1:
        return _undefined("no variation: every coder gave every unit the same category")
    observed = agreement / n
    expected = sum((c / (n * raters)) ** 2 for c in totals.values())
    return Stat((observed - expected) / (1 - expected))


def fleiss_kappa(ratings: Sequence[Sequence[Any]]) -> float | None:
    """Fleiss' kappa of coders' rows over the same units; None when undefined."""
    return fleiss_kappa_stat(ratings).value


# --- Krippendorff's alpha ---------------------------------------------------------------------

_NUMBER_TYPES = (int, float)


def _value_codes(data: Sequence[Sequence[Any]], level: str) -> tuple[Any, Any]:
    """Coders x units value codes (-1 missing) and the sorted values they index, as numpy.

    One pass at C speed: the distinct values of all rows in order of appearance
    (``dict.fromkeys``), then each value's code by dictionary look-up (``map``). Nominal labels
    may be any hashables (numbered in order of appearance); the other levels need numbers
    (``bool`` is refused). A numeric numpy array is taken as it is (NaN missing).
    """
    import numpy as np

    if isinstance(data, np.ndarray) and data.ndim == 2 and data.dtype.kind in "fiu":
        numbers = data.astype(float)
        present = ~np.isnan(numbers)
        codes = np.full(numbers.shape, -1, dtype=np.int64)
        values, inverse = np.unique(numbers[present], return_inverse=True)
        codes[present] = inverse
        return codes, values
    rows = list(data)
    flat = list(chain.from_iterable(rows))
    if level != "nominal":
        types = set(map(type, flat))
        if any(t is not type(None) and (issubclass(t, bool) or not issubclass(t, _NUMBER_TYPES))
               for t in types):
            bad = next(v for v in flat if not _is_missing(v) and (
                isinstance(v, bool) or not isinstance(v, _NUMBER_TYPES)))
            raise AgreementError(f"{level} alpha needs numbers; got {bad!r} (use "
                                 "level='nominal' for labels)")
    distinct = list(dict.fromkeys(flat))
    missing = [v for v in distinct if _is_missing(v)]
    labels = [v for v in distinct if not _is_missing(v)]
    if level != "nominal":
        keyed = np.array([float(v) for v in labels], dtype=float)
    else:
        keyed = np.arange(len(labels), dtype=float)
    # equal floats from different keys (2**53 and 2**53 + 1) share one value
    values, inverse = np.unique(keyed, return_inverse=True)
    index: dict[Any, int] = dict(zip(labels, inverse.tolist(), strict=True))
    index.update((v, -1) for v in missing)
    codes = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    return codes.reshape(len(rows), len(rows[0]) if rows else 0), values


def _is_array(data: Any) -> bool:
    return type(data).__module__ == "numpy" and getattr(data, "ndim", 0) == 2


def _coincidences(codes: Any, n_values: int) -> Any:
    """Krippendorff's coincidence matrix over the pairable units (codes: coders x units).

    Each unit with m >= 2 values contributes every ordered pair of its values from two
    different coders, weighted 1 / (m - 1); summed over units with one ``bincount`` per pair
    of coders, so the cost is linear in the units.
    """
    import numpy as np

    present = codes >= 0
    m = present.sum(axis=0)
    pairable = m >= 2
    codes, present = codes[:, pairable], present[:, pairable]
    weights = 1.0 / (m[pairable] - 1)
    flat = np.zeros(n_values * n_values, dtype=float)
    for i in range(codes.shape[0]):
        for j in range(i + 1, codes.shape[0]):
            both = present[i] & present[j]
            pair = codes[i, both] * n_values + codes[j, both]
            flat += np.bincount(pair, weights=weights[both], minlength=n_values * n_values)
    matrix = flat.reshape(n_values, n_values)
    return matrix + matrix.T  # each unordered pair of coders gives both ordered pairs


def _distances(level: str, values: Any, marginals: Any) -> Any:
    """Squared distances delta^2 between the values, for the level of measurement."""
    import numpy as np

    c, k = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        total = c + k
        return np.divide((c - k) ** 2, total ** 2, out=np.zeros_like(total), where=total != 0)
    # ordinal: the values' ranks, distance = the marginals between them, halving the ends
    cum = np.concatenate([[0.0], np.cumsum(marginals)])
    i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[hi + 1] - cum[lo]
    return (between - (marginals[i] + marginals[j]) / 2) ** 2


def krippendorff_alpha_stat(data: Sequence[Sequence[Any]], level: str = "nominal") -> Stat:
    """Krippendorff's alpha, as a :class:`Stat`; ``data`` is one row per coder, None missing.

    ``data`` may also be a numeric numpy array (coders x units, NaN missing). Vectorised: the
    values are coded in one pass and the coincidence matrix is summed with ``numpy.bincount``.
    """
    if level not in LEVELS:
        raise AgreementError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if len(data) < 2:
        _check_rows(data)
        return _undefined("only one coder")
    codes, values = _value_codes(data if _is_array(data) else _check_rows(data), level)
    if not ((codes >= 0).sum(axis=0) >= 2).any():
        return _undefined("no unit was coded by two or more coders")
    coincidences = _coincidences(codes, len(values))
    marginals = coincidences.sum(axis=1)
    if int((marginals > 0).sum()) < 2:
        return _undefined("no variation: every coder gave every unit the same value")
    n = marginals.sum()
    delta = _distances(level, values, marginals)
    expected = float((marginals[:, None] * marginals[None, :] * delta).sum())
    if expected == 0:
        return _undefined("no variation: expected disagreement is zero")
    observed = float((coincidences * delta).sum())
    return Stat(1.0 - (n - 1) * observed / expected)


def krippendorff_alpha(data: Sequence[Sequence[Any]], level: str = "nominal") -> float | None:
    """Krippendorff's alpha of coders' rows over the same units (None = missing value)."""
    return krippendorff_alpha_stat(data, level).value


# --- the usual readings -----------------------------------------------------------------------

def kappa_reading(kappa: float | None) -> str:
    """Landis & Koch's (1977) band for a kappa value."""
    if kappa is None:
        return "undefined"
    k = round(kappa, 9)  # absorb float noise: 0.4000000001 is the textbook 0.40
    if k < 0:
        return "poor"
    for upper, label in ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"),
                         (0.80, "substantial")):
        if k <= upper:
            return label
    return "almost perfect"


def alpha_reading(alpha: float | None) -> str:
    """Krippendorff's (2004) reading: 0.800 up reliable, 0.667 up tentative, else unreliable."""
    if alpha is None:
        return "undefined"
    a = round(alpha, 9)
    if a >= 0.800:
        return "reliable"
    if a >= 0.667:
        return "tentative only"
    return "unreliable"


# --- units: from codings to agreement per code ------------------------------------------------

@dataclass(frozen=True)
class CodeAgreement:
    """Agreement on one code (or, for ``overall``, on each unit's whole set of codes)."""

    code: str
    n_units: int
    percent_agreement: Stat
    kappa: Stat
    alpha: Stat

    def to_dict(self) -> dict[str, Any]:
        """The per-code object of ``agree --json``."""
        return {"n_units": self.n_units, "percent_agreement": self.percent_agreement.value,
                "kappa": self.kappa.value, "alpha": self.alpha.value}

    def reasons(self) -> dict[str, str]:
        """Why each undefined statistic is undefined."""
        return {name: stat.reason for name, stat in (
            ("percent_agreement", self.percent_agreement), ("kappa", self.kappa),
            ("alpha", self.alpha)) if stat.value is None and stat.reason}


@dataclass(frozen=True)
class AgreementTable:
    """Agreement of a set of coders: per code, overall, and the means of the per-code values."""

    coders: list[str]
    codes: list[CodeAgreement]
    overall: CodeAgreement
    units: list[str] = field(default_factory=list)
    n_all: int = 0

    def mean(self, name: str) -> float | None:
        """Mean of a per-code statistic over the codes where it is defined."""
        values = [getattr(c, name).value for c in self.codes]
        defined = [v for v in values if v is not None]
        return sum(defined) / len(defined) if defined else None

    def to_dict(self) -> dict[str, Any]:
        """The ``agree --json`` object (contract keys first)."""
        overall = self.overall.to_dict()
        overall.update({
            "mean_percent_agreement": self.mean("percent_agreement"),
            "mean_kappa": self.mean("kappa"),
            "mean_alpha": self.mean("alpha"),
            "kappa_method": "cohen" if len(self.coders) == 2 else "fleiss",
            "n_units_all_coders": self.n_all,
            "undefined": {"overall": self.overall.reasons(),
                          **{c.code: c.reasons() for c in self.codes if c.reasons()}},
        })
        if not overall["undefined"]["overall"]:
            del overall["undefined"]["overall"]
        return {"coders": list(self.coders), "overall": overall,
                "codes": {c.code: c.to_dict() for c in self.codes}}


def _coder_views(codings: Iterable[Any], coders: Sequence[str], statuses: Sequence[str],
                 keep: set[str] | None) -> tuple[dict[str, dict[str, set[str]]], list[str]]:
    """For each coder, the codes applied on each segment they coded; and segment order."""
    applied: dict[str, dict[str, set[str]]] = {c: {} for c in coders}
    order: dict[str, None] = {}
    for c in codings:
        if c.coder not in applied or (keep is not None and c.segment not in keep):
            continue
        if c.status in statuses:
            applied[c.coder].setdefault(c.segment, set()).add(c.code)
        elif c.status == "rejected":
            # a rejection is the coder's judgement that a code does not apply: the segment
            # was coded by them, even if nothing was applied to it
            applied[c.coder].setdefault(c.segment, set())
        else:
            continue
        order.setdefault(c.segment)
    return applied, list(order)


def _judge(rows: list[list[Any]], all_rows: Any, code: str, n: int) -> CodeAgreement:
    """The statistics of one code; ``all_rows()`` gives Fleiss' rows (asked only when needed)."""
    two = len(rows) == 2
    kappa = cohen_kappa_stat(*rows) if two else fleiss_kappa_stat(all_rows())
    return CodeAgreement(code, n, percent_agreement_stat(rows), kappa,
                         krippendorff_alpha_stat(rows, "nominal"))


def agreement_table(codings: Iterable[Any], coders: Sequence[str], codes: Sequence[str], *,
                    statuses: Sequence[str] = DEFAULT_STATUSES,
                    segments: Sequence[str] | None = None) -> AgreementTable:
    """Agreement per code and overall for ``coders`` on their ``codings``.

    ``codings`` are objects with ``segment``, ``code``, ``coder`` and ``status`` (e.g.
    :class:`tipqual.records.Coding`); codings whose status is in ``statuses`` apply a code,
    ``rejected`` ones mark the segment as coded without applying it. ``segments``, if given,
    restricts and orders the units.
    """
    if len(coders) < 2 or len(set(coders)) != len(coders):
        raise AgreementError("agreement needs two or more different coders")
    keep = set(segments) if segments is not None else None
    applied, seen_order = _coder_views(codings, coders, statuses, keep)
    order = list(segments) if segments is not None else seen_order
    units = [u for u in order if sum(u in applied[c] for c in coders) >= 2]
    all_coded = [u for u in units if all(u in applied[c] for c in coders)]
    wanted = set(codes)

    def rows_for(value, unit_list):
        return [[value(applied[c][u]) if u in applied[c] else None for u in unit_list]
                for c in coders]

    used = {code for c in coders for u in units for code in applied[c].get(u, ())}
    results = []
    for code in codes:
        present = lambda s, code=code: code in s  # noqa: E731
        result = _judge(rows_for(present, units),
                        lambda present=present: rows_for(present, all_coded), code, len(units))
        if units and code not in used:
            reason = "no coder applied this code on the compared segments"
            result = CodeAgreement(code, len(units), result.percent_agreement,
                                   _undefined(reason), _undefined(reason))
        results.append(result)
    as_set = lambda s: tuple(sorted(s & wanted))  # noqa: E731
    overall = _judge(rows_for(as_set, units), lambda: rows_for(as_set, all_coded), "overall",
                     len(units))
    if not units:
        reason = ("no segment was coded by both coders" if len(coders) == 2
                  else "no segment was coded by two or more of the coders")
        results = [CodeAgreement(r.code, 0, *(_undefined(reason),) * 3) for r in results]
        overall = CodeAgreement("overall", 0, *(_undefined(reason),) * 3)
    return AgreementTable(list(coders), results, overall, units, n_all=len(all_coded))


# --- disagreements, for a reconciliation meeting ----------------------------------------------

NOT_CODED = "(not coded)"


def disagreements(codings: Iterable[Any], coders: Sequence[str], codes: Sequence[str],
                  segments: Sequence[Any], *,
                  statuses: Sequence[str] = DEFAULT_STATUSES) -> list[dict[str, str]]:
    """One row per segment where the coders' sets of ``codes`` differ.

    ``segments`` are :class:`tipqual.records.Segment` objects (id, case, source, text) in the
    order wanted. Each row has ``segment, case, source, text``, one column per coder (their
    codes, ``; ``-separated, or ``(not coded)``) and ``disputed`` (codes not applied by all).
    """
    applied, _ = _coder_views(codings, coders, statuses, {s.id for s in segments})
    wanted = set(codes)
    rows = []
    for seg in segments:
        sets = {c: applied[c][seg.id] & wanted for c in coders if seg.id in applied[c]}
        if len(sets) < 2 or len({frozenset(s) for s in sets.values()}) == 1:
            continue
        union = set().union(*sets.values())
        common = set.intersection(*sets.values())
        row = {"segment": seg.id, "case": seg.case or "", "source": seg.source,
               "text": seg.text}
        for c in coders:
            row[c] = "; ".join(sorted(sets[c])) if c in sets else NOT_CODED
        row["disputed"] = "; ".join(sorted(union - common))
        rows.append(row)
    return rows


def write_disagreements(rows: list[dict[str, str]], coders: Sequence[str], path: Any) -> None:
    """Write disagreement rows as CSV (UTF-8), every cell formula-guarded."""
    import csv
    import io

    header = ["segment", "case", "source", "text", *coders, "disputed"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([guard_cell(h) for h in header])
    for row in rows:
        writer.writerow([guard_cell(row[h]) for h in header])
    write_text(path, buffer.getvalue(), error=AgreementError, what="disagreements")


# --- a study's coders -------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyAgreement:
    """What ``tipqual agree`` reports: the table and the disagreement rows."""

    table: AgreementTable
    disagreements: list[dict[str, str]]


def _check_known(kind: str, asked: Sequence[str], known: Sequence[str]) -> None:
    lookup = set(known)
    for name in asked:
        if name not in lookup:
            listed = ", ".join(known) if known else "none"
            raise AgreementError(f"unknown {kind} {name!r}; this study's {kind}s: {listed}")


def compare_coders(study: StudyView, coders: Sequence[str], *,
                   codes: Sequence[str] | None = None, cases: Sequence[str] | None = None,
                   statuses: Sequence[str] = DEFAULT_STATUSES) -> StudyAgreement:
    """Agreement of ``coders`` in a study (any :class:`tipqual.analysis.view.StudyView`)."""
    if len(coders) < 2 or len(set(coders)) != len(coders):
        raise AgreementError("name two or more different coders, e.g. --coders alice,bob")
    if not statuses:
        raise AgreementError("name at least one status that counts as applying a code, e.g. "
                             "--status human,accepted")
    for status in statuses:
        if status not in ("human", "accepted", "suggested"):
            raise AgreementError(f"status {status!r} cannot count as applying a code; use "
                                 "human, accepted and/or suggested")
    _check_known("coder", coders, study.coders())
    book = study.code_ids()
    codings = study.codings(coders=coders)
    if codes is None:
        codes = [*book, *sorted({c.code for c in codings} - set(book))]
    else:
        used = {c.code for c in study.codings(codes=codes)}
        if any(code not in used and code not in book for code in codes):
            everything = {c.code for c in study.codings()}
            _check_known("code", codes, [*book, *sorted(everything - set(book))])
        codes = list(dict.fromkeys(codes))
    if cases is not None:
        _check_known("case", cases, [c.id for c in study.cases()])
    wanted_cases = set(cases) if cases is not None else None
    # Only segments these coders coded can be units: their ids in document order (read from
    # the segment index, no text), then the texts of the units alone, for the disagreements.
    coded = {c.segment for c in codings}
    ids = [seg_id for seg_id, _, case, *_ in study.segment_index()
           if seg_id in coded and (wanted_cases is None or case in wanted_cases)]
    table = agreement_table(codings, coders, codes, statuses=statuses, segments=ids)
    segments = list(study.segments(ids=table.units)) if table.units else []
    rows = disagreements(codings, coders, codes, segments, statuses=statuses)
    return StudyAgreement(table, rows)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(table: AgreementTable) -> str:
    """The readable agreement table of ``tipqual agree``."""
    width = max([len("overall (sets)"), *(len(c.code) for c in table.codes)])
    if len(table.coders) == 2:
        method = "segments both coded; Cohen's kappa, nominal alpha"
    else:
        method = (f"segments coded by two or more; Fleiss' kappa on the {table.n_all} coded "
                  "by all, nominal alpha")
    lines = [f"Coders: {', '.join(table.coders)}; units: {table.overall.n_units} ({method})", "",
             f"{'code':<{width}}  {'units':>5}  {'%':>5}  {'kappa':>6}  {'alpha':>6}  "
             f"{'kappa reading':<15} alpha reading"]
    notes = []
    for row in [*table.codes, table.overall]:
        name = "overall (sets)" if row is table.overall else row.code
        lines.append(f"{name:<{width}}  {row.n_units:>5}  "
                     f"{_fmt(row.percent_agreement.value, 1):>5}  {_fmt(row.kappa.value):>6}  "
                     f"{_fmt(row.alpha.value):>6}  {kappa_reading(row.kappa.value):<15} "
                     f"{alpha_reading(row.alpha.value)}")
        for stat, reason in row.reasons().items():
            notes.append(f"  {name}: {stat} undefined - {reason}")
    mean_p, mean_k, mean_a = (table.mean(s) for s in ("percent_agreement", "kappa", "alpha"))
    lines.append(f"{'mean of codes':<{width}}  {'':>5}  {_fmt(mean_p, 1):>5}  {_fmt(mean_k):>6}"
                 f"  {_fmt(mean_a):>6}  {kappa_reading(mean_k):<15} {alpha_reading(mean_a)}")
    lines += ["", "Readings: kappa after Landis & Koch (1977); alpha: >= 0.800 reliable, "
              ">= 0.667 tentative conclusions only (Krippendorff 2004)."]
    if notes:
        lines += ["Undefined:", *notes]
    return "\n".join(lines)
