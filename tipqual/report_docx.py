"""The findings report as a Word document, built with python-docx from the report context.

Real headings (Heading 1–4 styles, so Word's navigation pane and table of contents work), real
tables, figures as PNG images. Transcript text goes in as run text, which python-docx writes as
XML character data: markup in it stays text. The file is byte-identical across runs: fixed core
properties and a fixed timestamp on every zip member.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tipqual.errors import ReportError
from tipqual.outfiles import repack, write_bytes
from tipqual.report_render import (
    capfirst,
    notes_tokens,
    percent,
    prevalence,
    quote,
    stat,
)

FIXED_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FIGURE_WIDTH_CM = 16.0


def _clean(value: Any) -> str:
    """Text Word's XML can hold: control characters other than tab and newline dropped."""
    return _XML_ILLEGAL.sub("", "" if value is None else str(value))


def _para(doc: Any, text: str = "", style: str | None = None, bold: str = "") -> Any:
    p = doc.add_paragraph(style=style)
    if bold:
        p.add_run(_clean(bold)).bold = True
    if text:
        p.add_run(_clean(text))
    return p


def _table(doc: Any, header: list[str], rows: list[list[Any]]) -> Any:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header):
        cell.text = ""
        cell.paragraphs[0].add_run(_clean(text)).bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = _clean(value)
    return table


def _figure(doc: Any, fig: dict[str, Any], number: int) -> None:
    from docx.shared import Cm

    if fig.get("png") is None:
        return
    doc.add_picture(io.BytesIO(fig["png"]), width=Cm(FIGURE_WIDTH_CM))
    _para(doc, f"Figure {number}. {fig['caption']}", style="Caption")


def _summary(doc: Any, ctx: dict[str, Any]) -> None:
    study, noun = ctx["study"], ctx["study"]["noun"]
    doc.add_heading("Study summary", level=1)
    facts = [f"{study['cases']} {noun['many']}", f"{study['interviews']} interviews",
             f"{study['words']:,} words", f"{study['segments']} segments",
             f"{len(ctx['codebook']['codes'])} codes"]
    if study["period"]:
        facts.append(f"period {study['period']}")
    for fact in facts:
        _para(doc, fact, style="List Bullet")
    _para(doc, f"Themes, in codebook order, with the {noun['many']} that raise them:")
    for t in ctx["findings"]:
        if t["n_cases"]:
            _para(doc, prevalence(t["n_cases"], study["cases"], noun), style="List Bullet",
                  bold=f"{t['name']}: ")


def _method(doc: Any, ctx: dict[str, Any]) -> None:
    study, noun, book = ctx["study"], ctx["study"]["noun"], ctx["codebook"]
    doc.add_heading("Method", level=1)
    doc.add_heading("Sampling and the cases", level=2)
    _para(doc, f"{study['cases']} {noun['many']} took part; {study['respondent_segments']} of "
          f"the {study['segments']} transcript segments are respondents' answers "
          f"({study['respondent_words']:,} words).")
    names = ctx["attribute_names"]
    _table(doc, [capfirst(noun["one"]), *names, "words"],
           [[c["id"], *(c["attributes"].get(a, "") for a in names), c["words"]]
            for c in ctx["cases"]])
    doc.add_heading("Codebook", level=2)
    _para(doc, f"Coding used the codebook {book['name']}, version {book['version']} (content "
          f"hash {book['sha256'][:12]}), with {len(book['codes'])} codes; the appendix lists "
          "them.")
    doc.add_heading("Coders and suggestions", level=2)
    if ctx["coders"]:
        _table(doc, ["coder", "own codings", "suggestions accepted", "suggestions rejected",
                     "segments coded"],
               [[c["name"], c["human"], c["accepted"], c["rejected"], c["segments"]]
                for c in ctx["coders"]])
    if ctx["suggestions"]["rows"]:
        _para(doc, "tipqual proposed codes for a person to accept or reject; findings count "
              "only codings by people and accepted suggestions.")
        _table(doc, ["suggester", "awaiting review", "accepted", "rejected", "total"],
               [[r["suggester"], r["suggested"], r["accepted"], r["rejected"], r["total"]]
                for r in ctx["suggestions"]["rows"]])
    _agreement(doc, ctx)
    doc.add_heading("Reporting checklist (COREQ)", level=2)
    _table(doc, ["no.", "item", "answer"],
           [[i["number"], i["item"], i["answer"]] for i in ctx["coreq"]])


def _agreement(doc: Any, ctx: dict[str, Any]) -> None:
    doc.add_heading("Agreement between coders", level=2)
    ag = ctx["agreement"]
    if ag is None:
        _para(doc, "Agreement needs two coders who coded the same segments; this study has "
              f"{len(ctx['coders'])}.")
        return
    mean = ag["mean"]
    _para(doc, f"{' and '.join(ag['coders'])} coded the same {ag['n_units']} segments. Per "
          f"code: percent agreement, {ag['kappa_method']} kappa (Landis and Koch, 1977) and "
          f"Krippendorff's alpha (nominal). Mean over the codes: kappa {stat(mean['kappa'])} "
          f"({mean['kappa_reading']}), alpha {stat(mean['alpha'])} ({mean['alpha_reading']}).")
    rows = [[r["id"], r["n_units"], percent(r["percent"], None, 1), stat(r["kappa"]),
             r["kappa_reading"], stat(r["alpha"]), r["alpha_reading"]]
            for r in [*ag["codes"], {**ag["overall"], "id": "all codes (sets)"}]]
    _table(doc, ["code", "segments", "agreement", "kappa", "reading", "alpha", "reading"], rows)


def _theme(doc: Any, t: dict[str, Any], ctx: dict[str, Any], level: int) -> None:
    study = ctx["study"]
    doc.add_heading(_clean(t["name"]), level=level)
    _para(doc, t["definition"])
    plural = "" if t["segments"] == 1 else "s"
    detail = (f" ({t['segments']} coded segment{plural}: {', '.join(t['cases'])})"
              if t["n_cases"] else "")
    _para(doc, f" raised {'this theme' if level == 2 else 'it'}{detail}.",
          bold=capfirst(prevalence(t["n_cases"], study["cases"], study["noun"])))
    for q in t["quotes"]:
        _para(doc, quote(q), style="Quote")


def _partnerships(doc: Any, ctx: dict[str, Any], figs: dict[str, Any]) -> None:
    p, noun = ctx["partnerships"], ctx["study"]["noun"]
    facts = p["facts"]
    doc.add_heading("Partnerships", level=1)
    central = ", ".join(f"{r['id']} ({stat(r['centrality'], 3)})" for r in facts["most_central"])
    _para(doc, f"The {noun['many']} cite {facts['stakeholder_nodes']} stakeholders "
          f"({facts['mentions']} mentions in respondents' answers); the network links "
          f"{facts['case_nodes']} {noun['many']} to them by {facts['edges']} ties."
          + (f" Most central (betweenness): {central}." if central else ""))
    if p["ranking"]:
        _table(doc, ["rank", "stakeholder", "name", "sector", f"{noun['many']} citing",
                     "mentions", "centrality"],
               [[i, r["id"], r["name"], r["sector"].replace("_", " "),
                 prevalence(r["cases"], ctx["study"]["cases"], noun), r["mentions"],
                 stat(r["centrality"], 3)] for i, r in enumerate(p["ranking"], start=1)])
    if figs["map"].get("png") is not None:
        _figure(doc, figs["map"], 2)
    else:
        _para(doc, "No stakeholder map: no stakeholder is cited, or the codebook has no "
              "victim-support code.")


def _inline_text(token: Any) -> list[tuple[str, bool, bool]]:
    """Runs (text, bold, italic) of a markdown-it inline token."""
    runs, bold, italic = [], False, False
    for child in token.children or []:
        if child.type == "strong_open":
            bold = True
        elif child.type == "strong_close":
            bold = False
        elif child.type == "em_open":
            italic = True
        elif child.type == "em_close":
            italic = False
        elif child.type in ("text", "code_inline", "html_inline"):
            runs.append((child.content, bold, italic))
        elif child.type in ("softbreak", "hardbreak"):
            runs.append((" ", bold, italic))
    return runs


def _notes(doc: Any, text: str) -> None:
    """The lead's Markdown notes as Word headings, paragraphs and lists."""
    tokens = notes_tokens(text, top=2)
    lists: list[str] = []
    heading: int | None = None
    for i, tok in enumerate(tokens):
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            lists.append("List Bullet" if tok.type == "bullet_list_open" else "List Number")
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif tok.type == "heading_open":
            heading = int(tok.tag[1])
        elif tok.type == "heading_close":
            heading = None
        elif tok.type == "inline":
            runs = _inline_text(tok)
            if heading is not None:
                doc.add_heading(_clean("".join(r[0] for r in runs)), level=min(heading, 9))
                continue
            p = doc.add_paragraph(style=lists[-1] if lists else None)
            for content, bold, italic in runs:
                run = p.add_run(_clean(content))
                run.bold, run.italic = bold or None, italic or None
        elif tok.type in ("code_block", "fence", "html_block"):
            _para(doc, tok.content.rstrip("\n"))


def _appendix(doc: Any, ctx: dict[str, Any]) -> None:
    book, prov, noun = ctx["codebook"], ctx["provenance"], ctx["study"]["noun"]
    doc.add_heading("Appendix", level=1)
    doc.add_heading("Codebook", level=2)
    _table(doc, ["code", "name", "definition"],
           [["— " * c["depth"] + c["id"], c["name"], c["definition"]] for c in book["codes"]])
    doc.add_heading("Case attributes", level=2)
    names = ctx["attribute_names"]
    _table(doc, [noun["one"], "transcripts", *names],
           [[c["id"], ", ".join(c["sources"]), *(c["attributes"].get(a, "") for a in names)]
            for c in ctx["cases"]])
    doc.add_heading("Provenance", level=2)
    _table(doc, ["item", "value"], [
        ["tipqual version", prov["tipqual_version"]],
        ["codebook", f"{book['name']} v{book['version']}, SHA-256 {prov['codebook_sha256']}"],
        ["study content", f"SHA-256 {prov['study_sha256']} (cases, transcripts, segments, "
                          "codings and mentions)"]])


def build_document(ctx: dict[str, Any], figs: dict[str, Any]) -> Any:
    """The whole report as a python-docx Document."""
    import docx

    doc = docx.Document()
    study = ctx["study"]
    doc.add_heading(_clean(ctx["title"]), level=0)
    _para(doc, f"A case study of {study['cases']} {study['noun']['many']}"
          + (f", interviewed {study['period']}." if study["period"] else "."), style="Subtitle")
    _summary(doc, ctx)
    _method(doc, ctx)
    doc.add_heading("Findings", level=1)
    for t in ctx["findings"]:
        _theme(doc, t, ctx, 2)
        for s in t["subthemes"]:
            _theme(doc, s, ctx, 3)
    doc.add_heading("Cross-case matrix", level=1)
    _figure(doc, figs["heatmap"], 1)
    m = ctx["matrix"]
    _table(doc, [study["noun"]["one"], *m["codes"]],
           [[r["case"], *(v or "" for v in r["counts"])] for r in m["rows"]]
           + [[study["noun"]["many"], *m["cases_with_code"]]])
    _partnerships(doc, ctx, figs)
    doc.add_heading("Challenges and recommendations", level=1)
    if ctx["notes"]:
        _notes(doc, ctx["notes"])
    else:
        _para(doc, "The research lead has not written this section yet "
              "(tipqual report --notes FILE.md).")
    _appendix(doc, ctx)
    return doc


def _pin_properties(doc: Any, title: str) -> None:
    props = doc.core_properties
    props.author = props.last_modified_by = "tipqual"
    props.title = _clean(title)
    props.created = props.modified = props.last_printed = FIXED_DATE
    props.revision = 1


def write_docx(ctx: dict[str, Any], figs: dict[str, Any], path: str | Path) -> None:
    """Write the report as ``.docx``, byte-identical for the same context."""
    doc = build_document(ctx, figs)
    _pin_properties(doc, ctx["title"])
    buffer = io.BytesIO()
    doc.save(buffer)
    write_bytes(path, repack(buffer.getvalue()), error=ReportError, what="report")
