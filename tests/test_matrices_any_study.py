"""Matrices of a study unlike the shipped sample: four rural clinics (fictional).

The codebook nests three levels (``access`` > ``access-cost`` > ``access-cost-transport``), two
coders overlap, one clinic has no codings, and the case table carries a number
(``years_active``), a fraction with a gap (``nurse_ratio``), a list (``services``), a date
(``visited``) and a plain category (``district``). The spreadsheet must agree with the report:
a parent code's roll-up column counts each segment coded with it or any of its descendants once.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from tipqual.analysis import matrices
from tipqual.output import xlsx

CODEBOOK = """\
name: Rural clinic access study
version: "1"
stakeholders:
  - {id: DOH, name: Department of Health, aliases: [the department], sector: government}
codes:
  - id: access
    name: Access to care
    definition: Whether patients can reach and use the clinic.
  - id: access-distance
    name: Distance to the clinic
    parent: access
    definition: How far patients travel.
  - id: access-cost
    name: Cost of care
    parent: access
    definition: What a visit costs the patient.
  - id: access-cost-transport
    name: Transport fares
    parent: access-cost
    definition: Taxi and bus fares to the clinic.
  - id: staffing
    name: Staffing
    definition: The people who run the clinic.
  - id: staffing-shortage
    name: Too few nurses
    parent: staffing
    definition: Posts left empty, queues because of it.
  - id: quality
    name: Quality of care
    definition: How patients judge the care they get.
"""

CASES = {
    "clinic-north": {"years_active": "3", "services": "maternity; hiv; vaccination",
                     "nurse_ratio": "0.5", "district": "Amathole", "visited": "2024-03-05"},
    "clinic-east": {"years_active": "8", "services": "hiv", "nurse_ratio": "1.25",
                    "district": "Amathole", "visited": "2024-03-19T10:00:00Z"},
    "clinic-south": {"years_active": "12", "services": "maternity;vaccination; ",
                     "nurse_ratio": "2", "district": "Chris Hani", "visited": "2023-11-02"},
    "clinic-west": {"years_active": "25", "services": "", "nurse_ratio": "unknown",
                    "district": "Chris Hani", "visited": "not yet"},
}

TURNS = {  # source: (role, text) per segment, in order
    "north": [("interviewer", "How far do people walk to reach you?"),
              ("respondent", "Most walk two hours; the taxi fare is more than a day's pay."),
              ("respondent", "Getting here at all is the problem, and then the fees."),
              ("respondent", "We have one nurse for the whole valley, so care is rushed.")],
    "east": [("interviewer", "What does a visit cost?"),
             ("respondent", "The fee is small but the bus fare doubles it for a mother."),
             ("respondent", "Two posts have been empty since March.")],
    "south": [("interviewer", "How is the care?"),
              ("respondent", "Patients say the nurses are kind and careful."),
              ("respondent", "We close early on Fridays: nobody to cover the shift.")],
    "west": [("interviewer", "Anything else?"),
             ("respondent", "Nothing to add today.")],
}

# (segment, code, coder, span or None, status)
CODINGS = [
    ("north:1", "access-distance", "nomsa", None, "human"),      # the interviewer's question
    ("north:2", "access-distance", "nomsa", None, "human"),
    ("north:2", "access-distance", "pieter", None, "human"),     # two coders, one segment
    ("north:2", "access-cost-transport", "nomsa", None, "human"),
    ("north:3", "access", "nomsa", None, "human"),               # the parent itself
    ("north:3", "access-cost", "pieter", None, "human"),
    ("north:4", "staffing-shortage", "nomsa", None, "human"),
    ("north:4", "quality", "pieter", None, "human"),
    ("east:2", "access-cost", "nomsa", (0, 10), "human"),
    ("east:2", "access-cost-transport", "pieter", (5, 20), "human"),  # overlapping spans
    ("east:3", "staffing", "nomsa", None, "human"),
    ("east:3", "staffing-shortage", "nomsa", None, "human"),
    ("south:2", "quality", "nomsa", None, "human"),
    ("south:2", "quality", "pieter", None, "human"),
    ("south:2", "access-distance", "nomsa", None, "rejected"),   # not applied: not counted
    ("south:3", "staffing-shortage", "pieter", None, "human"),
]

COLUMNS = ["access", "access (all)", "access-distance", "access-cost", "access-cost (all)",
           "access-cost-transport", "staffing", "staffing (all)", "staffing-shortage",
           "quality"]
PARENTS = {"access": ["access", "access-distance", "access-cost", "access-cost-transport"],
           "access-cost": ["access-cost", "access-cost-transport"],
           "staffing": ["staffing", "staffing-shortage"]}
ORDER = ["clinic-east", "clinic-north", "clinic-south", "clinic-west"]


def build(path: Path):
    from tipqual.codebook import model as codebook
    from tipqual.records import Coding, Segment, Source
    from tipqual.store.project import Project

    book = path.with_suffix(".yaml")
    book.write_text(CODEBOOK, encoding="utf-8")
    project = Project.create(path, name="Four rural clinics")
    with project.atomic():
        project.set_codebook(codebook.load(book))
        for case, attributes in CASES.items():
            project.put_case(case, attributes)
        for source, turns in TURNS.items():
            text, segments = "", []
            for n, (role, body) in enumerate(turns, start=1):
                start = len(text)
                text += body
                segments.append(Segment(f"{source}:{n}", source, n, role[0].upper(), role,
                                        start, len(text), body))
                text += "\n\n"
            project.add_source(Source(source, f"clinic-{source}", f"{source}.txt", "txt",
                                      hashlib.sha256(text.encode()).hexdigest(), text),
                               segments)
        for segment, code, coder, span, status in CODINGS:
            project.put_coding(Coding(segment, code, coder, status=status,
                                      span_start=span[0] if span else None,
                                      span_end=span[1] if span else None))
    return project


@pytest.fixture(scope="module")
def clinics(tmp_path_factory):
    p = build(tmp_path_factory.mktemp("clinics") / "clinics.db")
    yield p
    p.close()


@pytest.fixture(scope="module")
def data(clinics):
    return matrices.load(clinics)


def applied(coder: str | None = None) -> list[tuple[str, str, str]]:
    return [(seg, code, who) for seg, code, who, _span, status in CODINGS
            if status == "human" and coder in (None, who)]


def by_hand(coder: str | None = None) -> dict[tuple[str, str], int]:
    """Cases × columns, counted independently: a set of segments per cell."""
    cells: dict[tuple[str, str], set[str]] = {}
    for seg, code, _who in applied(coder):
        case = "clinic-" + seg.split(":")[0]
        cells.setdefault((case, code), set()).add(seg)
        for parent, subtree in PARENTS.items():
            if code in subtree:
                cells.setdefault((case, f"{parent} (all)"), set()).add(seg)
    return {key: len(segs) for key, segs in cells.items()}


def nonzero(table) -> dict:
    return {(row, col): int(table.loc[row, col]) for row in table.index
            for col in table.columns if table.loc[row, col]}


# --- roll-ups ---------------------------------------------------------------------------------

def test_counts_carry_a_rollup_column_after_each_parent(data):
    table = matrices.counts(data)
    assert list(table.columns) == COLUMNS
    assert list(table.index) == ORDER
    assert nonzero(table) == by_hand()
    # the parent alone counts only its direct codings; its roll-up counts the subtree
    assert table.loc["clinic-north", "access"] == 1
    assert table.loc["clinic-north", "access (all)"] == 3      # north:1, :2, :3 once each
    assert table.loc["clinic-north", "access-cost (all)"] == 2  # north:2 (child), :3
    assert table.loc["clinic-east", "staffing (all)"] == 1     # parent + child, one segment
    assert table.loc["clinic-west"].tolist() == [0] * len(COLUMNS)


def test_presence_carries_the_rollups(data):
    table = matrices.presence(data)
    assert list(table.columns) == COLUMNS
    assert table["access"].tolist() == [0, 1, 0, 0]
    assert table["access (all)"].tolist() == [1, 1, 0, 0]
    assert table["staffing (all)"].tolist() == [1, 1, 1, 0]


def test_rollup_counts_are_what_the_report_shows(clinics, data):
    from tipqual.report.context import build_context

    rolled = matrices.rollup_counts(data)
    assert list(rolled.columns) == data.codes
    assert matrices.parent_codes(data) == ["access", "access-cost", "staffing"]
    for parent in matrices.parent_codes(data):
        assert rolled[parent].equals(matrices.counts(data)[f"{parent} (all)"].rename(parent))
    report = build_context(clinics)["matrix"]
    assert report["codes"] == data.codes and report["cases"] == list(rolled.index)
    assert [r["counts"] for r in report["rows"]] == rolled.to_numpy().tolist()
    assert report["grouped"] == matrices.parent_codes(data)


def test_the_spreadsheet_agrees_with_the_report(clinics, tmp_path):
    import openpyxl

    from tipqual.report.context import build_context

    xlsx.write_matrices(clinics, tmp_path / "m.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "m.xlsx")["counts"]
    header = [c.value for c in ws[1]]
    sheet = {r[0]: dict(zip(header, r, strict=True))
             for r in ws.iter_rows(min_row=3, values_only=True)}
    report = build_context(clinics)["matrix"]
    for row in report["rows"]:
        for code, count in zip(report["codes"], row["counts"], strict=True):
            column = f"{code} (all)" if code in report["grouped"] else code
            assert sheet[row["case"]][column] == count, (row["case"], column)


def test_rollups_by_coder(data):
    table = matrices.counts(data, by_coder=True)
    assert list(table.columns) == COLUMNS
    assert table.index.names == ["case", "coder"]
    for coder in ("nomsa", "pieter"):
        mine = table.xs(coder, level="coder")
        assert {k: v for k, v in nonzero(mine).items()} == by_hand(coder)
    assert table.loc[("clinic-north", "nomsa"), "access (all)"] == 3
    assert table.loc[("clinic-north", "pieter"), "access (all)"] == 2
    overall = matrices.counts(data)
    summed = table.groupby(level="case").sum()
    most = table.groupby(level="case").max()
    for case in summed.index:  # a segment two coders share counts once overall
        assert (most.loc[case] <= overall.loc[case]).all()
        assert (overall.loc[case] <= summed.loc[case]).all()
    presence = matrices.presence(data, by_coder=True)
    assert presence.loc[("clinic-south", "pieter"), "staffing (all)"] == 1
    assert presence.loc[("clinic-south", "nomsa"), "staffing (all)"] == 0


def test_framework_rollup_quotes_each_segment_once_naming_its_codes(data):
    table = matrices.framework(data)
    counts = matrices.counts(data)
    assert list(table.columns) == COLUMNS
    for case in table.index:  # one quoted passage per counted segment, in every column
        for column in COLUMNS:
            assert table.loc[case, column].count('] "') == counts.loc[case, column]
    assert table.loc["clinic-north", "access"] == \
        '[north:3] "Getting here at all is the problem, and then the fees."'
    cell = table.loc["clinic-north", "access (all)"].split("\n\n")
    assert [p.split('"')[0] for p in cell] == [
        "[north:1 · access-distance] ", "[north:2 · access-distance, access-cost-transport] ",
        "[north:3 · access, access-cost] "]
    # the roll-up quotes the union of overlapping spans' texts: the words they share once
    assert table.loc["clinic-east", "access-cost (all)"] == \
        '[east:2 · access-cost, access-cost-transport] "The fee is small but"'


def test_coverage_rollup_counts_overlaps_once(data):
    table = matrices.coverage(data)
    assert list(table.columns) == COLUMNS
    east = [t for r, t in TURNS["east"] if r == "respondent"]
    total = sum(len(t) for t in east)
    assert table.loc["clinic-east", "access-cost"] == round(10 / total, 4)
    assert table.loc["clinic-east", "access-cost (all)"] == round(20 / total, 4)  # 0–20
    north = [t for r, t in TURNS["north"] if r == "respondent"]
    # north:1 is the interviewer's: access covers north:2 and north:3 of the respondent text
    assert table.loc["clinic-north", "access (all)"] == \
        round((len(north[0]) + len(north[1])) / sum(len(t) for t in north), 4)
    assert ((table >= 0) & (table <= 1)).all().all()


def test_cooccurrence_carries_the_rollups(data):
    table = matrices.cooccurrence(data)
    assert list(table.index) == COLUMNS and list(table.columns) == COLUMNS
    totals = matrices.counts(data).sum()
    assert [int(table.loc[c, c]) for c in COLUMNS] == [int(totals[c]) for c in COLUMNS]
    assert table.loc["access (all)", "staffing (all)"] == 0
    assert table.loc["staffing (all)", "quality"] == 1   # north:4
    assert table.loc["access (all)", "access-cost-transport"] == 2


# --- attributes -------------------------------------------------------------------------------

def test_numbers_are_binned_not_one_row_per_case(data):
    tab = matrices.crosstab(data, "years_active")
    assert list(tab.index) == ["0–9", "10–19", "20–29"]
    assert tab.index.name == "years_active"
    assert list(tab.columns) == COLUMNS
    assert tab.loc["0–9", "access (all)"] == 4   # north 3 + east 1
    assert tab.loc["20–29"].sum() == 0          # west, no codings


def test_fractions_are_binned_and_text_values_kept(data):
    tab = matrices.crosstab(data, "nurse_ratio")
    assert list(tab.index) == ["[0.5, 1)", "[1, 1.5)", "[2, 2.5)", "unknown"]
    assert tab.loc["[1, 1.5)", "staffing (all)"] == 1


def test_lists_are_split_into_their_items(data):
    tab = matrices.crosstab(data, "services")
    assert list(tab.index) == ["hiv", "maternity", "vaccination", "(missing)"]
    counts = matrices.counts(data)
    assert tab.loc["hiv"].equals(counts.loc["clinic-north"] + counts.loc["clinic-east"])
    assert tab.loc["vaccination"].equals(counts.loc["clinic-north"] + counts.loc["clinic-south"])
    assert tab.loc["(missing)"].sum() == 0


def test_dates_are_rows_in_time_order_and_text_kept(data):
    tab = matrices.crosstab(data, "visited")
    assert list(tab.index) == ["2023-11-02", "2024-03-05", "2024-03-19", "not yet"]
    counts = matrices.counts(data)
    assert tab.loc["2024-03-19"].equals(counts.loc["clinic-east"])  # the time left out


@pytest.mark.parametrize(("values", "labels"), [
    (["2024-03-05", "2024-03-19", "2023-11-02"], ["2024-03-05", "2024-03-19", "2023-11-02"]),
    ([f"2024-{m:02d}-01" for m in range(1, 7)] + ["2024-06-30"],     # 6 months: years
     ["2024"] * 7),
    ([f"2024-0{m}-0{d}" for m in (1, 2, 3) for d in (1, 2)],        # 6 days, 3 months
     ["2024-01", "2024-01", "2024-02", "2024-02", "2024-03", "2024-03"]),
    (["2023-11", "2024-02-14T08:15:00+02:00"], ["2023-11", "2024-02"]),  # a month: no day rows
    ([f"{y}-06-01" for y in (2001, 2007, 2013, 2019, 2022, 2023)],
     ["2000–2004", "2005–2009", "2010–2014", "2015–2019", "2020–2024", "2020–2024"]),
])
def test_dates_take_the_finest_grouping_of_at_most_five_rows(values, labels):
    got = matrices.date_bins(values)
    assert [got[v][1] for v in values] == labels
    keys = [got[v][0] for v in sorted(values, key=lambda v: got[v][1])]
    assert keys == sorted(keys)


def test_what_only_looks_like_a_date_is_a_text_value():
    assert matrices.date_bins(["2024-02-30", "2024-13", "2024-1-5", "24-01-05", "x"]) == {}


def test_categories_stay_as_they_are(data):
    tab = matrices.crosstab(data, "district")
    assert list(tab.index) == ["Amathole", "Chris Hani"]
    assert tab.loc["Chris Hani", "quality"] == 1


@pytest.mark.parametrize(("values", "labels"), [
    (["3", "8", "12", "25"], ["0–9", "0–9", "10–19", "20–29"]),
    (["1", "2", "3"], ["1", "2", "3"]),                            # few values: width 1
    (["7", "7"], ["7", "7"]),
    (["0", "10"], ["0–4", "10–14"]),                               # 0–10 in fives: 3 bins
    (["-3", "4"], ["-4–-3", "4–5"]),
    (["0.25", "0.3", "0.9"], ["[0.2, 0.4)", "[0.2, 0.4)", "[0.8, 1)"]),
    (["1.5"], ["1.5"]),
    (["2019", "2024", "2031"], ["2015–2019", "2020–2024", "2030–2034"]),
    (["1000", "250000"], ["0–99999", "200000–299999"]),
    (["9" * 32, " 1 "], ["8" + "0" * 31 + "–" + "9" * 32, "0–1" + "9" * 31]),  # past 28 digits
])
def test_bins_have_nice_edges_and_at_most_five(values, labels):
    got = matrices.number_bins(values)
    assert [got[v.strip()][1] for v in values] == labels
    assert len({label for _key, label in got.values()}) <= matrices.MAX_BINS


# --- the workbook and CSV ---------------------------------------------------------------------

def test_workbook_headers_show_ids_then_names_and_coverage_as_percent(clinics, tmp_path):
    import openpyxl

    xlsx.write_matrices(clinics, tmp_path / "m.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "m.xlsx")
    counts = wb["counts"]
    assert [c.value for c in counts[1]] == ["case", *COLUMNS]
    assert [c.value for c in counts[2]][:4] == \
        ["code name", "Access to care", "Access to care (all)", "Distance to the clinic"]
    assert counts["A3"].value == "clinic-east" and counts.freeze_panes == "B3"
    coverage = wb["coverage"]
    assert coverage["C4"].value == round(coverage["C4"].value, 4) and 0 < coverage["C4"].value < 1
    assert all(c.number_format == "0.0%" for row in coverage.iter_rows(min_row=3, min_col=2)
               for c in row)
    assert counts["B3"].number_format == "General"
    assert [c.value for c in wb["cooccurrence"]["A"]][:3] == ["code", "code name", "access"]
    assert wb.sheetnames[-6:] == ["by-district", "by-nurse_ratio", "by-services",
                                  "by-visited", "by-years_active", "codes"]
    assert [c.value for c in wb["by-services"]["A"]] == \
        ["services", "code name", "hiv", "maternity", "vaccination", "(missing)"]


def test_csv_keeps_ids_only_and_coverage_fractions(clinics, tmp_path):
    xlsx.write_matrices(clinics, tmp_path / "c.csv")
    with open(tmp_path / "c.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["case", *COLUMNS]
    assert rows[1][0] == "clinic-east"  # no names row in CSV
    xlsx.write_matrices(clinics, tmp_path / "cov.csv", sheet="coverage")
    with open(tmp_path / "cov.csv", newline="", encoding="utf-8") as fh:
        coverage = list(csv.reader(fh))
    assert all(0 <= float(v) <= 1 for r in coverage[1:] for v in r[1:])
    assert "%" not in (tmp_path / "cov.csv").read_text(encoding="utf-8")


def test_the_codes_sheet_of_the_workbook_can_be_a_csv_too(clinics, tmp_path):
    assert xlsx.write_matrices(clinics, tmp_path / "codes.csv", sheet="codes") == ["codes"]
    with open(tmp_path / "codes.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["code"] for r in rows] == [c for c in COLUMNS if not c.endswith(" (all)")]
    assert {r["code"]: r["parent"] for r in rows}["access-cost-transport"] == "access-cost"


def test_status_all_counts_every_status(clinics):
    everything = matrices.load(clinics, statuses=["all"])
    assert len(everything.codings) == len(clinics.codings())
    assert len(matrices.load(clinics).codings) < len(everything.codings)


@pytest.mark.slow
def test_outputs_are_byte_identical(clinics, tmp_path):
    for run in ("a", "b"):
        xlsx.write_matrices(clinics, tmp_path / f"{run}.xlsx")
        for sheet in ("counts", "coverage", "framework", "by-services", "by-years_active"):
            xlsx.write_matrices(clinics, tmp_path / f"{run}-{sheet}.csv", sheet=sheet)
    for name in ("", "-counts", "-coverage", "-framework", "-by-services", "-by-years_active"):
        ext = ".xlsx" if not name else ".csv"
        assert (tmp_path / f"a{name}{ext}").read_bytes() == \
            (tmp_path / f"b{name}{ext}").read_bytes()


def test_the_command_writes_the_rollups(clinics, runner, tmp_path):
    from tipqual.cli import cli

    out = tmp_path / "m.csv"
    result = runner.invoke(cli, ["matrix", str(clinics.path), "--out", str(out),
                                 "--codes", "access-cost"])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "case,access-cost,access-cost (all),access-cost-transport",
        "clinic-east,1,1,1", "clinic-north,1,2,1", "clinic-south,0,0,0", "clinic-west,0,0,0"]
