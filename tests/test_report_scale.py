"""The report of a large study: it streams the study and its figures do not grow with it.

Behaviour, not timing: the report is built from a view that refuses every query reading all
segments, codings, mentions or source texts at once; the network is shown to hold no segment
while it reads them; the heat map and the Word matrix of a study with many cases keep a fixed
number of columns. (Speed and memory figures come from ``benchmarks/scale.py``.)
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tipqual.analysis import network
from tipqual.analysis.view import iter_mentions
from tipqual.codebook.model import Code, Codebook, Stakeholder
from tipqual.records import Coding, Mention, Segment, Source
from tipqual.report import context as report_context
from tipqual.report import render
from tipqual.report.writer import write_reports
from tipqual.store.project import Project

BOOK = Codebook(
    name="Clinics", version="1.0",
    codes=[Code("waiting", "Waiting times"), Code("staff", "Staff attitudes"),
           Code("staff-rude", "Rude staff", parent="staff")],
    stakeholders=[Stakeholder("DOH", "Department of Health", ["the department"], "government"),
                  Stakeholder("NGO", "Clinic friends", ["the friends"], "civil_society")])
N_CASES = 45  # more than the heat map's columns: the report takes its large-study form
TURNS = ["What is it like at the clinic?",
         "We wait from six in the morning and the department never sends more nurses.",
         "The nurses shout at old people, but the friends bring water and chairs."]


def build_study(path: Path, cases: int = N_CASES) -> Project:
    """``cases`` clinics of one interview each, coded by two coders, mentions stored and the
    suggest stage recorded for every segment (so the stored mentions are current)."""
    project = Project.create(path, name="Clinic visits")
    keys: dict[str, str] = {}
    mentions = []
    with project.atomic():
        project.set_codebook(BOOK)
        for i in range(1, cases + 1):
            sid = f"CL-{i:03d}"
            project.put_case(sid, {"type": "rural" if i % 2 else "urban"})
            text, segments = "", []
            for n, turn in enumerate(TURNS):
                role = "interviewer" if n == 0 else "respondent"
                segments.append(Segment(f"{sid}:{n}", sid, n, role.upper(), role, len(text),
                                        len(text) + len(turn), turn, case=sid))
                text += turn + "\n\n"
            project.add_source(Source(sid, sid, f"{sid}.txt", "txt", f"{i:064x}", text),
                               segments)
            for seg in segments:
                keys[seg.id] = "k"
                for stakeholder, word in (("DOH", "the department"), ("NGO", "the friends")):
                    at = seg.text.find(word)
                    if at >= 0:
                        mentions.append(Mention(seg.id, stakeholder, at, at + len(word), word))
            project.put_coding(Coding(f"{sid}:1", "waiting", "ana"))
            project.put_coding(Coding(f"{sid}:1", "waiting" if i % 3 else "staff", "ben"))
            if i % 2:
                project.put_coding(Coding(f"{sid}:2", "staff-rude", "ana"))
                project.put_coding(Coding(f"{sid}:2", "staff-rude", "ben"))
            project.put_coding(Coding(f"{sid}:2", "staff", "tipqual-rules", "suggested", 0.8))
        project.replace_mentions(None, mentions)
        project.set_stage_keys("suggest", keys)
    return project


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = build_study(tmp_path_factory.mktemp("clinics") / "clinics.db")
    yield project
    project.close()


class StreamOnly:
    """A view over ``view`` that refuses every query reading the whole of a growing table."""

    def __init__(self, view: Any):
        self._view = view

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)

    def segments(self, **filters: Any) -> Iterable[Segment]:
        if all(v is None for k, v in filters.items() if k != "batch"):
            raise AssertionError("read every segment at once")
        return self._view.segments(**filters)

    def codings(self, **filters: Any) -> list[Coding]:
        if all(v is None for v in filters.values()):
            raise AssertionError("read every coding at once")
        if filters.get("segments") is None and filters.get("coders") is None and (
                filters.get("statuses") is None or "suggested" in set(filters["statuses"])):
            raise AssertionError("read every suggestion at once")
        return self._view.codings(**filters)

    def mentions(self) -> list[Mention]:
        raise AssertionError("read every mention at once")

    def sources(self) -> list[Source]:
        raise AssertionError("read every source's text at once")


@pytest.mark.slow
def test_the_report_is_written_from_streamed_reads_only(study: Project, tmp_path: Path) -> None:
    outs = [tmp_path / "streamed.html", tmp_path / "streamed.md", tmp_path / "streamed.docx"]
    write_reports(StreamOnly(study), outs, coders=["ana", "ben"])
    plain = [tmp_path / "plain.html", tmp_path / "plain.md", tmp_path / "plain.docx"]
    write_reports(study, plain, coders=["ana", "ben"])
    for mine, theirs in zip(outs, plain, strict=True):
        if mine.suffix == ".md":  # names its figure files, which differ by the report's name
            assert mine.read_text().replace("streamed-", "plain-") == theirs.read_text()
        else:
            assert mine.read_bytes() == theirs.read_bytes()
    html = outs[0].read_text(encoding="utf-8")
    assert "Department of Health" in html and "We wait from six in the morning" in html


def test_the_study_hash_streams_the_mentions(study: Project) -> None:
    assert report_context.study_hash(StreamOnly(study)) == report_context.study_hash(study)
    assert list(iter_mentions(study)) == study.mentions()
    assert len(study.mentions()) == 2 * N_CASES


class IndexOnly:
    """A view that refuses to read segments whole (with their text) and counts the rows of
    the segment index it hands out."""

    def __init__(self, view: Any):
        self._view = view
        self.rows = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)

    def segments(self, **filters: Any) -> Iterable[Segment]:
        raise AssertionError("read segments with their text")

    def segment_index(self, ids: Iterable[str] | None = None) -> Iterator[Any]:
        for row in self._view.segment_index(ids):
            self.rows += 1
            yield row


def test_the_network_reads_the_segment_index_not_the_texts(study: Project) -> None:
    view = IndexOnly(study)
    data = network.load(view)
    assert view.rows == 3 * N_CASES  # each segment once
    assert data == network.load(study)
    assert {(c, s) for c, s, _ in data.citations} == \
        {(f"CL-{i:03d}", s) for i in range(1, N_CASES + 1) for s in ("DOH", "NGO")}
    # the report's network reads only the index rows of the segments a mention cites
    view = IndexOnly(study)
    cited, graph = report_context.build_network(view)
    assert view.rows == 2 * N_CASES  # the two answers citing someone, not the questions
    assert cited.citations == data.citations and graph.number_of_nodes() == N_CASES + 2


def test_the_stored_mentions_are_current_when_suggest_covered_every_segment(
        study: Project, tmp_path: Path) -> None:
    from tipqual.cli.analysis import current_mentions

    assert study.unkeyed_segments("suggest") == 0
    assert study.unkeyed_segments("mentions") == 3 * N_CASES
    assert current_mentions(study) is None  # the network and report read them as a stream
    fresh = build_study(tmp_path / "fresh.db", cases=2)
    with fresh.atomic():
        fresh.set_stage_keys("suggest", {})
    fresh.close()
    with Project.open(tmp_path / "fresh.db") as project:
        assert project.unkeyed_segments("suggest") == 0
    # a study with a segment no stage covered: the mentions are found now, as before
    partial = build_study(tmp_path / "partial.db", cases=2)
    try:
        with partial.atomic():
            partial.add_source(Source("CL-new", None, "new.txt", "txt", "f" * 64, TURNS[1]),
                               [Segment("CL-new:0", "CL-new", 0, "R", "respondent", 0,
                                        len(TURNS[1]), TURNS[1])])
        assert partial.unkeyed_segments("suggest") == 1
        found = current_mentions(partial)
        assert found is not None and {m.segment for m in found} >= {"CL-new:0"}
    finally:
        partial.close()


def _matrix(cases: int) -> dict[str, Any]:
    rows = [{"id": code, "name": code.title(), "depth": 0, "grouped": False,
             "counts": [(i + j) % 3 for i in range(cases)],
             "n_cases": sum(1 for i in range(cases) if (i + j) % 3)}
            for j, code in enumerate(["waiting", "staff", "funding"])]
    return {"by_code": rows, "cases": [f"C{i:05d}" for i in range(cases)]}


def _size(svg: bytes) -> tuple[str, str]:
    head = svg.decode("utf-8")[:2000]
    width = re.search(r'<svg[^>]*\bwidth="([^"]+)"', head)
    height = re.search(r'<svg[^>]*\bheight="([^"]+)"', head)
    assert width and height
    return width.group(1), height.group(1)


@pytest.mark.slow
def test_heatmap_columns_stop_growing_past_the_limit() -> None:
    limit = render.HEATMAP_MAX_COLUMNS
    assert render.heatmap_groups([f"c{i}" for i in range(limit)]) == \
        [[f"c{i}"] for i in range(limit)]
    groups = render.heatmap_groups([f"c{i}" for i in range(95)])
    assert [len(g) for g in groups] == [3] * 31 + [2]
    assert [c for g in groups for c in g] == [f"c{i}" for i in range(95)]  # order kept
    assert all(len(render.heatmap_groups(list(range(n)))) <= limit
               for n in (limit + 1, 2 * limit + 1, 999, 50_000))
    # drawn: 400 cases and 4,000 give a figure of the same size, one column a run of cases
    assert _size(render.heatmap(_matrix(400), "svg")) == \
        _size(render.heatmap(_matrix(4000), "svg"))
    small, wide = _size(render.heatmap(_matrix(10), "svg")), _size(render.heatmap(
        _matrix(limit), "svg"))
    assert float(small[0].rstrip("pt")) < float(wide[0].rstrip("pt"))  # one column a case


def test_the_large_study_says_how_the_heat_map_groups_cases(study: Project,
                                                            tmp_path: Path) -> None:
    ctx = report_context.build_context(study, coders=["ana", "ben"])
    assert len(ctx["matrix"]["cases"]) == N_CASES  # the table keeps one row a case
    figs = render.figures(ctx, report_context.build_network(study), BOOK, ())
    assert "in 23 columns of 2 cases each (the last 1)" in figs["heatmap"].caption
    few = render.figures({**ctx, "matrix": {**ctx["matrix"], "cases": ["a", "b"]}},
                         report_context.build_network(study), BOOK, ())
    assert "(coloured: raised; number: coded segments;" in few["heatmap"].caption


@pytest.mark.slow
def test_the_word_matrix_of_a_large_study_has_the_heat_map_columns(study: Project,
                                                                   tmp_path: Path) -> None:
    import docx

    out = tmp_path / "clinics.docx"
    write_reports(study, [out], coders=["ana", "ben"])
    document = docx.Document(str(out))
    matrix = [t for t in document.tables if t.rows[0].cells[0].text == "code"
              and t.rows[0].cells[-1].text == f"of {N_CASES}"]
    assert len(matrix) == 1
    header = [c.text for c in matrix[0].rows[0].cells]
    assert len(header) == 23 + 2 and header[1] == "CL-001 – CL-002" and header[-2] == "CL-045"
    waiting = next(r for r in matrix[0].rows if r.cells[0].text == "waiting")
    # every clinic's first answer is coded waiting by ana: each run of two counts two
    assert [c.text for c in waiting.cells[1:-1]] == ["2"] * 22 + ["1"]
    assert waiting.cells[-1].text == str(N_CASES)
    with zipfile.ZipFile(out) as package:
        assert "CL-044" in package.read("word/document.xml").decode("utf-8")  # appendix
