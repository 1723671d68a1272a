"""Writing matrices to Excel workbooks and CSV files, safely and reproducibly.

Transcript text is data, never a formula: every string goes into a workbook with the string
type forced (openpyxl would otherwise store ``=…`` as a formula), and into CSV with a leading
``'`` when it starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return), the
characters spreadsheet programs read as the start of a formula.

A workbook written twice from the same tables is byte-identical: the document properties carry
a fixed date and every zip member a fixed timestamp.

Layout of a matrix sheet: the first header row holds the case (or code) key and the column ids
(code ids, and ``ID (all)`` for a parent's roll-up), as the CSV header does; when any column is
a code, a second header row holds the code names (``code name`` under the key), frozen with the
first. Data start on row 3 (``pandas.read_excel(path, sheet_name=..., index_col=0,
skiprows=[1])`` reads a sheet back). ``coverage`` cells are fractions 0–1 shown with a
percentage format (``0.0%``); the CSV of coverage keeps the plain fractions, so programs read
the same numbers from either file. CSV files have one header row, the ids, and no names row:
the workbook's last sheet, ``codes``, and the codebook give the names.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import ReportError
from tipqual.output.files import repack, safe_cell, write_bytes, write_text

if TYPE_CHECKING:
    from tipqual.analysis.view import StudyView

FIXED_DATE = datetime(2000, 1, 1)
MAX_CELL = 32_767  # Excel's limit on the characters of one cell
HEADER_FILL = "DDE4EE"
SCALE_LOW, SCALE_HIGH = "FFFFFF", "5B8DB8"
PERCENT_FORMAT = "0.0%"
NAMES_LABEL = "code name"  # the key column's cell of the names row
NAME_WIDTH = 24  # a code column grows up to this for its name; longer names wrap


def csv_safe(value: Any) -> Any:
    """A CSV cell value: strings a spreadsheet would read as a formula get a leading ``'``."""
    return safe_cell(value) if isinstance(value, str) else value


def _xlsx_text(value: str) -> str:
    """Text an xlsx cell can hold: no XML-illegal control characters, within Excel's limit."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) > MAX_CELL:
        note = " […] (cut: longer than an Excel cell holds; see the csv export)"
        value = value[:MAX_CELL - len(note)] + note
    return value


def write_csv(frame: Any, path: str | Path) -> None:
    """Write a DataFrame (its index as the first columns) to CSV with the formula guard."""
    path = Path(path)
    index_names = [n if n is not None else "" for n in frame.index.names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_safe(str(c)) for c in [*index_names, *frame.columns]])
    for key, row in zip(frame.index, frame.itertuples(index=False, name=None), strict=False):
        keys = key if isinstance(key, tuple) else (key,)
        writer.writerow([csv_safe(_plain(v)) for v in (*keys, *row)])
    write_text(path, buffer.getvalue(), error=ReportError, what="CSV")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so ints print without a decimal point)."""
    return value.item() if hasattr(value, "item") else value


def write_workbook(sheets: Mapping[str, Any], path: str | Path, *,
                   code_names: Mapping[str, str] | None = None,
                   text_sheets: tuple[str, ...] = ("framework",),
                   percent_sheets: tuple[str, ...] = ("coverage",),
                   codes_sheet: list[dict[str, str]] | None = None) -> None:
    """Write DataFrames to one sheet each; headers frozen, code names under the code ids.

    ``code_names`` maps column headers (code ids, roll-up columns) to names, shown in a second
    header row of every sheet with such a column, and the index of code × code sheets to names
    shown as cell comments; ``text_sheets`` get wrapped text and wide columns, the others a
    colour scale; ``percent_sheets`` show their numbers (fractions) as percentages;
    ``codes_sheet`` rows, if given, become a last ``codes`` sheet.
    """
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets.items():
        ws = wb.create_sheet(title=name)
        _fill_sheet(ws, frame, code_names or {}, wrap=name in text_sheets,
                    percent=name in percent_sheets)
    if codes_sheet:
        _fill_codes(wb.create_sheet(title="codes"), codes_sheet)
    save_workbook(wb, path)


def _set(ws: Any, row: int, col: int, value: Any) -> Any:
    """Put one value in a cell; a string is always stored as a string, never a formula."""
    cell = ws.cell(row=row, column=col)
    value = _plain(value)
    if isinstance(value, str):
        cell.value = _xlsx_text(value)
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def _fill_sheet(ws: Any, frame: Any, code_names: Mapping[str, str], wrap: bool,
                percent: bool = False) -> None:
    from openpyxl.comments import Comment
    from openpyxl.formatting.rule import ColorScaleRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    n_keys = frame.index.nlevels
    bold, fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    headers = [n if n is not None else "" for n in frame.index.names] + list(frame.columns)
    names = [code_names.get(str(h), "") if col > n_keys else ""
             for col, h in enumerate(headers, start=1)]
    header_rows = 2 if any(names) else 1
    for col, header in enumerate(headers, start=1):
        cell = _set(ws, 1, col, str(header))
        cell.font, cell.fill = bold, fill
    if header_rows == 2:
        names[0] = NAMES_LABEL
        below = Alignment(wrap_text=True, vertical="top")
        for col, name in enumerate(names, start=1):
            cell = _set(ws, 2, col, name)
            cell.font, cell.fill, cell.alignment = bold, fill, below
    top = Alignment(wrap_text=True, vertical="top") if wrap else None
    rows = zip(frame.index, frame.itertuples(index=False, name=None), strict=False)
    for r, (key, values) in enumerate(rows, start=header_rows + 1):
        keys = key if isinstance(key, tuple) else (key,)
        for c, value in enumerate(keys, start=1):
            cell = _set(ws, r, c, value)
            cell.font = bold
            if str(value) in code_names and frame.index.name == "code":
                cell.comment = _comment(Comment, code_names[str(value)])
        for c, value in enumerate(values, start=n_keys + 1):
            cell = _set(ws, r, c, value)
            if top is not None:
                cell.alignment = top
            if percent:
                cell.number_format = PERCENT_FORMAT
    ws.freeze_panes = ws.cell(row=header_rows + 1, column=n_keys + 1).coordinate
    last_col, last_row = len(headers), len(frame) + header_rows
    if not wrap and len(frame) and last_col > n_keys:
        area = (f"{get_column_letter(n_keys + 1)}{header_rows + 1}:"
                f"{get_column_letter(last_col)}{last_row}")
        ws.conditional_formatting.add(area, ColorScaleRule(
            start_type="min", start_color=SCALE_LOW, end_type="max", end_color=SCALE_HIGH))
    widths = _widths(ws, headers, names, frame, n_keys, wrap)
    if header_rows == 2:
        lines = max(-(-len(n) // max(widths[i] - 2, 1)) for i, n in enumerate(names) if n)
        ws.row_dimensions[2].height = 15 * max(lines, 1)


def _comment(factory: Any, text: str) -> Any:
    comment = factory(_xlsx_text(text), "tipqual")
    comment.width, comment.height = 220, 60
    return comment


def _widths(ws: Any, headers: list[Any], names: list[str], frame: Any, n_keys: int,
            wrap: bool) -> list[int]:
    """Set and return the column widths: keys fit their values, code columns their names."""
    from openpyxl.utils import get_column_letter

    widths = []
    for col, header in enumerate(headers, start=1):
        width = len(str(header)) + 2
        if col <= n_keys:
            level = frame.index.get_level_values(col - 1) if len(frame) else []
            width = max([width, len(names[col - 1]) + 2, *(len(str(v)) + 2 for v in level)])
        elif wrap:
            width = 60
        else:
            width = max(width, 8, min(len(names[col - 1]) + 2, NAME_WIDTH))
        widths.append(min(width, 60))
        ws.column_dimensions[get_column_letter(col)].width = widths[-1]
    return widths


def _fill_codes(ws: Any, rows: list[dict[str, str]]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    headers = list(rows[0])
    for col, header in enumerate(headers, start=1):
        _set(ws, 1, col, header).font = Font(bold=True)
        longest = max([len(header), *(len(str(r.get(header) or "")) for r in rows)])
        ws.column_dimensions[get_column_letter(col)].width = min(longest + 2, 60)
    for r, row in enumerate(rows, start=2):
        for col, header in enumerate(headers, start=1):
            _set(ws, r, col, row.get(header) or "")
    ws.freeze_panes = "B2"


def save_workbook(wb: Any, path: str | Path) -> None:
    """Save a workbook with fixed properties and zip timestamps (byte-identical reruns)."""
    from openpyxl.writer.excel import ExcelWriter

    wb.properties.created = wb.properties.modified = FIXED_DATE
    wb.properties.creator = "tipqual"
    wb.properties.lastModifiedBy = None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    write_bytes(path, repack(buffer.getvalue()), error=ReportError, what="workbook")


def write_matrices(study: StudyView, out: str | Path, *, sheet: str | None = None,
                   coders: list[str] | None = None, statuses: list[str] | None = None,
                   code: str | None = None, by_coder: bool = False) -> list[str]:
    """Compute a study's matrices and write them to ``.xlsx`` (all) or ``.csv`` (one sheet).

    The workbook shows code names under the ids and coverage as percentages; a CSV file holds
    one table with the ids as its only header row and coverage as fractions 0–1.
    Returns the names of the sheets written.
    """
    from tipqual.analysis import matrices
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ReportError(f"unknown matrix format {out.suffix or '(none)'!r}; use .xlsx or "
                          ".csv", path=out)
    if sheet is not None and suffix != ".csv":
        raise ReportError("--sheet chooses the table of a .csv file; an .xlsx gets them all",
                          path=out)
    data = matrices.load(study, statuses=statuses or matrices.DEFAULT_STATUSES,
                         coders=coders, code=code)
    tables = matrices.sheets(data, by_coder=by_coder)
    book = study.codebook()
    assert book is not None  # matrices.load refuses a study without one
    codes = [{"code": c.id, "name": c.name, "parent": c.parent or "",
              "definition": c.definition} for c in book.codes if c.id in data.codes]
    if suffix == ".csv":
        import pandas as pd

        name = sheet or "counts"
        if name == "codes":
            frame = pd.DataFrame(codes, columns=["code", "name", "parent", "definition"])
            write_csv(frame.set_index("code"), out)
            return [name]
        if name not in tables:
            raise ReportError(f"unknown sheet {name!r}; choose one of "
                              f"{', '.join([*tables, 'codes'])}", path=out)
        write_csv(tables[name], out)
        return [name]
    write_workbook(tables, out, code_names=matrices.column_names(data), codes_sheet=codes)
    return [*tables, "codes"]
