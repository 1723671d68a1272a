"""The COREQ reporting checklist: the items a study's own data answer.

COREQ (Tong, Sainsbury and Craig, 2007) lists 32 items a qualitative interview study should
report. tipqual answers those the study file can answer (who interviewed, sample size and
description, repeat interviews, coders, coding tree, saturation, software …) from the report
context; the others are for the research team to write.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tipqual.records import Coding, Segment
from tipqual.version import __version__


def _saturation(codes: list[str], codings: list[Coding], segments: list[Segment],
                statuses: tuple[str, ...]) -> list[tuple[str, int]]:
    """New codes first seen in each case, in case order (a data-saturation indicator)."""
    case_of = {s.id: s.case or s.source for s in segments}
    merged: dict[str, set[str]] = {}
    for c in codings:
        if c.status not in statuses:
            continue
        merged.setdefault(case_of[c.segment], set()).add(c.code)
    seen: set[str] = set()
    out = []
    for case in sorted(merged):
        new = (merged[case] & set(codes)) - seen
        seen |= new
        out.append((case, len(new)))
    return out


def coreq_items(ctx: dict[str, Any], codings: list[Coding], segments: list[Segment],
                statuses: tuple[str, ...]) -> list[dict[str, str]]:
    """The COREQ (Tong et al. 2007) checklist items that the study's own data answer."""
    study, noun = ctx["study"], ctx["study"]["noun"]
    items = []
    interviewers = sorted({s.speaker for s in segments if s.role == "interviewer" and s.speaker})
    if interviewers:
        items.append(("1", "Interviewer/facilitator",
                      "Transcripts label the interviewing speaker as "
                      + ", ".join(interviewers) + "."))
    items.append(("12", "Sample size",
                  f"{study['cases']} {noun['many']}, {study['interviews']} interview "
                  f"transcripts ({study['words']:,} words)."))
    for name in ctx["attribute_names"]:
        values = Counter(c["attributes"].get(name, "") for c in ctx["cases"])
        if 1 < len(values) < len(ctx["cases"]) or name in ("province", "setting", "type"):
            listing = "; ".join(f"{v or '(missing)'} ({n})" for v, n in sorted(values.items()))
            items.append(("16", f"Description of sample: {name}", listing + "."))
    per_case = sorted(len(c["sources"]) for c in ctx["cases"])
    if per_case:
        items.append(("18", "Repeat interviews", f"No: one interview per {noun['one']}."
                      if per_case[-1] == 1 else f"Interviews per {noun['one']}: "
                      f"{per_case[0]} to {per_case[-1]}."))
    questions = Counter(s.source for s in segments if s.role == "interviewer")
    if questions:
        per = sorted(questions.values())
        items.append(("17", "Interview guide", f"Interviewer turns per interview: "
                      f"{per[0]} to {per[-1]} (semi-structured prompts in the transcripts)."))
    formats = ", ".join(f"{k} ({v})" for k, v in study["formats"].items())
    items.append(("19", "Audio/visual recording", f"Transcript formats: {formats}."))
    coders = ctx["coders"]
    if coders:
        items.append(("24", "Number of data coders",
                      f"{len(coders)}: " + ", ".join(c["name"] for c in coders) + "."))
    book = ctx["codebook"]
    top = sum(1 for c in book["codes"] if c["depth"] == 0)
    items.append(("25", "Description of the coding tree",
                  f"Codebook {book['name']} v{book['version']}: {len(book['codes'])} codes, "
                  f"{top} top-level themes (listed in the appendix)."))
    versions = book["versions"]
    items.append(("26", "Derivation of themes", "Themes are the codebook's codes; the "
                  + ("codebook did not change during coding (one version)."
                     if versions <= 1 else f"codebook went through {versions} versions.")))
    subs = len(book["codes"]) - top
    items.append(("31", "Clarity of major themes", f"{top} themes, each with its prevalence "
                  f"across {noun['many']}, the {noun['many']} concerned and quotations."))
    if subs:
        items.append(("32", "Clarity of minor themes", f"{subs} sub-themes, reported under "
                      "their themes in the same way."))
    new = _saturation([c["id"] for c in book["codes"]], codings, segments, statuses)
    if new:
        tail = [n for _, n in new[-3:]]
        verdict = ("the last three added no new code" if len(new) >= 4 and not any(tail)
                   else "new codes still appeared in the last cases")
        items.append(("22", "Data saturation", "New codes per case, in case order: "
                      + ", ".join(f"{c} {n}" for c, n in new) + f"; {verdict}."))
    items.append(("27", "Software", f"tipqual {__version__} (coding, agreement, matrices, "
                  "network, this report)."))
    items.append(("29", "Quotations presented", "Yes: each quotation names its "
                  f"{noun['one']} and the speaker's role."))
    items.sort(key=lambda item: int(item[0]))  # stable: item 16's rows keep their order
    return [{"number": n, "item": i, "answer": a} for n, i, a in items]
