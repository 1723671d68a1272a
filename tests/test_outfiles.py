"""Atomic, reproducible output files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tipqual.errors import ReportError
from tipqual.output.files import repack, write_bytes, zip_bytes


def test_write_bytes_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old")
    write_bytes(out, b"new")
    assert out.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_bytes_to_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write the report") as info:
        write_bytes(tmp_path / "nope" / "r.html", b"x", error=ReportError, what="report")
    assert info.value.path == str(tmp_path / "nope" / "r.html")


def _zip_with_date(date: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("word/document.xml", "[Content_Types].xml"):
            zf.writestr(zipfile.ZipInfo(name, date_time=date), f"<{name}/>")
    return buffer.getvalue()


def test_repack_gives_same_bytes_whatever_the_original_dates() -> None:
    a = repack(_zip_with_date((2020, 5, 1, 10, 0, 0)))
    b = repack(_zip_with_date((2024, 1, 2, 3, 4, 6)))
    assert a == b
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        assert zf.namelist() == ["[Content_Types].xml", "word/document.xml"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())


def test_zip_bytes_keeps_member_order_and_content() -> None:
    data = zip_bytes([("b.txt", b"2"), ("a.txt", b"1")])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["b.txt", "a.txt"]
        assert zf.read("a.txt") == b"1"


def test_one_formula_guard_serves_every_writer() -> None:
    from tipqual.analysis import agreement
    from tipqual.coding import csvio as codings
    from tipqual.output import xlsx
    from tipqual.output.files import safe_cell, unsafe_cell

    assert [safe_cell(v) for v in ("=1+1", "+27 82", "-x", "@a", "\tx", "ok", None)] == [
        "'=1+1", "'+27 82", "'-x", "'@a", "'\tx", "ok", ""]
    assert unsafe_cell("'=1+1") == "=1+1" and unsafe_cell("'quoted") == "'quoted"
    assert agreement.guard_cell is codings.safe_cell is safe_cell
    assert xlsx.csv_safe("=x") == "'=x" and xlsx.csv_safe(3) == 3
