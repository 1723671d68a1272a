"""Pure transcript readers: bytes on disk in, text (or paragraphs, or cues) out.

``read_cases`` parses cases.csv the same way. Nothing here touches a study. Each reader
raises :class:`~tipqual.errors.IngestError` naming the file when it cannot give back text: a
missing, empty, binary, undecodable or corrupt file.

Text decoding, in order: a file starting with the signature of a known binary format (images,
PDF, zip and Office files, archives, audio and video, programs, SQLite) is refused, naming the
format (an RTF file too: it is markup, not plain text); a byte-order mark decides (UTF-8,
UTF-16, UTF-32); UTF-16 without a mark when every other byte is NUL; any other NUL byte means a
binary file; then strict UTF-8; otherwise charset-normalizer guesses the legacy encoding,
preferring Windows-1252 (the usual encoding of English-language Windows transcripts) whenever it
reads the bytes as cleanly as the best guess. Text with more than a few control characters
(over one in 200, or one in 20 of a tiny file) is refused as binary too; in a large file the
first 64 KB are looked at before the whole text is decoded.

Only regular files are read: a named pipe, device or socket (also behind a symlink) is refused
without being opened for reading. A file over ``MAX_FILE_BYTES`` (64 MB; a .docx transcript
``MAX_DOCX_UNZIPPED``, 200 MB) is refused before it is read: a transcript that long is several
interviews in one file (split it), a CSV that long is not a table of cases or codings.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import html
import io
import math
import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tipqual.errors import IngestError

TEXT_FORMATS = {".txt": "txt", ".md": "md"}
SUPPORTED = {".txt": "txt", ".md": "md", ".docx": "docx", ".vtt": "vtt", ".srt": "srt"}
MAX_DOCX_UNZIPPED = 200 * 1024 * 1024  # refuse zip bombs posing as Word files
MAX_FILE_BYTES = 64 * 1024 * 1024  # a transcript, cases, codings CSV or roster larger is refused
_HEAD = 64 * 1024  # the bytes of a large file looked at for binary content before the rest

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_CHAOS_SLACK = 0.05
# The first bytes of binary formats a transcript may be mistaken for, and what to call them.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"), (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (a .docx, .xlsx or other Office file renamed?)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.doc, .xls, .msg)"),
    (b"\x1f\x8b", "a gzip archive"), (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive"), (b"\x7fELF", "a program"),
    (b"\xca\xfe\xba\xbe", "a program"), (b"SQLite format 3\x00", "an SQLite database"),
    (b"ID3\x02", "an MP3 recording"), (b"ID3\x03", "an MP3 recording"),
    (b"ID3\x04", "an MP3 recording"), (b"\xff\xfb", "an MP3 recording"),
    (b"OggS\x00", "an Ogg recording"), (b"fLaC", "a FLAC recording"),
    (b"\x1a\x45\xdf\xa3", "a Matroska or WebM video"), (b"\x00asm", "a program"),
)
_RIFF = {b"WAVE": "a WAV recording", b"AVI ": "an AVI video", b"WEBP": "a WebP image"}
# Zero-width (non-)joiners: invisible, but part of the spelling of Persian, Indic … words.
_JOINERS = "\u200c\u200d"


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: times as ``HH:MM:SS.mmm``, the voice tag (WebVTT) and the plain text."""

    start: str
    end: str
    voice: str | None
    text: str
    line: int


@dataclass(frozen=True)
class RawDocument:
    """A file as read: its format, content hash and content (text, paragraphs or cues)."""

    path: Path
    format: str
    sha256: str
    text: str | None = None
    paragraphs: tuple[str, ...] = ()
    cues: tuple[Cue, ...] = ()


def read_bytes(path: Path, what: str = "transcript") -> bytes:
    """The bytes of ``path``; a missing, unreadable, special, too large or empty file is an
    IngestError.

    ``what`` names the kind of file the user gave (a transcript, a codings CSV, a roster…), so
    the message tells them what the file should have held. A named pipe, device or socket is
    refused from its ``stat`` (never opened to be read, so a pipe cannot block); a file over the
    size limit is refused from its size, unread.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise IngestError("no such file; check the path", path=path) from None
        raise IngestError(f"cannot read the file: {exc.strerror or exc}", path=path) from exc
    if stat.S_ISDIR(info.st_mode):
        raise IngestError("is a folder, not a file", path=path)
    _check_regular(info.st_mode, path, what)
    docx = what == "transcript" and path.suffix.lower() == ".docx"
    limit = MAX_DOCX_UNZIPPED if docx else MAX_FILE_BYTES
    _check_size(info.st_size, limit, path, ".docx transcript" if docx else what)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        with os.fdopen(os.open(path, flags), "rb") as fh:
            # the path may have been swapped for a pipe since the stat: check what was opened
            _check_regular(os.fstat(fh.fileno()).st_mode, path, what)
            data = fh.read(min(info.st_size, limit) + 1)
            if len(data) > info.st_size:  # it grew since the stat (or its size says nothing)
                data += fh.read(limit + 1 - len(data))
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror or exc}", path=path) from exc
    _check_size(len(data), limit, path, ".docx transcript" if docx else what)
    if not data:
        raise IngestError(f"the file is empty; remove it or add the {what}", path=path)
    return data


def _check_regular(mode: int, path: Path, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file")
    raise IngestError(f"is {kind}, not a file; give the {what} as an ordinary file", path=path)


def _check_size(size: int, limit: int, path: Path, what: str) -> None:
    if size <= limit:
        return
    advice = ("split the transcript into smaller files and import those" if "transcript" in what
              else "check that it is the right file, or split it into smaller files")
    raise IngestError(f"the file is {math.ceil(size / 2**20):,} MB, over the {limit // 2**20} MB "
                      f"limit for a {what}; {advice}", path=path)


def decode_bytes(data: bytes, path: str | Path, what: str = "transcript") -> str:
    """Decode text bytes (BOM, UTF-8, UTF-16, legacy) with newlines normalised to ``\\n``."""
    text = _decode(data, path, what)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _mostly_controls(text):
        raise IngestError(f"looks like a binary file (control characters), not a {what}",
                          path=path)
    if not text.strip():
        raise IngestError(f"the file holds no text; remove it or add the {what}", path=path)
    return text


def _mostly_controls(text: str) -> bool:
    """More control characters than text has: over one in 200, or one in 20 of a tiny text.

    A final Ctrl-Z (the end-of-file mark of old DOS editors) is not counted.
    """
    if not _CONTROL.search(text):
        return False
    count = len(_CONTROL.findall(text)) - text.endswith("\x1a")
    return count * 200 > len(text) and (count > 2 or count * 20 > len(text))


def _advice(what: str) -> str:
    return ("export it as .txt, .docx, .vtt or .srt" if what == "transcript"
            else f"give the {what} as a text file")


def binary_format(data: bytes) -> str | None:
    """The binary format ``data`` starts with the signature of ("a PNG image" …), or None."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return "an MP4, M4A or MOV recording"
    return None


def _decode(data: bytes, path: str | Path, what: str) -> str:
    if data.startswith(b"{\\rtf"):
        raise IngestError(f"is an RTF document (markup), not a plain-text {what}; save it as "
                          + (".txt or .docx" if what == "transcript" else "plain text"),
                          path=path)
    kind = binary_format(data)
    if kind is not None:
        raise IngestError(f"is a binary file ({kind}), not a {what}; {_advice(what)}",
                          path=path)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise IngestError(f"starts with a {encoding.upper()} byte-order mark but is not "
                                  f"valid {encoding.upper()}; re-save it as UTF-8",
                                  path=path) from None
            return text.lstrip("\ufeff")
    if b"\x00" in data:
        guessed = _utf16_without_bom(data)
        if guessed is not None:
            return guessed
        raise IngestError(f"is a binary file (NUL bytes), not a {what}; {_advice(what)}",
                          path=path)
    if len(data) > _HEAD and _mostly_controls(data[:_HEAD].decode("latin-1")):
        raise IngestError(f"looks like a binary file (control characters), not a {what}",
                          path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _legacy(data, path)


def _utf16_without_bom(data: bytes) -> str | None:
    if len(data) % 2:
        return None
    for encoding, nul_half in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if nul_half.count(0) >= 0.9 * len(nul_half):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    return None


def _legacy(data: bytes, path: str | Path) -> str:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise IngestError("cannot tell the text encoding (binary or unknown); re-save it as "
                          "UTF-8", path=path)
    best = min(matches, key=lambda m: m.chaos)
    try:
        cp1252 = data.decode("cp1252")
    except UnicodeDecodeError:
        return str(best)
    # charset-normalizer lists the encodings that read the bytes alike once ("cp1250, could be
    # cp1252"). When Windows-1252 is not among them it judged that reading too chaotic: the
    # text is Arabic in Windows-1256, Chinese in GBK, Russian in Windows-1251 … (Windows-1252
    # decodes most such bytes, but into mojibake).
    cp_match = next((m for m in matches if m.encoding == "cp1252"
                     or "cp1252" in m.could_be_from_charset), None)
    if cp_match is not None and cp_match.chaos <= best.chaos + _CHAOS_SLACK:
        return cp1252
    return str(best)


def file_sha256(data: bytes) -> str:
    """The content hash that tells an unchanged file on re-import."""
    return hashlib.sha256(data).hexdigest()


def read_document(path: Path) -> RawDocument:
    """Read one supported transcript file, dispatching on its extension."""
    fmt = SUPPORTED.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(f"unsupported file type {path.suffix or '(none)'!r}; use "
                          f"{', '.join(sorted(SUPPORTED))}", path=path)
    data = read_bytes(path)
    digest = file_sha256(data)
    if fmt == "docx":
        return RawDocument(path, fmt, digest, paragraphs=tuple(docx_paragraphs(data, path)))
    text = decode_bytes(data, path)
    if fmt == "vtt":
        return RawDocument(path, fmt, digest, cues=tuple(parse_vtt(text, path)))
    if fmt == "srt":
        return RawDocument(path, fmt, digest, cues=tuple(parse_srt(text, path)))
    return RawDocument(path, fmt, digest, text=text)


# --- .docx ------------------------------------------------------------------------------------

def docx_paragraphs(data: bytes, path: str | Path) -> list[str]:
    """Non-empty paragraphs of a Word file in document order (table rows included)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise IngestError("is not a valid .docx (not a zip archive: corrupt or another kind of "
                          "file); open it in Word and save it again", path=path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_DOCX_UNZIPPED:
                raise IngestError("the .docx unpacks to more than 200 MB; refusing it", path=path)
            bad = zf.testzip()
            if bad is not None:
                raise IngestError(f"the .docx is corrupt (damaged member {bad})", path=path)
            _check_xml_members(zf, path)
        import docx

        document = docx.Document(io.BytesIO(data))
    except IngestError:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors …
        raise IngestError(_docx_problem(exc), path=path) from exc
    paragraphs = [p for p in _body_paragraphs(document) if p.strip()]
    if not paragraphs:
        raise IngestError("the .docx holds no text; remove it or add the transcript", path=path)
    return paragraphs


def _docx_problem(exc: Exception) -> str:
    """What is wrong with a .docx that python-docx cannot open, and what to do."""
    missing = re.search(r"no item named '([^']+)'", str(exc)) if isinstance(exc, KeyError) else None
    if missing is None:
        return (f"is not a valid .docx ({type(exc).__name__}); open it in Word and save it "
                "again")
    part = missing.group(1)
    if re.fullmatch(r"word/document\d*\.xml", part):
        return (f"is not a valid .docx: it has no document body ({part}); open it in Word and "
                "save it again")
    return (f"is not a valid .docx: the part {part} is missing (damaged, or not a Word file); "
            "open it in Word and save it again")


def _check_xml_members(zf: zipfile.ZipFile, path: str | Path) -> None:
    """Parse every XML part with defusedxml first: entity tricks are refused, not expanded."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    for info in zf.infolist():
        if info.filename.endswith((".xml", ".rels")):
            try:
                fromstring(zf.read(info))
            except (DefusedXmlException, ParseError) as exc:
                raise IngestError(f"the .docx part {info.filename} is unsafe or malformed XML "
                                  f"({type(exc).__name__}); open it in Word and save it again",
                                  path=path) from exc


def _body_paragraphs(document) -> list[str]:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out: list[str] = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            out.append(Paragraph(child, document).text)
        elif tag == "tbl":
            for row in Table(child, document).rows:
                out.extend(_row_paragraphs([c.text.strip() for c in row.cells]))
    return [p.replace("\r", "\n") for p in out]


def _row_paragraphs(cells: list[str]) -> list[str]:
    # Transcripts are often two-column tables (speaker | words): turn that into "Speaker: words".
    unique = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
    if len(unique) == 2 and len(unique[0]) <= 40 and "\n" not in unique[0]:
        return [f"{unique[0].rstrip(':')}: {unique[1]}"]
    return unique


# --- .vtt and .srt ----------------------------------------------------------------------------

_TIME = r"(?:(\d{1,3}):)?(\d{2}):(\d{2})[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s+-->\s+{_TIME}(?:\s.*)?$")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d[\d:.]*>")


def _timestamp(groups: tuple[str | None, ...]) -> str:
    hours, minutes, seconds, millis = groups
    return f"{int(hours or 0):02d}:{minutes}:{seconds}.{millis}"


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number of their first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _plain(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _cue_parts(lines: list[str], line: int, path: str | Path,
               voiced: bool) -> tuple[str, str, list[tuple[str | None, str]]]:
    timing_at = next((i for i, ln in enumerate(lines[:2]) if "-->" in ln), None)
    if timing_at is None:
        raise IngestError("a cue without a timing line ('00:00:01.000 --> 00:00:04.000')",
                          path=path, line=line)
    m = _TIMING.match(lines[timing_at])
    if m is None:
        raise IngestError(f"malformed cue timing {lines[timing_at].strip()!r}",
                          path=path, line=line + timing_at)
    start, end = _timestamp(m.groups()[:4]), _timestamp(m.groups()[4:])
    body = "\n".join(lines[timing_at + 1:])
    if not voiced:
        return start, end, [(None, _plain(body))]
    parts: list[tuple[str | None, str]] = []
    pieces = _VOICE.split(body)
    if pieces[0].strip():
        parts.append((None, _plain(pieces[0])))
    for voice, words in zip(pieces[1::2], pieces[2::2], strict=False):
        parts.append((" ".join(html.unescape(voice).split()), _plain(words)))
    return start, end, parts


def parse_vtt(text: str, path: str | Path) -> list[Cue]:
    """Cues of a WebVTT file; ``<v Speaker>`` voice tags give the speaker."""
    blocks = _blocks(text)
    if not blocks or not blocks[0][1][0].startswith("WEBVTT"):
        raise IngestError("not a WebVTT file (its first line must be 'WEBVTT')", path=path,
                          line=1)
    cues: list[Cue] = []
    for line, lines in blocks[1:]:
        if lines[0].startswith(("NOTE", "STYLE", "REGION")) and "-->" not in lines[0]:
            continue
        start, end, parts = _cue_parts(lines, line, path, voiced=True)
        cues.extend(Cue(start, end, voice, words, line) for voice, words in parts if words)
    if not cues:
        raise IngestError("the WebVTT file has no cues with text", path=path)
    return cues


def parse_srt(text: str, path: str | Path) -> list[Cue]:
    """Cues of a SubRip file (the speaker, if any, is a ``NAME:`` prefix left in the text)."""
    cues: list[Cue] = []
    for line, lines in _blocks(text):
        start, end, parts = _cue_parts(lines, line, path, voiced=False)
        cues.extend(Cue(start, end, None, words, line) for _, words in parts if words)
    if not cues:
        raise IngestError("the SubRip file has no cues with text", path=path)
    return cues


# --- cases.csv --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CasesTable:
    """What cases.csv says: each case's attributes and each source's case.

    ``header_line`` is the line of the header, ``case_lines`` and ``source_lines`` the line
    each case and each source is first given on (for errors found later, after redaction).
    """

    attributes: dict[str, dict[str, str]]
    source_case: dict[str, str]
    header_line: int = 1
    case_lines: dict[str, int] = field(default_factory=dict)
    source_lines: dict[str, int] = field(default_factory=dict)


def source_id_for(name: str) -> str:
    """The source id of a file name (its name without a supported extension)."""
    p = Path(name.strip().replace("\\", "/"))
    return p.stem if p.suffix.lower() in SUPPORTED else p.name


def csv_records(text: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines).

    Read strictly: a quote opened and never closed is refused (read leniently, it would take
    every line after it into one field, and those rows would be lost without a word), and so
    is text after a closing quote."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise IngestError(_csv_problem(str(exc)), path=path, line=line) from None
        yield line, row


def _csv_problem(message: str) -> str:
    if "unexpected end of data" in message:
        return ("a quoted field opened on this line is never closed; close its quote (a quote "
                "inside a quoted field is written twice: \"\")")
    if "expected after" in message:
        return ("text follows a closing quote; quote the whole field and write a quote inside "
                "it twice (\"\")")
    if "field larger than field limit" in message:
        return (f"malformed CSV: a field is over {csv.field_size_limit():,} characters; check "
                "for a missing closing quote, or split the text")
    return f"malformed CSV: {message}; save the file again as plain CSV"


def read_cases(path: Path) -> CasesTable:
    """Parse cases.csv (``case``, ``source``, attribute columns); errors name the line.

    Refused, each naming its line: a header that lacks ``case`` or ``source`` or names a column
    twice; a row whose fields do not fit the header; a value in a column the header gives no
    name (a column without a name and without values, as a trailing comma makes, is left
    out); an empty, multi-line or otherwise invisible-character id; a case id spelled two ways
    (upper/lower case, spaces); a source given to two cases; a case attribute with two values.
    """
    text = decode_bytes(read_bytes(path, "cases CSV"), path, "cases CSV")
    rows = csv_records(text, path)
    header_line, cells = next(((n, r) for n, r in rows if any(c.strip() for c in r)), (1, []))
    header = [h.strip() for h in cells]
    _check_header(header, path, header_line)
    attributes: dict[str, dict[str, str]] = {}
    source_case: dict[str, str] = {}
    spellings: dict[str, tuple[str, int]] = {}  # a case id folded -> as first written, its line
    case_lines: dict[str, int] = {}
    source_lines: dict[str, int] = {}
    unnamed = [i for i, name in enumerate(header) if not name]
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise IngestError(f"has {len(row)} fields, the header has {len(header)}; give every "
                              "row one field per column (quote a field that holds a comma)",
                              path=path, line=line)
        filled = next((i for i in unnamed if row[i].strip()), None)
        if filled is not None:
            raise IngestError(f"column {filled + 1} has no name in the header (line "
                              f"{header_line}) but holds a value here; name the column in the "
                              "header or leave its cells empty", path=path, line=line)
        values = {h: cell.strip() for h, cell in zip(header, row, strict=False)}
        case, source = values.pop("case"), values.pop("source")
        if not case or not source:
            raise IngestError("the 'case' and 'source' fields must not be empty; fill them in "
                              "or delete the row", path=path, line=line)
        for column, value in (("case", case), ("source", source)):
            bad = invisible_problem(value)
            if bad is not None:
                raise IngestError(f"the {column} {value!r} holds {bad}; write each id on one "
                                  "line in visible characters", path=path, line=line)
        first, first_line = spellings.setdefault(" ".join(case.split()).casefold(), (case, line))
        if first != case:
            raise IngestError(f"case {case!r} is case {first!r} of line {first_line} written "
                              "another way (capitals or spaces); spell each case id the same "
                              "way on every line", path=path, line=line)
        sid = source_id_for(source)
        if source_case.get(sid, case) != case:
            raise IngestError(f"source {sid!r} is already given to case {source_case[sid]!r}",
                              path=path, line=line)
        source_case[sid] = case
        case_lines.setdefault(case, line)
        source_lines.setdefault(sid, line)
        known = attributes.setdefault(case, {})
        for name, value in values.items():
            if name and value:
                if known.get(name, value) != value:
                    raise IngestError(f"case {case!r} has {name} = {known[name]!r} on an "
                                      f"earlier line and {value!r} here", path=path, line=line)
                known[name] = value
    return CasesTable(attributes, source_case, header_line, case_lines, source_lines)


def _check_header(header: list[str], path: Path, line: int) -> None:
    """Refuse a cases.csv header without ``case`` and ``source`` or naming a column twice."""
    missing = [c for c in ("case", "source") if c not in header]
    if missing:
        raise IngestError(f"the header lacks the column(s) {', '.join(missing)}; cases.csv "
                          "needs 'case', 'source' and any attribute columns"
                          + _separator_hint(",".join(header)), path=path, line=line)
    seen: dict[str, str] = {}
    for name in header:
        bad = invisible_problem(name)
        if bad is not None:
            raise IngestError(f"the column name {name!r} holds {bad}; write each column name "
                              "on one line in visible characters", path=path, line=line)
        if not name:
            continue  # a column without a name (a trailing comma) is left out
        earlier = seen.get(name.casefold())
        if earlier is not None:
            also = "" if earlier == name else f" (as {earlier!r} and {name!r})"
            raise IngestError(f"the header names the column {earlier!r} twice{also}; give "
                              "each column its own name", path=path, line=line)
        seen[name.casefold()] = name


def _separator_hint(first_line: str) -> str:
    """Advice for a header read as one column because the file is not comma-separated."""
    semicolons, tabs = first_line.count(";"), first_line.count("\t")
    if not semicolons and not tabs:
        return ""
    separator = "';'" if semicolons >= tabs else "tabs"
    return (f"; the file seems to use {separator} as separator: save it as comma-separated "
            "CSV")


def invisible_problem(value: str) -> str | None:
    """What makes ``value`` unfit for an id or a column name (a line break …), or None."""
    for ch in value:
        if ch in "\n\r\v\f\u2028\u2029\x85":
            return "a line break"
        if ch == "\t":
            return "a tab"
        category = unicodedata.category(ch)
        if category == "Cc":
            return f"the control character U+{ord(ch):04X}"
        if category == "Cf" and ch not in _JOINERS:
            return f"the invisible character U+{ord(ch):04X}"
    return None
