"""The stakeholder network: citations, graph attributes, projection, ranking, files."""

from __future__ import annotations

import sys

import networkx as nx
import pytest
from conftest import FIXTURES

sys.path.insert(0, str(FIXTURES / "analysis"))
from minimal_study import build, fixture_mentions  # noqa: E402

from tipqual.analysis import network  # noqa: E402
from tipqual.errors import ReportError  # noqa: E402


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = build(tmp_path_factory.mktemp("network") / "study.db")
    yield p
    p.close()


@pytest.fixture(scope="module")
def built(project):
    return network.build(project, mentions=fixture_mentions(project))


def test_only_respondent_mentions_are_citations(built):
    data, _ = built
    assert ("CSO-A", "SAPS", "A1:1") not in data.citations  # the interviewer's question
    assert len(data.citations) == 12


def test_nodes_carry_the_contract_attributes(built):
    _, graph = built
    saps = graph.nodes["SAPS"]
    assert saps == {"label": "SAPS", "kind": "stakeholder",
                    "name": "South African Police Service", "sector": "government",
                    "level": "", "cases": 3, "mentions": 3, "degree": 3,
                    "weighted_degree": 3, "betweenness": pytest.approx(0.412698)}
    assert graph.nodes["DSD"]["mentions"] == 4 and graph.nodes["DSD"]["cases"] == 2
    case = graph.nodes["CSO-A"]
    assert (case["kind"], case["sector"], case["mentions"], case["degree"]) == \
        ("case", "ngo", 5, 3)
    assert list(graph.nodes) == ["CSO-A", "CSO-B", "CSO-C", "SAPS", "DPCI", "NPA", "DSD",
                                 "NFN"]


def test_edges_weight_and_cooccurring_codes(built):
    _, graph = built
    assert graph.edges["CSO-A", "DSD"] == {"weight": 3, "segments": 2,
                                           "codes": "partnership-vertical;trust;funding;referral"}
    assert graph.edges["CSO-B", "SAPS"]["codes"] == "trust;corruption;protection"
    assert graph.edges["CSO-C", "NPA"]["weight"] == 2
    # the suggestion (corruption on A1:3) and the rejection (funding on B1:3) are not counted
    assert "corruption" not in graph.edges["CSO-A", "DSD"]["codes"]
    assert "funding" not in graph.edges["CSO-B", "NPA"]["codes"]
    assert sum(w for *_, w in graph.edges(data="weight")) == 12


def test_projection_links_co_cited_stakeholders(built):
    _, graph = built
    proj = network.projection(graph)
    assert sorted(proj.nodes) == ["DPCI", "DSD", "NFN", "NPA", "SAPS"]
    assert proj.edges["SAPS", "NPA"] == {"weight": 2, "cases": "CSO-B;CSO-C"}
    assert proj.edges["NPA", "NFN"]["weight"] == 1
    assert not proj.has_edge("DPCI", "NPA")
    assert proj.nodes["SAPS"]["degree"] == 4


def test_ranking_order_and_columns(built):
    data, graph = built
    table = network.ranking(graph, data)
    assert list(table.index) == ["SAPS", "DSD", "NPA", "DPCI", "NFN"]
    assert list(table.columns) == ["name", "sector", "cases", "mentions", "centrality"]
    assert table.loc["DSD", ["cases", "mentions"]].tolist() == [2, 4]


def test_graph_round_trips_through_graphml(built, tmp_path):
    _, graph = built
    path = tmp_path / "g.graphml"
    network.write_graph(graph, path)
    back = nx.read_graphml(path)
    assert list(back.nodes) == list(graph.nodes)
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert {frozenset(e) for e in back.edges} == {frozenset(e) for e in graph.edges}
    for u, v, attrs in graph.edges(data=True):
        assert back.edges[u, v] == attrs


def test_gexf_round_trip_and_no_date(built, tmp_path):
    _, graph = built
    path = tmp_path / "g.gexf"
    network.write_graph(graph, path)
    assert "lastmodifieddate" not in path.read_text(encoding="utf-8")
    back = nx.read_gexf(path)
    assert back.nodes["SAPS"]["cases"] == 3 and back.nodes["SAPS"]["label"] == "SAPS"
    assert back.number_of_edges() == graph.number_of_edges()


def test_written_graphs_are_identical_across_runs(project, tmp_path):
    for name in ("a", "b"):
        data, graph = network.build(project, mentions=fixture_mentions(project))
        network.write_graph(graph, tmp_path / f"{name}.graphml")
    assert (tmp_path / "a.graphml").read_bytes() == (tmp_path / "b.graphml").read_bytes()


def test_unknown_graph_format(built, tmp_path):
    with pytest.raises(ReportError, match="unknown network format '.json'"):
        network.write_graph(built[1], tmp_path / "g.json")


def test_stored_mentions_used_when_a_stage_covered_every_segment(tmp_path):
    from tipqual.records import Mention

    p = build(tmp_path / "s.db")
    only = [Mention("B1:2", "NFN", 0, 3, "+27")]
    with p.atomic():
        p.replace_mentions(None, only)
        p.set_stage_keys("suggest", {s: "k" for s in p.segment_ids()})
    from tipqual.nlp.mentions import study_mentions

    assert study_mentions(p) == only
    p.close()


def test_aliases_resolve_with_find_mentions(tmp_path):
    pytest.importorskip("tipqual.nlp.pipeline")
    from tipqual.nlp.mentions import study_mentions

    p = build(tmp_path / "s.db", mentions=False)
    data, graph = network.build(p, mentions=study_mentions(p))
    p.close()
    cited = {(case, s) for case, s, _ in data.citations}
    assert ("CSO-A", "DPCI") in cited            # "the Hawks"
    assert ("CSO-B", "NPA") in cited             # "National Prosecution Authority"
    assert ("CSO-C", "NPA") in cited             # "National Prosecuting Authority"
    assert ("CSO-A", "DSD") in cited             # "DSD social worker"
    assert graph.nodes["NPA"]["mentions"] == 3


def test_case_id_equal_to_a_stakeholder_id_is_prefixed(tmp_path):
    data = network.NetworkData(cases=["NFN"], case_sectors={"NFN": ""},
                               stakeholders=[network.StakeholderInfo("NFN", "Network", "cs")],
                               citations=[("NFN", "NFN", "x:1")])
    graph = network.bipartite(data)
    assert sorted(graph.nodes) == ["NFN", "case:NFN"]
    assert graph.nodes["case:NFN"]["label"] == "NFN"
