"""Cross-case matrices computed from the small analysis study."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.fixtures.analysis.minimal_study import build, rows
from tipqual.analysis import matrices  # noqa: E402
from tipqual.errors import CodebookError, CodingError  # noqa: E402

CODES = ["partnership", "partnership-vertical", "trust", "corruption", "funding",
         "victim-services", "referral", "protection"]
# the matrices' columns: each parent code followed by its roll-up over its subtree
COLUMNS = ["partnership", "partnership (all)", "partnership-vertical", "trust", "corruption",
           "funding", "victim-services", "victim-services (all)", "referral", "protection"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = build(tmp_path_factory.mktemp("matrices") / "study.db")
    yield p
    p.close()


@pytest.fixture(scope="module")
def data(project):
    return matrices.load(project)


def expected_counts(statuses=("human", "accepted"), by_coder=False):
    """An independent crosstab of the fixture codings, in plain Python."""
    case_of = {f"{r['source']}:{i}": r["case"] for src in ("A1", "B1", "C1")
               for i, r in enumerate([x for x in rows("segments.csv") if x["source"] == src], 1)}
    seen, table = set(), defaultdict(int)
    for r in rows("codings.csv"):
        if r["status"] not in statuses:
            continue
        key = (r["segment"], r["code"], r["coder"] if by_coder else None)
        if key in seen:
            continue
        seen.add(key)
        row = (case_of[r["segment"]], r["coder"]) if by_coder else case_of[r["segment"]]
        table[(row, r["code"])] += 1
    return dict(table)


def test_counts_equal_an_independent_crosstab(data):
    table = matrices.counts(data)
    assert list(table.columns) == COLUMNS
    assert list(table.index) == ["CSO-A", "CSO-B", "CSO-C"]
    assert table.index.name == "case"
    got = {(case, code): int(table.loc[case, code])
           for case in table.index for code in CODES if table.loc[case, code]}
    assert got == expected_counts()
    assert got[("CSO-A", "partnership-vertical")] == 1  # two coders, one segment
    # CSO-A and CSO-C have no direct partnership codings; the roll-up counts the subtree
    assert table["partnership"].tolist() == [0, 1, 0]
    assert table["partnership (all)"].tolist() == [1, 1, 1]
    both = table["victim-services"] + table["referral"]
    assert (table["victim-services (all)"] <= both).all()
    assert (table["victim-services (all)"] >= table[["victim-services", "referral"]]
            .max(axis=1)).all()


def test_rollup_counts_are_the_report_numbers(project, data):
    from tipqual.report.context import build_context

    rolled = matrices.rollup_counts(data)
    assert list(rolled.columns) == CODES
    assert rolled["partnership"].tolist() == matrices.counts(data)["partnership (all)"].tolist()
    assert rolled["trust"].equals(matrices.counts(data)["trust"])
    report = build_context(project)["matrix"]
    assert [r["counts"] for r in report["rows"]] == rolled.to_numpy().tolist()
    assert report["grouped"] == matrices.parent_codes(data) == ["partnership",
                                                                "victim-services"]


def test_counts_by_coder_rows(data):
    table = matrices.counts(data, by_coder=True)
    assert table.index.names == ["case", "coder"]
    got = {(row, code): int(table.loc[row, code])
           for row in table.index for code in CODES if table.loc[row, code]}
    assert got == expected_counts(by_coder=True)
    assert int(table.loc[("CSO-B", "bob"), "trust"]) == 2
    assert list(table.columns) == COLUMNS
    assert table["partnership (all)"].tolist() == \
        (table["partnership"] + table["partnership-vertical"]).tolist()  # none coded both


def test_presence_is_counts_above_zero(data):
    assert (matrices.presence(data) == (matrices.counts(data) > 0).astype(int)).all().all()
    assert matrices.presence(data).loc["CSO-C"].tolist() == [0, 1, 1, 0, 0, 1, 1, 1, 0, 0]


def test_status_filter_and_coders(project):
    only_suggested = matrices.load(project, statuses=["suggested"])
    assert int(matrices.counts(only_suggested).to_numpy().sum()) == 1
    bob = matrices.counts(matrices.load(project, coders=["bob"]))
    assert int(bob.loc["CSO-B", "trust"]) == 2 and int(bob.loc["CSO-A", "referral"]) == 0
    with pytest.raises(CodingError, match="unknown coder 'carol'"):
        matrices.load(project, coders=["carol"])
    with pytest.raises(CodingError, match="unknown status"):
        matrices.load(project, statuses=["maybe"])


def test_codes_subtree(project):
    table = matrices.counts(matrices.load(project, code="victim-services"))
    assert list(table.columns) == ["victim-services", "victim-services (all)", "referral"]
    assert table["referral"].tolist() == [1, 1, 0]
    with pytest.raises(CodebookError, match="unknown code 'nope'"):
        matrices.load(project, code="nope")


def test_cooccurrence_symmetric_with_diagonal_the_totals(data):
    table = matrices.cooccurrence(data)
    assert list(table.index) == COLUMNS and list(table.columns) == COLUMNS
    assert (table.to_numpy() == table.to_numpy().T).all()
    totals = matrices.counts(data).sum()
    assert [int(table.loc[c, c]) for c in COLUMNS] == [int(totals[c]) for c in COLUMNS]
    assert int(table.loc["trust", "corruption"]) == 1      # B1:2
    assert int(table.loc["partnership-vertical", "referral"]) == 1  # A1:2
    assert int(table.loc["funding", "corruption"]) == 0    # the suggestion is not counted


def test_framework_quotes_carry_segment_ids(data):
    table = matrices.framework(data)
    assert table.loc["CSO-B", "trust"] == (
        '[B1:1] "Who do you call?"\n\n[B1:2] "+27 82 555 0101 is the shelter line; the police '
        'never answer it, and one officer took money from the trafficker."')
    assert table.loc["CSO-C", "victim-services"] == '[C1:3] "We run the saf"'  # a span
    # a whole-segment coding wins over a span of the same segment: quoted once
    assert table.loc["CSO-A", "funding"].count("[A1:3]") == 1
    assert table.loc["CSO-A", "corruption"] == ""
    # a roll-up cell quotes the subtree's segments, each once, naming the codes it carries
    assert table.loc["CSO-A", "partnership"] == ""
    assert table.loc["CSO-A", "partnership (all)"] == table.loc[
        "CSO-A", "partnership-vertical"].replace("[A1:2]", "[A1:2 · partnership-vertical]")
    assert table.loc["CSO-C", "victim-services (all)"] == \
        '[C1:3 · victim-services] "We run the saf"'


def test_coverage_shares_of_respondent_text(data):
    table = matrices.coverage(data)
    texts = [r for r in rows("segments.csv") if r["case"] == "CSO-C" and
             r["role"] == "respondent"]
    total = sum(len(r["text"]) for r in texts)
    assert table.loc["CSO-C", "victim-services"] == round(14 / total, 4)
    assert table.loc["CSO-C", "partnership-vertical"] == round(len(texts[0]["text"]) / total, 4)
    # B1:1 is the interviewer's: trust covers only B1:2 of CSO-B's respondent text
    b = [r for r in rows("segments.csv") if r["case"] == "CSO-B" and r["role"] == "respondent"]
    assert table.loc["CSO-B", "trust"] == round(len(b[0]["text"]) / sum(len(r["text"])
                                                                        for r in b), 4)
    assert ((table >= 0) & (table <= 1)).all().all()


def test_crosstabs_by_attribute(data):
    tabs = matrices.crosstabs(data)
    assert list(tabs) == ["province", "sector"]
    assert list(tabs["sector"].index) == ["faith-based", "ngo"]
    assert int(tabs["sector"].loc["ngo", "partnership-vertical"]) == 2
    assert int(tabs["province"].loc["Western Cape", "trust"]) == 2


def test_crosstab_orders_numbers_numerically(tmp_path):
    p = build(tmp_path / "s.db")
    with p.atomic():
        for case, years in (("CSO-A", "12"), ("CSO-B", "5")):
            p.put_case(case, {"years": years})
    table = matrices.crosstab(matrices.load(p), "years")
    p.close()
    # numbers are binned (width 2 is the smallest 1/2/5 × 10^k giving at most five bins)
    assert list(table.index) == ["4–5", "12–13", "(missing)"]
    assert int(table.loc["(missing)", "funding"]) == 1  # CSO-C


def test_sheets_names_and_order(data):
    assert list(matrices.sheets(data)) == ["counts", "presence", "coverage", "framework",
                                           "cooccurrence", "by-province", "by-sector"]
    assert matrices.sheet_name("by-a/b:c" + "x" * 40, ["counts"]) == "by-a_b_c" + "x" * 23
    assert matrices.sheet_name("counts", ["Counts"]) == "counts~2"


def test_case_without_codings_is_a_row_of_zeros(tmp_path):
    p = build(tmp_path / "s.db")
    with p.atomic():
        p.put_case("CSO-D", {"sector": "ngo"})
    table = matrices.counts(matrices.load(p))
    p.close()
    assert table.loc["CSO-D"].tolist() == [0] * len(COLUMNS)


def test_no_codebook_is_a_clear_error(tmp_path):
    from tipqual.store.project import Project

    p = Project.create(tmp_path / "empty.db")
    with pytest.raises(CodingError, match="no codebook"):
        matrices.load(p)
    p.close()


def test_source_without_a_case_stands_for_itself(tmp_path):
    from tipqual.records import Coding, Segment, Source

    p = build(tmp_path / "s.db")
    with p.atomic():
        p.add_source(Source("loose", None, "loose.txt", "txt", "0", "Trust nobody."),
                     [Segment("loose:1", "loose", 1, "R", "respondent", 0, 13, "Trust nobody.")])
        p.put_coding(Coding("loose:1", "trust", "alice"))
    data = matrices.load(p)
    p.close()
    assert "loose" in data.cases
    assert matrices.coverage(data).loc["loose", "trust"] == 1.0


def test_frames_are_stable(project):
    a, b = matrices.sheets(matrices.load(project)), matrices.sheets(matrices.load(project))
    assert all(a[k].equals(b[k]) for k in a)
    assert Path(project.path).exists()


# --- framework and coverage on whole columns -----------------------------------------------------

def generated(cases: int, seed: int = 5) -> matrices.CodingData:
    """Codings of ``cases`` cases: spans overlapping, out of range, reversed or unset; two
    coders; a parent code and its children; interviewer segments too."""
    import random

    import pandas as pd

    rng = random.Random(seed)
    codes = ["access", "access-cost", "access-distance", "repairs"]
    parents = {"access": None, "access-cost": "access", "access-distance": "access",
               "repairs": None}
    rows, chars = [], {}
    for c in range(cases):
        case = f"case-{c:03d}"
        for n in range(1, 6):
            role = "respondent" if n % 4 else "interviewer"
            text = f"  Passage {n} of {case}:\n" + " ".join(["word"] * rng.randint(3, 30))
            if role == "respondent":
                chars[case] = chars.get(case, 0) + len(text)
            for _ in range(rng.randint(0, 4)):
                span = rng.choice([(None, None), (None, None), (0, 9), (4, 20), (15, 12),
                                   (-3, 8), (30, 500), (6, None), (2, 18)])
                seg = matrices._span(len(text), *span)
                rows.append((case, f"src-{c}", f"src-{c}:{n}", n, role, len(text),
                             rng.choice(codes), rng.choice(["ana", "ben"]), "human", *span,
                             text[seg[0]:seg[1]]))
    frame = pd.DataFrame(rows, columns=matrices.CODING_COLUMNS)
    frame[["span_start", "span_end"]] = frame[["span_start", "span_end"]].astype("Int64")
    return matrices.CodingData(codings=frame, cases=[f"case-{c:03d}" for c in range(cases)]
                               + ["case-empty"], codes=codes,
                               code_names={c: c.title() for c in codes},
                               respondent_chars=chars, parents=parents)


def reference_cells(data: matrices.CodingData) -> tuple[dict, dict]:
    """Framework and coverage cells computed one by one in plain Python."""
    import re

    import pandas as pd

    def one_line(text):
        return re.sub(r"\s+", " ", text).strip()

    def number(value):
        return None if pd.isna(value) else int(value)

    position = {c: i for i, c in enumerate(data.codes)}
    rolled = [r._replace(span_start=number(r.span_start), span_end=number(r.span_end))
              for r in matrices.rolled_up(data).itertuples(index=False)]
    na_first = lambda v: (0, 0) if v is None else (1, v)  # noqa: E731
    rolled.sort(key=lambda r: (r.case, r.column, r.source, r.n, na_first(r.span_start),
                               na_first(r.span_end)))
    cells: dict = {}
    for r in rolled:
        cells.setdefault((r.case, r.column), {}).setdefault(r.segment, []).append(r)
    framework, coverage = {}, {}
    for (case, column), segments in cells.items():
        passages = []
        covered = 0
        for segment, rs in segments.items():
            unspanned = [r for r in rs if r.span_start is None]
            if unspanned:
                quote = one_line(unspanned[0].text)
            else:  # spans merged where they overlap or touch: shared words quoted once
                stretches: list[list] = []
                for r in sorted(rs, key=lambda r: matrices._span(r.length, r.span_start,
                                                                 r.span_end)):
                    a, b = matrices._span(r.length, r.span_start, r.span_end)
                    if stretches and a <= stretches[-1][1]:
                        last = stretches[-1]
                        if b > last[1]:
                            last[2] += r.text[last[1] - a:]
                            last[1] = b
                    else:
                        stretches.append([a, b, r.text])
                quote = " … ".join(dict.fromkeys(one_line(t) for _, _, t in stretches))
            label = segment
            if column.endswith(" (all)"):
                label += " · " + ", ".join(sorted({r.code for r in rs}, key=position.get))
            passages.append(f'[{label}] "{quote}"')
            if rs[0].role == "respondent":
                end = -1
                for a, b in sorted(matrices._span(r.length, r.span_start, r.span_end)
                                   for r in rs):
                    covered += max(0, b - max(a, end))
                    end = max(end, b)
        framework[(case, column)] = "\n\n".join(passages)
        if covered:
            coverage[(case, column)] = round(covered / data.respondent_chars[case], 4)
    return framework, coverage


def test_framework_and_coverage_equal_cell_by_cell_reference():
    data = generated(40)
    framework, coverage = matrices.framework(data), matrices.coverage(data)
    want_framework, want_coverage = reference_cells(data)
    assert list(framework.columns) == list(coverage.columns) == matrices.columns(data)
    assert framework.dtypes.eq(object).all() and coverage.dtypes.eq("float64").all()
    got_framework = {(case, column): framework.loc[case, column]
                     for case in framework.index for column in framework.columns
                     if framework.loc[case, column]}
    got_coverage = {(case, column): coverage.loc[case, column]
                    for case in coverage.index for column in coverage.columns
                    if coverage.loc[case, column]}
    assert got_framework == want_framework
    assert got_coverage == want_coverage
    assert framework.loc["case-empty"].eq("").all() and coverage.loc["case-empty"].eq(0).all()


def test_framework_and_coverage_fill_the_frame_at_once(monkeypatch):
    """Cells are not set one by one: as many ``.loc`` writes for 5 cases as for 120."""
    from pandas.core.indexing import _LocIndexer

    calls = []
    original = _LocIndexer.__setitem__

    def counted(self, key, value):
        calls.append(key)
        return original(self, key, value)

    monkeypatch.setattr(_LocIndexer, "__setitem__", counted)
    writes = []
    for cases in (5, 120):
        data = generated(cases)
        calls.clear()
        matrices.framework(data)
        matrices.coverage(data)
        writes.append(len(calls))
    assert writes[0] == writes[1] <= 2
