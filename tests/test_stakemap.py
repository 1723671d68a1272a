"""The stakeholder map: the proximity measure, the layout, reproducible figures."""

from __future__ import annotations

import sys

import pytest

from conftest import FIXTURES

sys.path.insert(0, str(FIXTURES / "analysis"))
from minimal_study import build, fixture_mentions  # noqa: E402

from tipqual import network, stakemap  # noqa: E402
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
