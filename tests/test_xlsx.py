"""Workbooks and CSV files: formula-safe, reproducible, laid out for readers."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from tests.fixtures.analysis.minimal_study import build
from tipqual.analysis import matrices
from tipqual.output import xlsx  # noqa: E402

RISKY = ['=HYPERLINK("http://example.org","click here")', "+27 82 555 0101", "-x", "@x",
         "=1+1", "\tTAB"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    p = build(tmp_path_factory.mktemp("xlsx") / "study.db")
    yield matrices.load(p)
    p.close()


def risky_frame() -> pd.DataFrame:
    frame = pd.DataFrame({"trust": RISKY, "n": list(range(len(RISKY)))},
                         index=pd.Index([f"=C{i}" for i in range(len(RISKY))], name="case"))
    return frame


def test_formula_like_text_is_stored_as_text(tmp_path):
    import openpyxl

    path = tmp_path / "risky.xlsx"
    xlsx.write_workbook({"framework": risky_frame()}, path, code_names={"trust": "=Trust"})
    ws = openpyxl.load_workbook(path)["framework"]
    assert [ws["A2"].value, ws["B2"].value, ws["C2"].value] == ["code name", "=Trust", None]
    assert ws["B2"].data_type == "s"  # a code name is text too
    values = [ws.cell(row=r, column=2) for r in range(3, len(RISKY) + 3)]
    assert [c.value for c in values] == RISKY
    assert all(c.data_type == "s" for c in values)
    assert all(ws.cell(row=r, column=1).data_type == "s" for r in range(3, len(RISKY) + 3))
    assert ws.cell(row=3, column=3).value == 0 and ws.cell(row=3, column=3).data_type == "n"
    assert b"<f>" not in _sheet_xml(path)


def _sheet_xml(path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_csv_prefixes_formula_like_text(tmp_path):
    path = tmp_path / "risky.csv"
    xlsx.write_csv(risky_frame(), path)
    with open(path, newline="", encoding="utf-8") as fh:
        got = list(csv.reader(fh))
    assert got[0] == ["case", "trust", "n"]
    assert [r[1] for r in got[1:]] == ["'" + v for v in RISKY]
    assert got[1][0] == "'=C0" and got[1][2] == "0"
    assert xlsx.csv_safe("fine") == "fine" and xlsx.csv_safe(-3) == -3


def test_workbook_layout(tmp_path, data):
    import openpyxl

    path = tmp_path / "m.xlsx"
    xlsx.write_workbook(matrices.sheets(data), path, code_names=matrices.column_names(data),
                        codes_sheet=[{"id": c, "name": n} for c, n in data.code_names.items()])
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["counts", "presence", "coverage", "framework", "cooccurrence",
                             "by-province", "by-sector", "codes"]
    counts = wb["counts"]
    # row 1: the ids (as in the CSV); row 2: the code names; the data from row 3
    assert [c.value for c in counts[1]][:4] == ["case", "partnership", "partnership (all)",
                                                "partnership-vertical"]
    assert [c.value for c in counts[2]][:4] == ["code name", "Partnership", "Partnership (all)",
                                                "Partnership with government"]
    assert counts["A3"].value == "CSO-A" and counts["C3"].value == 1 and counts["D3"].value == 1
    assert counts.freeze_panes == "B3"
    assert counts["B2"].alignment.wrap_text and counts["B1"].comment is None
    assert counts.row_dimensions[2].height == 30  # "Partnership with government" wraps once
    assert len(counts.conditional_formatting) == 1
    assert str(next(iter(counts.conditional_formatting)).sqref) == "B3:K5"
    assert wb["cooccurrence"]["A5"].comment.text == "Partnership with government"
    assert wb["cooccurrence"]["A4"].comment.text == "Partnership (all)"
    coverage = wb["coverage"]
    assert coverage["D5"].number_format == "0.0%" and 0 < coverage["D5"].value < 1
    assert counts["D5"].number_format == "General"
    framework = wb["framework"]
    assert framework["D3"].alignment.wrap_text
    assert framework.column_dimensions["D"].width == 60
    assert len(framework.conditional_formatting) == 0
    assert counts.column_dimensions["A"].width >= len("code name")
    assert counts.column_dimensions["D"].width == xlsx.NAME_WIDTH
    assert wb["by-sector"]["A3"].value == "faith-based"
    assert wb["codes"]["B2"].value == "Partnership"


def test_a_sheet_without_code_columns_has_one_header_row(tmp_path):
    import openpyxl

    frame = pd.DataFrame({"n": [1, 2]}, index=pd.Index(["a", "b"], name="case"))
    xlsx.write_workbook({"counts": frame}, tmp_path / "plain.xlsx", code_names={"x": "X"})
    ws = openpyxl.load_workbook(tmp_path / "plain.xlsx")["counts"]
    assert [ws["A2"].value, ws["B2"].value] == ["a", 1] and ws.freeze_panes == "B2"


def test_by_coder_rows_keep_the_case_first(tmp_path, data):
    import openpyxl

    path = tmp_path / "bc.xlsx"
    xlsx.write_workbook({"counts": matrices.counts(data, by_coder=True)}, path)
    ws = openpyxl.load_workbook(path)["counts"]
    assert [ws["A1"].value, ws["B1"].value, ws["A2"].value, ws["B2"].value] == \
        ["case", "coder", "CSO-A", "alice"]
    assert ws.freeze_panes == "C2"  # no code names given: one header row
    named = tmp_path / "named.xlsx"
    xlsx.write_workbook({"counts": matrices.counts(data, by_coder=True)}, named,
                        code_names=matrices.column_names(data))
    ws = openpyxl.load_workbook(named)["counts"]
    assert [ws["A2"].value, ws["B2"].value, ws["C2"].value, ws["A3"].value] == \
        ["code name", None, "Partnership", "CSO-A"]
    assert ws.freeze_panes == "C3"


def test_workbook_bytes_are_identical_across_runs(tmp_path, data):
    sheets = matrices.sheets(data)
    for name in ("a.xlsx", "b.xlsx"):
        xlsx.write_workbook(sheets, tmp_path / name, code_names=matrices.column_names(data))
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


def test_long_cells_are_cut_to_excel_limit(tmp_path):
    import openpyxl

    frame = pd.DataFrame({"x": ["a" * 40_000 + "\x07"]}, index=pd.Index(["c"], name="case"))
    xlsx.write_workbook({"framework": frame}, tmp_path / "long.xlsx")
    value = openpyxl.load_workbook(tmp_path / "long.xlsx")["framework"]["B2"].value
    assert len(value) == xlsx.MAX_CELL and value.endswith("see the csv export)")
