"""The stakeholder network: citations, graph attributes, projection, ranking, files."""

from __future__ import annotations

import networkx as nx
import pytest

from tests.fixtures.analysis.minimal_study import build, fixture_mentions
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


# --- any study: a codebook of another domain, no TIP code --------------------------------------

WATER_CODEBOOK = """\
name: Rural water committees
version: "2"
stakeholders:
  - {id: DWS, name: Department of Water and Sanitation, aliases: [water department],
     sector: government}
  - {id: MUNI, name: Local municipality, aliases: [the municipality], sector: government}
  - {id: WUA, name: Water users association, aliases: [the association], sector: civil_society}
  - {id: CHURCH, name: Village church, aliases: [the church], sector: community}
codes:
  - {id: access, name: Access to water, definition: Whether households get enough safe water.}
  - {id: access-distance, name: Distance, parent: access, definition: How far people walk.}
  - {id: repairs, name: Repairs, definition: Broken pumps and pipes and who fixes them.}
  - {id: tariffs, name: Tariffs, definition: What water costs and who pays.}
"""
WATER_TRANSCRIPTS = {
    "north.txt": "Interviewer: Who fixes the pump?\n\nChair: We phone the municipality and the "
                 "water department never answers.\n\nChair: The association collects money.\n",
    "south.txt": "Interviewer: How far do people walk?\n\nSecretary: Two kilometres; the church "
                 "lets us use its tank and the municipality promised a tap.\n",
    "east.txt": "Interviewer: What about costs?\n\nTreasurer: The municipality raised the "
                "tariffs and the association protested.\n",
}
WATER_CODINGS = [("north:2", "repairs"), ("south:2", "access-distance"), ("east:2", "tariffs")]


def water_study(root, section: str = ""):
    """A study of three water committees; ``section``: YAML added to the codebook."""
    from tipqual.codebook import model as codebook
    from tipqual.ingest import importer as ingest
    from tipqual.records import Coding
    from tipqual.store.project import Project

    (root / "codebook.yaml").write_text(WATER_CODEBOOK + section, encoding="utf-8")
    folder = root / "transcripts"
    folder.mkdir()
    for name, text in WATER_TRANSCRIPTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    project = Project.create(root / "study.db")
    with project.atomic():
        project.set_codebook(codebook.load(root / "codebook.yaml"))
    ingest.import_paths(project, [folder])
    with project.atomic():
        for segment, code in WATER_CODINGS:
            project.put_coding(Coding(segment=segment, code=code, coder="ana", status="human"))
    return project


def test_any_codebook_gets_its_map_with_the_fallback_axis(tmp_path):
    from tipqual.analysis import stakemap
    from tipqual.nlp.mentions import study_mentions

    with water_study(tmp_path) as p:
        out, table, figure = tmp_path / "n.graphml", tmp_path / "r.csv", tmp_path / "m.svg"
        mentions = study_mentions(p)
        summary = network.write_network(p, out, table=table, figure=figure, mentions=mentions)
        data, _ = network.build(p, mentions=mentions)
        axis = stakemap.map_axis(p.codebook())
    assert summary["files"] == [out, table, figure] and summary["stakeholders"] == 4
    svg = figure.read_text(encoding="utf-8")
    assert "<!-- presence in coded passages -->" in svg and "victim" not in svg
    assert table.read_text(encoding="utf-8").splitlines()[1].startswith("MUNI,")
    # WUA: north:3 (not coded) and east:2 (tariffs); the others only in coded passages
    assert axis.fallback and stakemap.proximity(data, axis.codes) == {
        "CHURCH": 1.0, "DWS": 1.0, "MUNI": 1.0, "WUA": 0.5}


def test_a_map_section_chooses_the_axis(tmp_path):
    from tipqual.nlp.mentions import study_mentions

    root = tmp_path / "s"
    root.mkdir()
    with water_study(root, "map:\n  axis_codes: [repairs]\n  axis_label: broken taps\n") as p:
        network.write_network(p, tmp_path / "n.graphml", figure=tmp_path / "m.svg",
                              mentions=study_mentions(p))
        network.write_network(p, tmp_path / "n.graphml", figure=tmp_path / "o.svg",
                              mentions=study_mentions(p), map_codes=["tariffs"],
                              map_label="what water costs")
    assert "<!-- broken taps -->" in (tmp_path / "m.svg").read_text(encoding="utf-8")
    assert "<!-- what water costs -->" in (tmp_path / "o.svg").read_text(encoding="utf-8")


def test_a_map_that_cannot_be_drawn_leaves_the_graph_and_table_written(tmp_path):
    with water_study(tmp_path) as p:
        out, table, figure = tmp_path / "n.graphml", tmp_path / "r.csv", tmp_path / "m.svg"
        with pytest.raises(ReportError) as info:
            network.write_network(p, out, table=table, figure=figure, mentions=[])
    assert info.value.path == str(figure)
    assert "no stakeholder is cited in a respondent segment" in info.value.message
    assert f"({out} and {table} were written all the same)" in info.value.message
    assert out.is_file() and table.is_file() and not figure.exists()


def test_unknown_map_codes_write_nothing(tmp_path):
    with water_study(tmp_path) as p, \
            pytest.raises(ReportError, match="unknown map code 'victim-services'"):
        network.write_network(p, tmp_path / "n.graphml", figure=tmp_path / "m.svg",
                              mentions=[], map_codes=["victim-services"])
    assert not (tmp_path / "n.graphml").exists()


# --- betweenness at scale ----------------------------------------------------------------------

def large_data(cases: int = 2100, stakeholders: int = 40, seed: int = 3,
               least: int = 1) -> network.NetworkData:
    """A generated study: ``cases`` cases citing ``least`` to four of ``stakeholders`` each."""
    import random

    rng = random.Random(seed)
    registry = [network.StakeholderInfo(f"S{i:02d}", f"Stakeholder {i}", "government")
                for i in range(stakeholders)]
    case_ids = [f"case-{c:04d}" for c in range(cases)]
    citations = []
    for case in case_ids:
        for s in rng.sample(registry, rng.randint(least, 4)):
            citations += [(case, s.id, f"{case}:{n}") for n in range(rng.randint(1, 3))]
    return network.NetworkData(cases=case_ids, case_sectors={c: "ngo" for c in case_ids},
                               stakeholders=registry, citations=sorted(citations))


@pytest.mark.slow  # three sampled betweenness runs on 2,180 nodes (~10 s)
def test_large_graph_takes_the_sampled_path_with_a_fixed_seed(tmp_path):
    # nearly every case cites its own set of stakeholders: folding equal neighbourhoods
    # leaves too many groups for an exact count
    data = large_data(stakeholders=80, least=2)
    graph = network.bipartite(data)
    nodes = graph.number_of_nodes()
    assert nodes > network.EXACT_BETWEENNESS_MAX_NODES
    assert len(network._twin_classes(graph)) > network.EXACT_BETWEENNESS_MAX_NODES
    note = f"sampled: {network.BETWEENNESS_PIVOTS} of {nodes} nodes as pivots, seed " \
           f"{network.BETWEENNESS_SEED}"
    assert graph.graph["betweenness"] == note
    expected = nx.betweenness_centrality(graph, k=network.BETWEENNESS_PIVOTS, normalized=True,
                                         seed=network.BETWEENNESS_SEED)
    assert {n: b for n, b in graph.nodes(data="betweenness")} == \
        {n: round(b, 6) for n, b in expected.items()}
    assert network.ranking(graph, data).attrs["betweenness"] == note
    # deterministic: a second build writes the same bytes, the note included
    network.write_graph(graph, tmp_path / "a.graphml")
    network.write_graph(network.bipartite(data), tmp_path / "b.graphml")
    written = (tmp_path / "a.graphml").read_bytes()
    assert written == (tmp_path / "b.graphml").read_bytes()
    assert note.encode() in written
    assert nx.read_graphml(tmp_path / "a.graphml").graph["betweenness"] == note


def test_small_graphs_keep_exact_betweenness_and_no_note(built, tmp_path):
    data, graph = built
    exact = nx.betweenness_centrality(graph, normalized=True)
    assert {n: b for n, b in graph.nodes(data="betweenness")} == \
        {n: round(b, 6) for n, b in exact.items()}
    assert "betweenness" not in graph.graph and network.betweenness_method(graph) == "exact"
    assert network.ranking(graph, data).attrs["betweenness"] == "exact"
    network.write_graph(graph, tmp_path / "g.graphml")
    assert b"sampled" not in (tmp_path / "g.graphml").read_bytes()


def test_write_network_summary_says_how_betweenness_was_computed(tmp_path):
    with water_study(tmp_path) as p:
        summary = network.write_network(p, tmp_path / "n.graphml", mentions=[])
    assert summary["betweenness"] == "exact"


def _random_graphs():
    """Case — stakeholder graphs (many cases citing the same stakeholders), some with
    stakeholder — stakeholder edges and isolated nodes, and a few general graphs."""
    import random

    rng = random.Random(7)
    for trial in range(25):
        g = nx.Graph()
        held = [f"h{i}" for i in range(rng.randint(1, 6))]
        g.add_nodes_from(held)
        for c in range(rng.randint(0, 40)):
            g.add_node(f"c{c}")
            g.add_edges_from((f"c{c}", h) for h in held if rng.random() < 0.4)
        if trial % 3 == 0 and len(held) > 1:
            g.add_edges_from(rng.sample([(a, b) for a in held for b in held if a < b], 1))
        yield g
    for seed in range(4):
        yield nx.gnp_random_graph(50, 0.08, seed=seed)


def test_twin_betweenness_is_networkx_exact_betweenness():
    for graph in _random_graphs():
        classes = network._twin_classes(graph)
        assert classes is not None
        exact = nx.betweenness_centrality(graph, normalized=True)
        folded = network.twin_betweenness(graph, classes)
        assert folded.keys() == exact.keys()
        assert all(abs(folded[n] - exact[n]) < 1e-12 for n in graph)


def test_large_graph_of_few_kinds_of_case_gets_exact_betweenness_unsampled(monkeypatch):
    """2,100 cases citing 12 different sets of stakeholders: exact, from 17 searches."""
    registry = [network.StakeholderInfo(f"S{i}", f"Stakeholder {i}", "government")
                for i in range(5)]
    kinds = [[0], [1], [0, 1], [2, 3], [1, 2, 3], [4], [0, 4], [3, 4], [0, 1, 2, 3, 4],
             [2], [1, 4], [0, 2]]
    cases = [f"case-{c:04d}" for c in range(2100)]
    citations = sorted((case, f"S{s}", f"{case}:1") for i, case in enumerate(cases)
                       for s in kinds[i % len(kinds)])
    data = network.NetworkData(cases=cases, case_sectors={c: "ngo" for c in cases},
                               stakeholders=registry, citations=citations)
    monkeypatch.setattr(nx, "betweenness_centrality",
                        lambda *a, **kw: pytest.fail("searched from every node or sampled"))
    graph = network.bipartite(data)
    assert graph.number_of_nodes() > network.EXACT_BETWEENNESS_MAX_NODES
    assert network.betweenness_method(graph) == "exact" and "betweenness" not in graph.graph
    folded = network.twin_betweenness(graph, network._twin_classes(graph))
    assert {n: b for n, b in graph.nodes(data="betweenness")} == \
        {n: round(b, 6) for n, b in folded.items()}
    assert graph.nodes["case-0000"]["betweenness"] == 0.0  # cites one stakeholder only
    assert graph.nodes["S0"]["betweenness"] > graph.nodes["S3"]["betweenness"] > 0
