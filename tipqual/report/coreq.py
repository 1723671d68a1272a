"""The COREQ reporting checklist: the items a study's own data answer.

COREQ (Tong, Sainsbury and Craig, 2007) lists 32 items a qualitative interview study should
report. tipqual answers those the study file can answer (who interviewed, sample size and
description, repeat interviews, coders, coding tree, saturation, software …) from the report
context; the others are for the research team to write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from tipqual.version import __version__


def _saturation(codes: list[str], codes_by_case: dict[str, set[str]]) -> list[tuple[str, int]]:
    """New codes first seen in each case, in case order (a data-saturation indicator).

    ``codes_by_case``: each case with applied codings and the codes applied in it."""
    seen: set[str] = set()
    out = []
    for case in sorted(codes_by_case):
        new = (codes_by_case[case] & set(codes)) - seen
        seen |= new
        out.append((case, len(new)))
    return out


# How a source's format is named in the checklist, where its own name says little.
_FORMAT_NAMES = {"refi": "from a REFI-QDA project"}
MAX_LISTED_NUMBERS = 8  # distinct numbers an attribute lists; more are given as a range
FEW_CASES = 5  # up to this many cases, every attribute describes the sample


def _number(value: str) -> float | None:
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _described(values: Counter[str]) -> str:
    """An attribute's values over the cases, each with its count: numbers in numeric order, or
    as a range with the median when there are more than :data:`MAX_LISTED_NUMBERS`; other
    values in alphabetical order; a missing value last, as "(missing)"."""
    missing = values.get("", 0)
    given = {v: n for v, n in values.items() if v}
    parsed = {v: _number(v) for v in given}
    numbers = {v: x for v, x in parsed.items() if x is not None}
    tail = [f"(missing) ({missing})"] if missing else []
    if given and len(numbers) == len(given):
        ordered = sorted(given, key=lambda v: (numbers[v], v))
        if len(ordered) > MAX_LISTED_NUMBERS:
            spread = sorted(x for v in given for x in [numbers[v]] * given[v])
            middle = len(spread) // 2
            median = spread[middle] if len(spread) % 2 else (spread[middle - 1]
                                                             + spread[middle]) / 2
            return "; ".join([f"{len(spread)} values from {ordered[0]} to {ordered[-1]} "
                              f"(median {median:g})", *tail])
        return "; ".join([f"{v} ({given[v]})" for v in ordered] + tail)
    if missing:
        return "; ".join([f"{v} ({n})" for v, n in sorted(given.items())] + tail)
    return "; ".join(f"{v} ({n})" for v, n in sorted(given.items()))


def describes_sample(values: Counter[str]) -> bool:
    """Whether an attribute's values over the cases describe the sample: any attribute of a
    few cases (at most :data:`FEW_CASES`), one whose values are numbers (listed or given as a
    range), or one some cases share a value of; not one that gives each of many cases a word
    of its own (a name, a free-text note), which would only list them."""
    n = sum(values.values())
    given = [v for v in values if v]
    if not given:
        return False
    if n <= FEW_CASES or all(_number(v) is not None for v in given):
        return True
    return len(values) < n


def counted(n: int, one: str, many: str | None = None) -> str:
    """A count with its noun in agreement: "1 code", "3 codes", "15,372 words"."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def saturation(new: list[tuple[str, int]], noun: dict[str, str],
               uncoded: list[str] | None = None) -> str:
    """COREQ item 22 in words: the new codes each case brought, and what those numbers show.

    ``new`` holds the coded cases in order with the codes first seen in each (see
    :func:`_saturation`); ``uncoded`` the cases nobody has coded yet, which say nothing.
    One coded case cannot show saturation; with more, the sentence says whether the last
    cases still brought new codes ("new codes still appeared in the last 2 sites") or how many
    brought none ("no new code appeared after the first site (A)").
    """
    one, many = noun["one"], noun["many"]
    left = ""
    if uncoded:
        left = (f" {_names(uncoded)} {'is' if len(uncoded) == 1 else 'are'} not coded yet "
                "and not counted.")
    if not new:
        return f"Not assessable: no {one} is coded yet." + left
    counts = [n for _, n in new]
    head = (f"New codes per {one}, {many} in the order of their ids: "
            + ", ".join(f"{c} {n}" for c, n in new))
    if len(new) == 1:
        return f"{head}; with one {one} coded, nothing can be said about saturation." + left
    if not any(counts):
        return f"{head}; no {one} brought a code of the codebook." + left
    last = max(i for i, n in enumerate(counts) if n)
    quiet = new[last + 1:]
    if not quiet:
        run = 0
        for n in reversed(counts[1:]):
            if not n:
                break
            run += 1
        if run == 1:
            verdict = f"new codes still appeared in the last {one} ({new[-1][0]})"
        else:
            verdict = f"new codes still appeared in the last {run} {many}" + (
                f" (every {one} after the first)" if run == len(new) - 1 else "")
    elif last == 0:
        others = len(new) - 1
        verdict = (f"no new code appeared after the first {one} ({new[0][0]}): the "
                   + (f"other {one} added none" if others == 1
                      else f"other {others} {many} added none"))
    else:
        names = _names([c for c, _ in quiet])
        verdict = (f"no new code appeared in the last {one} ({names})" if len(quiet) == 1
                   else f"no new code appeared in the last {len(quiet)} {many} ({names})")
        verdict += f"; the last new codes came from {new[last][0]}"
    return f"{head}; {verdict}." + left


def coreq_items(ctx: dict[str, Any], *, interviewers: list[str], questions: Mapping[str, int],
                codes_by_case: dict[str, set[str]]) -> list[dict[str, str]]:
    """The COREQ (Tong et al. 2007) checklist items that the study's own data answer.

    Besides the report context: the interviewing speakers' names (sorted), the interviewer
    turns of each interview, and the codes applied in each coded case."""
    study, noun = ctx["study"], ctx["study"]["noun"]
    items = []
    if interviewers:
        items.append(("1", "Interviewer/facilitator",
                      "Transcripts label the interviewing speaker as "
                      + ", ".join(interviewers) + "."))
    items.append(("12", "Sample size",
                  f"{counted(study['cases'], noun['one'], noun['many'])}, "
                  f"{counted(study['interviews'], 'interview transcript')} "
                  f"({counted(study['words'], 'word')})."))
    for name in ctx["attribute_names"]:
        values = Counter(c["attributes"].get(name, "") for c in ctx["cases"])
        if describes_sample(values):
            items.append(("16", f"Description of sample: {name}", _described(values) + "."))
    per_case = sorted(len(c["sources"]) for c in ctx["cases"])
    if per_case:
        items.append(("18", "Repeat interviews", f"No: one interview per {noun['one']}."
                      if per_case[-1] == 1 else f"Interviews per {noun['one']}: "
                      f"{per_case[0]} to {per_case[-1]}."))
    if any(questions.values()):
        per = sorted(n for n in questions.values() if n)
        spread = str(per[0]) if per[0] == per[-1] else f"{per[0]} to {per[-1]}"
        items.append(("17", "Interview guide", f"Interviewer turns per interview: "
                      f"{spread} (semi-structured prompts in the transcripts)."))
    if study["formats"]:
        formats = ", ".join(f"{_FORMAT_NAMES.get(k, k)} ({v})"
                            for k, v in study["formats"].items())
        items.append(("19", "Audio/visual recording", f"Transcript formats: {formats}."))
    coders = ctx["coders"]
    if coders:
        items.append(("24", "Number of data coders",
                      f"{len(coders)}: " + ", ".join(c["name"] for c in coders) + "."))
    book = ctx["codebook"]
    top = sum(1 for c in book["codes"] if c["depth"] == 0)
    items.append(("25", "Description of the coding tree",
                  f"Codebook {book['name']} v{book['version']}: "
                  f"{counted(len(book['codes']), 'code')}, "
                  f"{counted(top, 'top-level theme')} (listed in the appendix)."))
    versions = book["versions"]
    items.append(("26", "Derivation of themes", "Themes are the codebook's codes; the "
                  + ("codebook did not change during coding (one version)."
                     if versions <= 1 else f"codebook went through {versions} versions.")))
    subs = len(book["codes"]) - top
    items.append(("31", "Clarity of major themes", f"{counted(top, 'theme')}, "
                  + ("each with its" if top != 1 else "with its")
                  + f" prevalence across {noun['many']}, the {noun['many']} concerned and "
                  "quotations."))
    if subs:
        items.append(("32", "Clarity of minor themes", f"{counted(subs, 'sub-theme')}, "
                      "reported under " + ("its theme" if subs == 1 else "their themes")
                      + " in the same way."))
    new = _saturation([c["id"] for c in book["codes"]], codes_by_case)
    coded = {c for c, _ in new}
    uncoded = [c["id"] for c in ctx["cases"] if c["id"] not in coded]
    items.append(("22", "Data saturation", saturation(new, noun, uncoded)))
    items.append(("27", "Software", f"tipqual {__version__} (coding, agreement, matrices, "
                  "network, this report)."))
    items.append(("29", "Quotations presented", "Yes: each quotation names its "
                  f"{noun['one']} and the speaker's role."))
    items.sort(key=lambda item: int(item[0]))  # stable: item 16's rows keep their order
    return [{"number": n, "item": i, "answer": a} for n, i, a in items]
