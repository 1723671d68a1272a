"""Rendering the findings report: the Jinja environment, its filters, the figures, the notes.

Templates come from a study's own folder first (``--templates DIR``), then from the package; a
package template is also reachable as ``tipqual/NAME`` so an override can ``{% extends %}`` it
and replace one block. Every template runs in Jinja's immutable sandbox, so a study's own
templates can show the report's data but not reach Python; a failure names the template file
and line. HTML is autoescaped; in Markdown every value is escaped by the environment's
``finalize`` so transcript text can never become markup. Undefined names fail.

The lead's notes (``--notes FILE.md``) are parsed once with markdown-it, raw HTML off. A link
keeps its target only if it is http, https, mailto, relative or a ``#fragment``
(:func:`safe_link`); any other link (``javascript:``, ``data:``, ``file:``, however disguised)
keeps its words and loses its target in every format, and an image becomes a link to it. The
Markdown report gets the notes rewritten from the parse, never the file's own text.

Figures are drawn with matplotlib deterministically (fixed SVG hash salt, no dates, no
software versions): the same data give the same bytes.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import ReportError

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from tipqual.analysis.network import NetworkData
    from tipqual.analysis.stakemap import Axis
    from tipqual.codebook.model import Codebook

HASH_SALT = "tipqual-report"
TEMPLATES = {"html": "report.html.j2", "md": "report.md.j2"}
_XML_DECL = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_ENTITY = re.compile(r"&(?=#?\w+;)")


# --- filters ----------------------------------------------------------------------------------

def prevalence_band(n: int, total: int) -> str:
    """The band of ``n`` of ``total`` cases: ``none``, ``all``, ``most``, ``half`` or ``few``.

    The cut-offs behind both the words of :func:`prevalence` and the key findings' bands: more
    than 60% is most, 40% to 60% about half, less a few.
    """
    if n <= 0:
        return "none"
    if n >= total:
        return "all"
    share = n / total
    if share > 0.6:
        return "most"
    return "half" if share >= 0.4 else "few"


SMALL_STUDY = 4  # up to this many cases, prevalence is said exactly: "two of the three"
_NUMBER_WORDS = ("no", "one", "two", "three", "four")


# The word for a case: ``{"one": …, "many": …}`` (the report context's) or ``(one, many)``.
Noun = Mapping[str, str] | Sequence[str]


def _nouns(noun: Noun) -> tuple[str, str]:
    return (noun["one"], noun["many"]) if isinstance(noun, Mapping) else (noun[0], noun[1])


def prevalence(n: int, total: int, noun: Noun = ("case", "cases")) -> str:
    """How many of ``total`` cases, in words: "All 10 organisations", "most (7 of 10)" …

    A study of up to four cases is too small for "most" or "about half": its counts are said
    exactly ("two of the three organisations"); one case is "the only organisation", two are
    "Both organisations".
    """
    one, many = _nouns(noun)
    band = prevalence_band(n, total)
    if band == "none":
        return f"no {one}"  # "None raised it" would read as a missing value
    if total == 1:
        return f"the only {one}"
    if band == "all":
        return f"Both {many}" if total == 2 else f"All {total} {many}"
    if total <= SMALL_STUDY:
        return f"{_NUMBER_WORDS[n]} of the {_NUMBER_WORDS[total]} {many}"
    if n == 1:
        return f"one {one}"
    if band == "most":
        return f"most ({n} of {total})"
    if band == "half":
        return f"{'half' if 2 * n == total else 'about half'} ({n} of {total})"
    return f"a few ({n} of {total})" if n <= 3 else f"some ({n} of {total})"


def band_label(band: str, total: int, noun: Noun = ("case", "cases")) -> str:
    """The heading of a prevalence band: "All 10 organisations", "Most organisations" …

    In a study of up to four cases each band holds one count, named exactly ("Two of the
    three organisations"); one case is "The only organisation", two "Both organisations".
    """
    one, many = _nouns(noun)
    if band == "all":
        return capfirst(prevalence(total, total, (one, many)))
    counts = [n for n in range(1, total) if prevalence_band(n, total) == band]
    if total <= SMALL_STUDY and len(counts) == 1:
        return capfirst(prevalence(counts[0], total, (one, many)))
    labels = {"most": f"Most {many}", "half": f"About half of the {many}",
              "few": f"A few {many}"}
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


SAFE_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028\u2029\u2060\ufeff]")


def safe_link(url: str) -> bool:
    """Whether a link of the notes may keep its target: http(s), mailto, relative or ``#``.

    The target is judged as a browser would read it, and more strictly: entities and percent
    escapes undone (repeatedly), blanks and control characters dropped wherever they are,
    backslashes read as slashes, case folded. ``//host`` (another site, or a file share when
    the report is opened from disk) and a colon before the first ``/`` (``C:…``, an unknown
    scheme in disguise) are refused as well.
    """
    import html
    import unicodedata
    from urllib.parse import unquote

    text = url
    for _ in range(5):
        decoded = html.unescape(unquote(text))
        if decoded == text:
            break
        text = decoded
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).replace("\\", "/").lower()
    if text.startswith("#"):
        return True
    scheme = _SCHEME.match(text)
    if scheme:
        return scheme.group(1) in SAFE_SCHEMES
    if text.startswith("//"):
        return False
    return ":" not in re.split(r"[/?#]", text, maxsplit=1)[0]


def _notes_parser() -> Any:
    """CommonMark with tables and raw HTML off; every link parsed, to be judged by :func:`_disarm`.

    markdown-it's own check would leave a refused link in the text as written, target and all
    (``[x](javascript:…)``); parsing every link lets the report keep its words and drop its
    target instead.
    """
    from markdown_it import MarkdownIt

    class NotesParser(MarkdownIt):
        def validateLink(self, url: str) -> bool:
            return True

    return NotesParser("commonmark", {"html": False}).enable("table")


def _disarm(children: list[Any]) -> list[Any]:
    """The inline tokens with every link to an unsafe target reduced to its text.

    Images become links to the image (a report loads nothing from outside), or their
    description alone when the target is unsafe or they sit inside a link already.
    """
    from markdown_it.token import Token

    out: list[Any] = []
    dropped = inside = False
    for tok in children:
        if tok.type == "link_open":
            inside = True
            dropped = not safe_link(str(tok.attrs.get("href", "")))
            if not dropped:
                out.append(tok)
        elif tok.type == "link_close":
            if not dropped:
                out.append(tok)
            inside = dropped = False
        elif tok.type == "image":
            src = str(tok.attrs.get("src", ""))
            words = "".join(" " if c.type in ("softbreak", "hardbreak") else c.content
                            for c in tok.children or [])
            alt = Token("text", "", 0, content=words or tok.content)
            if inside or not safe_link(src):
                out.append(alt)
            else:
                title = {"title": tok.attrs["title"]} if tok.attrs.get("title") else {}
                out += [Token("link_open", "a", 1, attrs={"href": src, **title}), alt,
                        Token("link_close", "a", -1)]
        else:
            out.append(tok)
    return out


def notes_tokens(text: str, top: int = 3) -> list[Any]:
    """The notes parsed by markdown-it (raw HTML off), headings shifted to start at ``top``.

    Links keep their target only when :func:`safe_link` allows it; others keep their text.
    """
    tokens = _notes_parser().parse(text)
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = top - min(levels) if levels else 0
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{min(6, int(t.tag[1]) + shift)}"
        if t.children:
            t.children = _disarm(t.children)
    return tokens


def notes_html(text: str) -> str:
    """The notes as HTML: raw HTML in them is shown as text, unsafe link targets dropped."""
    md = _notes_parser()
    return md.renderer.render(notes_tokens(text), md.options, {})


def notes_markdown(text: str) -> MdRaw:
    """The notes for the Markdown report, written anew from what the parser found.

    Nothing of the notes file reaches the report as written: headings, paragraphs, lists,
    quotes, code, tables, emphasis and the links :func:`safe_link` allows are rebuilt, and
    every piece of text is escaped, so raw HTML, refused links and reference definitions
    cannot come back. Headings start at level 3, under the section's own heading.
    """
    from markdown_it.tree import SyntaxTreeNode

    root = SyntaxTreeNode(notes_tokens(text))
    return MdRaw("\n".join(_md_blocks(root.children, tight=False)).strip("\n"))


def _md_blocks(nodes: list[Any], tight: bool) -> list[str]:
    lines: list[str] = []
    for node in nodes:
        block = _md_block(node)
        if lines and block and not tight:
            lines.append("")
        lines += block
    return lines


def _md_block(node: Any) -> list[str]:
    kind = node.type
    if kind == "heading":
        level = int(node.tag[1])
        text = _md_inline(node.children[0]).replace("\\\n", " ").replace("\n", " ")
        return [("#" * level + " " + text).rstrip()]
    if kind == "paragraph":
        return _md_inline(node.children[0]).split("\n") if node.children else []
    if kind in ("bullet_list", "ordered_list"):
        return _md_list(node)
    if kind == "blockquote":
        return [f"> {line}".rstrip() for line in _md_blocks(node.children, tight=False)] or [">"]
    if kind in ("fence", "code_block"):
        return _md_fence(node.content, node.info if kind == "fence" else "")
    if kind == "hr":
        return ["***"]
    if kind == "table":
        return _md_table(node)
    # anything else (raw HTML is off, so nothing is expected here) is kept as escaped text
    return [md_escape(node.content)] if node.content.strip() else []


def _md_list(node: Any) -> list[str]:
    ordered = node.type == "ordered_list"
    tight = any(child.type == "paragraph" and child.hidden
                for item in node.children for child in item.children)
    number = int(node.attrs.get("start", 1)) if ordered else 0
    lines: list[str] = []
    for item in node.children:
        if ordered:
            marker = f"{number}{item.markup or '.'} "
            number += 1
        else:
            marker = f"{item.markup or '-'} "
        body = _md_blocks(item.children, tight=tight)
        if lines and not tight:
            lines.append("")
        if not body:
            lines.append(marker.rstrip())
            continue
        lines.append(marker + body[0])
        lines += [(" " * len(marker) + line) if line else "" for line in body[1:]]
    return lines


def _md_fence(code: str, info: str) -> list[str]:
    lang = re.sub(r"[^\w+.#-]", "", info.split()[0]) if info.strip() else ""
    runs = [len(r) for r in re.findall(r"`+", code)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    body = (code[:-1] if code.endswith("\n") else code).split("\n") if code else []
    return [fence + lang, *body, fence]


def _md_table(node: Any) -> list[str]:
    rows = [tr for part in node.children for tr in part.children]
    align = {"text-align:left": ":--", "text-align:right": "--:", "text-align:center": ":-:"}
    lines = []
    for i, tr in enumerate(rows):
        cells = [_md_inline(cell.children[0]).replace("\n", " ") if cell.children else ""
                 for cell in tr.children]
        lines.append("| " + " | ".join(cells) + " |")
        if i == 0:
            lines.append("| " + " | ".join(align.get(str(cell.attrs.get("style", "")), "---")
                                           for cell in tr.children) + " |")
    return lines


_LINE_START = re.compile(r"^([-+=~>]|\d{1,9}(?=[.)]))")


def _md_inline(node: Any) -> str:
    """An inline run as Markdown, every line's start kept from reading as a block marker."""
    text = "".join(_md_span(child) for child in node.children)
    return "\n".join(_LINE_START.sub(_guard, line) for line in text.split("\n"))


def _guard(match: re.Match[str]) -> str:
    start = match.group(1)
    return start + "\\" if start[0].isdigit() else "\\" + start


def _md_span(node: Any) -> str:
    kind = node.type
    if kind == "text":
        return md_escape(node.content)
    if kind == "softbreak":
        return "\n"
    if kind == "hardbreak":
        return "\\\n"
    if kind == "code_inline":
        return _md_code(node.content)
    inner = "".join(_md_span(child) for child in node.children)
    if kind == "em":
        return f"*{inner}*"
    if kind == "strong":
        return f"**{inner}**"
    if kind == "link":
        return f"[{inner}]({_md_destination(node)})"
    return inner or md_escape(node.content)


def _md_code(code: str) -> str:
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", code)), default=0) + 1)
    ends = code.startswith(("`", " ")) or code.endswith(("`", " "))
    pad = " " if ends and code.strip(" ") else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _md_destination(node: Any) -> str:
    """A link's target and title as written after ``](``; the parser has percent-encoded it."""
    href = str(node.attrs.get("href", ""))
    href = _ENTITY.sub("&amp;", href.replace("\\", "%5C").replace(" ", "%20").replace(
        "<", "%3C").replace(">", "%3E"))
    href = re.sub(r"([()])", r"\\\1", href)
    title = node.attrs.get("title")
    if not title:
        return href
    title = " ".join(str(title).split()).replace("\\", "\\\\").replace('"', '\\"')
    return f'{href} "{_ENTITY.sub("&amp;", title)}"'


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


HEATMAP_MAX_COLUMNS = 40  # more cases than this: the heat map shows them in groups


def heatmap_groups(cases: list[str]) -> list[list[str]]:
    """The heat map's columns: one case each up to :data:`HEATMAP_MAX_COLUMNS` cases, else
    runs of consecutive cases (in the matrix's order), all of one size but the last, so that
    there are at most that many columns."""
    size = max(1, -(-len(cases) // HEATMAP_MAX_COLUMNS))
    return [cases[i:i + size] for i in range(0, len(cases), size)]


def heatmap(matrix: dict[str, Any], fmt: str) -> bytes:
    """The presence heat map: codes down, cases across, coded segments in the coloured cells.

    Codes run down the side with their names (a theme with sub-themes is marked "(all)" and
    counts its whole subtree), so the figure reads at the width of a printed page. With more
    than :data:`HEATMAP_MAX_COLUMNS` cases it is :func:`grouped_heatmap` (a figure one column
    a case would be hundreds of inches wide and take gigabytes to draw).
    """
    if len(matrix["cases"]) > HEATMAP_MAX_COLUMNS:
        return grouped_heatmap(matrix, fmt)
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
        return _finish_code_rows(plt, fig, ax, rows, fmt)


def _finish_code_rows(plt: Any, fig: Any, ax: Any, rows: list[dict[str, Any]],
                      fmt: str) -> bytes:
    """What both heat maps end with: the code labels down the left (top-level codes bold), the
    number of cases raising each code down the right, no frame; laid out once and saved."""
    ax.set_yticks(range(len(rows)), [_row_label(r) for r in rows])
    for label, r in zip(ax.get_yticklabels(), rows, strict=False):
        label.set_fontweight("bold" if r["depth"] == 0 else "normal")
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(len(rows)), [str(r["n_cases"]) for r in rows])
    right.tick_params(length=0)
    for spine in (*ax.spines.values(), *right.spines.values()):
        spine.set_visible(False)
    fig.tight_layout()
    # tight_layout leaves a placeholder engine behind, for which savefig would lay out (draw)
    # the whole figure once more before drawing it for real; nothing is left to do
    fig.set_layout_engine(None)
    try:
        return _save(fig, fmt)
    finally:
        plt.close(fig)


def grouped_heatmap(matrix: dict[str, Any], fmt: str) -> bytes:
    """The heat map of a study with many cases: codes down, runs of cases across
    (:func:`heatmap_groups`), each cell shaded by the share of its run's cases raising the
    code and numbered with how many do; the right-hand column counts all cases, as in
    :func:`heatmap`. Its size and drawing cost depend on the codes, not on the cases."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    rows, groups = matrix["by_code"], heatmap_groups(matrix["cases"])
    raised = []  # per row, per group: cases of the group raising the code
    for r in rows:
        counts, at, line = r["counts"], 0, []
        for group in groups:
            line.append(sum(1 for v in counts[at:at + len(group)] if v))
            at += len(group)
        raised.append(line)
    shares = [[n / len(g) for n, g in zip(line, groups, strict=True)] for line in raised]
    labels = [g[0] if len(g) == 1 else f"{g[0]} – {g[-1]}" for g in groups]
    with plt.rc_context(_rc() | {"font.size": 9}):
        fig, ax = plt.subplots(figsize=(max(7.2, 3.0 + 0.42 * len(groups)),
                                        max(2.6, 0.27 * len(rows) + 2.0)))
        cmap = LinearSegmentedColormap.from_list("presence", ["#f1f3f5", "#2f6f9f"])
        ax.pcolormesh([x - 0.5 for x in range(len(groups) + 1)],
                      [y - 0.5 for y in range(len(rows) + 1)], shares or [[0.0] * len(groups)],
                      cmap=cmap, vmin=0, vmax=1, edgecolors="white", linewidth=1.5)
        ax.set_xlim(-0.5, len(groups) - 0.5)
        ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)
        for i, line in enumerate(raised):
            for j, n in enumerate(line):
                if n:
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                            color="white" if shares[i][j] >= 0.5 else "#1d3b52")
        ax.tick_params(which="major", length=0)
        ax.xaxis.tick_top()
        ax.set_xticks(range(len(groups)), labels, rotation=45, ha="left", fontsize=7)
        return _finish_code_rows(plt, fig, ax, rows, fmt)


def _row_label(row: dict[str, Any]) -> str:
    return row["name"] + (" (all)" if row["grouped"] else "")


def stakeholder_map(graph: Any, data: NetworkData, codebook: Codebook | None, fmt: str,
                    noun: str | tuple[str, str] = ("case", "cases"),
                    axis: Axis | None = None) -> bytes | None:
    """The stakeholder map from :mod:`tipqual.analysis.stakemap`; None when no stakeholder is
    cited (the only case it is not drawn: without a ``map:`` section it takes the fallback axis).
    ``axis``: the height (:func:`tipqual.analysis.stakemap.map_axis`; default: the codebook's).
    """
    from tipqual.analysis import stakemap
    if not any(kind == "stakeholder" for _, kind in graph.nodes(data="kind")):
        return None
    with tempfile.TemporaryDirectory(prefix="tipqual-map-") as tmp:
        path = Path(tmp) / f"map.{fmt}"
        stakemap.draw(graph, data, path, axis or stakemap.map_axis(codebook), noun=noun)
        return path.read_bytes()


def map_caption(codebook: Codebook | None, total: int, noun: str | tuple[str, str],
                axis: Axis | None = None) -> tuple[str, str]:
    """The stakeholder map's caption and alt text, saying what its height measures and what
    chose it: the codebook's ``map:`` section, the options of this report (``axis``, from
    :func:`tipqual.analysis.stakemap.map_axis`) or, with neither, the fallback. ``noun``: the
    word for a case (singular and plural, or the plural alone)."""
    from tipqual.analysis import stakemap
    axis = axis or stakemap.map_axis(codebook)
    one, many = stakemap.nouns(noun)
    caption = ("Stakeholder map: government on the left of the divide, civil society and other "
               f"partners on the right; {axis.meaning}")
    if axis.origin == "options":
        caption += (f"; the height ({axis.label}) is set for this report by its --map "
                    "options, not by the codebook's map: section")
    elif axis.fallback:
        caption += (" (the codebook has no map: section naming the codes that set the "
                    "height, so any code counts)")
    elif not axis.centre:
        caption += f" (height: {axis.label})"
    if total == 1:
        caption += f"; circle area and the number beside each name: 1, the {one} citing it."
    else:
        caption += (f"; circle area and the number beside each name: how many of the {total} "
                    f"{many} cite it.")
    return caption, f"Stakeholder map by sector and {axis.label}"


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


def heatmap_caption(total: int, noun: tuple[str, str], columns: list[list[str]]) -> str:
    """The heat map's caption, its counts in agreement with their nouns (one case: "the themes
    the school raises"); ``columns``: the heat map's columns (:func:`heatmap_groups`)."""
    one, many = noun
    tail = "Themes in bold; a theme marked (all) includes its sub-themes."
    if total == 1:
        return (f"Cross-case matrix: which themes the {one} raises (coloured: raised; number: "
                f"coded segments; right: 1 where the {one} raises it). {tail}")
    if all(len(c) == 1 for c in columns):  # one column a case
        how = f"(coloured: raised; number: coded segments; right: how many {many} raise it)"
    else:
        size = len(columns[0])
        how = (f"in {len(columns)} columns of {size} {many} each"
               f"{f' (the last {len(columns[-1])})' if len(columns[-1]) != size else ''}, "
               "in the order of the table (shade and number: how many of the column's "
               f"{many} raise it; right: how many of all the {many} raise it)")
    return f"Cross-case matrix: which of the {total} {many} raise each theme {how}. {tail}"


def figures(ctx: dict[str, Any], network: tuple[NetworkData, Any], codebook: Codebook | None,
            formats: tuple[str, ...], axis: Axis | None = None) -> dict[str, Figure]:
    """Draw the report's figures (``svg`` and/or ``png``) from its context and network;
    ``axis``: the stakeholder map's height (default: the codebook's, see :func:`map_caption`)."""
    noun = (ctx["study"]["noun"]["one"], ctx["study"]["noun"]["many"])
    total = ctx["study"]["cases"]
    columns = heatmap_groups(ctx["matrix"]["cases"])
    out = {"heatmap": Figure("presence", heatmap_caption(total, noun, columns),
                             "Heat map of themes against cases")}
    data, graph = network
    out["map"] = Figure("stakeholder-map", *map_caption(codebook, total, noun, axis))
    for fmt in formats:
        setattr(out["heatmap"], fmt, _decoded(heatmap(ctx["matrix"], fmt), fmt))
        drawn = stakeholder_map(graph, data, codebook, fmt, noun, axis)
        if drawn is not None:
            setattr(out["map"], fmt, _decoded(drawn, fmt))
    return out


def _decoded(raw: bytes, fmt: str) -> Any:
    return raw.decode("utf-8") if fmt == "svg" else raw


# --- the environment --------------------------------------------------------------------------

MAX_TEMPLATE_STEPS = 10_000_000  # loop items, calls and look-ups one rendering may take
MAX_TEMPLATE_SIZE = 10_000_000  # the longest string or list ``*`` may make, digits ``**`` may
MAX_REPORT_CHARS = 50_000_000  # the longest report a rendering may write


class TemplateBudgetError(Exception):
    """A template went past :data:`MAX_TEMPLATE_STEPS`, :data:`MAX_TEMPLATE_SIZE` or
    :data:`MAX_REPORT_CHARS`."""


class _CountedRange:
    """``range`` in a template: a sequence, each item it gives counted as a step."""

    def __init__(self, env: Any, inner: range):
        self._env, self._inner = env, inner

    def __len__(self) -> int:
        return len(self._inner)

    def __iter__(self) -> Any:
        for item in self._inner:
            self._env.step()
            yield item

    def __reversed__(self) -> Any:
        return iter(_CountedRange(self._env, self._inner[::-1]))

    def __getitem__(self, index: Any) -> Any:
        got = self._inner[index]
        return _CountedRange(self._env, got) if isinstance(got, range) else got

    def __contains__(self, item: Any) -> bool:
        return item in self._inner


# str methods that make a string as long as their argument says
_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _bounded_environment_class() -> Any:
    """Jinja's immutable sandbox with a budget: it cannot reach Python (the sandbox), nor run
    for ever or fill the memory (the budget). Every item a ``range`` gives, every call and
    every attribute or item look-up is a step, and a rendering may take
    :data:`MAX_TEMPLATE_STEPS` of them (the package's report of a 50,000-transcript study
    takes a small part of that); ``*`` may not make a string or list longer than
    :data:`MAX_TEMPLATE_SIZE`, nor ``**`` a number of more digits, nor padding a longer string.
    """
    import math

    from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.steps = 0
            self.globals["range"] = lambda *a: _CountedRange(self, safe_range(*a))

        def step(self) -> None:
            self.steps += 1
            if self.steps > MAX_TEMPLATE_STEPS:
                raise TemplateBudgetError(
                    f"it took more than {MAX_TEMPLATE_STEPS:,} steps (loop items, calls and "
                    "look-ups): a loop that does not end, or loops nested too deep")

        def getattr(self, obj: Any, attribute: str) -> Any:
            self.step()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            self.step()
            return super().getitem(obj, argument)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            __self.step()
            if getattr(__obj, "__name__", None) in _PADDING and \
                    isinstance(getattr(__obj, "__self__", None), str):
                _check_size(max([a for a in (*args, *kwargs.values())
                                 if isinstance(a, int)], default=0), "a padded string")
            return super().call(__context, __obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            self.step()
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                        _check_size(len(seq) * times, "a repeated string or list")
            elif operator == "**" and isinstance(right, int) and \
                    isinstance(left, (int, float)) and abs(left) > 1:
                _check_size(int(abs(right) * math.log10(abs(left))), "a power")
            return super().call_binop(context, operator, left, right)

    return BoundedEnvironment


def _check_size(size: int, what: str) -> None:
    if size > MAX_TEMPLATE_SIZE:
        raise TemplateBudgetError(f"{what} would be {size:,} long, more than "
                                  f"{MAX_TEMPLATE_SIZE:,}")

def environment(fmt: str, templates: str | Path | None = None) -> Any:
    """The Jinja environment for ``html`` or ``md``: overrides first, then the package.

    Templates run in Jinja's immutable sandbox, the package's own and a study's alike (an
    override may extend a package template, so both run in one environment): no attribute
    starting with ``_``, no Python internals, no method that changes the report's data, ranges
    of at most 100,000 items. A template can show the report's data, not reach Python; and it
    cannot run for ever or fill the memory (see :func:`_bounded_environment_class`).
    """
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader, StrictUndefined

    loaders: list[Any] = []
    if templates is not None:
        folder = Path(templates)
        if not folder.is_dir():
            raise ReportError("no such templates folder; give the folder holding your "
                              f"{', '.join(TEMPLATES.values())}", path=folder)
        loaders.append(FileSystemLoader(str(folder)))
    package = PackageLoader("tipqual.report", "templates")
    loaders += [package, PrefixLoader({"tipqual": package})]
    env = _bounded_environment_class()(
        loader=ChoiceLoader(loaders), autoescape=fmt == "html", undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        finalize=md_escape if fmt == "md" else None)
    env.filters.update(prevalence=prevalence, quote=quote, percent=percent, stat=stat,
                       capfirst=capfirst, band_label=band_label, listing=listing)
    return env


def render(fmt: str, ctx: dict[str, Any], templates: str | Path | None = None) -> str:
    """Render the report template of ``fmt`` with ``ctx``; template errors become ReportError.

    A failure while rendering names the template file and line it happened on (the innermost
    template, so an override's own block rather than the package template it extends).
    """
    from jinja2 import TemplateNotFound, TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    env = environment(fmt, templates)
    name = TEMPLATES[fmt]
    try:
        return _rendered(env.get_template(name), ctx)
    except TemplateSyntaxError as exc:
        raise ReportError(f"template syntax error: {exc.message}; fix the template",
                          path=exc.filename or name, line=exc.lineno) from exc
    except TemplateNotFound as exc:  # one that a template extends, includes or imports
        path, line = _template_line(exc, env, name)
        raise ReportError(f"template {exc.name!r} not found; check the templates folder "
                          "(package templates are named tipqual/NAME)",
                          path=path if line else templates or name, line=line) from exc
    except TemplateBudgetError as exc:
        path, line = _template_line(exc, env, name)
        raise ReportError(f"the template was stopped: {_sentence(exc)}; make the loop end or "
                          "the value smaller", path=path or _template_path(env, name),
                          line=line) from exc
    except SecurityError as exc:
        path, line = _template_line(exc, env, name)
        raise ReportError(f"the template was stopped: {_sentence(exc)}; a template may use "
                          "the report's data and filters, not Python's internals or methods "
                          "that change the data", path=path, line=line) from exc
    except Exception as exc:  # anything a template's own code does wrong: 1 // 0, a bad name
        path, line = _template_line(exc, env, name)
        if path is None:  # not raised by template code: a fault of tipqual's, not the user's
            raise
        advice = ("check the names it uses against the report context"
                  if isinstance(exc, UndefinedError) else "fix the template there")
        raise ReportError(f"the template failed: {_sentence(exc)}; {advice}", path=path,
                          line=line) from exc


def _rendered(template: Any, ctx: dict[str, Any]) -> str:
    """The template's text, written piece by piece and stopped past :data:`MAX_REPORT_CHARS`
    (its pieces are not held apart: memory stays near the report's own size)."""
    import io

    out, size = io.StringIO(), 0
    for piece in template.generate(ctx):
        size += len(piece)
        if size > MAX_REPORT_CHARS:
            raise TemplateBudgetError(f"the report would be more than {MAX_REPORT_CHARS:,} "
                                      "characters long")
        out.write(piece)
    return out.getvalue()


def _sentence(exc: Exception) -> str:
    """An exception's message as a clause: one line, no closing full stop."""
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


def _template_line(exc: BaseException, env: Any, name: str) -> tuple[str | None, int | None]:
    """The template file and line where ``exc`` arose (Jinja's rewritten traceback), if any.

    Jinja replaces the frames of compiled template code by frames with the template's file
    name and line; the innermost of them is where the template went wrong. A failure with no
    such frame (a template's name alone is known) gives the top template's file, or None
    when the error is not the template's at all.
    """
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if found[0] is None and _from_jinja(exc):
        return _template_path(env, name), None
    return found


def _from_jinja(exc: BaseException) -> bool:
    from jinja2 import TemplateError

    return isinstance(exc, TemplateError)


def _template_path(env: Any, name: str) -> str:
    try:
        source = env.loader.get_source(env, name)
        return source[1] or name
    except Exception:  # the name itself is the best we can say
        return name
