"""The stakeholder network: which cases cite which stakeholders, from the mentions in the text.

A *citation* is a stakeholder mention in a **respondent** segment (an interviewer's question
naming the police is not the organisation citing the police). From the citations:

* :func:`bipartite` builds an undirected networkx graph with one node per case and per cited
  stakeholder and one edge case — stakeholder whose ``weight`` is the number of mentions in
  that case; the edge's ``codes`` lists (``;``-separated, codebook order) the codes applied to
  the segments holding those mentions;
* :func:`projection` links two stakeholders cited by the same case, ``weight`` = shared cases;
* :func:`ranking` is the table of stakeholders by cases citing them, then mentions, then id.

Every attribute is a GraphML-safe scalar (str, int, float); nodes and edges are added in a
fixed order, so written files are byte-identical across runs.

**Betweenness at scale.** Exact betweenness costs a shortest-path search from every node
(nodes × edges), which grows with the square of the corpus. Up to
:data:`EXACT_BETWEENNESS_MAX_NODES` nodes it is exact (networkx). A larger graph is first
folded: nodes with the same neighbours (in the case — stakeholder graph, the cases that cite
the same set of stakeholders) are interchangeable, so one shortest-path search serves them
all and the exact values come from a search per group (:func:`twin_betweenness`); when even
the groups number more than :data:`EXACT_BETWEENNESS_MAX_NODES`, betweenness is estimated from
:data:`BETWEENNESS_PIVOTS` source nodes drawn with the fixed seed :data:`BETWEENNESS_SEED`
(networkx's ``betweenness_centrality(k=..., seed=...)``, Brandes & Pich 2007), so a rerun gives
the same numbers. When the estimate is used the graph says so in its graph attribute
``betweenness`` (written into GraphML), the ranking in ``frame.attrs["betweenness"]`` and
:func:`write_network`'s summary in ``"betweenness"``; an exact graph carries no such
attribute, so its files are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipqual.analysis.view import StudyView, iter_mentions
from tipqual.errors import NO_CODEBOOK_ADVICE, ReportError
from tipqual.output.files import write_text
from tipqual.records import APPLIED_STATUSES, Mention

DEFAULT_STATUSES = APPLIED_STATUSES
GRAPH_FORMATS = (".graphml", ".gexf")
EXACT_BETWEENNESS_MAX_NODES = 2000  # above this many nodes, betweenness is sampled
BETWEENNESS_PIVOTS = 500            # source nodes of the sampled estimate
BETWEENNESS_SEED = 0                # fixed, so the estimate is the same on every run
EXACT = "exact"


@dataclass
class StakeholderInfo:
    """What the network needs to know about one stakeholder."""

    id: str
    name: str
    sector: str
    level: str = ""


@dataclass
class NetworkData:
    """Citations of stakeholders by cases, with the codes of the segments they occur in."""

    cases: list[str]
    case_sectors: dict[str, str]
    stakeholders: list[StakeholderInfo]
    citations: list[tuple[str, str, str]]  # (case, stakeholder, segment), one per mention
    segment_codes: dict[str, list[str]] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)


def load(study: StudyView, *, mentions: Iterable[Mention] | None = None,
         statuses: Iterable[str] = DEFAULT_STATUSES) -> NetworkData:
    """Read cases, the registry, respondent mentions and segment codes from a study.

    ``mentions`` are the stakeholder mentions to count (default: the study's stored ones;
    :func:`tipqual.nlp.mentions.study_mentions` gives them current for every segment).
    """
    book = study.codebook()
    if book is None:
        raise ReportError("the study has no codebook, so no stakeholder registry; "
                          f"{NO_CODEBOOK_ADVICE}", path=study.path)
    if mentions is None:
        mentions = iter_mentions(study)
    # each segment's case (a source without one is its own), None for one not a respondent's:
    # all a citation needs, read from the segment index (no segment text is read or held)
    case_of: dict[str, str | None] = {}
    seen: dict[str, str] = {}  # every case with segments, each name kept once
    for sid, source, in_case, _n, _speaker, role, _start, _end in study.segment_index():
        case = seen.setdefault(in_case or source, in_case or source)
        case_of[sid] = case if role == "respondent" else None
    citations = []
    for m in mentions:
        if (cited := case_of.get(m.segment)) is not None:
            citations.append((cited, m.stakeholder, m.segment))
    registry = [StakeholderInfo(s.id, s.name, s.sector or "other", s.level or "")
                for s in book.stakeholders]
    known = {s.id for s in registry}
    for stakeholder in sorted({c[1] for c in citations} - known):
        registry.append(StakeholderInfo(stakeholder, stakeholder, "other"))
    position = {c: i for i, c in enumerate(book.ids)}
    seg_codes: dict[str, set[str]] = {}
    cited_segments = sorted({c[2] for c in citations})
    for coding in study.codings(statuses=sorted(set(statuses)), segments=cited_segments):
        if coding.code in position:
            seg_codes.setdefault(coding.segment, set()).add(coding.code)
    cases = {c.id: c for c in study.cases()}
    case_ids = sorted(set(cases) | set(seen))
    return NetworkData(
        cases=case_ids,
        case_sectors={c: (cases[c].attributes.get("sector", "") if c in cases else "")
                      for c in case_ids},
        stakeholders=registry,
        citations=sorted(citations),
        segment_codes={s: sorted(v, key=position.__getitem__) for s, v in seg_codes.items()},
        codes=book.ids)


def _node_ids(data: NetworkData) -> dict[tuple[str, str], str]:
    """Graph node ids: plain ids, a case prefixed with ``case:`` if a stakeholder has its id."""
    stakeholder_ids = {s.id for s in data.stakeholders}
    ids = {("stakeholder", s.id): s.id for s in data.stakeholders}
    for case in data.cases:
        ids[("case", case)] = f"case:{case}" if case in stakeholder_ids else case
    return ids


def bipartite(data: NetworkData) -> Any:
    """The case — stakeholder graph with node and edge attributes and centralities."""
    import networkx as nx

    ids = _node_ids(data)
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for case, stakeholder, segment in data.citations:
        edge = edges.setdefault((case, stakeholder), {"weight": 0, "segments": set(),
                                                      "codes": set()})
        edge["weight"] += 1
        edge["segments"].add(segment)
        edge["codes"].update(data.segment_codes.get(segment, []))
    cited = {s for _, s in edges}
    citing: dict[str, set[str]] = {}
    mentions: dict[str, int] = {}
    for (case, stakeholder), edge in edges.items():
        citing.setdefault(stakeholder, set()).add(case)
        mentions[stakeholder] = mentions.get(stakeholder, 0) + edge["weight"]
        mentions[case] = mentions.get(case, 0) + edge["weight"]
    graph = nx.Graph()
    for case in data.cases:
        graph.add_node(ids[("case", case)], label=case, kind="case", name=case,
                       sector=data.case_sectors.get(case, ""), level="", cases=0,
                       mentions=mentions.get(case, 0))
    for s in data.stakeholders:
        if s.id in cited:
            graph.add_node(ids[("stakeholder", s.id)], label=s.id, kind="stakeholder",
                           name=s.name, sector=s.sector, level=s.level,
                           cases=len(citing[s.id]), mentions=mentions[s.id])
    order = {s.id: i for i, s in enumerate(data.stakeholders)}
    position = {c: i for i, c in enumerate(data.codes)}
    for case, stakeholder in sorted(edges, key=lambda e: (e[0], order[e[1]])):
        edge = edges[(case, stakeholder)]
        graph.add_edge(ids[("case", case)], ids[("stakeholder", stakeholder)],
                       weight=edge["weight"], segments=len(edge["segments"]),
                       codes=";".join(sorted(edge["codes"], key=position.__getitem__)))
    add_centralities(graph)
    return graph


def betweenness_method(graph: Any) -> str:
    """How the graph's ``betweenness`` was computed: ``exact``, or the sample's description."""
    return str(graph.graph.get("betweenness", EXACT))


def add_centralities(graph: Any) -> None:
    """Set ``degree``, ``weighted_degree`` and ``betweenness`` on every node.

    Betweenness is exact up to :data:`EXACT_BETWEENNESS_MAX_NODES` nodes, else sampled from
    :data:`BETWEENNESS_PIVOTS` pivots with a fixed seed, noted in ``graph.graph["betweenness"]``.
    """
    import networkx as nx

    nodes = graph.number_of_nodes()
    twins = _twin_classes(graph) if nodes > EXACT_BETWEENNESS_MAX_NODES else None
    if twins is not None and len(twins) <= EXACT_BETWEENNESS_MAX_NODES:
        betweenness = twin_betweenness(graph, twins)
        graph.graph.pop("betweenness", None)
    elif nodes > EXACT_BETWEENNESS_MAX_NODES:
        pivots = min(BETWEENNESS_PIVOTS, nodes)
        betweenness = nx.betweenness_centrality(graph, k=pivots, normalized=True,
                                                seed=BETWEENNESS_SEED)
        graph.graph["betweenness"] = (f"sampled: {pivots} of {nodes} nodes as pivots, "
                                      f"seed {BETWEENNESS_SEED}")
    else:
        betweenness = nx.betweenness_centrality(graph, normalized=True)
        graph.graph.pop("betweenness", None)
    for node in graph.nodes:
        graph.nodes[node]["degree"] = int(graph.degree(node))
        graph.nodes[node]["weighted_degree"] = int(graph.degree(node, weight="weight"))
        graph.nodes[node]["betweenness"] = round(float(betweenness[node]), 6)


def _twin_classes(graph: Any) -> list[list[Any]] | None:
    """The graph's nodes grouped by their set of neighbours (in the order nodes first come),
    or None for a graph this does not serve (directed, a multigraph, with a self-loop)."""
    import networkx as nx

    if graph.is_directed() or graph.is_multigraph() or nx.number_of_selfloops(graph):
        return None
    groups: dict[frozenset[Any], list[Any]] = {}
    for node in graph.nodes:
        groups.setdefault(frozenset(graph.adj[node]), []).append(node)
    return list(groups.values())


def twin_betweenness(graph: Any, classes: list[list[Any]]) -> dict[Any, float]:
    """Exact normalised betweenness of an undirected, unweighted simple ``graph`` whose nodes
    are grouped in ``classes`` of nodes with the same neighbours (as networkx's
    ``betweenness_centrality(graph, normalized=True)``, up to rounding).

    Nodes with the same neighbours are never adjacent and are swapped by a symmetry of the
    graph, so Brandes' (2001) shortest-path counting runs on the graph of the classes, each
    class counting as its size: one search from each class stands for a search from each of
    its members, the source's own class split into the source and the rest of it.
    """
    where = {node: i for i, members in enumerate(classes) for node in members}
    size = [len(members) for members in classes]
    near = [sorted({where[n] for n in graph.adj[members[0]]}) for members in classes]
    rest = len(classes)  # the source's class without the source
    total = [0.0] * len(classes)
    for source in range(len(classes)):
        weight = size.copy()
        weight[source] = 1
        weight.append(size[source] - 1)
        sigma, dist = {source: 1.0}, {source: 0}
        preds: dict[int, list[int]] = {}
        order, frontier = [], [source]
        while frontier:
            ahead = []
            for v in frontier:
                order.append(v)
                step = near[source] if v == rest else near[v]
                if v != rest and source in step and weight[rest]:
                    step = [*step, rest]
                for w in step:
                    if w not in dist:
                        dist[w] = dist[v] + 1
                        sigma[w] = 0.0
                        ahead.append(w)
                    if dist[w] == dist[v] + 1:
                        sigma[w] += sigma[v] * weight[v]
                        preds.setdefault(w, []).append(v)
            frontier = ahead
        delta = dict.fromkeys(order, 0.0)
        for w in reversed(order):
            for v in preds.get(w, ()):
                delta[v] += sigma[v] / sigma[w] * weight[w] * (1.0 + delta[w])
        for v in order:
            if v == rest:
                total[source] += (size[source] - 1) * delta[v]
            elif v != source:
                total[v] += size[source] * delta[v]
    n = graph.number_of_nodes()
    scale = 1 / ((n - 1) * (n - 2)) if n > 2 else 1.0
    return {node: total[where[node]] * scale for node in graph.nodes}


def projection(graph: Any) -> Any:
    """Stakeholder — stakeholder graph: ``weight`` = cases citing both, ``cases`` lists them."""
    import networkx as nx

    stakeholders = [n for n, kind in graph.nodes(data="kind") if kind == "stakeholder"]
    keep = ("label", "kind", "name", "sector", "level", "cases", "mentions")
    result = nx.Graph()
    for node in stakeholders:
        result.add_node(node, **{k: graph.nodes[node][k] for k in keep})
    cases = [n for n, kind in graph.nodes(data="kind") if kind == "case"]
    shared: dict[tuple[str, str], list[str]] = {}
    rank = {n: i for i, n in enumerate(stakeholders)}
    for case in cases:
        cited = sorted(graph.neighbors(case), key=rank.__getitem__)
        for i, a in enumerate(cited):
            for b in cited[i + 1:]:
                shared.setdefault((a, b), []).append(graph.nodes[case]["label"])
    for (a, b), names in sorted(shared.items(), key=lambda kv: (rank[kv[0][0]],
                                                                rank[kv[0][1]])):
        result.add_edge(a, b, weight=len(names), cases=";".join(names))
    add_centralities(result)
    return result


RANKING_COLUMNS = ["stakeholder", "name", "sector", "cases", "mentions", "centrality"]


def ranking(graph: Any, data: NetworkData) -> Any:
    """Stakeholders by cases citing them, mentions, then id (uncited ones last, zeros).

    ``centrality`` is the graph's betweenness; ``frame.attrs["betweenness"]`` says whether it
    is exact or sampled (:func:`betweenness_method`).
    """
    import pandas as pd

    rows = []
    by_label = {attrs["label"]: attrs for _, attrs in graph.nodes(data=True)
                if attrs["kind"] == "stakeholder"}
    for s in data.stakeholders:
        attrs = by_label.get(s.id, {})
        rows.append((s.id, s.name, s.sector, attrs.get("cases", 0), attrs.get("mentions", 0),
                     attrs.get("betweenness", 0.0)))
    rows.sort(key=lambda r: (-r[3], -r[4], r[0]))
    frame = pd.DataFrame(rows, columns=RANKING_COLUMNS).set_index("stakeholder")
    frame.attrs["betweenness"] = betweenness_method(graph)
    return frame


def write_graph(graph: Any, path: str | Path) -> None:
    """Write a graph as GraphML or GEXF (by the file's extension), reproducibly."""
    import networkx as nx

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in GRAPH_FORMATS:
        raise ReportError(f"unknown network format {path.suffix or '(none)'!r}; use "
                          f"{' or '.join(GRAPH_FORMATS)}", path=path)
    if suffix == ".graphml":
        text = "\n".join(nx.generate_graphml(graph, encoding="utf-8")) + "\n"
    else:
        text = "\n".join(nx.generate_gexf(graph, encoding="utf-8")) + "\n"
        # GEXF carries the day it was written; drop it so reruns give the same bytes.
        text = re.sub(r' lastmodifieddate="[^"]*"', "", text)
    write_text(path, text, error=ReportError, what="network")


def build(study: StudyView, *, mentions: Iterable[Mention] | None = None,
          statuses: Iterable[str] = DEFAULT_STATUSES) -> tuple[NetworkData, Any]:
    """Load a study and return its network data and bipartite graph (``mentions``: see load)."""
    data = load(study, mentions=mentions, statuses=statuses)
    return data, bipartite(data)


def write_network(study: StudyView, out: str | Path, *, table: str | Path | None = None,
                  figure: str | Path | None = None,
                  projection_out: str | Path | None = None,
                  mentions: Iterable[Mention] | None = None,
                  map_codes: Sequence[str] | None = None, map_label: str | None = None,
                  map_centre: str | None = None) -> dict[str, Any]:
    """Build a study's network and write the graph, and optionally ranking, map, projection.

    ``mentions``: see :func:`load`. ``map_codes``, ``map_label``, ``map_centre``: the map's
    axis instead of the codebook's ``map:`` section (:func:`tipqual.analysis.stakemap.map_axis`).

    Every output's format, and the map's codes, are checked before anything is computed or
    written. The graph, projection and table are written first: when the map then cannot be
    drawn (no stakeholder is cited, or the figure cannot be written), the ReportError raised
    says which files were written all the same. Returns a summary: ``files`` written,
    ``cases``, ``stakeholders`` cited, ``edges`` and ``betweenness`` (``exact``, or how the
    large graph's betweenness was sampled).
    """
    from tipqual.analysis import stakemap
    from tipqual.output import xlsx
    checks = [(out, GRAPH_FORMATS, "network"), (projection_out, GRAPH_FORMATS, "network"),
              (table, (".csv",), "table"), (figure, stakemap.FIGURE_FORMATS, "figure")]
    for path, formats, what in checks:
        if path is not None and Path(path).suffix.lower() not in formats:
            raise ReportError(f"unknown {what} format {Path(path).suffix or '(none)'!r}; use "
                              f"{' or '.join(formats)}", path=path)
    data, graph = build(study, mentions=mentions)
    axis = stakemap.map_axis(study.codebook(), codes=map_codes, label=map_label,
                             centre=map_centre) if figure is not None or map_codes else None
    cited = sum(1 for _, kind in graph.nodes(data="kind") if kind == "stakeholder")
    write_graph(graph, out)
    files = [Path(out)]
    if projection_out is not None:
        write_graph(projection(graph), projection_out)
        files.append(Path(projection_out))
    if table is not None:
        xlsx.write_csv(ranking(graph, data), table)
        files.append(Path(table))
    if figure is not None and axis is not None:  # axis is set whenever figure is
        written = f"{_listing([str(f) for f in files])} {'was' if len(files) == 1 else 'were'} " \
                  "written all the same"
        if not cited:
            raise ReportError("no stakeholder is cited in a respondent segment, so there is "
                              "no map to draw; check the codebook's stakeholder registry "
                              f"({written})", path=figure)
        try:
            stakemap.draw(graph, data, figure, axis,
                          noun=stakemap.setting_nouns(study.meta(stakemap.CASE_NOUN_SETTING)))
        except ReportError as exc:
            raise ReportError(f"{exc.message} ({written})", path=exc.path or figure,
                              line=exc.line) from exc
        files.append(Path(figure))
    return {"files": files, "cases": len(data.cases),
            "stakeholders": cited,
            "edges": graph.number_of_edges(),
            "betweenness": betweenness_method(graph)}


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
