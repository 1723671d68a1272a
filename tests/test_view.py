"""The study view: analysis and the report run on any object with the view's queries.

The study here is not a study file: a school-meals evaluation held in plain lists, with its
own codebook and stakeholders. The same study written to a store gives the same results, so
the analysis depends on the view's answers only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tipqual.analysis import agreement, matrices, network
from tipqual.analysis.view import Snapshot, StudyView
from tipqual.codebook.model import Code, Codebook, Stakeholder
from tipqual.records import Case, Coding, Mention, Segment, Source
from tipqual.report import context as report_context
from tipqual.store.project import Project

BOOK = Codebook(
    name="School meals", version="0.3",
    codes=[Code("access", "Access to meals"), Code("quality", "Food quality"),
           Code("quality-fresh", "Fresh produce", parent="quality"),
           Code("stigma", "Stigma of free meals")],
    stakeholders=[Stakeholder("DOE", "Department of Education", ["the department"], "state"),
                  Stakeholder("PTA", "Parent-teacher association", [], "community")])

TEXTS = {
    "north": ["Which partners help the kitchen?",
              "The department sends maize but the PTA buys fresh vegetables every week.",
              "Children who eat the free lunch are teased, so some skip it."],
    "south": ["Who runs the feeding scheme?",
              "The PTA runs it, and the department only inspects once a year.",
              "Portions are small and the bread is often stale."],
}
CODINGS = [("north", 1, "quality-fresh", "ana"), ("north", 1, "access", "ana"),
           ("north", 1, "quality-fresh", "ben"), ("north", 2, "stigma", "ana"),
           ("north", 2, "stigma", "ben"), ("south", 1, "access", "ana"),
           ("south", 2, "quality", "ana"), ("south", 2, "quality", "ben"),
           ("south", 1, "access", "ben"), ("south", 2, "access", "ben")]


class ListStudy:
    """A study held in lists: the queries of :class:`StudyView`, answered in Python."""

    def __init__(self) -> None:
        self.path = Path("school-meals.memory")
        self._cases = [Case("north", {"district": "rural"}), Case("south", {"district": "urban"})]
        self._sources, self._segments = [], []
        for case, turns in TEXTS.items():
            text, parts = "", []
            for n, turn in enumerate(turns):
                parts.append((n, len(text), turn))
                text += turn + "\n\n"
            self._sources.append(Source(case, case, f"{case}.txt", "txt", "0" * 64, text))
            for n, start, turn in parts:
                role = "interviewer" if n == 0 else "respondent"
                self._segments.append(Segment(f"{case}:{n}", case, n, role.upper(), role,
                                              start, start + len(turn), turn, case=case))
        self._codings = [Coding(f"{case}:{n}", code, coder) for case, n, code, coder in CODINGS]
        self._mentions = []
        for seg in self._segments:
            for sid, word in (("DOE", "the department"), ("PTA", "PTA")):
                at = seg.text.lower().find(word.lower())
                if at >= 0:
                    self._mentions.append(Mention(seg.id, sid, at, at + len(word),
                                                      seg.text[at:at + len(word)]))
        self.calls: Counter[str] = Counter()

    def meta(self, key: str, default: str | None = None) -> str | None:
        return {"name": "School meals pilot"}.get(key, default)

    def codebook(self) -> Codebook | None:
        self.calls["codebook"] += 1
        return BOOK

    def codebook_info(self) -> dict[str, Any] | None:
        return {"name": BOOK.name, "version": BOOK.version, "sha256": BOOK.sha256}

    def codebook_history(self) -> list[dict[str, Any]]:
        return [self.codebook_info() or {}]

    def code_ids(self) -> list[str]:
        return BOOK.ids

    def cases(self) -> list[Case]:
        return list(self._cases)

    def sources(self) -> list[Source]:
        return list(self._sources)

    def segments(self, *, source: str | None = None, case: str | None = None,
                 role: str | None = None, ids: Iterable[str] | None = None,
                 batch: int = 500) -> Iterable[Segment]:
        self.calls["segments"] += 1
        wanted = None if ids is None else set(ids)
        return [s for s in self._segments
                if (source is None or s.source == source) and (case is None or s.case == case)
                and (role is None or s.role == role) and (wanted is None or s.id in wanted)]

    def codings(self, *, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None, codes: Iterable[str] | None = None,
                segments: Iterable[str] | None = None) -> list[Coding]:
        self.calls["codings"] += 1
        keep = [None if f is None else set(f) for f in (statuses, coders, codes, segments)]
        order = {s.id: i for i, s in enumerate(self._segments)}
        rows = [c for c in self._codings
                if all(k is None or v in k for k, v in
                       zip(keep, (c.status, c.coder, c.code, c.segment), strict=True))]
        return sorted(rows, key=lambda c: (order[c.segment], c.code, c.coder))

    def coders(self, *, statuses: Iterable[str] | None = None) -> list[str]:
        return sorted({c.coder for c in self.codings(statuses=statuses)})

    def mentions(self) -> list[Mention]:
        return list(self._mentions)


def stored(memory: ListStudy, path: Path) -> Project:
    """The same study written to a study file."""
    project = Project.create(path, name="School meals pilot")
    with project.atomic():
        project.set_codebook(BOOK)
        for case in memory.cases():
            project.put_case(case.id, case.attributes)
        for src in memory.sources():
            project.add_source(src, list(memory.segments(source=src.id)))
        for coding in memory.codings():
            project.put_coding(coding)
        project.replace_mentions(None, memory.mentions())
    return project


@pytest.fixture
def both(tmp_path: Path):
    memory = ListStudy()
    project = stored(memory, tmp_path / "meals.db")
    yield memory, project
    project.close()


def test_a_list_study_satisfies_the_view_protocol():
    study: StudyView = ListStudy()  # mypy checks the assignment; the run checks the queries
    assert [s.id for s in study.segments(role="respondent")] == \
        ["north:1", "north:2", "south:1", "south:2"]


def test_matrices_agree_on_memory_and_store(both):
    memory, project = both
    mine, theirs = matrices.load(memory), matrices.load(project)
    assert matrices.counts(mine).equals(matrices.counts(theirs))
    assert mine.cases == theirs.cases == ["north", "south"]
    assert mine.respondent_chars == theirs.respondent_chars
    quality = matrices.counts(matrices.load(memory, code="quality"))
    assert quality.loc["south", "quality"] == 1 and quality.loc["north", "quality-fresh"] == 1


def test_agreement_agrees_on_memory_and_store(both):
    memory, project = both
    mine = agreement.compare_coders(memory, ["ana", "ben"])
    theirs = agreement.compare_coders(project, ["ana", "ben"])
    assert [(c.code, c.n_units, c.kappa.value) for c in mine.table.codes] == \
        [(c.code, c.n_units, c.kappa.value) for c in theirs.table.codes]
    assert mine.disagreements == theirs.disagreements
    # ben alone coded access on south:2 and north:1 has access from ana only
    assert {r["segment"] for r in mine.disagreements} == {"north:1", "south:2"}


def test_network_counts_the_mentions_it_is_given(both):
    memory, project = both
    data, graph = network.build(memory)
    assert sorted(graph.nodes["PTA"].items()) == sorted(
        network.build(project)[1].nodes["PTA"].items())
    assert {(c, s) for c, s, _ in data.citations} == \
        {("north", "DOE"), ("north", "PTA"), ("south", "PTA"), ("south", "DOE")}
    only_pta = [m for m in memory.mentions() if m.stakeholder == "PTA"]
    data, _ = network.build(memory, mentions=only_pta)
    assert {s for _, s, _ in data.citations} == {"PTA"}


def test_the_report_context_is_the_same_from_memory_and_store(both):
    memory, project = both
    mine = report_context.build_context(memory)
    theirs = report_context.build_context(project)
    assert mine["findings"] == theirs["findings"]
    assert mine["matrix"] == theirs["matrix"]
    assert mine["agreement"] == theirs["agreement"]
    assert mine["partnerships"] == theirs["partnerships"]
    assert mine["study"]["name"] == "School meals pilot"
    assert mine["study"]["respondent_segments"] == 4


def test_the_report_reads_each_table_once():
    memory = ListStudy()
    report_context.build_context(memory)
    # matrices, network, agreement, COREQ and the study hash all ask for every segment
    assert memory.calls["segments"] == 1
    assert memory.calls["codebook"] == 1


def test_snapshot_keeps_unfiltered_answers_and_passes_filters_through():
    memory = ListStudy()
    snap = Snapshot(memory)
    first = list(snap.segments())
    first.clear()  # a caller changing its list does not change the snapshot's
    assert len(list(snap.segments())) == 6 and memory.calls["segments"] == 1
    assert [s.id for s in snap.segments(case="south", role="respondent")] == \
        ["south:1", "south:2"]
    assert memory.calls["segments"] == 2
    assert len(snap.codings()) == len(snap.codings()) == 10
    assert memory.calls["codings"] == 1
    assert [c.code for c in snap.codings(coders=["ben"], segments=["south:2"])] == \
        ["access", "quality"]
    assert memory.calls["codings"] == 2
