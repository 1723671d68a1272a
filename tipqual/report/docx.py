"""The findings report as a Word document, built with python-docx from the report context.

Real headings (Heading 1–4 styles, so Word's navigation pane and table of contents work), real
tables, figures as PNG images. Transcript text goes in as run text, which python-docx writes as
XML character data: markup in it stays text. The file is byte-identical across runs: fixed core
properties and a fixed timestamp on every zip member.
"""

from __future__ import annotations

import io
import re
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tipqual.errors import ReportError
from tipqual.output.files import repack, write_bytes
from tipqual.report.coreq import counted
from tipqual.report.render import (
    band_label,
    capfirst,
    listing,
    notes_tokens,
    percent,
    prevalence,
    quote,
    stat,
)

FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
TEXT_WIDTH_CM = 17.0  # A4 with 2 cm margins
HEADER_FILL, PRESENT_FILL = "E6EDF4", "2F6F9F"
TABLE_PT, BODY_PT = 8.5, 10.5
TABLE_STYLE = "Table Text"
WIDE_MATRIX = 12  # more cases than this: the matrix table's case names run vertically
TABLE_FONT = "Arial"  # narrow enough for numeric columns; on every system Word runs on


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


def _table(doc: Any, header: list[str], rows: list[list[Any]],
           widths: list[float] | None = None, numeric: AbstractSet[int] = frozenset(),
           size: float = TABLE_PT, tight: bool = False) -> Any:
    """A grid table: bold header repeated on each page, small type, columns sized by weight.

    ``widths`` are relative column weights spread over the text width; ``numeric`` the
    columns aligned right; ``tight`` leaves the cell margins to the caller.
    """
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    _repeat_header(table.rows[0])
    grid = [table.rows[0].cells]
    for cell, text in zip(grid[0], header, strict=False):
        cell.text = ""
        cell.paragraphs[0].add_run(_clean(text)).bold = True
        _shade(cell, HEADER_FILL)
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=False):
            cell.text = _clean(value)
        grid.append(cells)
    _format_cells(doc, grid, numeric, size)
    if widths:
        _widths(table, grid, widths)
    if not tight:
        _cell_margins(table)
    doc.add_paragraph()
    return table


def _format_cells(doc: Any, grid: list[Any], numeric: AbstractSet[int], size: float) -> None:
    """Table text style, right alignment of ``numeric`` columns and type size, cell by cell.

    Row by row, as python-docx's ``column.cells`` rebuilds every cell of the table on each
    call; the style is looked up by name once, not once per paragraph.
    """
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    style_id = doc.part.get_style_id(TABLE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    for cells in grid:
        for i, cell in enumerate(cells):
            for paragraph in cell.paragraphs:
                paragraph._p.style = style_id
                if i in numeric:
                    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                for run in paragraph.runs:
                    run.font.size, run.font.name = Pt(size), TABLE_FONT


def _widths(table: Any, grid: list[Any], weights: list[float]) -> None:
    from docx.shared import Cm

    table.autofit = False
    total = sum(weights)
    widths = [Cm(TEXT_WIDTH_CM * weight / total) for weight in weights]
    for column, width in zip(table.columns, widths, strict=False):
        column.width = width
    for cells in grid:
        for cell, width in zip(cells, widths, strict=False):
            cell.width = width


def _repeat_header(row: Any) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(flag)


def _shade(cell: Any, fill: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shading)


def _figure(doc: Any, fig: dict[str, Any], number: int, width_cm: float) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    if fig.get("png") is None:
        return
    doc.add_picture(io.BytesIO(fig["png"]), width=Cm(width_cm))
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.paragraphs[-1].paragraph_format.keep_with_next = True
    _para(doc, f"Figure {number}. {fig['caption']}", style="Caption")


def _cases_word(study: dict[str, Any]) -> str:
    """The word for the study's cases, in agreement with their number."""
    noun = study["noun"]
    return str(noun["one"] if study["cases"] == 1 else noun["many"])


def _summary(doc: Any, ctx: dict[str, Any]) -> None:
    study, noun = ctx["study"], ctx["study"]["noun"]
    doc.add_heading("Study summary", level=1)
    facts = [f"{study['cases']} {_cases_word(study)}", counted(study["interviews"], "interview"),
             f"{study['words']:,} word{'' if study['words'] == 1 else 's'}",
             counted(study["segments"], "segment"),
             counted(len(ctx["codebook"]["codes"]), "code")]
    if study["period"]:
        facts.append(f"period {study['period']}")
    _para(doc, " · ".join(facts))
    doc.add_heading("Key findings", level=2)
    if not ctx["key_findings"]:
        _para(doc, f"No {noun['one']} has a coded segment yet, so there are no key findings.")
    else:
        _para(doc, f"What the {_cases_word(study)} raised, the most widely shared first:")
        _table(doc, ["raised by", "themes"],
               [[band_label(b["band"], study["cases"], noun),
                 "; ".join(t["name"] + ("" if b["band"] == "all" else f" ({t['n_cases']})")
                           for t in b["themes"])
                 + (f"; and {counted(b['more'], 'more theme')} (see the findings)"
                    if b.get("more") else "")] for b in ctx["key_findings"]],
               widths=[1, 3])
    p = ctx["partnerships"]
    if p["leading_government"] or p["sectors"]:
        parts = [f"the {g['label']} partners: {_counted(g['partners'])}" for g in p["sectors"]]
        if p["leading_government"]:
            parts.insert(0, f"the government partners cited by at least half of the "
                         f"{noun['many']}, most cited first: "
                         f"{_counted(p['leading_government'])}")
        _para(doc, capfirst("; ".join(parts)) + f" (number of {noun['many']} citing each, of "
              f"{study['cases']}).", bold="Partners. ")
    ag = ctx["agreement"]
    if ag:
        low = ag.get("unreliable_named") or [r["name"] for r in ag["unreliable"]]
        _para(doc, f"The coders ({listing(ag['coders'])}) agreed on the codes with a mean kappa of "
              f"{stat(ag['mean']['kappa'])} ({ag['mean']['kappa_reading']}) and a mean alpha "
              f"of {stat(ag['mean']['alpha'])} ({ag['mean']['alpha_reading']})"
              + (f"; agreement on {listing(low)} falls below the level for tentative "
                 "conclusions." if low else "."), bold="Reliability. ")


def _counted(rows: list[dict[str, Any]]) -> str:
    return listing([f"{r['id']} ({r['cases']})" for r in rows])


def _method(doc: Any, ctx: dict[str, Any]) -> None:
    study, noun, book = ctx["study"], ctx["study"]["noun"], ctx["codebook"]
    doc.add_heading("Method", level=1)
    doc.add_heading("Sampling and the cases", level=2)
    answers = ("is a respondent's answer" if study["respondent_segments"] == 1
               else "are respondents' answers")
    segments = counted(study["segments"], "transcript segment")
    share = f"{study['respondent_segments']} of the {segments} {answers}"
    if study["respondent_segments"] == study["segments"]:
        share = ("the only transcript segment is a respondent's answer" if study["segments"] == 1
                 else f"all {segments} are respondents' answers")
    if not study["segments"]:
        _para(doc, f"No transcripts have been imported yet, so no {noun['one']} has taken "
              "part.")
    else:
        _para(doc, f"{study['cases']} {_cases_word(study)} took part; {share} "
              f"({study['respondent_words']:,} word"
              f"{'' if study['respondent_words'] == 1 else 's'}).")
    names = ctx["attribute_names"]
    if ctx["cases"]:
        _table(doc, [noun["one"], *(a.replace("_", " ") for a in names), "words"],
               [[c["id"], *(c["attributes"].get(a, "") for a in names), f"{c['words']:,}"]
                for c in ctx["cases"]],
               widths=[1.3, *(_weight(a, ctx["cases"]) for a in names), 1.0],
               numeric={len(names) + 1})
    doc.add_heading("Codebook", level=2)
    _para(doc, f"Coding used the codebook {book['name']}, version {book['version']} (content "
          f"hash {book['sha256'][:12]}), with {counted(len(book['codes']), 'code')}; the "
          f"appendix lists {'it' if len(book['codes']) == 1 else 'them'}.")
    if book["lineage"]:
        _para(doc, book["lineage"])
    doc.add_heading("Coders and suggestions", level=2)
    if ctx["coders"]:
        _table(doc, ["coder", "own codings", "suggestions accepted", "suggestions rejected",
                     "segments coded"],
               [[c["name"], c["human"], c["accepted"], c["rejected"], c["segments"]]
                for c in ctx["coders"]], widths=[2, 1, 1, 1, 1], numeric={1, 2, 3, 4})
    if ctx["suggestions"]["rows"]:
        _para(doc, "tipqual proposed codes for a person to accept or reject; findings count "
              "only codings by people and accepted suggestions.")
        rows = [[r["suggester"], r["suggested"], r["accepted"], r["rejected"], r["total"],
                 "; ".join(f"{v['name']} ({v['accepted']} accepted, {v['rejected']} rejected)"
                           for v in r["reviewers"]) or "no one yet"]
                for r in ctx["suggestions"]["rows"]]
        if len(rows) > 1:
            t = ctx["suggestions"]["totals"]
            rows.append(["all suggesters", t["suggested"], t["accepted"], t["rejected"],
                         t["total"], ""])
        _table(doc, ["suggester", "awaiting review", "accepted", "rejected", "total",
                     "decided by"], rows, widths=[2, 1, 1, 1, 1, 2.4], numeric={1, 2, 3, 4})
        if ctx["suggestions"]["note"]:
            _para(doc, ctx["suggestions"]["note"])
    elif ctx["coders"]:
        _para(doc, "tipqual made no suggestions in this study: every coding is a person's own.")
    _agreement(doc, ctx)
    doc.add_heading("Reporting checklist (COREQ)", level=2)
    _para(doc, "The items of the COREQ checklist (Tong, Sainsbury and Craig, 2007) that the "
          "study's own data answer:")
    _table(doc, ["no.", "item", "answer"],
           [[i["number"], i["item"], i["answer"]] for i in ctx["coreq"]],
           widths=[0.5, 2.2, 6], numeric={0})


def _weight(name: str, cases: list[dict[str, Any]]) -> float:
    """A column's relative width from its longest value (or its name)."""
    longest = max([len(name), *(len(c["attributes"].get(name, "")) for c in cases)])
    return min(3.0, max(1.2, longest / 8))


def _agreement(doc: Any, ctx: dict[str, Any]) -> None:
    doc.add_heading("Agreement between coders", level=2)
    ag = ctx["agreement"]
    if ag is None:
        _para(doc, "Agreement needs two coders who coded the same segments; this study has "
              f"{len(ctx['coders'])}.")
        return
    mean = ag["mean"]
    _para(doc, f"{listing(ag['coders'])} coded the same {counted(ag['n_units'], 'segment')}. Per "
          f"code: percent agreement, {ag['kappa_method']} kappa (Landis and Koch, 1977) and "
          f"Krippendorff's alpha (nominal). Mean over the codes: kappa {stat(mean['kappa'])} "
          f"({mean['kappa_reading']}), alpha {stat(mean['alpha'])} ({mean['alpha_reading']}).")
    rows = [[r["id"], r["n_units"], percent(r["percent"], None, 1), stat(r["kappa"]),
             r["kappa_reading"], stat(r["alpha"]), r["alpha_reading"]]
            for r in [*ag["codes"], {**ag["overall"], "id": "all codes together"}]]
    _table(doc, ["code", "segments", "agreement", "kappa", "reading", "alpha", "reading"], rows,
           widths=[2.8, 1.5, 1.6, 1.0, 1.9, 1.0, 1.7], numeric={1, 2, 3, 5})
    tally = {k: ", ".join(f"{r['reading']} for {r['codes']}" for r in ag["readings"][k])
             for k in ("kappa", "alpha")}
    low = ", ".join(f"{r['name']} ({stat(r['alpha'])})" for r in ag["unreliable"])
    _para(doc, f"Readings per code: kappa {tally['kappa']}; alpha {tally['alpha']}."
          + (f" Below alpha 0.667: {low}; findings resting on "
             f"{'it' if len(ag['unreliable']) == 1 else 'them'} need the quotations to carry "
             "them." if low else "")
          + " The last row is stricter: a segment counts as agreed only when both coders gave "
          "it exactly the same set of codes.")


def _theme(doc: Any, t: dict[str, Any], ctx: dict[str, Any], level: int) -> None:
    study = ctx["study"]
    doc.add_heading(_clean(t["name"]), level=level)
    if t["scope"]:
        scope = _para(doc, t["scope"])
        for run in scope.runs:
            run.italic = True
    plural = "" if t["segments"] == 1 else "s"
    detail = (f" ({t['segments']} coded segment{plural}: {', '.join(t['cases'])})"
              if t["n_cases"] else "")
    _para(doc, f" raised {'this theme' if level == 2 else 'it'}{detail}.",
          bold=capfirst(prevalence(t["n_cases"], study["cases"], study["noun"])))
    for q in t["quotes"]:
        _para(doc, quote(q), style="Quote")


def _partnerships(doc: Any, ctx: dict[str, Any], figs: dict[str, Any]) -> None:
    p, noun, total = ctx["partnerships"], ctx["study"]["noun"], ctx["study"]["cases"]
    facts = p["facts"]
    if not facts["registry"]:
        return  # no stakeholder registry: nothing to count (said on stderr)
    doc.add_heading("Partnerships", level=1)
    central = ", ".join(f"{r['id']} ({stat(r['centrality'], 3)})" for r in facts["most_central"])
    if facts["stakeholder_nodes"]:
        study = ctx["study"]
        one_case = facts["case_nodes"] == 1
        text = (f"The {_cases_word(study)} cite{'s' if study['cases'] == 1 else ''} "
                f"{counted(facts['stakeholder_nodes'], 'stakeholder')} "
                f"({counted(facts['mentions'], 'mention')} in respondents' answers); the "
                f"network links {facts['case_nodes']} {noun['one'] if one_case else noun['many']}"
                f" to {'it' if facts['stakeholder_nodes'] == 1 else 'them'} by "
                f"{counted(facts['edges'], 'tie')}.")
    elif not facts.get("registry", 1):
        text = ("The codebook has no stakeholder registry, so no stakeholders were counted in "
                "respondents' answers.")
    else:
        text = "No stakeholder of the registry is named in respondents' answers."
    _para(doc, text + (f" Most central (betweenness): {central}." if central else ""))
    lists = [(p["leading_government"], "Government partners cited by at least half of the "
              f"{noun['many']}, most cited first:")]
    lists += [(g["partners"], f"{capfirst(g['label'])} partners cited:") for g in p["sectors"]]
    for rows, lead in lists:
        if rows:
            _para(doc, lead)
        for r in rows:
            name = f", {r['name']}" if r["name"] != r["id"] else ""
            _para(doc, f"{name}: {prevalence(r['cases'], total, noun).lower()}",
                  style="List Bullet", bold=r["id"])
    if figs["map"].get("png") is not None:
        _figure(doc, figs["map"], 2, TEXT_WIDTH_CM)
    else:
        _para(doc, "No stakeholder map: " + ("no stakeholder of the registry is cited in a "
              "respondent's answer." if facts.get("registry", 1) else "the codebook has no "
              "stakeholder registry."))
    if p["ranking"]:
        _table(doc, ["rank", "stakeholder", "name", "sector", f"{noun['many']} citing",
                     "mentions", "centrality"],
               [[i, r["id"], r["name"], r["sector"].replace("_", " "),
                 prevalence(r["cases"], total, noun), r["mentions"],
                 stat(r["centrality"], 3)] for i, r in enumerate(p["ranking"], start=1)],
               widths=[0.8, 1.8, 4, 1.7, 2.3, 1.4, 1.5], numeric={0, 5, 6})


def _matrix(doc: Any, ctx: dict[str, Any], figs: dict[str, Any]) -> None:
    """The heat map, then the matrix as a table with codes down and cases across."""
    from tipqual.report.render import heatmap_groups

    m, noun = ctx["matrix"], ctx["study"]["noun"]
    doc.add_heading("Cross-case matrix", level=1)
    if not m["cases"]:
        _para(doc, f"No {noun['one']} has transcripts yet, so the cross-case matrix is empty.")
        return
    _figure(doc, figs["heatmap"], 1, 15.0)
    groups = heatmap_groups(m["cases"])
    if len(groups) < len(m["cases"]):
        _grouped_matrix(doc, m, noun, groups)
        return
    _para(doc, f"The same matrix as a table, codes down and {noun['many']} across; the last "
          f"column counts the {noun['many']} raising each code. A code marked (all) counts "
          "its sub-codes too, so its number is the theme's prevalence in the findings.")
    rows = [["— " * r["depth"] + r["id"] + (" (all)" if r["grouped"] else ""),
             *(v or "" for v in r["counts"]), r["n_cases"]] for r in m["by_code"]]
    n = len(m["cases"])
    table = _table(doc, ["code", *m["cases"], f"of {n}"], rows,
                   widths=[3.2, *([1.1] * n), 1.0], numeric=set(range(1, n + 2)), size=8,
                   tight=True)
    _cell_margins(table, sides=28)
    if n > WIDE_MATRIX or max(len(c) for c in m["cases"]) > 7:
        from docx.enum.table import WD_ROW_HEIGHT_RULE
        from docx.shared import Cm

        for cell in table.rows[0].cells[1:]:
            _vertical(cell)
        table.rows[0].height = Cm(0.22 * max(len(c) for c in m["cases"]) + 0.4)
        table.rows[0].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    for row in table.rows[1:]:
        for cell in row.cells[1:n + 1]:
            if cell.text:
                _shade(cell, PRESENT_FILL)
                for run in cell.paragraphs[0].runs:
                    run.font.color.rgb = _white()


def _grouped_matrix(doc: Any, m: dict[str, Any], noun: dict[str, str],
                    groups: list[list[str]]) -> None:
    """The matrix of a study with more cases than a Word table has room for: codes down and
    the heat map's runs of cases across, each cell counting the run's cases raising the code
    (a table one column a case would be thousands of columns wide; Word shows 63)."""
    n = len(m["cases"])
    _para(doc, f"The same matrix as a table, codes down and the {noun['many']} across in the "
          f"figure's {len(groups)} columns of up to {len(groups[0])}, each cell counting the "
          f"{noun['many']} of its column raising the code; the last column counts all the "
          f"{noun['many']} raising it. A code marked (all) counts its sub-codes too, so its "
          "number is the theme's prevalence in the findings. The matrix one column a "
          f"{noun['one']} is in the HTML and Markdown reports and in 'tipqual matrix'.")
    rows = []
    for r in m["by_code"]:
        at, cells = 0, []
        for group in groups:
            cells.append(sum(1 for v in r["counts"][at:at + len(group)] if v) or "")
            at += len(group)
        rows.append(["— " * r["depth"] + r["id"] + (" (all)" if r["grouped"] else ""),
                     *cells, r["n_cases"]])
    header = [g[0] if len(g) == 1 else f"{g[0]} – {g[-1]}" for g in groups]
    table = _table(doc, ["code", *header, f"of {n}"], rows,
                   widths=[3.2, *([1.1] * len(groups)), 1.0],
                   numeric=set(range(1, len(groups) + 2)), size=7, tight=True)
    _cell_margins(table, sides=28)
    from docx.enum.table import WD_ROW_HEIGHT_RULE
    from docx.shared import Cm

    for cell in table.rows[0].cells[1:]:
        _vertical(cell)
    table.rows[0].height = Cm(0.2 * max(len(h) for h in header) + 0.4)
    table.rows[0].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    for row in table.rows[1:]:
        for cell in row.cells[1:len(groups) + 1]:
            if cell.text:
                _shade(cell, PRESENT_FILL)
                for run in cell.paragraphs[0].runs:
                    run.font.color.rgb = _white()


def _cell_margins(table: Any, sides: int | None = None) -> None:
    """Cell margins in twentieths of a point: a little air above and below the text, and
    ``sides`` left and right when given (the matrix's short numbers need little)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    margins = OxmlElement("w:tblCellMar")
    edges = [("top", 30), ("bottom", 30)]
    if sides is not None:
        edges[1:1] = [("left", sides)]
        edges.append(("right", sides))
    for side, width in edges:
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:w"), str(width))
        edge.set(qn("w:type"), "dxa")
        margins.append(edge)
    look = table._tbl.tblPr.find(qn("w:tblLook"))  # the schema wants the margins before it
    if look is not None:
        look.addprevious(margins)
    else:
        table._tbl.tblPr.append(margins)


def _vertical(cell: Any) -> None:
    """Header text written bottom to top, so narrow numeric columns keep their names whole."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    direction = OxmlElement("w:textDirection")
    direction.set(qn("w:val"), "btLr")
    cell._tc.get_or_add_tcPr().append(direction)


def _white() -> Any:
    from docx.shared import RGBColor

    return RGBColor(0xFF, 0xFF, 0xFF)


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
    for tok in tokens:
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
           [["— " * c["depth"] + c["id"], c["name"], c["definition"] or "(no definition)"]
            for c in book["codes"]],
           widths=[2.4, 2.4, 6])
    doc.add_heading("Case attributes", level=2)
    names = ctx["attribute_names"]
    _table(doc, [noun["one"], "transcripts", *(a.replace("_", " ") for a in names)],
           [[c["id"], ", ".join(c["sources"]), *(c["attributes"].get(a, "") for a in names)]
            for c in ctx["cases"]], widths=[1.3, 1.3, *(_weight(a, ctx["cases"]) for a in names)])
    doc.add_heading("Provenance", level=2)
    _table(doc, ["item", "value"], [
        ["tipqual version", prov["tipqual_version"]],
        ["codebook", f"{book['name']} v{book['version']}, SHA-256 {prov['codebook_sha256']}"],
        ["study content", f"SHA-256 {prov['study_sha256']} (cases, transcripts, segments, "
                          "codings and mentions)"]], widths=[1.4, 6])


def build_document(ctx: dict[str, Any], figs: dict[str, Any]) -> Any:
    """The whole report as a python-docx Document."""
    import docx

    doc = docx.Document()
    _page(doc)
    study = ctx["study"]
    doc.add_heading(_clean(ctx["title"]), level=0)
    _para(doc, f"A case study of {study['cases']} {_cases_word(study)}"
          + (f", interviewed {study['period']}." if study["period"] else "."), style="Subtitle")
    _summary(doc, ctx)
    _method(doc, ctx)
    doc.add_heading("Findings", level=1)
    for t in ctx["findings"]:
        _theme(doc, t, ctx, 2)
        for s in t["subthemes"]:
            _theme(doc, s, ctx, 2 + max(s.get("depth", 1), 1))
    _matrix(doc, ctx, figs)
    _partnerships(doc, ctx, figs)
    if ctx["notes"]:  # written by the research team (--notes FILE.md); left out without
        doc.add_heading("Challenges and recommendations", level=1)
        _notes(doc, ctx["notes"])
    _appendix(doc, ctx)
    return doc


def _page(doc: Any) -> None:
    """A4 with 2 cm margins, a body type size that suits a report, a style for table text."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Cm, Pt

    for section in doc.sections:
        section.page_width, section.page_height = Cm(21.0), Cm(29.7)
        section.left_margin = section.right_margin = Cm(2.0)
        section.top_margin = section.bottom_margin = Cm(2.0)
    doc.styles["Normal"].font.size = Pt(BODY_PT)
    doc.styles["Caption"].font.size = Pt(9)
    # table cells, empty ones included, take their line height from this style
    style = doc.styles.add_style(TABLE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles["Normal"]
    style.font.name, style.font.size = TABLE_FONT, Pt(TABLE_PT)
    style.paragraph_format.space_after = style.paragraph_format.space_before = Pt(0)


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
