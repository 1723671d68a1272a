"""Rendering the findings report: the Jinja environment, its filters, the figures, the notes.

Templates come from a study's own folder first (``--templates DIR``), then from the package; a
package template is also reachable as ``tipqual/NAME`` so an override can ``{% extends %}`` it
and replace one block. HTML is autoescaped; in Markdown every value is escaped by the
environment's ``finalize`` so transcript text can never become markup. Undefined names fail.

Figures are drawn with matplotlib deterministically (fixed SVG hash salt, no dates, no
software versions): the same data give the same bytes.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import ReportError

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

HASH_SALT = "tipqual-report"
TEMPLATES = {"html": "report.html.j2", "md": "report.md.j2"}
_XML_DECL = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_ENTITY = re.compile(r"&(?=#?\w+;)")


# --- filters ----------------------------------------------------------------------------------

def prevalence(n: int, total: int, noun: Any = ("organisation", "organisations")) -> str:
    """How many of ``total`` cases, in words: "All 10 organisations", "most (7 of 10)" …"""
    one, many = (noun["one"], noun["many"]) if isinstance(noun, dict) else noun
    if n <= 0:
        return f"no {one}"  # "None raised it" would read as a missing value
    if n >= total:
        return f"the only {one}" if total == 1 else f"All {total} {many}"
    if n == 1:
        return f"one {one}"
    share = n / total
    if share > 0.6:
        return f"most ({n} of {total})"
    if share >= 0.4:
        return f"about half ({n} of {total})"
    if n <= 3:
        return f"a few ({n})"
    return f"some ({n} of {total})"


def band_label(band: str, total: int, noun: Any = ("organisation", "organisations")) -> str:
    """The heading of a prevalence band: "All 10 organisations", "Most", "About half" …"""
    many = noun["many"] if isinstance(noun, dict) else noun[1]
    labels = {"all": f"All {total} {many}", "most": f"Most {many}",
              "half": f"About half of the {many}", "few": f"A few {many}"}
    return labels[band]


def quote(q: dict[str, Any]) -> str:
    """A quotation with its case, the case's type when known and the speaker's role.

    “…” (CSO-01, shelter, respondent), or “…” (CSO-01, respondent) without a type.
    """
    kind = q.get("case_type")
    return f"“{q['text']}” ({q['case']}, {kind + ', ' if kind else ''}{q['role']})"


def _half_up(value: float, digits: int) -> str:
    step = Decimal(1).scaleb(-digits)
    return str(Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP))


def percent(value: float | None, total: float | None = None, digits: int = 0) -> str:
    """A percentage: ``percent(87.5)`` "88%", ``percent(7, 10)`` "70%"; None gives "n/a"."""
    if value is None or (total is not None and not total):
        return "n/a"
    if total is not None:
        value = 100.0 * value / total
    return _half_up(value, digits) + "%"


def stat(value: float | None, digits: int = 2) -> str:
    """A statistic such as kappa, rounded half up; None (undefined) gives "n/a"."""
    return "n/a" if value is None else _half_up(value, digits)


def listing(items: list[str]) -> str:
    """Items joined as prose: "A", "A and B", "A, B and C"."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capfirst(text: str) -> str:
    """The text with its first character in upper case (the rest unchanged)."""
    return text[:1].upper() + text[1:]


# --- Markdown escaping ------------------------------------------------------------------------

class MdRaw(str):
    """Markdown written by the report itself (or the lead's notes): not escaped again."""


def md_escape(value: Any) -> str:
    """Text as inert Markdown: HTML tags shown as text, emphasis, links and tables disarmed."""
    if isinstance(value, MdRaw):
        return value
    if value is None:
        return ""
    text = _ENTITY.sub("&amp;", str(value))
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"\s*\n\s*", " ", text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_raw(text: str) -> MdRaw:
    """Mark Markdown made by the templates' caller as safe from escaping."""
    return MdRaw(text)


# --- notes ------------------------------------------------------------------------------------

def read_notes(path: str | Path | None) -> str | None:
    """The lead's notes file (Markdown, UTF-8), or None."""
    if path is None:
        return None
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError("no such notes file; give the Markdown file with the challenges and "
                          "recommendations", path=path) from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"the notes are not UTF-8 text (byte {exc.start}); save the file as "
                          "UTF-8", path=path) from exc
    except OSError as exc:
        raise ReportError(f"cannot read the notes: {exc.strerror or exc}", path=path) from exc


def _notes_parser() -> Any:
    """CommonMark with tables; raw HTML off, images off (a report loads nothing from outside)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def notes_tokens(text: str, top: int = 3) -> list[Any]:
    """The notes parsed by markdown-it (raw HTML off), headings shifted to start at ``top``."""
    tokens = _notes_parser().parse(text)
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = top - min(levels) if levels else 0
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{min(6, int(t.tag[1]) + shift)}"
    return tokens


def notes_html(text: str) -> str:
    """The notes as HTML: raw HTML in them is shown as text, never passed through."""
    md = _notes_parser()
    return md.renderer.render(notes_tokens(text), md.options, {})


def notes_markdown(text: str) -> MdRaw:
    """The notes for the Markdown report: kept as written, raw HTML turned into text."""
    return MdRaw(text.replace("<", "&lt;").strip())


# --- figures ----------------------------------------------------------------------------------

@dataclass
class Figure:
    """One figure of the report, in the formats asked for."""

    key: str
    caption: str
    alt: str
    svg: str | None = None
    png: bytes | None = None


def _rc() -> dict[RcKeyType, Any]:
    return {"svg.hashsalt": HASH_SALT, "svg.fonttype": "path", "font.family": "DejaVu Sans",
            "font.size": 8}


def _save(fig: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None, "Creator": "tipqual"} if fmt == "svg" else {"Software": None}
    fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
    return buffer.getvalue()


def heatmap(matrix: dict[str, Any], fmt: str) -> bytes:
    """The presence heat map: codes down, cases across, coded segments in the coloured cells.

    Codes run down the side with their names (a theme with sub-themes is marked "(all)" and
    counts its whole subtree), so the figure reads at the width of a printed page.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import ListedColormap

    rows, cases = matrix["by_code"], matrix["cases"]
    values = [[min(1, v) for v in r["counts"]] for r in rows] or [[0] * len(cases)]
    with plt.rc_context(_rc() | {"font.size": 9}):
        fig, ax = plt.subplots(figsize=(max(7.2, 3.0 + 0.42 * len(cases)),
                                        max(2.6, 0.27 * len(rows) + 1.3)))
        ax.imshow(values, cmap=ListedColormap(["#f1f3f5", "#2f6f9f"]), vmin=0, vmax=1,
                  aspect="auto", interpolation="nearest")
        for i, r in enumerate(rows):
            for j, v in enumerate(r["counts"]):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", color="white",
                            fontsize=8)
        ax.set_xticks([x - 0.5 for x in range(1, len(cases))], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, len(rows))], minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        ax.tick_params(which="major", length=0)
        ax.xaxis.tick_top()
        ax.set_xticks(range(len(cases)), cases, rotation=45, ha="left")
        ax.set_yticks(range(len(rows)), [_row_label(r) for r in rows])
        for label, r in zip(ax.get_yticklabels(), rows, strict=False):
            label.set_fontweight("bold" if r["depth"] == 0 else "normal")
        right = ax.secondary_yaxis("right")
        right.set_yticks(range(len(rows)), [str(r["n_cases"]) for r in rows])
        right.tick_params(length=0)
        for spine in (*ax.spines.values(), *right.spines.values()):
            spine.set_visible(False)
        fig.tight_layout()
        # tight_layout leaves a placeholder engine behind, for which savefig would lay out
        # (draw) the whole figure once more before drawing it for real; nothing is left to do
        fig.set_layout_engine(None)
        try:
            return _save(fig, fmt)
        finally:
            plt.close(fig)


def _row_label(row: dict[str, Any]) -> str:
    return row["name"] + (" (all)" if row["grouped"] else "")


def stakeholder_map(graph: Any, data: Any, codebook: Any, fmt: str,
                    noun: str = "cases") -> bytes | None:
    """The stakeholder map from :mod:`tipqual.analysis.stakemap`; None when it cannot be drawn."""
    from tipqual.analysis import stakemap
    codes = stakemap.victim_codes(codebook)
    cited = any(kind == "stakeholder" for _, kind in graph.nodes(data="kind"))
    if not codes or not cited:
        return None
    with tempfile.TemporaryDirectory(prefix="tipqual-map-") as tmp:
        path = Path(tmp) / f"map.{fmt}"
        stakemap.draw(graph, data, path, codes, noun=noun)
        return path.read_bytes()


def inline_svg(svg: bytes | str, prefix: str) -> str:
    """An SVG file as an element to place in HTML: no XML prolog, ids made unique by prefix."""
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    text = _XML_DECL.sub("", text).strip()
    ids = set(re.findall(r'\bid="([^"]+)"', text))

    def fix(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}-{name}" if name in ids else match.group(0)

    text = re.sub(r'(\bid="|url\(#|href="#)([^")]+)', fix, text)
    return text


def figures(ctx: dict[str, Any], network: tuple[Any, Any], codebook: Any,
            formats: tuple[str, ...]) -> dict[str, Figure]:
    """Draw the report's figures (``svg`` and/or ``png``) from its context and network."""
    noun = ctx["study"]["noun"]["many"]
    total = ctx["study"]["cases"]
    out = {"heatmap": Figure(
        "presence", f"Cross-case matrix: which of the {total} {noun} raise each theme "
        "(coloured: raised; number: coded segments; right: how many "
        f"{noun} raise it). Themes in bold; a theme marked (all) includes its sub-themes.",
        "Heat map of themes against cases")}
    data, graph = network
    out["map"] = Figure(
        "stakeholder-map", "Stakeholder map: government on the left of the divide, civil "
        "society and other partners on the right; the higher a circle, the larger the share "
        "of its mentions that come in passages about supporting victims (nearer the victim); "
        f"circle area and the number beside each name: how many of the {total} {noun} cite "
        "it.", "Stakeholder map by sector and proximity to the victim")
    for fmt in formats:
        setattr(out["heatmap"], fmt, _decoded(heatmap(ctx["matrix"], fmt), fmt))
        drawn = stakeholder_map(graph, data, codebook, fmt, noun)
        if drawn is not None:
            setattr(out["map"], fmt, _decoded(drawn, fmt))
    return out


def _decoded(raw: bytes, fmt: str) -> Any:
    return raw.decode("utf-8") if fmt == "svg" else raw


# --- the environment --------------------------------------------------------------------------

def environment(fmt: str, templates: str | Path | None = None) -> Any:
    """The Jinja environment for ``html`` or ``md``: overrides first, then the package."""
    from jinja2 import (
        ChoiceLoader,
        Environment,
        FileSystemLoader,
        PackageLoader,
        PrefixLoader,
        StrictUndefined,
    )

    loaders: list[Any] = []
    if templates is not None:
        folder = Path(templates)
        if not folder.is_dir():
            raise ReportError("no such templates folder; give the folder holding your "
                              f"{', '.join(TEMPLATES.values())}", path=folder)
        loaders.append(FileSystemLoader(str(folder)))
    package = PackageLoader("tipqual.report", "templates")
    loaders += [package, PrefixLoader({"tipqual": package})]
    env = Environment(loader=ChoiceLoader(loaders), autoescape=fmt == "html",
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True,
                      finalize=md_escape if fmt == "md" else None)
    env.filters.update(prevalence=prevalence, quote=quote, percent=percent, stat=stat,
                       capfirst=capfirst, band_label=band_label, listing=listing)
    return env


def render(fmt: str, ctx: dict[str, Any], templates: str | Path | None = None) -> str:
    """Render the report template of ``fmt`` with ``ctx``; template errors become ReportError."""
    from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError

    env = environment(fmt, templates)
    name = TEMPLATES[fmt]
    try:
        return env.get_template(name).render(ctx)
    except TemplateSyntaxError as exc:
        raise ReportError(f"template syntax error: {exc.message}; fix the template",
                          path=exc.filename or name, line=exc.lineno) from exc
    except TemplateNotFound as exc:
        raise ReportError(f"template {exc.name!r} not found; check the templates folder",
                          path=templates or name) from exc
    except TemplateError as exc:
        raise ReportError(f"the template failed: {exc}; check the names it uses against the "
                          "report context", path=_template_path(env, name)) from exc


def _template_path(env: Any, name: str) -> str:
    try:
        source = env.loader.get_source(env, name)
        return source[1] or name
    except Exception:  # the name itself is the best we can say
        return name
