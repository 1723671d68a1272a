"""The stakeholder map: the axis, the proximity measure, the layout, reproducible figures."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fixtures.analysis.minimal_study import build, fixture_mentions
from tipqual.analysis import (  # noqa: E402
    network,
    stakemap,
)
from tipqual.codebook.model import Code, Codebook, MapAxis, Stakeholder  # noqa: E402
from tipqual.errors import ReportError  # noqa: E402

# the TIP codebook's map section, on the fixture codebook (which has none of its own)
VICTIM_MAP = MapAxis(axis_codes=["victim-services", "protection"],
                     axis_label="proximity to the victim", passages_label="victim-support",
                     centre_label="victim", high_label="nearer the victim",
                     low_label="further from the victim")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    p = build(tmp_path_factory.mktemp("stakemap") / "study.db")
    data, graph = network.build(p, mentions=fixture_mentions(p))
    axis = stakemap.map_axis(dataclasses.replace(p.codebook(), map=VICTIM_MAP))
    p.close()
    return data, graph, axis


def test_axis_codes_include_descendants(built):
    axis = built[2]
    assert axis.declared == ("victim-services", "protection")
    assert axis.codes == ("victim-services", "referral", "protection")
    assert not axis.fallback


def test_proximity_is_the_share_of_victim_support_segments(built):
    data, _, axis = built
    near = stakemap.proximity(data, axis.codes)
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


@pytest.mark.slow
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
    with pytest.raises(ReportError, match="the map has no axis codes"):
        stakemap.draw(graph, data, tmp_path / "m.svg", [])
    empty = network.NetworkData(cases=["X"], case_sectors={}, stakeholders=[], citations=[])
    with pytest.raises(ReportError, match="nothing to map"):
        stakemap.draw(network.bipartite(empty), empty, tmp_path / "m.svg", codes)


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _check_legible(fig, placed) -> None:
    """No label hits another label or any circle; circles do not touch; all inside the axes;
    no label or circle reaches across the divide."""
    from math import hypot

    ax = fig.axes[0]
    frame = ax.get_window_extent()
    divide = ax.transData.transform((0, 0))[0]
    for i, p in enumerate(placed):
        box = p["label"]
        left = (p["circle"][0] + p["circle"][2]) / 2 < divide
        for part in (box, p["circle"]):
            assert (part[2] < divide) if left else (part[0] > divide), (p["id"], part, divide)
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
        assert fig.axes[0].get_ylabel() == ("proximity to the victim\n(share of mentions in "
                                            "victim-support passages)")
        labels = sorted(t.get_text() for t in fig.axes[0].texts if "(" in t.get_text())
        assert labels == ["DPCI (1)", "DSD (2)", "NFN (1)", "NPA (2)", "SAPS (3)"]
        _check_legible(fig, placed)
    finally:
        plt.close(fig)


@pytest.mark.slow
def test_the_sample_map_is_legible(tmp_path):
    from matplotlib import pyplot as plt

    from tests.fixtures.report.report_study import build_sample
    from tipqual.nlp.mentions import study_mentions

    with build_sample(tmp_path / "sample.db") as project:
        data, graph = network.build(project, mentions=study_mentions(project))
        codes = stakemap.map_axis(project.codebook())
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


def test_the_tip_codebook_declares_the_victim_axis():
    from matplotlib import pyplot as plt

    from tests.helpers import TIP_CODEBOOK
    from tipqual.codebook import model as codebook

    axis = stakemap.map_axis(codebook.load(TIP_CODEBOOK))
    assert axis.codes == ("victim-services", "referral", "protection") and not axis.fallback
    assert axis.axis_title == ("proximity to the victim\n(share of mentions in victim-support "
                               "passages)")
    assert axis.note == ("Height: share of the respondent passages naming the stakeholder that "
                         "are coded victim-services, referral, protection.")
    data, graph = _meals_network({"DOE": "government", "SGB": "civil_society"})
    fig, _ = stakemap.build_figure(graph, data, axis, noun="organisations")
    try:
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert "victim" in texts
        assert "GOVERNMENT\nnearer the victim" in texts
        assert "CIVIL SOCIETY AND OTHERS\nfurther from the victim" in texts
    finally:
        plt.close(fig)


# --- any study: a codebook of another domain ------------------------------------------------

MEALS_CODES = [Code("food", "The food served"), Code("portions", "Portions", parent="food"),
               Code("stigma", "Stigma"), Code("delivery", "Deliveries")]


def meals_book(axis: MapAxis | None = None) -> Codebook:
    """A school-meals codebook: no TIP code, stakeholders of its own."""
    return Codebook(name="School meals", version="1", codes=list(MEALS_CODES), map=axis,
                    stakeholders=[Stakeholder("DOE", "Department of Education",
                                              sector="government"),
                                  Stakeholder("SGB", "School governing body",
                                              sector="civil_society")])


def _meals_network(sectors: dict[str, str], cited: dict[str, int] | None = None,
                   coded: dict[str, list[list[str]]] | None = None, n_cases: int = 3):
    """Network data of ``n_cases`` schools citing each stakeholder ``cited[id]`` times (each in
    a passage of its own, coded ``coded[id][k]``)."""
    cases = [f"S{i}" for i in range(1, n_cases + 1)]
    citations, segment_codes = [], {}
    for sid in sectors:
        for k in range((cited or {}).get(sid, n_cases)):
            segment = f"{sid}:{k}"
            citations.append((cases[k % n_cases], sid, segment))
            codes = (coded or {}).get(sid, [])
            if k < len(codes) and codes[k]:
                segment_codes[segment] = codes[k]
    data = network.NetworkData(
        cases=cases, case_sectors={c: "" for c in cases},
        stakeholders=[network.StakeholderInfo(s, s, sector) for s, sector in sectors.items()],
        citations=sorted(citations), segment_codes=segment_codes,
        codes=[c.id for c in MEALS_CODES])
    return data, network.bipartite(data)


def test_without_a_map_section_the_axis_is_the_share_of_coded_passages():
    axis = stakemap.map_axis(meals_book())
    assert axis.fallback and axis.codes == ("food", "portions", "stigma", "delivery")
    data, _ = _meals_network({"DOE": "government", "SGB": "civil_society"},
                             coded={"DOE": [["portions"], [], ["stigma", "delivery"]],
                                    "SGB": [[], [], []]})
    assert stakemap.proximity(data, axis.codes) == {"DOE": round(2 / 3, 4), "SGB": 0.0}


def test_the_fallback_figure_says_what_its_height_is():
    from matplotlib import pyplot as plt

    data, graph = _meals_network({"DOE": "government", "SGB": "civil_society"},
                                 coded={"DOE": [["portions"]]})
    fig, placed = stakemap.build_figure(graph, data, stakemap.map_axis(meals_book()),
                                        noun="schools")
    try:
        ax = fig.axes[0]
        assert ax.get_ylabel() == ("presence in coded passages\n(share of mentions in passages "
                                   "that carry any code)")
        assert ax.get_title() == ("Stakeholder map: who the 3 schools cite, by sector and "
                                  "presence in coded passages")
        texts = [t.get_text() for t in (*ax.texts, *fig.texts)]
        assert not any("victim" in t for t in texts)
        assert any(t.startswith("Height: share of the respondent passages naming the "
                                "stakeholder that carry any code") for t in texts)
        assert [p["id"] for p in placed] == ["DOE", "SGB"]
        _check_legible(fig, placed)
    finally:
        plt.close(fig)


def test_a_map_section_sets_the_axis_and_its_words():
    section = MapAxis(axis_codes=["food", "delivery"], axis_label="food on the plate",
                      centre_label="child")
    axis = stakemap.map_axis(meals_book(section))
    assert axis.codes == ("food", "portions", "delivery")  # portions: below food
    assert axis.axis_title == ("food on the plate\n(share of mentions in passages coded food or "
                               "delivery)")
    assert (axis.high, axis.low, axis.title) == ("nearer the child", "further from the child",
                                                 "and how close to the child")
    assert axis.note.endswith("coded food, delivery (or a code below them).")
    data, _ = _meals_network({"DOE": "government"},
                             coded={"DOE": [["portions"], ["stigma"], []]})
    assert stakemap.proximity(data, axis.codes) == {"DOE": round(1 / 3, 4)}


def test_options_replace_the_section():
    section = MapAxis(axis_codes=["food"], axis_label="food on the plate")
    axis = stakemap.map_axis(meals_book(section), codes=["stigma"])
    assert axis.codes == ("stigma",) and axis.label == "share of mentions in passages coded stigma"
    relabelled = stakemap.map_axis(meals_book(section), label="the meal itself", centre="child")
    assert relabelled.codes == ("food", "portions") and relabelled.label == "the meal itself"
    assert relabelled.centre == "child"
    with pytest.raises(ReportError, match="unknown map code 'victim-services'; the codebook "
                                          "'School meals' has: food, portions, stigma"):
        stakemap.map_axis(meals_book(), codes=["victim-services"])


def test_labels_stay_on_their_side_of_the_divide():
    """A long label beside the divide (the most cited stakeholder of each side) must not reach
    across it, nor its circle."""
    from matplotlib import pyplot as plt

    sectors = {"DEPARTMENT-OF-BASIC-EDUCATION": "government", "DOH": "government",
               "DSD": "government", "MUNI": "government", "SAPS": "government",
               "COMMUNITY-FOOD-GARDEN-NETWORK": "civil_society", "SGB": "civil_society",
               "CHURCH": "community"}
    cited = {"DEPARTMENT-OF-BASIC-EDUCATION": 6, "COMMUNITY-FOOD-GARDEN-NETWORK": 6, "DOH": 4,
             "DSD": 3, "MUNI": 2, "SAPS": 1, "SGB": 3, "CHURCH": 1}
    coded = {sid: [["food"]] * (n // 2) for sid, n in cited.items()}
    data, graph = _meals_network(sectors, cited, coded, n_cases=6)
    fig, placed = stakemap.build_figure(graph, data, stakemap.map_axis(meals_book()),
                                        noun="schools")
    try:
        nearest = {p["id"]: p for p in stakemap.layout(graph, data, stakemap.map_axis(
            meals_book()))}
        assert abs(nearest["DEPARTMENT-OF-BASIC-EDUCATION"]["x"]) <= 0.1  # by the divide
        assert abs(nearest["COMMUNITY-FOOD-GARDEN-NETWORK"]["x"]) < 0.2
        _check_legible(fig, placed)
    finally:
        plt.close(fig)


def test_the_report_draws_any_studys_map_and_says_what_its_height_is():
    from tests.helpers import TIP_CODEBOOK
    from tipqual.codebook import model as codebook
    from tipqual.report import render

    data, graph = _meals_network({"DOE": "government", "SGB": "civil_society"},
                                 coded={"DOE": [["stigma"]]})
    svg = render.stakeholder_map(graph, data, meals_book(), "svg", "schools")
    assert svg is not None and b"<!-- presence in coded passages -->" in svg
    caption, alt = render.map_caption(meals_book(), 3, "schools")
    assert "the larger the share of its mentions that come in passages that carry any code" \
        in caption and "no map: section" in caption and "victim" not in caption
    assert caption.endswith("how many of the 3 schools cite it.")
    assert alt == "Stakeholder map by sector and presence in coded passages"
    section = MapAxis(axis_codes=["delivery"], axis_label="food on time")
    caption, alt = render.map_caption(meals_book(section), 3, "schools")
    assert "come in passages coded delivery (height: food on time);" in caption
    caption, alt = render.map_caption(codebook.load(TIP_CODEBOOK), 10, "organisations")
    assert "come in victim-support passages (nearer the victim);" in caption
    assert alt == "Stakeholder map by sector and proximity to the victim"
    empty = network.NetworkData(cases=["S1"], case_sectors={}, stakeholders=[], citations=[])
    assert render.stakeholder_map(network.bipartite(empty), empty, meals_book(), "svg") is None


def test_the_cases_word_agrees_with_their_number():
    assert stakemap.nouns("organisations") == ("organisation", "organisations")
    assert stakemap.nouns("people") == ("people", "people")
    assert stakemap.nouns(("person", "people")) == ("person", "people")
    axis = stakemap.map_axis(meals_book())
    assert stakemap.map_title(1, ("school", "schools"), axis) == (
        "Stakeholder map: who the school cites, by sector and presence in coded passages")
    assert stakemap.map_title(2, ("school", "schools"), axis).startswith(
        "Stakeholder map: who the 2 schools cite, ")
    assert stakemap.map_title(1, ("person", "people"), axis).startswith(
        "Stakeholder map: who the person cites, ")


@pytest.mark.parametrize(("n_cases", "title", "legend"), [
    (1, "who the school cites", ["1 school"]),
    (2, "who the 2 schools cite", ["1 school", "2 schools"]),
    (3, "who the 3 schools cite", ["1 school", "3 schools"])])
def test_the_figure_names_one_case_in_the_singular(n_cases, title, legend):
    from matplotlib import pyplot as plt

    data, graph = _meals_network({"DOE": "government", "SGB": "civil_society"},
                                 n_cases=n_cases)
    fig, _ = stakemap.build_figure(graph, data, stakemap.map_axis(meals_book()),
                                   noun=("school", "schools"))
    try:
        assert fig.axes[0].get_title().startswith(f"Stakeholder map: {title}, ")
        shown = [t.get_text() for t in fig.legends[0].get_texts()]
        assert shown[:len(legend)] == legend
    finally:
        plt.close(fig)


def test_an_axis_says_what_chose_it():
    assert stakemap.map_axis(meals_book()).origin == "fallback"
    section = MapAxis(axis_codes=["food"], axis_label="food on the plate")
    assert stakemap.map_axis(meals_book(section)).origin == "codebook"
    assert stakemap.map_axis(meals_book(section), codes=["stigma"]).origin == "options"
    assert stakemap.map_axis(meals_book(section), label="meals").origin == "options"
    with pytest.raises(ReportError, match="the study has no codebook"):
        stakemap.map_axis(None)


def test_the_caption_of_one_case_and_of_the_reports_own_axis():
    from tipqual.report import render

    caption, _ = render.map_caption(meals_book(), 1, ("school", "schools"))
    assert caption.endswith("circle area and the number beside each name: 1, the school "
                            "citing it.")
    chosen = stakemap.map_axis(meals_book(), codes=["stigma"])
    caption, alt = render.map_caption(meals_book(), 3, ("school", "schools"), chosen)
    assert ("come in passages coded stigma; the height (share of mentions in passages coded "
            "stigma) is set for this report by its --map options, not by the codebook's map: "
            "section;") in caption
    assert alt == "Stakeholder map by sector and share of mentions in passages coded stigma"


def test_every_sector_of_a_legend_has_a_colour_of_its_own() -> None:
    colours = stakemap.sector_colours(["private", "community", "government", "donor",
                                       "civil_society", "community"])
    assert colours["government"] == stakemap.SECTOR_COLOURS["government"]
    assert colours["civil_society"] == stakemap.SECTOR_COLOURS["civil_society"]
    shown = [colours[s] for s in ("community", "donor", "private")]
    assert len(set(shown)) == 3 and shown[0] == stakemap.OTHER_COLOUR  # alphabetical turns
    assert len(set(colours.values())) == 5
