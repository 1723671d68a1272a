"""The stakeholder map: the research brief's quadrant picture, drawn from a study's data.

Horizontal: government actors on the left of the divide, civil society (and every other
non-government sector, in its own colour) on the right. Within a side the circles are placed
in order of the cases citing them, the most cited nearest the divide — a position that only
separates circles, it measures nothing else.

Vertical: the share of the respondent segments mentioning the stakeholder that are coded
(human or accepted codings) with one of the **axis codes** (or a code below one of them): 1.0,
every mention is in such a passage; 0.0, none is. The codebook's ``map:`` section chooses the
codes and names the axis (:class:`Axis`, :func:`map_axis`); the TIP codebook's are the
victim-support codes, so its axis is proximity to the victim. ``--map-codes`` (of ``tipqual
network`` and ``tipqual report``) overrides them for one map.

Without a ``map:`` section the axis falls back to **presence in coded passages**: the share of
the passages naming the stakeholder that carry any code of the codebook at all. It works for
any codebook and tells apart the actors who come up while respondents talk about the study's
themes from those named in passing; the figure's axis title and its note say so.

Circle area grows with the number of cases citing the stakeholder (also printed beside its
name); no circle touches another or the divide. Each label goes where it hits no other label
or circle, and stays on its own side of the divide. The figure is written with a fixed SVG hash
salt and without dates or software versions, so reruns give the same bytes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import NO_CODEBOOK_ADVICE, ReportError

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from tipqual.analysis.network import NetworkData
    from tipqual.codebook.model import Codebook

FIGURE_FORMATS = (".svg", ".png")
SECTOR_COLOURS = {"government": "#2f5d8a", "civil_society": "#d9822b"}
OTHER_COLOUR = "#6a9f58"
# The other sectors of a figure, in alphabetical order, take these in turn (then the last).
OTHER_COLOURS = (OTHER_COLOUR, "#8c6bb1", "#c0504d", "#3a9ab2", "#a6761d", "#7f7f7f")
HASH_SALT = "tipqual"
FIG_SIZE = (10.0, 7.0)
AXES = (0.09, 0.2, 0.89, 0.72)  # left, bottom, width, height: room below for the legend
X_LIMIT = 1.06
Y_LIMITS = (-0.24, 1.2)
MAX_DIAMETER, MIN_DIAMETER, CIRCLE_GAP = 56.0, 12.0, 4.0  # points
DIVIDE_GAP = 3.0  # points between the divide and the nearest label or circle
LEGEND_FONT, LEGEND_Y = 9.0, 0.118  # the legend's font size and the height of its centre
RC: dict[RcKeyType, Any] = {"svg.hashsalt": HASH_SALT, "svg.fonttype": "path",
                            "font.family": "DejaVu Sans", "font.size": 10}
FALLBACK_LABEL = "presence in coded passages"
SHOWN_CODES = 4  # axis codes named in the figure's note before "and N more"
DEFAULT_NOUN = ("case", "cases")
CASE_NOUN_SETTING = "case_noun"  # the study's own word for a case (``tipqual set --case-noun``)
ORIGINS = ("codebook", "options", "fallback")  # where an axis comes from (Axis.origin)


def nouns(noun: str | Sequence[str]) -> tuple[str, str]:
    """The singular and plural of the word for a case: a pair as given, or a plural alone
    (``"organisations"``), whose singular is the plural without its final ``s``."""
    if isinstance(noun, str):
        return (noun[:-1] if noun.endswith("s") and len(noun) > 1 else noun), noun
    one, many = noun
    return one, many


def setting_nouns(spec: str | None) -> tuple[str, str]:
    """The singular and plural a study's case-noun setting gives: ``"site"`` (plural
    ``sites``) or ``"person/people"``; :data:`DEFAULT_NOUN` when there is none."""
    one, _, many = (spec or "").partition("/")
    one, many = one.strip(), many.strip()
    return (one, many or one + "s") if one else DEFAULT_NOUN


@dataclass(frozen=True)
class Axis:
    """What the map's height measures, and the words the figure and the report say it in.

    ``codes``: a passage carrying one of them counts (the declared codes and every code below
    them, in codebook order); ``declared``: the codes as chosen; ``fallback``: True when the
    codebook chose none, so any code counts. The rest are the figure's words: ``label`` and
    ``detail`` (the axis title and, in brackets, what it is a share of), ``passages`` (the
    passages that count, as a noun phrase), ``centre`` (the marker on top of the divide; empty:
    none), ``high`` and ``low`` (the upper and lower quadrants).
    """

    codes: tuple[str, ...]
    declared: tuple[str, ...]
    label: str
    detail: str
    passages: str
    centre: str = ""
    high: str = "high share"
    low: str = "low share"
    fallback: bool = False
    origin: str = "codebook"  # one of ORIGINS: the map: section, the options, the fallback

    @property
    def title(self) -> str:
        """The end of the figure's title: "and how close to the victim" / "by sector and …"."""
        return f"and how close to the {self.centre}" if self.centre else \
            f"by sector and {self.label}"

    @property
    def axis_title(self) -> str:
        """The vertical axis's title, on at most four short lines."""
        lines = textwrap.wrap(self.label, 48)
        if self.detail:
            lines += textwrap.wrap(f"({self.detail})", 56)
        return "\n".join(lines[:4])

    @property
    def note(self) -> str:
        """The first line of the note under the figure: what the height is."""
        if self.fallback:
            return ("Height: share of the respondent passages naming the stakeholder that carry "
                    "any code (the codebook's map: section, or --map-codes, chooses the codes).")
        shown = list(self.declared[:SHOWN_CODES])
        more = len(self.declared) - len(shown)
        named = ", ".join(shown) + (f" and {more} more" if more else "")
        below = " (or a code below them)" if set(self.codes) - set(self.declared) else ""
        return ("Height: share of the respondent passages naming the stakeholder that are "
                f"coded {named}{below}.")

    @property
    def meaning(self) -> str:
        """The height in words, for a caption: "… the share of its mentions that come in …"."""
        where = f" ({self.high})" if self.centre else ""
        return (f"the higher a circle, the larger the share of its mentions that come in "
                f"{self.passages}{where}")


def map_axis(codebook: Codebook | None, *, codes: Sequence[str] | None = None,
             label: str | None = None, centre: str | None = None) -> Axis:
    """The map's axis for a codebook: its ``map:`` section, the options given, or the fallback.

    ``codes`` (``--map-codes``) replace the section's codes and its labels (its words were for
    its own codes); ``label`` and ``centre`` (``--map-label``, ``--map-centre``) replace one
    label (the fallback axis takes a label, not a centre: it measures no closeness to
    anything). A code the codebook does not have raises ReportError naming it, and so does a
    study without a codebook (``codebook`` None). The axis's
    ``origin`` says which chose it: ``options`` when any was given, else ``codebook`` (its
    section) or ``fallback``.
    """
    if codebook is None:
        raise ReportError("the study has no codebook, so the map has no codes to measure its "
                          f"height by; {NO_CODEBOOK_ADVICE}")
    section = codebook.map
    ids = list(codebook.ids)
    chosen: list[str] = []
    words: dict[str, str] = {}
    if codes:
        unknown = [c for c in codes if c not in ids]
        if unknown:
            raise ReportError(f"unknown map code {unknown[0]!r}; the codebook "
                              f"{codebook.name!r} has: {', '.join(ids)}")
        chosen = list(dict.fromkeys(codes))
    elif section is not None:
        chosen = [c for c in section.axis_codes if c in ids]
        words = {"label": section.axis_label, "passages": section.passages_label,
                 "centre": section.centre_label, "high": section.high_label,
                 "low": section.low_label}
    if label:
        words["label"] = label
    if centre:
        words["centre"] = centre
    origin = "options" if codes or label or centre else "codebook"
    if not chosen:
        return Axis(codes=tuple(ids), declared=(), fallback=True, origin="fallback",
                    label=words.get("label") or FALLBACK_LABEL,
                    detail="share of mentions in passages that carry any code",
                    passages="passages that carry any code",
                    high="mostly in coded passages", low="rarely in coded passages")
    wanted = {sub for code in chosen for sub in codebook.subtree(code)}
    return _words(tuple(c for c in ids if c in wanted), tuple(chosen), words, origin)


def _words(codes: tuple[str, ...], declared: tuple[str, ...], words: dict[str, str],
           origin: str = "options") -> Axis:
    """An axis of chosen codes, each missing label in the map's own words."""
    named = " or ".join(declared) if len(declared) <= SHOWN_CODES else \
        f"{', '.join(declared[:SHOWN_CODES])} or {len(declared) - SHOWN_CODES} more codes"
    passages = f"{words['passages']} passages" if words.get("passages") else \
        f"passages coded {named}"
    share = f"share of mentions in {passages}"
    centre = words.get("centre") or ""
    return Axis(codes=codes, declared=declared, label=words.get("label") or share,
                detail=share if words.get("label") else "", passages=passages, centre=centre,
                high=words.get("high") or (f"nearer the {centre}" if centre else "high share"),
                low=words.get("low") or (f"further from the {centre}" if centre else "low share"),
                origin=origin)


def _as_axis(axis: Axis | Sequence[str]) -> Axis:
    """An axis, or one made of plain code ids in the map's own words."""
    if isinstance(axis, Axis):
        return axis
    codes = tuple(dict.fromkeys([axis] if isinstance(axis, str) else axis))
    if not codes:
        raise ReportError("the map has no axis codes, so its height cannot be measured; give "
                          "code ids of the codebook, or the axis map_axis() finds for it")
    return _words(codes, codes, {})


def proximity(data: NetworkData, codes: Sequence[str]) -> dict[str, float]:
    """Per cited stakeholder: the share of its mention segments carrying one of ``codes``."""
    wanted = set(codes)
    segments: dict[str, set[str]] = {}
    for _case, stakeholder, segment in data.citations:
        segments.setdefault(stakeholder, set()).add(segment)
    return {s: round(sum(1 for seg in segs if wanted & set(data.segment_codes.get(seg, [])))
                     / len(segs), 4)
            for s, segs in sorted(segments.items())}


def layout(graph: Any, data: NetworkData, axis: Axis | Sequence[str]) -> list[dict[str, Any]]:
    """One placed point per cited stakeholder: id, sector, cases, x, y, label side."""
    near = proximity(data, _as_axis(axis).codes)
    points = [dict(id=attrs["label"], name=attrs["name"], sector=attrs["sector"],
                   cases=attrs["cases"], mentions=attrs["mentions"], y=near[attrs["label"]])
              for _, attrs in graph.nodes(data=True) if attrs["kind"] == "stakeholder"]
    sides = {-1: [p for p in points if p["sector"] == "government"],
             1: [p for p in points if p["sector"] != "government"]}
    for side, members in sides.items():
        members.sort(key=lambda p: (-p["cases"], -p["mentions"], p["id"]))
        for k, p in enumerate(members):
            p["x"] = side * (k + 0.5) / len(members)
            p["label_above"] = k % 2 == 0  # alternate so neighbours' labels do not collide
    return sorted(points, key=lambda p: (p["x"], p["id"]))


def draw(graph: Any, data: NetworkData, path: str | Path, axis: Axis | Sequence[str], *,
         noun: str | Sequence[str] = DEFAULT_NOUN) -> None:
    """Draw the stakeholder map to ``path`` (``.svg`` or ``.png``).

    ``axis``: what the height measures (:func:`map_axis`), or plain code ids; ``noun``: the
    word for a case, singular and plural (or the plural alone, see :func:`nouns`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ReportError(f"unknown figure format {path.suffix or '(none)'!r}; use "
                          f"{' or '.join(FIGURE_FORMATS)}", path=path)
    fig, _ = build_figure(graph, data, axis, noun=noun)
    from matplotlib import pyplot as plt

    metadata = {"Date": None, "Creator": "tipqual"} if suffix == ".svg" else {"Software": None}
    try:
        with plt.rc_context(RC):
            fig.savefig(path, format=suffix[1:], dpi=150, metadata=metadata)
    except OSError as exc:
        raise ReportError(f"cannot write the figure: {exc.strerror or exc}", path=path) from exc
    finally:
        plt.close(fig)


def build_figure(graph: Any, data: NetworkData, axis: Axis | Sequence[str], *,
                 noun: str | Sequence[str] = DEFAULT_NOUN) -> tuple[Any, list[dict[str, Any]]]:
    """The map as a matplotlib figure, and each placed point with its circle and label boxes.

    Its title names the cases in agreement with their number ("who the 4 schools cite", "who
    the school cites"); ``noun`` as in :func:`draw`.

    Boxes are ``(x0, y0, x1, y1)`` in figure pixels; no label box overlaps another label or
    any circle, and none crosses the divide (tests check it).
    """
    axis = _as_axis(axis)
    points = layout(graph, data, axis)
    if not points:
        raise ReportError("no stakeholder is cited in a respondent segment: nothing to map; "
                          "check the codebook's stakeholder registry")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    total = len(data.cases)
    one, many = nouns(noun)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=FIG_SIZE, dpi=100)
        ax = fig.add_axes(AXES)
        _frame(ax, total, (one, many), axis)
        diameter = _diameter(points, total)
        _circles(ax, points, total, diameter)
        placed = _labels(fig, ax, points)
        _legend(fig, ax, points, total, diameter, (one, many))
        fig.text(AXES[0], 0.012, f"{axis.note}\nWithin a side, the most cited stakeholders "
                 f"sit nearest the divide; the number after a name is the {many} citing it.",
                 fontsize=8, color="#555555", linespacing=1.4)
    return fig, placed


def _to_points(ax_size: tuple[float, float], x: float, y: float) -> tuple[float, float]:
    """Data coordinates to points inside the axes (fixed limits, so no drawing needed)."""
    width, height = ax_size
    return ((x + X_LIMIT) / (2 * X_LIMIT) * width,
            (y - Y_LIMITS[0]) / (Y_LIMITS[1] - Y_LIMITS[0]) * height)


def _factor(cases: int, total: int) -> float:
    """Diameter relative to the largest: area grows linearly with the cases citing."""
    return math.sqrt(0.12 + 0.88 * cases / max(total, 1))


def _diameter(points: list[dict[str, Any]], total: int) -> float:
    """The largest circle diameter (pt) at which no two circles touch, nor any the divide."""
    size = (FIG_SIZE[0] * AXES[2] * 72, FIG_SIZE[1] * AXES[3] * 72)
    best = MAX_DIAMETER
    divide = _to_points(size, 0.0, 0.0)[0]
    for p in points:
        room = abs(_to_points(size, p["x"], p["y"])[0] - divide) - DIVIDE_GAP
        best = min(best, 2 * room / _factor(p["cases"], total))
    for i, a in enumerate(points):
        for b in points[i + 1:]:
            (ax_, ay), (bx, by) = _to_points(size, a["x"], a["y"]), _to_points(size, b["x"],
                                                                               b["y"])
            room = math.hypot(ax_ - bx, ay - by) - CIRCLE_GAP
            best = min(best, 2 * room / (_factor(a["cases"], total)
                                         + _factor(b["cases"], total)))
    return max(MIN_DIAMETER, best)


def map_title(n_cases: int, noun: str | Sequence[str], axis: Axis) -> str:
    """The map's title: "Stakeholder map: who the 4 schools cite, …" (one case: "who the
    school cites")."""
    one, many = nouns(noun)
    who = f"who the {one} cites" if n_cases == 1 else f"who the {n_cases} {many} cite"
    return f"Stakeholder map: {who}, {axis.title}"


def _frame(ax: Any, n_cases: int, noun: tuple[str, str], axis: Axis) -> None:
    ax.set_xlim(-X_LIMIT, X_LIMIT)
    ax.set_ylim(*Y_LIMITS)
    for side, colour in ((-1, SECTOR_COLOURS["government"]),
                         (1, SECTOR_COLOURS["civil_society"])):
        ax.axvspan(0, side * X_LIMIT, color=colour, alpha=0.06, linewidth=0, zorder=0)
    ax.axvline(0, color="#444444", linewidth=1.2, zorder=1)
    ax.axhline(0.5, color="#999999", linewidth=0.8, linestyle="--", zorder=1)
    corners = ((-1, Y_LIMITS[1] - 0.03, "top", f"GOVERNMENT\n{axis.high}"),
               (-1, Y_LIMITS[0] + 0.03, "bottom", f"GOVERNMENT\n{axis.low}"),
               (1, Y_LIMITS[1] - 0.03, "top", f"CIVIL SOCIETY AND OTHERS\n{axis.high}"),
               (1, Y_LIMITS[0] + 0.03, "bottom", f"CIVIL SOCIETY AND OTHERS\n{axis.low}"))
    for side, y, va, text in corners:
        ax.text(side * (X_LIMIT - 0.02), y, text, ha="left" if side < 0 else "right",
                va=va, fontsize=8.5, color="#6b7785", linespacing=1.3, zorder=1)
    ax.set_xticks([])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_ylabel(axis.axis_title)
    if axis.centre:
        ax.text(0, 1.1, axis.centre, ha="center", va="center", fontsize=10.5,
                fontweight="bold", zorder=5, bbox={"boxstyle": "round", "facecolor": "#f3e6e6",
                                                   "edgecolor": "#a05050"})
    ax.set_title(map_title(n_cases, noun, axis), fontsize=12, pad=10)
    for spine in ("top", "right", "bottom"):
        ax.spines[spine].set_visible(False)


def sector_colours(sectors: Iterable[str]) -> dict[str, str]:
    """The colour of each sector of a figure: government and civil society their own, every
    other sector one of :data:`OTHER_COLOURS` by its alphabetical place among them, so two
    sectors in one legend never share a colour (up to six others)."""
    others = sorted(set(sectors) - set(SECTOR_COLOURS))
    colours = {s: OTHER_COLOURS[min(i, len(OTHER_COLOURS) - 1)] for i, s in enumerate(others)}
    return {**colours, **SECTOR_COLOURS}


def _circles(ax: Any, points: list[dict[str, Any]], n_cases: int, diameter: float) -> None:
    colours = sector_colours(p["sector"] for p in points)
    for p in points:
        colour = colours[p["sector"]]
        p["diameter"] = diameter * _factor(p["cases"], n_cases)
        ax.scatter([p["x"]], [p["y"]], s=p["diameter"] ** 2, color=colour, alpha=0.8,
                   edgecolors="white", linewidths=1, zorder=3)


def _labels(fig: Any, ax: Any, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label each circle where the label hits no other label, circle, edge or the divide.

    A label stays on its circle's side of the divide: a centred label next to the divide would
    reach across it, so the places tried include labels that run outwards from the circle's
    centre (right-aligned on the government side, left-aligned on the other). When no place
    is free, the one with the fewest faults is kept, crossing the divide counting worst.
    """
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    divide = ax.transData.transform((0.0, 0.0))[0]
    margin = DIVIDE_GAP * scale
    blocked = [_box(t.get_window_extent(renderer)) for t in ax.texts]
    circles = []
    for p in points:
        cx, cy = ax.transData.transform((p["x"], p["y"]))
        r = p["diameter"] / 2 * scale
        circles.append((cx - r, cy - r, cx + r, cy + r))
    placed = []
    for i, p in enumerate(points):
        left = p["x"] < 0  # the government side
        others = blocked + circles[:i] + circles[i + 1:]

        def faults(box: tuple[float, float, float, float], others: list[Any] = others,
                   left: bool = left) -> tuple[int, int, int]:
            crosses = box[2] > divide - margin if left else box[0] < divide + margin
            outside = not (box[0] >= frame.x0 and box[2] <= frame.x1 and box[1] >= frame.y0
                           and box[3] <= frame.y1)
            return int(crosses), int(outside), sum(1 for o in others if _overlap(box, o))

        best: tuple[tuple[int, int, int], tuple[float, float, str, str]] | None = None
        for place in _places(p, left):
            text = _label(ax, p, place)
            box = _box(text.get_window_extent(renderer))
            text.remove()
            score = faults(box)
            if best is None or score < best[0]:
                best = (score, place)
            if score == (0, 0, 0):
                break
        assert best is not None  # _places always gives some
        box = _box(_label(ax, p, best[1]).get_window_extent(renderer))
        blocked.append(box)
        placed.append({"id": p["id"], "circle": circles[i], "label": box})
    return placed


def _places(p: dict[str, Any], left: bool) -> list[tuple[float, float, str, str]]:
    """Where a label may go, best first: (dx, dy) offset in points, then its alignment."""
    gap = p["diameter"] / 2 + 2
    outward = "right" if left else "left"  # the text runs away from the divide
    above = [(0.0, gap, "center", "bottom"), (0.0, gap, outward, "bottom")]
    below = [(0.0, -gap, "center", "top"), (0.0, -gap, outward, "top")]
    near = above + below if p["label_above"] else below + above
    beside = [(-gap if left else gap, 0.0, outward, "center"),
              (gap if left else -gap, 0.0, "left" if left else "right", "center")]
    further = [(0.0, dy * (gap + 12), ha, va) for dy, va in ((1, "bottom"), (-1, "top"))
               for ha in ("center", outward)]
    return near + beside + further


def _label(ax: Any, p: dict[str, Any], place: tuple[float, float, str, str]) -> Any:
    dx, dy, ha, va = place
    return ax.annotate(f"{p['id']} ({p['cases']})", (p["x"], p["y"]), xytext=(dx, dy),
                       textcoords="offset points", ha=ha, va=va, fontsize=9, zorder=4)


def _box(extent: Any) -> tuple[float, float, float, float]:
    return (extent.x0, extent.y0, extent.x1, extent.y1)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _legend(fig: Any, ax: Any, points: list[dict[str, Any]], n_cases: int, diameter: float,
            noun: tuple[str, str]) -> None:
    sizes = sorted({1, max(1, n_cases)})
    handles = [ax.scatter([], [], s=(diameter * _factor(n, n_cases)) ** 2, color="#bbbbbb",
                          label=f"{n} {noun[1] if n > 1 else noun[0]}") for n in sizes]
    sectors = sorted({p["sector"] for p in points})
    colours = sector_colours(sectors)
    handles += [ax.scatter([], [], s=90, color=colours[s], label=s.replace("_", " "))
                for s in sectors]
    # The largest circle reaches this far (in font sizes) beyond its handle's box: so much
    # more room to its text and to the next entry, and its row centred above the note.
    overhang = max(0.0, diameter / 2 - LEGEND_FONT) / LEGEND_FONT
    fig.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, LEGEND_Y),
               ncol=len(handles), frameon=False, handletextpad=0.8 + overhang,
               columnspacing=1.6 + overhang, borderpad=0.2, fontsize=LEGEND_FONT)
