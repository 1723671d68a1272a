"""Writing output files: atomically, reproducibly, and with transcript text kept as text.

A report, workbook or archive is either written whole or not at all: a killed command never
leaves half a file where the previous good one was. Zip-based formats (.docx, .xlsx, .qdpx)
are packed with fixed timestamps and modes so the same content gives the same bytes.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from tipqual.errors import TipqualError

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# A spreadsheet reads a cell starting with one of these as a formula (tab and CR as well).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: object) -> str:
    """A spreadsheet-safe cell: text starting with = + - @ (or tab, CR) gets a leading ``'``."""
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(FORMULA_START) else value


def unsafe_cell(text: str) -> str:
    """Undo :func:`safe_cell` on a cell read back from a CSV."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def write_bytes(path: str | Path, data: bytes, *, error: type[TipqualError] = TipqualError,
                what: str = "file") -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    return write_with(path, lambda fh: fh.write(data), error=error, what=what)


def write_zip(path: str | Path, members: Iterable[tuple[str, bytes]], *,
              error: type[TipqualError] = TipqualError, what: str = "archive") -> Path:
    """:func:`zip_bytes` streamed to ``path`` atomically: one member in memory at a time."""
    def fill(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w") as zf:
            _add_members(zf, members)

    return write_with(path, fill, error=error, what=what)


def write_with(path: str | Path, fill: Callable[[BinaryIO], object], *,
               error: type[TipqualError] = TipqualError, what: str = "file") -> Path:
    """Let ``fill`` write a temporary file beside ``path``, then move it into place."""
    path = Path(path)

    def failed(exc: OSError) -> TipqualError:
        return error(f"cannot write the {what}: {exc.strerror or exc}; check that the folder "
                     "exists and is writable", path=path)

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent)
    except OSError as exc:
        raise failed(exc) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise failed(exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str, *, error: type[TipqualError] = TipqualError,
               what: str = "file", encoding: str = "utf-8") -> Path:
    """:func:`write_bytes` for text (no newline translation: ``\n`` stays ``\n``)."""
    return write_bytes(path, text.encode(encoding), error=error, what=what)


def zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated zip of ``(name, data)`` members, in the order given, with fixed metadata."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        _add_members(zf, members)
    return buffer.getvalue()


def _add_members(zf: zipfile.ZipFile, members: Iterable[tuple[str, bytes]]) -> None:
    for name, data in members:
        info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        zf.writestr(info, data)


def repack(data: bytes) -> bytes:
    """Re-pack a zip made by another library reproducibly (``[Content_Types].xml`` first)."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = sorted(src.infolist(), key=lambda i: i.filename != "[Content_Types].xml")
        return zip_bytes((i.filename, src.read(i.filename)) for i in infos)
