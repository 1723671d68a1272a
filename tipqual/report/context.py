"""The findings report's context: everything the templates show, gathered once from a study.

:func:`build_context` reads the store and asks the analysis modules (matrices, agreement,
network) for their results, and returns one plain dict of strings, numbers, lists and dicts.
The templates (HTML, Markdown) and the Word writer only render it; nothing in it depends on the
clock or on iteration order, so the same study always gives the same context.

Figures are drawn apart from the context, by :mod:`tipqual.report.render`, from the context's
matrix and from the stakeholder network.

The context is gathered without holding the study: counts come from the view's aggregate
queries (segments and words per source and role, coded segments per case and code, codings
per coder and status, suggestions awaiting review), quotes are chosen from the applied codings'
segments read once in a stream, and only the chosen quotes' texts are read again. No query
asks for every segment, every coding or every source's text at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from tipqual.analysis.stakemap import CASE_NOUN_SETTING, DEFAULT_NOUN, setting_nouns
from tipqual.analysis.view import SegmentEntry, Snapshot, StudyView, iter_mentions
from tipqual.errors import NO_CODEBOOK_ADVICE, ReportError
from tipqual.records import APPLIED_STATUSES, Mention, Segment
from tipqual.report.coreq import coreq_items, counted
from tipqual.version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from tipqual.analysis.agreement import AgreementTable, CodeAgreement
    from tipqual.analysis.network import NetworkData
    from tipqual.codebook.model import Code, Codebook

STATUSES = APPLIED_STATUSES
QUOTE_BAND = (120, 480)  # characters: quotes shorter read as fragments, longer as pages
THEME_QUOTES, SUBTHEME_QUOTES = 3, 2
KAPPA_BANDS = ("almost perfect", "substantial", "moderate", "fair", "slight", "poor",
               "undefined")
ALPHA_BANDS = ("reliable", "tentative only", "unreliable", "undefined")
DEFAULT_CASE_NOUN = DEFAULT_NOUN  # a study's own word: `tipqual set --case-noun`
QUOTE_ATTRIBUTE_SETTING = "quote_attribute"  # the case attribute named beside a quotation
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def case_noun(spec: str | None, study: StudyView | None = None) -> tuple[str, str]:
    """Singular and plural of the word for a case: ``"site"`` or ``"person/people"``; without
    ``spec``, the study's own word (``tipqual set --case-noun``), else "case"."""
    if not spec:
        return setting_nouns(study.meta(CASE_NOUN_SETTING) if study is not None else None)
    if not spec.partition("/")[0].strip():
        raise ReportError(f"--case-noun {spec!r} has no word; give e.g. 'site' or "
                          "'person/people'")
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in spec):
        raise ReportError(f"--case-noun {spec!r} holds a line break or a control character; "
                          "give a word, e.g. 'site' or 'person/people'")
    return setting_nouns(spec)


def build_context(study: StudyView, *, coders: list[str] | None = None,
                  notes: str | None = None, noun: tuple[str, str] | None = None,
                  graph: tuple[NetworkData, Any] | None = None,
                  mentions: Iterable[Mention] | None = None) -> dict[str, Any]:
    """Gather the whole report context of a study (any :class:`~tipqual.analysis.view.StudyView`).

    ``coders`` chooses the coders compared for agreement (default: the two human coders with
    the most codings); ``notes`` is the lead's Markdown for challenges and recommendations;
    ``noun`` is the word for a case (default: the study's own, see :func:`case_noun`);
    ``graph`` is a ``(NetworkData, graph)`` pair already built with
    :func:`tipqual.analysis.network.build`, else it is built from ``mentions`` (default: the
    study's stored mentions).
    """
    from tipqual.analysis import network
    study = study if isinstance(study, Snapshot) else Snapshot(study)
    book = study.codebook()
    if book is None:
        raise ReportError("the study has no codebook, so there are no themes to report; "
                          f"{NO_CODEBOOK_ADVICE}", path=study.path)
    noun = noun or case_noun(None, study)
    counts = study.segment_counts()
    net_data, net_graph = graph if graph is not None else build_network(study, mentions)
    cases = _cases(study, counts)
    matrix_cases = _matrix_cases(study, counts)
    applied = _Applied(study, book)
    per_coder = study.coder_counts()
    ctx: dict[str, Any] = {
        "study": _study(study, counts, cases, noun),
        "cases": cases,
        "attribute_names": sorted({n for c in cases for n in c["attributes"]}),
        "codebook": _codebook(book, study),
        "coders": _coders(per_coder),
        "suggestions": _suggestions(study),
        "agreement": _agreement(study, book, per_coder, coders),
        "findings": _findings(study, book, applied, matrix_cases, cases),
        "matrix": _matrix(book, study, matrix_cases),
        "partnerships": _partnerships(network.ranking(net_graph, net_data), net_graph,
                                      len(cases)),
        "notes": notes,
        "provenance": {"tipqual_version": __version__, "codebook_sha256": book.sha256,
                       "study_sha256": study_hash(study)},
    }
    ctx["title"] = f"Findings: {ctx['study']['name']}"
    ctx["key_findings"] = _key_findings(ctx["findings"], len(cases))
    interviewers = sorted({r["speaker"] for r in counts
                           if r["role"] == "interviewer" and r["speaker"]})
    questions: Counter = Counter()
    for r in counts:
        if r["role"] == "interviewer":
            questions[r["source"]] += r["segments"]
    ctx["coreq"] = coreq_items(ctx, interviewers=interviewers, questions=questions,
                               codes_by_case=applied.codes_by_case())
    return ctx


class _CitedSegments(Snapshot):
    """The view the stakeholder network reads: every segment a mention names (without its
    text), and one stand-in per source that has segments, so the network's cases are those of
    the whole study while it holds only the cited segments."""

    def __init__(self, view: StudyView, mentions: Iterable[Mention] | None):
        super().__init__(view)
        # mentions given are kept; the study's own are read from it as a stream, each time
        self._mentions = None if mentions is None else list(mentions)

    def mentions(self) -> list[Mention]:
        return list(self.iter_mentions())

    def iter_mentions(self) -> Iterable[Mention]:
        return super().iter_mentions() if self._mentions is None else iter(self._mentions)

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterable[Segment]:
        if source is not None or case is not None or role is not None or ids is not None:
            return super().segments(source=source, case=case, role=role, ids=ids, batch=batch)
        return (Segment(sid, src, n, speaker, role, start, end, "", case=case)
                for sid, src, case, n, speaker, role, start, end in self._cited())

    def segment_index(self, ids: Iterable[str] | None = None) -> Iterator[SegmentEntry]:
        return super().segment_index(ids) if ids is not None else self._cited()

    def _cited(self) -> Iterator[SegmentEntry]:
        wanted = {m.segment for m in self.iter_mentions()}
        if wanted:
            yield from super().segment_index(wanted)
        for src, case in sorted({(r["source"], r["case"]) for r in self.segment_counts()}):
            # an id no segment has ("\0" never occurs in one): it stands for its source only
            yield (f"\0{src}", src, case, -1, None, "", 0, 0)


def build_network(study: StudyView, mentions: Iterable[Mention] | None = None
                  ) -> tuple[NetworkData, Any]:
    """:func:`tipqual.analysis.network.build` for the report, reading only the segments the
    mentions cite (see :class:`_CitedSegments`); ``mentions`` default to the stored ones."""
    from tipqual.analysis import network

    return network.build(_CitedSegments(study, mentions))


# --- study and cases --------------------------------------------------------------------------

def _words(text: str) -> int:
    return len(text.split())


def _cases(study: StudyView, counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sources: dict[str, list[str]] = {}
    words: Counter = Counter()
    for src in study.source_headers():
        sources.setdefault(src.case or src.id, []).append(src.id)
    for row in counts:
        words[row["case"] or row["source"]] += row["words"]
    attrs = {c.id: c.attributes for c in study.cases()}
    ids = sorted(set(attrs) | set(sources))
    return [{"id": i, "attributes": dict(sorted(attrs.get(i, {}).items())),
             "sources": sources.get(i, []), "words": words[i]} for i in ids]


def _period(study: StudyView, cases: list[dict[str, Any]]) -> str | None:
    """First and last interview date, from ``*date*`` case attributes or source metadata."""
    dates = {v for c in cases for k, v in c["attributes"].items()
             if "date" in k.lower() and _DATE.match(v)}
    dates |= {str(s.meta.get("date")) for s in study.source_headers()
              if _DATE.match(str(s.meta.get("date", "")))}
    if not dates:
        return None
    first, last = min(dates), max(dates)
    return first if first == last else f"{first} to {last}"


def _matrix_cases(study: StudyView, counts: list[dict[str, Any]]) -> list[str]:
    """The matrix's rows: the study's cases and every source with segments but no case."""
    return sorted({c.id for c in study.cases()} | {r["case"] or r["source"] for r in counts})


def _study(study: StudyView, counts: list[dict[str, Any]], cases: list[dict[str, Any]],
           noun: tuple[str, str]) -> dict[str, Any]:
    sources = study.source_headers()
    respondent = [r for r in counts if r["role"] == "respondent"]
    return {
        "name": study.meta("name") or study.path.stem,
        "cases": len(cases),
        "interviews": len(sources),
        "segments": sum(r["segments"] for r in counts),
        "respondent_segments": sum(r["segments"] for r in respondent),
        "words": sum(r["words"] for r in counts),
        "respondent_words": sum(r["words"] for r in respondent),
        "period": _period(study, cases),
        "formats": dict(sorted(Counter(s.format for s in sources).items())),
        "noun": {"one": noun[0], "many": noun[1]},
    }


def _codebook_lineage(history: list[dict[str, Any]]) -> str:
    """The sentence naming the codebook versions a study went through ("" for one version)."""
    if len(history) < 2:
        return ""
    names = {h["name"] for h in history}
    if len(names) == 1:
        listed = [f"v{h['version']}" for h in history]
        listed[0] = f"{history[0]['name']} {listed[0]}"
    else:
        listed = [f"{h['name']} v{h['version']}" for h in history]
    series = ", ".join(listed[:-1]) + f" and {listed[-1]}"
    return (f"The study went through {len(history)} versions of its codebook: {series} (the "
            "current one).")


def _codebook(book: Codebook, study: StudyView) -> dict[str, Any]:
    history = study.codebook_history()
    return {
        "name": book.name, "version": book.version, "sha256": book.sha256,
        "description": book.description,
        "versions": len(history),
        "history": [{"name": h["name"], "version": h["version"], "sha256": h["sha256"]}
                    for h in history],
        "lineage": _codebook_lineage(history),
        "codes": [{"id": c.id, "name": c.name, "definition": c.definition,
                   "parent": c.parent, "depth": book.depth(c.id)} for c in book.codes],
    }


# --- coders and suggestions -------------------------------------------------------------------

NOT_RECORDED = "not recorded"  # a decision whose suggester neither it nor a suggestion names
def _coders(per_coder: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Human coders (people), with their codings by status and the segments they coded."""
    rows = []
    for name in sorted(per_coder):
        counts = per_coder[name]
        row: dict[str, Any] = {"name": name, "human": 0, "accepted": 0, "rejected": 0}
        row.update((k, v) for k, v in counts.items() if k != "segments")
        row["segments"] = counts["segments"]
        rows.append(row)
    return rows


def _suggestions(study: StudyView) -> dict[str, Any]:
    """How suggestions were reviewed: per suggester, what awaits review and what was decided.

    A suggestion awaits review until a person accepts or rejects its code on its segment (and
    span); the decision is a coding of its own, under the reviewer's name, and counts under
    the suggester its provenance names (else the suggesters of the suggestions it decided,
    else :data:`NOT_RECORDED`) and under its reviewer (``reviewers``). A code both suggesters
    proposed is one decision, under ``tipqual-model+tipqual-rules``.

    ``accepted`` and ``rejected`` count decisions; ``total`` counts suggestions: those awaiting
    review and those decided, each once however many reviewers decided it (blind double
    coding). ``double`` is how many were decided by more than one reviewer, ``decisions`` all
    the decisions, and ``note`` says so in a sentence ("" when no suggestion was decided
    twice).
    """
    table: dict[str, Counter] = {}
    reviewers: dict[str, dict[str, Counter]] = {}
    for row in study.decisions():  # counted in SQL by the store
        who = row["suggester"] or NOT_RECORDED
        table.setdefault(who, Counter())[row["status"]] += row["count"]
        if row["reviewer"] is not None:
            reviewers.setdefault(who, {}).setdefault(row["reviewer"], Counter())[
                row["status"]] += row["count"]
    decided = {NOT_RECORDED if s is None else s: n for s, n in
               study.decided_suggestions().items()}  # each suggestion once, in SQL
    double = sum(again for _, again in decided.values())
    rows: list[dict[str, Any]] = [
        {"suggester": s, "suggested": n["suggested"], "accepted": n["accepted"],
         "rejected": n["rejected"],
         "total": n["suggested"] + decided.get(s, (0, 0))[0],
         "reviewers": [{"name": r, "accepted": v["accepted"], "rejected": v["rejected"]}
                       for r, v in sorted(reviewers.get(s, {}).items())]}
        for s, n in sorted(table.items(), key=lambda item: (item[0] == NOT_RECORDED, item[0]))]
    totals = {k: sum(r[k] for r in rows) for k in ("suggested", "accepted", "rejected", "total")}
    decisions = totals["accepted"] + totals["rejected"]
    note = ""
    if double:
        note = (f"{double} suggestion{' was' if double == 1 else 's were'} decided by more than "
                "one reviewer (blind double coding): accepted and rejected count every "
                f"reviewer's decision ({decisions} in all), the total counts each suggestion "
                "once.")
    return {"rows": rows, "totals": totals, "double": double, "decisions": decisions,
            "note": note}


def _default_coders(per_coder: dict[str, dict[str, int]]) -> list[str]:
    applied = {name: n for name, counts in per_coder.items()
               if (n := sum(counts.get(s, 0) for s in STATUSES))}
    ranked = sorted(applied, key=lambda name: (-applied[name], name))
    return sorted(ranked[:2])


def agreement_table(study: StudyView, coders: list[str]) -> AgreementTable:
    """The agreement table of :func:`tipqual.analysis.agreement.compare_coders` (same checks,
    same numbers), from the coders' own codings and the segment ids alone: the report shows
    no disagreement rows, so it reads no segment text."""
    from tipqual.analysis import agreement

    if len(coders) < 2 or len(set(coders)) != len(coders):
        agreement.compare_coders(study, coders)  # raises its own error for these
    known = study.coders()
    for name in coders:
        if name not in known:  # compare_coders refuses it in its own words
            agreement.compare_coders(study, coders)
    book = study.code_ids()
    codings = study.codings(coders=coders)
    codes = [*book, *sorted({c.code for c in codings} - set(book))]
    ids = [entry[0] for entry in study.segment_index()]
    return agreement.agreement_table(codings, coders, codes,
                                     statuses=agreement.DEFAULT_STATUSES, segments=ids)


def _agreement(study: StudyView, book: Codebook, per_coder: dict[str, dict[str, int]],
               coders: list[str] | None) -> dict | None:
    """Agreement per code between the chosen coders, with readings; None with fewer than two."""
    from tipqual.analysis import agreement
    chosen = list(coders) if coders else _default_coders(per_coder)
    if len(chosen) < 2:
        return None
    table = agreement_table(study, chosen)
    names = {c.id: c.name for c in book.codes}

    def row(item: CodeAgreement) -> dict[str, Any]:
        k, a = item.kappa.value, item.alpha.value
        return {"id": item.code, "name": names.get(item.code, item.code),
                "n_units": item.n_units, "percent": item.percent_agreement.value,
                "kappa": k, "alpha": a, "kappa_reading": agreement.kappa_reading(k),
                "alpha_reading": agreement.alpha_reading(a)}

    mean = {s: table.mean(s) for s in ("percent_agreement", "kappa", "alpha")}
    codes = [row(c) for c in table.codes]
    unreliable = [r for r in codes if r["alpha_reading"] == "unreliable"]
    # the key findings name the first of them and count the rest (the method lists them all)
    named = [r["name"] for r in unreliable[:KEY_FINDINGS_PER_BAND]]
    if len(unreliable) > KEY_FINDINGS_PER_BAND:
        more = len(unreliable) - KEY_FINDINGS_PER_BAND
        named.append(counted(more, "more code"))
    return {"coders": table.coders, "n_units": table.overall.n_units,
            "readings": {"kappa": _tally(codes, "kappa_reading", KAPPA_BANDS),
                         "alpha": _tally(codes, "alpha_reading", ALPHA_BANDS)},
            "unreliable": unreliable, "unreliable_named": named,
            "kappa_method": "Cohen's" if len(table.coders) == 2 else "Fleiss'",
            "codes": codes, "overall": row(table.overall),
            "mean": {"percent": mean["percent_agreement"], "kappa": mean["kappa"],
                     "alpha": mean["alpha"],
                     "kappa_reading": agreement.kappa_reading(mean["kappa"]),
                     "alpha_reading": agreement.alpha_reading(mean["alpha"])}}


def _tally(rows: list[dict[str, Any]], key: str, bands: tuple[str, ...]) -> list[dict]:
    """How many codes fall in each reading band, best band first, empty bands left out."""
    counts = Counter(r[key] for r in rows)
    return [{"reading": b, "codes": counts[b]} for b in bands if counts[b]]


# --- findings and quotes ----------------------------------------------------------------------

def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + " …"


# A quote that leans on what came before it or says nothing on its own is weak evidence.
MIN_QUOTE_WORDS = 8
_GREETING = re.compile(
    r"^(?:hello|hi|hey|hiya|good (?:morning|afternoon|evening|day)|thanks?\b|thank you|"
    r"you'?re welcome|welcome|nice to (?:meet|see)|pleased to meet|(?:it'?s )?(?:a|my) "
    r"pleasure|(?:good)?bye|see you|cheers)\b", re.I)
_ANSWER_WORD = re.compile(r"^(?:yes|yeah|yep|ja|no|nope|okay|ok|well|right|sure|exactly|"
                          r"absolutely|indeed|true|ag|ah|oh|mm+|uh+m*|um+)\b\s*[,.!;:-]",
                          re.I)


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Openers that point back to what was said before ("And that …", "They never came").
POINTING = _wordset("""
    it it's its they they're they've them their theirs he he's him his she she's her hers
    which who whom whose and but or nor so then also because though although however plus yet
""")
# Openers that point back only when no noun follows them: "Many don't.", "That is why …",
# but not "Many children …" or "This school …".
_QUANTIFIERS = _wordset("""
    many most some several few both others each either neither this that these those such same
    all none one
""")
_NOT_A_NOUN = _wordset("""
    do don't does doesn't did didn't are aren't were weren't is isn't was wasn't have haven't has
    hasn't had hadn't can can't cannot could couldn't will won't would wouldn't should shouldn't
    may might must say said says think thought feel felt just also still never always really too
    again only even already 's 're 've 'd 'll
""")
_BACK_REFERENCES = _wordset("them those these us it which you")
_WORD = re.compile(r"[^\W\d_](?:[\w']*\w)?|'[a-z]+")
# Words of a code's patterns too common to say what a quote is about.
_COMMON = _wordset("""
    a an the and or but of to in on at by for with from as is are was were be been being
    it its this that these those they them their we our us you your he she his her i my me
    not no do does did have has had other others some any all each more most very than then
    there here what when where which who how why can could will would should may might must
""")


def _points_back(words: list[str]) -> bool:
    """Whether a quote's first words lean on what came before it."""
    first = words[0] if words else ""
    if first in POINTING:
        return True
    if first not in _QUANTIFIERS:
        return False
    nxt = words[1] if len(words) > 1 else ""
    return (not nxt or nxt in _NOT_A_NOUN
            or (nxt == "of" and len(words) > 2 and words[2] in _BACK_REFERENCES))


def quote_weaknesses(text: str) -> list[str]:
    """Why a quote would be weak evidence on its own, in a fixed order (empty: none).

    ``question`` (it ends asking), ``greeting`` (hello, thanks …), ``short`` (fewer than
    :data:`MIN_QUOTE_WORDS` words) and ``needs context`` (it opens with a word that points
    back, "Many don't.", "And that …", or with a bare answer, "Yes, …").
    """
    text = _one_line(text).replace("’", "'").strip(" \"'“”‘«»")
    words = [w.lower() for w in _WORD.findall(text)]
    found = []
    if text.rstrip(" .…").endswith("?"):
        found.append("question")
    if _GREETING.match(text):
        found.append("greeting")
    if len([w for w in words if not w.startswith("'")]) < MIN_QUOTE_WORDS:
        found.append("short")
    if _points_back(words) or _ANSWER_WORD.match(text):
        found.append("needs context")
    return found


def code_words(codes: Iterable[Code]) -> list[str]:
    """The words and phrases by which codes are found in text: their ``phrases`` and the
    literal words of their ``patterns`` (LOWER, TEXT, ORTH, LEMMA, NORM values), common words
    left out; lower case, sorted, each once."""
    found: set[str] = set()
    for code in codes:
        found.update(" ".join(p.lower().split()) for p in code.phrases if p.strip())
        for pattern in code.patterns:
            for token in pattern:
                for key in ("LOWER", "TEXT", "ORTH", "LEMMA", "NORM"):
                    value = token.get(key)
                    values = value.get("IN", []) if isinstance(value, dict) else [value]
                    found.update(" ".join(v.lower().split()) for v in values
                                 if isinstance(v, str) and v.strip())
    return sorted(w for w in found if w not in _COMMON and len(w) > 1)


def carries(text: str, words: Iterable[str]) -> bool:
    """Whether ``text`` holds one of ``words`` (:func:`code_words`) as whole words, case left
    aside; a single word of four letters or more also as the stem of a longer one ("deliver"
    in "delivered", "portion" in "portions")."""
    low = " ".join(text.lower().replace("’", "'").split())
    return any(_word_pattern(word).search(low) for word in words)


@functools.lru_cache(maxsize=8192)
def _word_pattern(word: str) -> re.Pattern[str]:
    """The pattern :func:`carries` looks for (kept: the codebook's words are few, the texts
    many, and ``re``'s own cache is too small for all of them)."""
    if len(word) >= 4 and word.isalpha():
        return re.compile(rf"(?<!\w){word[:-1]}\w*")
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


# What each weakness costs a quote; at WEAK or more it is quoted only when nothing else is.
PENALTIES = {"question": 2, "greeting": 2, "short": 2, "needs context": 1}
WEAK = 2


def quote_penalty(weaknesses: Iterable[str]) -> int:
    """The cost of a quote's :func:`quote_weaknesses`: 0 for one that stands alone."""
    return sum(PENALTIES.get(w, 0) for w in weaknesses)


def quote_key(n_coders: int, length: int, order: tuple[str, int], own: bool = True,
              band: tuple[int, int] = QUOTE_BAND, matched: bool = False,
              penalty: int = 0) -> tuple:
    """Sort key of a quote: fragments last, own code first, then the least weak
    (:func:`quote_penalty`), those carrying the code's words, most coders, longest in band,
    then by id."""
    low, high = band
    fragment = length < low
    if low <= length <= high:
        return (fragment, not own, penalty, not matched, -n_coders, 0, -length, order)
    return (fragment, not own, penalty, not matched, -n_coders, 1,
            low - length if fragment else length - high, order)


def choose_quotes(candidates: list[dict[str, Any]], k: int,
                  used: AbstractSet[str] = frozenset()) -> list[dict[str, Any]]:
    """Up to ``k`` best quotes, from different cases and not ``used`` ones when possible.

    A weak quote (:func:`quote_weaknesses` costing :data:`WEAK` or more: a question, a
    greeting, a handful of words) is taken only when the candidates hold no other: a reader
    should not meet "Many don't." as evidence beside a sentence that says what it means, and
    fewer quotations are better than that.
    """
    def penalty(c: dict[str, Any]) -> int:
        weak = c.get("weak")
        return quote_penalty(quote_weaknesses(c["text"]) if weak is None else weak)

    costs = {id(c): penalty(c) for c in candidates}
    ranked = sorted(candidates, key=lambda c: quote_key(
        c["coders"], c["length"] if "length" in c else len(c["text"]), c["order"],
        c.get("own", True),
        matched=c.get("matched", False), penalty=costs[id(c)]))
    strong = [c for c in ranked if costs[id(c)] < WEAK]
    pool = strong or ranked
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    passes = (lambda c: c["segment"] not in used and c["case"] not in seen,
              lambda c: c["segment"] not in used, lambda c: True)
    for accept in passes:
        for c in pool:
            if len(chosen) < k and c not in chosen and accept(c):
                chosen.append(c)
                seen.add(c["case"])
    return chosen


class _Applied:
    """The applied codings (:data:`STATUSES`) as the findings need them, read in one stream.

    ``by_code``: code → segment → the coders who applied it (codings as small tuples), and
    ``case_of`` each of those segments' case. ``quotes``: for each respondent segment coded
    with a codebook code, what ranks it as a quote (length, weaknesses, order) and, per theme
    it can evidence, whether it carries the theme's words; its text is read once here and
    again only if it is quoted.
    """

    def __init__(self, study: StudyView, book: Codebook):
        self.by_code: dict[str, dict[str, set[str]]] = {}
        for segment, code, coder in study.coding_keys(statuses=STATUSES):
            self.by_code.setdefault(code, {}).setdefault(segment, set()).add(coder)
        codes = set(book.ids)
        subtrees = {c: book.subtree(c) for c in book.ids}
        themes_of: dict[str, list[str]] = {c: [] for c in book.ids}
        for theme, subtree in subtrees.items():
            for code in subtree:
                themes_of[code].append(theme)
        words = {t: code_words(book.code(c) for c in sub) for t, sub in subtrees.items()}
        seg_codes: dict[str, set[str]] = {}
        for code, segs in self.by_code.items():
            for segment in segs:
                seg_codes.setdefault(segment, set())
                if code in codes:
                    seg_codes[segment].add(code)
        self.case_of: dict[str, str] = {}
        self.quotes: dict[str, dict[str, Any]] = {}
        for seg in study.segments(ids=seg_codes) if seg_codes else ():
            self.case_of[seg.id] = seg.case or seg.source
            mine = seg_codes.get(seg.id, set())
            if seg.role != "respondent" or not mine:
                continue
            text = _one_line(seg.text)
            themes = {t for c in mine for t in themes_of[c]}
            self.quotes[seg.id] = {
                "case": seg.case or seg.source, "speaker": seg.speaker, "role": seg.role,
                "length": len(text), "order": (seg.source, seg.n),
                "weak": quote_weaknesses(text),
                "matched": {t: carries(text, words[t]) for t in sorted(themes)}}

    def codes_by_case(self) -> dict[str, set[str]]:
        """Each case with applied codings and the codes applied in it (any code)."""
        merged: dict[str, set[str]] = {}
        for code, segs in self.by_code.items():
            for segment in segs:
                merged.setdefault(self.case_of[segment], set()).add(code)
        return merged


def _candidates(codes: list[str], applied: _Applied, theme: str) -> list[dict[str, Any]]:
    """Respondent segments coded with any of ``codes``, with how many coders applied them,
    whether they carry one of the words of ``theme`` and what makes them weak as a quote
    (their text is read when they are chosen: :func:`_quoted`)."""
    coders: dict[str, set[str]] = {}
    for code in codes:
        for segment, names in applied.by_code.get(code, {}).items():
            coders.setdefault(segment, set()).update(names)
    out = []
    for segment, names in coders.items():
        seg = applied.quotes.get(segment)
        if seg is None:  # not a respondent's
            continue
        out.append({"segment": segment, "case": seg["case"], "speaker": seg["speaker"],
                    "role": seg["role"], "coders": len(names), "length": seg["length"],
                    "order": seg["order"], "matched": seg["matched"][theme],
                    "weak": seg["weak"]})
    return out


def _quoted(study: StudyView, quotes: list[dict[str, Any]],
            kinds: dict[str, str]) -> list[dict[str, Any]]:
    """The chosen quotes as the report shows them, their texts read now."""
    if not quotes:
        return []
    texts = {s.id: _clip(_one_line(s.text), QUOTE_BAND[1])
             for s in study.segments(ids=[q["segment"] for q in quotes])}
    return [{"segment": q["segment"], "case": q["case"], "role": q["role"],
             "coders": q["coders"], "text": texts[q["segment"]],
             "case_type": kinds.get(q["case"], "")} for q in quotes]


def scope(definition: str) -> str:
    """A definition's first sentence: what a theme covers, without the coders' guidance."""
    text = _one_line(definition or "")
    return _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""


def _theme(study: StudyView, book: Codebook, code: Code, present: dict[str, set[str]],
           cases_order: list[str], applied: _Applied, k: int, used: set[str],
           kinds: dict[str, str]) -> dict[str, Any]:
    subtree = book.subtree(code.id)
    cases = [c for c in cases_order if any(x in present.get(c, ()) for x in subtree)]
    own = _candidates([code.id], applied, code.id)
    mine = {c["segment"] for c in own}
    rest = [{**c, "own": False} for c in _candidates(subtree, applied, code.id)
            if c["segment"] not in mine]
    quotes = choose_quotes(own + rest, k, used)
    used.update(q["segment"] for q in quotes)
    segments = {s for c in subtree for s in applied.by_code.get(c, {})}
    return {"id": code.id, "name": code.name, "definition": code.definition,
            "scope": scope(code.definition), "depth": book.depth(code.id), "cases": cases,
            "n_cases": len(cases), "segments": len(segments),
            "quotes": _quoted(study, quotes, kinds)}


def _findings(study: StudyView, book: Codebook, applied: _Applied, matrix_cases: list[str],
              cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per top-level theme in codebook order, each with its sub-themes."""
    # the case attribute the study names beside each quotation ("CSO-03, helpline"), if any
    beside = study.meta(QUOTE_ATTRIBUTE_SETTING) or ""
    kinds = {c["id"]: c["attributes"].get(beside, "") if beside else "" for c in cases}
    present: dict[str, set[str]] = {}  # case -> codebook codes applied in it (counted in SQL)
    for case, code_id, _n in study.coded_segment_counts(statuses=STATUSES,
                                                        groups={c: [c] for c in book.ids}):
        present.setdefault(case, set()).add(code_id)
    findings = []
    used: set[str] = set()  # segments already quoted: later themes prefer others
    for code in book.codes:
        if code.parent is not None:
            continue
        theme = _theme(study, book, code, present, matrix_cases, applied, THEME_QUOTES, used,
                       kinds)
        theme["subthemes"] = [_theme(study, book, book.code(sub), present, matrix_cases,
                                     applied, SUBTHEME_QUOTES, used, kinds)
                              for sub in book.subtree(code.id)[1:]]
        findings.append(theme)
    return findings


KEY_FINDINGS_PER_BAND = 12  # a band names at most this many themes, then says how many more


def _key_findings(findings: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    """Themes and sub-themes grouped by how many cases raise them, the most shared first.

    A theme is left out when one of its sub-themes is raised by as many cases: the sub-theme
    says the same more precisely. A band names its first :data:`KEY_FINDINGS_PER_BAND`
    themes; ``more`` counts the others (the findings list them all), so a codebook of a
    hundred codes still gives a summary that reads as one.
    """
    items = []
    for theme in findings:
        subs = theme["subthemes"]
        if theme["n_cases"] and not any(s["n_cases"] >= theme["n_cases"] for s in subs):
            items.append(theme)
        items += [s for s in subs if s["n_cases"]]
    order = {t["id"]: i for i, t in enumerate(
        x for theme in findings for x in (theme, *theme["subthemes"]))}
    bands: dict[str, list[dict[str, Any]]] = {}
    for t in sorted(items, key=lambda t: (-t["n_cases"], order[t["id"]])):
        bands.setdefault(_band(t["n_cases"], total), []).append(
            {"id": t["id"], "name": t["name"], "n_cases": t["n_cases"]})
    return [{"band": b, "themes": bands[b][:KEY_FINDINGS_PER_BAND],
             "more": max(0, len(bands[b]) - KEY_FINDINGS_PER_BAND)}
            for b in ("all", "most", "half", "few") if b in bands]


def _band(n: int, total: int) -> str:
    """The prevalence band of ``n`` of ``total`` cases (the same cut-offs as the words)."""
    from tipqual.report.render import prevalence_band

    return prevalence_band(n, total)


# --- matrix and partnerships ------------------------------------------------------------------

def _matrix(book: Codebook, study: StudyView, cases: list[str]) -> dict[str, Any]:
    """Cases × codes: coded segments; a code with sub-codes counts its whole subtree.

    A segment coded with a theme and one of its sub-themes counts once, so each column's
    number of cases is the theme's prevalence in the findings. The numbers are those of the
    spreadsheet's ``ID (all)`` roll-ups (:func:`tipqual.analysis.matrices.rollup_counts`),
    counted in SQL: distinct segments per case over each code's subtree.
    """
    codes = book.ids
    found = {(case, code): n for case, code, n in study.coded_segment_counts(
        statuses=STATUSES, groups={c: book.subtree(c) for c in codes})}
    rows: list[dict[str, Any]] = [
        {"case": case, "counts": [found.get((case, c), 0) for c in codes]} for case in cases]
    totals = [sum(1 for r in rows if r["counts"][i] > 0) for i in range(len(codes))]
    names = {c.id: c.name for c in book.codes}
    has_child = {c.parent for c in book.codes} & set(codes)
    grouped = [c for c in codes if c in has_child]
    by_code = [{"id": c, "name": names[c], "depth": book.depth(c), "grouped": c in grouped,
                "counts": [r["counts"][i] for r in rows], "n_cases": totals[i]}
               for i, c in enumerate(codes)]
    return {"codes": codes, "names": names, "rows": rows, "cases_with_code": totals,
            "grouped": grouped, "by_code": by_code, "cases": [r["case"] for r in rows]}


def sector_label(sector: str) -> str:
    """A sector as an adjective before "partners": ``civil_society`` "civil-society"."""
    return " ".join(sector.replace("_", "-").split()) or "other"


def _partnerships(ranking: pd.DataFrame, graph: Any, n_cases: int) -> dict[str, Any]:
    """The stakeholders cited, most cited first, and the partners named in the prose.

    ``leading_government``: government stakeholders cited by at least half of the cases;
    ``sectors``: every other sector with a stakeholder cited, each with its stakeholders
    (civil society first, then the rest by name: community, donor, private …), so a registry
    of any sectors is named in the report; ``civil_society`` is that list's civil-society
    stakeholders.
    """
    rows: list[dict[str, Any]] = [{"id": str(sid), "name": str(r["name"]),
                                   "sector": str(r["sector"]),
             "cases": int(r["cases"]), "mentions": int(r["mentions"]),
             "centrality": float(r["centrality"])}
            for sid, r in ranking.iterrows()]
    cited = [r for r in rows if r["cases"] > 0]
    kinds = Counter(kind for _, kind in graph.nodes(data="kind"))
    central = sorted((r for r in cited if r["centrality"] > 0),
                     key=lambda r: (-r["centrality"], -r["cases"], r["id"]))[:3]
    sectors = Counter(r["sector"] for r in cited)
    leading = [r for r in cited if r["sector"] == "government" and 2 * r["cases"] >= n_cases]
    civil = [r for r in cited if r["sector"] == "civil_society"]
    others = sorted((s for s in sectors if s != "government"),
                    key=lambda s: (s != "civil_society", s))
    groups = [{"sector": s, "label": sector_label(s),
               "partners": [r for r in cited if r["sector"] == s]} for s in others]
    return {"ranking": cited, "uncited": [r["id"] for r in rows if r["cases"] == 0],
            "leading_government": leading, "civil_society": civil, "sectors": groups,
            "facts": {"registry": len(rows),
                      "case_nodes": kinds["case"], "stakeholder_nodes": kinds["stakeholder"],
                      "edges": graph.number_of_edges(),
                      "mentions": sum(r["mentions"] for r in cited),
                      "sectors": dict(sorted(sectors.items())),
                      "most_central": central}}


# --- provenance -------------------------------------------------------------------------------

def study_hash(study: StudyView) -> str:
    """SHA-256 of a study's logical content (not its SQLite bytes, which carry timestamps)."""
    h = hashlib.sha256()
    encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode  # as json.dumps, once

    def feed(*parts: Any) -> None:
        h.update(encode(parts).encode("utf-8") + b"\n")

    info = study.codebook_info()
    feed("codebook", info["sha256"] if info else None)
    for case in study.cases():
        feed("case", case.id, case.attributes)
    texts = study.source_texts()  # one text at a time, in the order of the headers (by id)
    for src, (_id, text) in zip(study.source_headers(), texts, strict=True):
        feed("source", src.id, src.case, src.sha256,
             hashlib.sha256(text.encode("utf-8")).hexdigest())
    for sid, _src, _case, _n, speaker, role, start, end in study.segment_index():
        feed("segment", sid, speaker, role, start, end)
    for c in study.iter_codings():
        # scores are left out: a suggester's confidence is a property of its run (recorded in
        # the coding's provenance), not of what the study holds
        feed("coding", c.segment, c.code, c.coder, c.status, c.memo, c.span_start, c.span_end)
    for m in iter_mentions(study):
        feed("mention", m.segment, m.stakeholder, m.start, m.end)
    return h.hexdigest()
