"""The study view: analysis and the report run on any object with the view's queries.

The study here is not a study file: a school-meals evaluation held in plain lists, with its
own codebook and stakeholders. The same study written to a store gives the same results, so
the analysis depends on the view's answers only.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
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

    # the streamed and aggregate queries, answered from the same lists

    def source_headers(self) -> list[Source]:
        return [Source(s.id, s.case, s.path, s.format, s.sha256, "", dict(s.meta))
                for s in self._sources]

    def source_texts(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        wanted = None if ids is None else set(ids)
        return iter([(s.id, s.text) for s in sorted(self._sources, key=lambda s: s.id)
                     if wanted is None or s.id in wanted])

    def segment_index(self, ids: Iterable[str] | None = None
                      ) -> Iterator[tuple[str, str, str | None, int, str | None, str, int, int]]:
        self.calls["segment_index"] += 1
        wanted = None if ids is None else set(ids)
        return iter([(s.id, s.source, s.case, s.n, s.speaker, s.role, s.start, s.end)
                     for s in self._segments if wanted is None or s.id in wanted])

    def segment_counts(self) -> list[dict[str, Any]]:
        self.calls["segment_counts"] += 1
        rows: dict[tuple, dict[str, Any]] = {}
        for s in self._segments:
            row = rows.setdefault((s.source, s.role, s.speaker or ""), {
                "source": s.source, "case": s.case, "role": s.role, "speaker": s.speaker,
                "segments": 0, "words": 0})
            row["segments"] += 1
            row["words"] += len(s.text.split())
        return [rows[k] for k in sorted(rows)]

    def iter_codings(self) -> Iterable[Coding]:
        return iter(self._sorted(self._codings))

    def coding_keys(self, *, statuses: Iterable[str]) -> Iterable[tuple[str, str, str]]:
        keep = set(statuses)
        return [(c.segment, c.code, c.coder) for c in self._sorted(self._codings)
                if c.status in keep]

    def coded_segment_counts(self, *, statuses: Iterable[str],
                             groups: dict[str, list[str]]) -> list[tuple[str, str, int]]:
        keep = set(statuses)
        case_of = {s.id: s.case or s.source for s in self._segments}
        found: dict[tuple[str, str], set[str]] = {}
        for c in self._codings:
            for name, codes in groups.items():
                if c.status in keep and c.code in codes and c.segment in case_of:
                    found.setdefault((case_of[c.segment], name), set()).add(c.segment)
        return [(case, name, len(segs)) for (case, name), segs in sorted(found.items())]

    def coder_counts(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        segments: dict[str, set[str]] = {}
        for c in self._codings:
            if c.status != "suggested":
                row = found.setdefault(c.coder, {})
                row[c.status] = row.get(c.status, 0) + 1
                segments.setdefault(c.coder, set()).add(c.segment)
        return {name: {**found[name], "segments": len(segments[name])} for name in sorted(found)}

    def awaiting_review(self) -> dict[str, int]:
        def key(c: Coding) -> tuple:
            return c.key[0], c.key[1], c.key[3], c.key[4]

        decided = {key(c) for c in self._codings if c.status in ("accepted", "rejected")}
        waiting = Counter(c.coder for c in self._codings
                          if c.status == "suggested" and key(c) not in decided)
        return dict(sorted(waiting.items()))

    def decisions(self) -> list[dict[str, Any]]:
        fared: Counter[tuple[str | None, str, str]] = Counter()
        for c in self._codings:
            if c.status in ("accepted", "rejected"):
                named = re.match(r"review of (\S+)", c.provenance or "")
                fared[(named.group(1) if named else None, c.coder, c.status)] += 1
        rows: list[dict[str, Any]] = [
            {"suggester": s, "reviewer": r, "status": st, "count": n}
            for (s, r, st), n in fared.items()]
        rows += [{"suggester": s, "reviewer": None, "status": "suggested", "count": n}
                 for s, n in self.awaiting_review().items()]
        return sorted(rows, key=lambda d: (d["suggester"] is None, d["suggester"] or "",
                                           d["reviewer"] is not None, d["reviewer"] or "",
                                           d["status"]))

    def decided_suggestions(self) -> dict[str | None, tuple[int, int]]:
        reviewers: Counter[tuple[str | None, str, str, int, int]] = Counter()
        for c in self._codings:
            if c.status in ("accepted", "rejected"):
                named = re.match(r"review of (\S+)", c.provenance or "")
                reviewers[(named.group(1) if named else None, c.segment, c.code,
                           -1 if c.span_start is None else c.span_start,
                           -1 if c.span_end is None else c.span_end)] += 1
        out: dict[str | None, tuple[int, int]] = {}
        for (suggester, *_), n in reviewers.items():
            seen, again = out.get(suggester, (0, 0))
            out[suggester] = (seen + 1, again + (n > 1))
        return out

    def _sorted(self, codings: list[Coding]) -> list[Coding]:
        order = {s.id: i for i, s in enumerate(self._segments)}
        return sorted(codings, key=lambda c: (order[c.segment], c.code, c.coder))


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


def test_the_report_reads_each_small_table_once():
    memory = ListStudy()
    report_context.build_context(memory)
    # the per-source counts serve the study, the cases, COREQ and the network
    assert memory.calls["segment_counts"] == 1
    assert memory.calls["codebook"] == 1


def test_snapshot_keeps_small_answers_and_passes_growing_ones_through():
    memory = ListStudy()
    snap = Snapshot(memory)
    counts = snap.segment_counts()
    counts.clear()  # a caller changing its list does not change the snapshot's
    assert len(snap.segment_counts()) == 4 and memory.calls["segment_counts"] == 1
    # segments and codings grow with the study: never kept, asked of the view each time
    assert len(list(snap.segments())) == len(list(snap.segments())) == 6
    assert memory.calls["segments"] == 2
    assert [s.id for s in snap.segments(case="south", role="respondent")] == \
        ["south:1", "south:2"]
    assert len(snap.codings()) == len(snap.codings()) == 10
    assert memory.calls["codings"] == 2
    assert [c.code for c in snap.codings(coders=["ben"], segments=["south:2"])] == \
        ["access", "quality"]


class Guarded:
    """A view that refuses the queries that read every segment, coding or source text."""

    def __init__(self, view: Any):
        self._view = view
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)

    def segments(self, **filters: Any) -> Iterable[Segment]:
        if not any(v is not None for k, v in filters.items() if k != "batch"):
            raise AssertionError("the report read every segment")
        self.asked.append(("segments", filters))
        return self._view.segments(**filters)

    def codings(self, **filters: Any) -> list[Coding]:
        if all(v is None for v in filters.values()):
            raise AssertionError("the report read every coding")
        if filters.get("statuses") is not None and "suggested" in set(filters["statuses"]) \
                and filters.get("segments") is None:
            raise AssertionError("the report read every suggestion")
        self.asked.append(("codings", filters))
        return self._view.codings(**filters)

    def sources(self) -> list[Source]:
        raise AssertionError("the report read every source's text at once")


@pytest.mark.parametrize("where", ["memory", "store"])
def test_the_report_context_reads_through_the_streaming_queries(both, where):
    memory, project = both
    view = memory if where == "memory" else project
    expected = report_context.build_context(view)
    guarded = Guarded(view)
    assert report_context.build_context(guarded) == expected
    # the segments read whole are the applied codings' and the chosen quotes', never all
    read = [set(f["ids"]) for name, f in guarded.asked if name == "segments"]
    assert read and all(ids <= {"north:1", "north:2", "south:1", "south:2"} for ids in read)


def test_aggregate_queries_agree_on_memory_and_store(both):
    memory, project = both
    assert memory.segment_counts() == project.segment_counts()
    groups = {"quality": ["quality", "quality-fresh"], "access": ["access"]}
    assert memory.coded_segment_counts(statuses=["human"], groups=groups) == \
        project.coded_segment_counts(statuses=["human"], groups=groups) == \
        [("north", "access", 1), ("north", "quality", 1), ("south", "access", 2),
         ("south", "quality", 1)]
    assert memory.coder_counts() == project.coder_counts() == \
        {"ana": {"human": 5, "segments": 4}, "ben": {"human": 5, "segments": 4}}
    assert list(memory.segment_index()) == list(project.segment_index())
    assert list(memory.source_texts()) == list(project.source_texts())
    assert [s.text for s in project.source_headers()] == ["", ""]
    assert [c.key for c in memory.iter_codings()] == \
        [c.key for c in project.iter_codings()] == [c.key for c in project.codings()]
    assert list(memory.coding_keys(statuses=["human"])) == \
        list(project.coding_keys(statuses=["human"]))


def test_awaiting_review_counts_undecided_suggestions(tmp_path: Path):
    memory = ListStudy()
    project = stored(memory, tmp_path / "meals.db")
    with project.atomic():
        project.put_coding(Coding("north:1", "stigma", "tipqual-rules", "suggested", 0.7))
        project.put_coding(Coding("north:2", "access", "tipqual-rules", "suggested", 0.6))
        project.put_coding(Coding("north:2", "access", "ana", "rejected"))
    assert project.awaiting_review() == {"tipqual-rules": 1}
    memory._codings = project.codings()
    assert memory.awaiting_review() == {"tipqual-rules": 1}
    project.close()
