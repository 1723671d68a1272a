"""The stakeholder map: the research brief's quadrant picture, drawn from a study's data.

Horizontal: government actors on the left of the divide, civil society (and every other
non-government sector, in its own colour) on the right. Within a side the circles are placed
in order of the cases citing them, the most cited nearest the divide — a position that only
separates circles, it measures nothing else.

Vertical: **proximity to the victim**, the share of the respondent segments mentioning the
stakeholder that are coded (human or accepted codings) with a victim-support code —
``victim-services``, ``referral`` or ``protection`` (and any code below them in the codebook).
1.0: every mention is in a passage about supporting victims; 0.0: none is.

Circle area grows with the number of cases citing the stakeholder (also printed beside its
name); each label goes where it hits no other label or circle. The figure is written with
a fixed SVG hash salt and without dates or software versions, so reruns give the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import ReportError

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

VICTIM_CODES = ("victim-services", "referral", "protection")
FIGURE_FORMATS = (".svg", ".png")
SECTOR_COLOURS = {"government": "#2f5d8a", "civil_society": "#d9822b"}
OTHER_COLOUR = "#6a9f58"
HASH_SALT = "tipqual"
FIG_SIZE = (10.0, 7.0)
AXES = (0.09, 0.2, 0.89, 0.72)  # left, bottom, width, height: room below for the legend
X_LIMIT = 1.06
Y_LIMITS = (-0.24, 1.2)
MAX_DIAMETER, MIN_DIAMETER, CIRCLE_GAP = 56.0, 12.0, 4.0  # points
RC: dict[RcKeyType, Any] = {"svg.hashsalt": HASH_SALT, "svg.fonttype": "path",
                            "font.family": "DejaVu Sans", "font.size": 10}


def victim_codes(codebook: Any) -> list[str]:
    """The victim-support codes present in a codebook, with their descendants, in its order."""
    wanted = {sub for code in VICTIM_CODES if code in codebook.ids
              for sub in codebook.subtree(code)}
    return [c for c in codebook.ids if c in wanted]


def proximity(data: Any, codes: list[str]) -> dict[str, float]:
    """Per cited stakeholder: share of its mention segments carrying a victim-support code."""
    wanted = set(codes)
    segments: dict[str, set[str]] = {}
    for _case, stakeholder, segment in data.citations:
        segments.setdefault(stakeholder, set()).add(segment)
    return {s: round(sum(1 for seg in segs if wanted & set(data.segment_codes.get(seg, [])))
                     / len(segs), 4)
            for s, segs in sorted(segments.items())}


def layout(graph: Any, data: Any, codes: list[str]) -> list[dict[str, Any]]:
    """One placed point per cited stakeholder: id, sector, cases, x, y, label side."""
    near = proximity(data, codes)
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


def draw(graph: Any, data: Any, path: str | Path, codes: list[str], *,
         noun: str = "cases") -> None:
    """Draw the stakeholder map to ``path`` (``.svg`` or ``.png``); ``noun``: cases' word."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ReportError(f"unknown figure format {path.suffix or '(none)'!r}; use "
                          f"{' or '.join(FIGURE_FORMATS)}", path=path)
    fig, _ = build_figure(graph, data, codes, noun=noun)
    from matplotlib import pyplot as plt

    metadata = {"Date": None, "Creator": "tipqual"} if suffix == ".svg" else {"Software": None}
    try:
        with plt.rc_context(RC):
            fig.savefig(path, format=suffix[1:], dpi=150, metadata=metadata)
    except OSError as exc:
        raise ReportError(f"cannot write the figure: {exc.strerror or exc}", path=path) from exc
    finally:
        plt.close(fig)


def build_figure(graph: Any, data: Any, codes: list[str], *,
                 noun: str = "cases") -> tuple[Any, list[dict[str, Any]]]:
    """The map as a matplotlib figure, and each placed point with its circle and label boxes.

    Boxes are ``(x0, y0, x1, y1)`` in figure pixels; no label box overlaps another label or
    any circle (tests check it).
    """
    if not codes:
        raise ReportError("no victim-support code in the codebook (one of "
                          f"{', '.join(VICTIM_CODES)}), so proximity to the victim cannot be "
                          "measured")
    points = layout(graph, data, codes)
    if not points:
        raise ReportError("no stakeholder is cited in a respondent segment: nothing to map; "
                          "check the codebook's stakeholder registry")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    total = len(data.cases)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=FIG_SIZE, dpi=100)
        ax = fig.add_axes(AXES)
        _frame(ax, total, noun)
        diameter = _diameter(points, total)
        _circles(ax, points, total, diameter)
        placed = _labels(fig, ax, points)
        _legend(fig, ax, points, total, diameter, noun)
        fig.text(AXES[0], 0.012, "Height: share of the respondent passages naming the "
                 f"stakeholder that are coded {', '.join(codes)}.\nWithin a side, the most "
                 "cited stakeholders sit nearest the divide; the number after a name is the "
                 f"{noun} citing it.", fontsize=8, color="#555555", linespacing=1.4)
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
    """The largest circle diameter (pt) at which no two circles touch where they stand."""
    size = (FIG_SIZE[0] * AXES[2] * 72, FIG_SIZE[1] * AXES[3] * 72)
    best = MAX_DIAMETER
    for i, a in enumerate(points):
        for b in points[i + 1:]:
            (ax_, ay), (bx, by) = _to_points(size, a["x"], a["y"]), _to_points(size, b["x"],
                                                                               b["y"])
            room = math.hypot(ax_ - bx, ay - by) - CIRCLE_GAP
            best = min(best, 2 * room / (_factor(a["cases"], total)
                                         + _factor(b["cases"], total)))
    return max(MIN_DIAMETER, best)


def _frame(ax: Any, n_cases: int, noun: str) -> None:
    ax.set_xlim(-X_LIMIT, X_LIMIT)
    ax.set_ylim(*Y_LIMITS)
    for side, colour in ((-1, SECTOR_COLOURS["government"]),
                         (1, SECTOR_COLOURS["civil_society"])):
        ax.axvspan(0, side * X_LIMIT, color=colour, alpha=0.06, linewidth=0, zorder=0)
    ax.axvline(0, color="#444444", linewidth=1.2, zorder=1)
    ax.axhline(0.5, color="#999999", linewidth=0.8, linestyle="--", zorder=1)
    corners = ((-1, Y_LIMITS[1] - 0.03, "top", "GOVERNMENT\nnearer the victim"),
               (-1, Y_LIMITS[0] + 0.03, "bottom", "GOVERNMENT\nfurther from the victim"),
               (1, Y_LIMITS[1] - 0.03, "top", "CIVIL SOCIETY AND OTHERS\nnearer the victim"),
               (1, Y_LIMITS[0] + 0.03, "bottom",
                "CIVIL SOCIETY AND OTHERS\nfurther from the victim"))
    for side, y, va, text in corners:
        ax.text(side * (X_LIMIT - 0.02), y, text, ha="left" if side < 0 else "right",
                va=va, fontsize=8.5, color="#6b7785", linespacing=1.3, zorder=1)
    ax.set_xticks([])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_ylabel("proximity to the victim\n(share of mentions in victim-support passages)")
    ax.text(0, 1.1, "victim", ha="center", va="center", fontsize=10.5, fontweight="bold",
            zorder=5, bbox={"boxstyle": "round", "facecolor": "#f3e6e6",
                            "edgecolor": "#a05050"})
    ax.set_title(f"Stakeholder map: who the {n_cases} {noun} cite, and how close to the victim",
                 fontsize=12, pad=10)
    for spine in ("top", "right", "bottom"):
        ax.spines[spine].set_visible(False)


def _circles(ax: Any, points: list[dict[str, Any]], n_cases: int, diameter: float) -> None:
    for p in points:
        colour = SECTOR_COLOURS.get(p["sector"], OTHER_COLOUR)
        p["diameter"] = diameter * _factor(p["cases"], n_cases)
        ax.scatter([p["x"]], [p["y"]], s=p["diameter"] ** 2, color=colour, alpha=0.8,
                   edgecolors="white", linewidths=1, zorder=3)


def _labels(fig: Any, ax: Any, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label each circle where the label hits no other label, circle or the axes' edge."""
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    blocked = [_box(t.get_window_extent(renderer)) for t in ax.texts]
    circles = []
    for p in points:
        cx, cy = ax.transData.transform((p["x"], p["y"]))
        r = p["diameter"] / 2 * scale
        circles.append((cx - r, cy - r, cx + r, cy + r))
    placed = []
    for i, p in enumerate(points):
        gap = p["diameter"] / 2 + 2
        tries = [(0, gap, "center", "bottom"), (0, -gap, "center", "top"),
                 (gap, 0, "left", "center"), (-gap, 0, "right", "center")]
        if not p["label_above"]:
            tries[0], tries[1] = tries[1], tries[0]
        others = blocked + circles[:i] + circles[i + 1:]
        for dx, dy, ha, va in tries:
            text = ax.annotate(f"{p['id']} ({p['cases']})", (p["x"], p["y"]), xytext=(dx, dy),
                               textcoords="offset points", ha=ha, va=va, fontsize=9, zorder=4)
            box = _box(text.get_window_extent(renderer))
            inside = (box[0] >= frame.x0 and box[2] <= frame.x1 and box[1] >= frame.y0
                      and box[3] <= frame.y1)
            if inside and not any(_overlap(box, o) for o in others):
                break
            if (dx, dy) != tries[-1][:2]:
                text.remove()
        blocked.append(box)
        placed.append({"id": p["id"], "circle": circles[i], "label": box})
    return placed


def _box(extent: Any) -> tuple[float, float, float, float]:
    return (extent.x0, extent.y0, extent.x1, extent.y1)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _legend(fig: Any, ax: Any, points: list[dict[str, Any]], n_cases: int, diameter: float,
            noun: str) -> None:
    sizes = sorted({1, max(1, n_cases)})
    handles = [ax.scatter([], [], s=(diameter * _factor(n, n_cases)) ** 2, color="#bbbbbb",
                          label=f"{n} {noun if n > 1 else noun.rstrip('s')}") for n in sizes]
    sectors = sorted({p["sector"] for p in points})
    handles += [ax.scatter([], [], s=90, color=SECTOR_COLOURS.get(s, OTHER_COLOUR),
                           label=s.replace("_", " ")) for s in sectors]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.075),
               ncol=len(handles), frameon=False, handletextpad=1.4, columnspacing=3.0,
               borderpad=0.2, fontsize=9)
