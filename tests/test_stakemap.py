"""The stakeholder map: the proximity measure, the layout, reproducible figures."""

from __future__ import annotations

import sys

import pytest
from conftest import FIXTURES

sys.path.insert(0, str(FIXTURES / "analysis"))
from minimal_study import build, fixture_mentions  # noqa: E402

from tipqual.analysis import (
    network,
    stakemap,  # noqa: E402
)
from tipqual.errors import ReportError  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    p = build(tmp_path_factory.mktemp("stakemap") / "study.db")
    data, graph = network.build(p, mentions=fixture_mentions(p))
    codes = stakemap.victim_codes(p.codebook())
    p.close()
    return data, graph, codes


def test_victim_codes_include_descendants(built):
    assert built[2] == ["victim-services", "referral", "protection"]


def test_proximity_is_the_share_of_victim_support_segments(built):
    data, _, codes = built
    near = stakemap.proximity(data, codes)
    # DSD: A1:2 (referral), A1:3 (funding only), C1:3 (victim-services span) -> 2 of 3
    assert near["DSD"] == round(2 / 3, 4)
    assert near["NPA"] == 0.5          # B1:3 referral; C1:2 none
    assert near["SAPS"] == round(2 / 3, 4)  # A1:2 referral, B1:2 protection, C1:2 none
    assert near["NFN"] == 1.0 and near["DPCI"] == 1.0


def test_layout_sides_and_order(built):
    data, graph, codes = built
    points = {p["id"]: p for p in stakemap.layout(graph, data, codes)}
    assert all(points[s]["x"] < 0 for s in ("SAPS", "DPCI", "NPA", "DSD"))
    assert points["NFN"]["x"] > 0
    # most cited nearest the divide; ties broken by mentions then id
    assert [s for s, _ in sorted(((s, -p["x"]) for s, p in points.items() if p["x"] < 0),
                                 key=lambda t: t[1])] == ["SAPS", "DSD", "NPA", "DPCI"]
    assert points["SAPS"]["y"] == round(2 / 3, 4)
    assert len({round(p["x"], 6) for p in points.values()}) == len(points)


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_figure_bytes_identical_across_runs(built, tmp_path, suffix):
    data, graph, codes = built
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    stakemap.draw(graph, data, first, codes)
    stakemap.draw(graph, data, second, codes)
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size > 5_000


def test_svg_has_no_date_and_names_the_stakeholders(built, tmp_path):
    data, graph, codes = built
    path = tmp_path / "map.svg"
    stakemap.draw(graph, data, path, codes)
    text = path.read_text(encoding="utf-8")
    assert "<dc:date>" not in text and "Matplotlib v" not in text
    assert text.startswith("<?xml")


def test_png_has_no_software_tag(built, tmp_path):
    data, graph, codes = built
    path = tmp_path / "map.png"
    stakemap.draw(graph, data, path, codes)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"matplotlib" not in path.read_bytes().lower()


def test_errors(built, tmp_path):
    data, graph, codes = built
    with pytest.raises(ReportError, match="unknown figure format '.pdf'"):
        stakemap.draw(graph, data, tmp_path / "m.pdf", codes)
    with pytest.raises(ReportError, match="no victim-support code"):
        stakemap.draw(graph, data, tmp_path / "m.svg", [])
    empty = network.NetworkData(cases=["X"], case_sectors={}, stakeholders=[], citations=[])
    with pytest.raises(ReportError, match="nothing to map"):
        stakemap.draw(network.bipartite(empty), empty, tmp_path / "m.svg", codes)


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _check_legible(fig, placed) -> None:
    """No label hits another label or any circle; circles do not touch; all inside the axes."""
    from math import hypot

    frame = fig.axes[0].get_window_extent()
    for i, p in enumerate(placed):
        box = p["label"]
        assert frame.x0 <= box[0] and box[2] <= frame.x1, p["id"]
        assert frame.y0 <= box[1] and box[3] <= frame.y1, p["id"]
        for q in placed[:i] + placed[i + 1:]:
            assert not _overlap(box, q["label"]), (p["id"], q["id"])
            assert not _overlap(box, q["circle"]), (p["id"], q["id"])
            (ax0, ay0, ax1, _), (bx0, by0, bx1, _) = p["circle"], q["circle"]
            ra, rb = (ax1 - ax0) / 2, (bx1 - bx0) / 2
            assert hypot(ax0 + ra - bx0 - rb, ay0 + ra - by0 - rb) >= ra + rb, (p["id"], q["id"])


def test_labels_name_the_cases_and_overlap_nothing(built):
    from matplotlib import pyplot as plt

    data, graph, codes = built
    fig, placed = stakemap.build_figure(graph, data, codes, noun="organisations")
    try:
        assert fig.axes[0].get_title() == ("Stakeholder map: who the 3 organisations cite, "
                                           "and how close to the victim")
        labels = sorted(t.get_text() for t in fig.axes[0].texts if "(" in t.get_text())
        assert labels == ["DPCI (1)", "DSD (2)", "NFN (1)", "NPA (2)", "SAPS (3)"]
        _check_legible(fig, placed)
    finally:
        plt.close(fig)


def test_the_sample_map_is_legible(tmp_path):
    from matplotlib import pyplot as plt

    sys.path.insert(0, str(FIXTURES / "report"))
    from report_study import build_sample

    from tipqual.nlp.mentions import study_mentions

    with build_sample(tmp_path / "sample.db") as project:
        data, graph = network.build(project, mentions=study_mentions(project))
        codes = stakemap.victim_codes(project.codebook())
    fig, placed = stakemap.build_figure(graph, data, codes, noun="organisations")
    try:
        assert [p["id"] for p in placed] == ["DOL", "DBE", "TIP-TT", "DOH", "DHA", "DSD",
                                             "DJCD", "DPCI", "NPA", "SAPS", "NFN", "A2I",
                                             "FBO"]
        _check_legible(fig, placed)
        sizes = {p["id"]: p["circle"][2] - p["circle"][0] for p in placed}
        assert sizes["SAPS"] > sizes["DSD"] > sizes["NFN"] > sizes["FBO"]
    finally:
        plt.close(fig)
