"""The stakeholder map: the research brief's quadrant picture, drawn from a study's data.

Horizontal: government actors on the left of the divide, civil society (and every other
non-government sector, in its own colour) on the right. Within a side the circles are placed
in order of the cases citing them, the most cited nearest the divide — a position that only
separates circles, it measures nothing else.

Vertical: **proximity to the victim**, the share of the respondent segments mentioning the
stakeholder that are coded (human or accepted codings) with a victim-support code —
``victim-services``, ``referral`` or ``protection`` (and any code below them in the codebook).
1.0: every mention is in a passage about supporting victims; 0.0: none is.

Circle area grows with the number of cases citing the stakeholder. The figure is written with
a fixed SVG hash salt and without dates or software versions, so reruns give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tipqual.errors import ReportError

VICTIM_CODES = ("victim-services", "referral", "protection")
FIGURE_FORMATS = (".svg", ".png")
SECTOR_COLOURS = {"government": "#2f5d8a", "civil_society": "#d9822b"}
OTHER_COLOUR = "#6a9f58"
HASH_SALT = "tipqual"
FIG_SIZE = (12.0, 7.0)
AXES_LEFT, AXES_RIGHT = 0.1, 0.8
X_LIMIT = 1.06


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


def draw(graph: Any, data: Any, path: str | Path, codes: list[str]) -> None:
    """Draw the stakeholder map to ``path`` (``.svg`` or ``.png``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ReportError(f"unknown figure format {path.suffix or '(none)'!r}; use "
                          f"{' or '.join(FIGURE_FORMATS)}", path=path)
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

    with plt.rc_context({"svg.hashsalt": HASH_SALT, "svg.fonttype": "path",
                         "font.family": "DejaVu Sans", "font.size": 9}):
        fig, ax = plt.subplots(figsize=FIG_SIZE)
        _frame(ax, len(data.cases))
        _circles(ax, points, len(data.cases), _max_area(points))
        fig.text(AXES_LEFT, 0.015, "Proximity: share of the respondent passages naming the "
                 f"stakeholder that are coded {', '.join(codes)}. Within a side, the most "
                 "cited stakeholders sit nearest the divide.", fontsize=7.5, color="#555555")
        metadata = ({"Date": None, "Creator": "tipqual"} if suffix == ".svg"
                    else {"Software": None})
        try:
            fig.savefig(path, format=suffix[1:], dpi=150, metadata=metadata)
        except OSError as exc:
            raise ReportError(f"cannot write the figure: {exc.strerror or exc}", path=path)
        finally:
            plt.close(fig)


def _max_area(points: list[dict[str, Any]]) -> float:
    """Largest circle area (pt²) such that circles in neighbouring slots do not touch."""
    axes_pt = FIG_SIZE[0] * (AXES_RIGHT - AXES_LEFT) * 72
    gap = min(abs(a["x"] - b["x"]) for a in points for b in points if a is not b) \
        if len(points) > 1 else 1.0
    diameter = min(44.0, 0.92 * gap * axes_pt / (2 * X_LIMIT))
    return diameter ** 2


def _size(cases: int, total: int, max_area: float) -> float:
    return max_area * (0.12 + 0.88 * cases / max(total, 1))


def _frame(ax: Any, n_cases: int) -> None:
    ax.set_xlim(-X_LIMIT, X_LIMIT)
    ax.set_ylim(-0.12, 1.2)
    ax.axvline(0, color="#444444", linewidth=1)
    ax.axhline(0.5, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xticks([-0.5, 0.5], ["government", "civil society and other partners"])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_ylabel("proximity to the victim\n(share of mentions in victim-support passages)")
    ax.text(0, 1.14, "victim", ha="center", va="center", fontsize=10, fontweight="bold",
            bbox={"boxstyle": "round", "facecolor": "#f3e6e6", "edgecolor": "#a05050"})
    ax.set_title(f"Stakeholder map: who the {n_cases} cases cite, and how close to the victim")
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


def _circles(ax: Any, points: list[dict[str, Any]], n_cases: int, max_area: float) -> None:
    import math

    for p in points:
        colour = SECTOR_COLOURS.get(p["sector"], OTHER_COLOUR)
        size = _size(p["cases"], n_cases, max_area)
        ax.scatter([p["x"]], [p["y"]], s=size, color=colour, alpha=0.75, edgecolors="white",
                   linewidths=1, zorder=3)
        offset = math.sqrt(size) / 2 + 3  # points: radius of the circle plus a gap
        ax.annotate(p["id"], (p["x"], p["y"]),
                    xytext=(0, offset if p["label_above"] else -offset),
                    textcoords="offset points", ha="center",
                    va="bottom" if p["label_above"] else "top", fontsize=8, zorder=4)
    handles = [ax.scatter([], [], s=_size(n, n_cases, max_area), color="#bbbbbb",
                          label=f"{n} case" + ("s" if n > 1 else ""))
               for n in sorted({1, max(1, n_cases)})]
    sectors = sorted({p["sector"] for p in points})
    handles += [ax.scatter([], [], s=80, color=SECTOR_COLOURS.get(s, OTHER_COLOUR),
                           label=s.replace("_", " ")) for s in sectors]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              labelspacing=2.2, borderpad=1.2, handletextpad=1.5,
              title="circle area:\ncases citing")
    ax.figure.subplots_adjust(left=AXES_LEFT, right=AXES_RIGHT, top=0.92, bottom=0.08)
