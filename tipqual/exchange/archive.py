"""What REFI-QDA (``.qdpx``) export and import share.

Export lives in :mod:`tipqual.exchange.export`, import in :mod:`tipqual.exchange.importer`.
This module holds the pieces both need: a safe, in-memory view of a zip archive and the
translation of positions between the counting rules of other tools and tipqual's stored text.

Safety: members are read into memory, never extracted; an archive with a member name that
climbs out (``../``), is absolute or carries a drive letter is refused as a whole, and so is one
that holds a symbolic link or a device, or two members whose names differ only in letter case
or ``./`` (a reader could take either). Member and total sizes are capped (checked while
reading, since zip headers can lie). Source paths are looked up among the members only: nothing
outside the archive is ever read. ``refi import`` and ``codebook import`` of a ``.qdpx`` both
read through :class:`Archive` and take the project file by one rule (:func:`find_project_file`).

Positions: the standard counts Unicode code points from 0, end exclusive; real tools differ
(UTF-16 code units, a line break counted as one or two, a byte-order mark counted or not). A
:class:`Counting` names one such rule, :class:`TextMap` translates positions under it into
tipqual's stored text, and :func:`choose_countings` picks the rule for each source of a project
by the evidence of its selections (names that match their text, boundaries on word boundaries).
"""

from __future__ import annotations

import re
import stat
import unicodedata
import zipfile
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from tipqual.errors import ExchangeError

MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 20_000
_DRIVE = re.compile(r"^[A-Za-z]:")
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_SPECIAL = {stat.S_IFCHR: "device", stat.S_IFBLK: "device", stat.S_IFIFO: "device",
            stat.S_IFSOCK: "device"}


# --- archives ---------------------------------------------------------------------------------

def check_member_name(name: str, archive: str | Path) -> str:
    """The member name with ``/`` separators and no ``.`` parts; refuse names that would leave
    the target folder (absolute, with a drive letter, climbing out with ``..``)."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if (clean.startswith("/") or _DRIVE.match(clean) or ".." in parts
            or "\x00" in clean):
        raise ExchangeError(f"refused: the archive holds an unsafe member name {name!r} "
                            "(absolute, with a drive letter or climbing out with '..'); this is "
                            "not a file a QDA tool writes", path=archive)
    return "/".join(p for p in clean.split("/") if p not in ("", "."))


def _key(name: str) -> str:
    """What two member names must share to be the same name to a reader: case and form aside."""
    return unicodedata.normalize("NFC", name).lower()


def _member_kind(info: zipfile.ZipInfo) -> str:
    """``file``, ``folder``, ``symbolic link`` or ``device`` from the zip's file attributes."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.filename.endswith(("/", "\\")) or kind == stat.S_IFDIR or info.external_attr & 0x10:
        return "folder"
    if kind == stat.S_IFLNK:
        return "symbolic link"
    return _SPECIAL.get(kind, "file")


def _inside(path: str) -> str | None:
    """A relative path inside the archive, ``.`` parts dropped; None if it is absolute or climbs
    out with ``..``."""
    path = path.replace("\\", "/").strip()
    if not path or path.startswith("/") or _DRIVE.match(path) or "\x00" in path:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class Archive:
    """A zip archive read in memory with limits; member lookup ignores letter case.

    Names are unique once letter case and ``./`` are ignored (an archive where they are not is
    refused), so a lookup that ignores case is never ambiguous.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise ExchangeError("no such file; give the path of a .qdpx archive",
                                path=self.path) from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise ExchangeError(f"not a .qdpx archive (not a readable zip file: {exc}); export "
                                "the project again as REFI-QDA", path=self.path) from None
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ExchangeError(f"refused: the archive holds {len(infos)} files (limit "
                                f"{MAX_MEMBERS})", path=self.path)
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._files: dict[str, str] = {}  # key -> member name
        self._folders: dict[str, str] = {}  # key -> folder name (listed or implied by a file)
        written: dict[str, str] = {}  # key -> the name as written, for messages
        for info in infos:
            name = check_member_name(info.filename, self.path)
            kind = _member_kind(info)
            if kind in ("symbolic link", "device"):
                what = "symbolic link" if kind == "symbolic link" else \
                    "device or other special file"
                raise ExchangeError(f"refused: the archive member {info.filename!r} is a {what}, "
                                    "which no QDA tool writes (it could point outside the "
                                    "archive); export the project again", path=self.path)
            if not name:
                continue
            key = _key(name)
            if kind == "folder":
                self._folders.setdefault(key, name)
                continue
            if key in self._files:
                raise ExchangeError(f"refused: the archive holds two members named "
                                    f"{written[key]!r} and {info.filename!r}, the same name once "
                                    "letter case and './' are ignored, so a reader could take "
                                    "either; export the project again", path=self.path)
            self._files[key] = name
            written[key] = info.filename
            self._infos[name] = info
        for name in self._infos:
            parts = name.split("/")
            for n in range(1, len(parts)):
                folder = "/".join(parts[:n])
                self._folders.setdefault(_key(folder), folder)
        clash = sorted(self._files.keys() & self._folders.keys())
        if clash:
            raise ExchangeError(f"refused: the archive holds both a file and a folder named "
                                f"{written[clash[0]]!r}; export the project again",
                                path=self.path)
        self._read_total = 0

    @property
    def names(self) -> list[str]:
        """Member names of the files (``/`` separators, no ``./``), sorted."""
        return sorted(self._infos)

    def find(self, name: str) -> str | None:
        """The file member with this name, ignoring letter case and ``./``."""
        clean = _inside(name)
        return self._files.get(_key(clean)) if clean else None

    def is_folder(self, name: str) -> bool:
        """True if ``name`` is a folder of the archive (listed, or holding files)."""
        clean = _inside(name)
        return bool(clean) and _key(clean or "") in self._folders

    def resolve(self, ref: str, base: str = "") -> str | None:
        """The member a source path names, file or folder (None if the archive has neither).

        ``internal://`` and ``relative://`` paths, and bare relative paths as some exporters
        write them (``NAME``, ``./NAME``, ``sources/NAME``, URL-escaped or not), are looked up
        in the ``sources/`` folder (any letter case) beside the ``.qde`` in ``base``, then beside
        the ``.qde``, then at the top of the archive. ``absolute://`` and other schemes, absolute
        paths and paths with ``..`` are never followed: they would lead outside the archive.
        """
        ref = ref.strip()
        scheme, sep, rest = ref.partition("://")
        if sep:
            if scheme.lower() not in ("internal", "relative"):
                return None
            rest = rest.lstrip("/\\")
        else:
            rest = ref
        candidates = [_inside(p) for p in dict.fromkeys((rest, unquote(rest)))]
        if not candidates or any(c is None for c in candidates):
            return None
        for rel in candidates:
            for folder in dict.fromkeys((base + "sources/", base, "sources/", "")):
                name = folder + (rel or "")
                found = self.find(name)
                if found is not None:
                    return found
                if self.is_folder(name):
                    return self._folders[_key(name)]
        return None

    def read(self, name: str) -> bytes:
        """A member's bytes, refusing oversized members and archives (zip bombs)."""
        info = self._infos[name]
        if info.file_size > MAX_MEMBER_BYTES:
            raise self._too_big(name)
        chunks, size = [], 0
        try:
            with self._zip.open(info) as fh:
                while chunk := fh.read(1 << 20):
                    size += len(chunk)
                    self._read_total += len(chunk)
                    if size > MAX_MEMBER_BYTES or self._read_total > MAX_TOTAL_BYTES:
                        raise self._too_big(name)
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise ExchangeError(f"the archive member {name!r} cannot be read ({exc}); the "
                                "archive is damaged", path=self.path) from None
        return b"".join(chunks)

    def _too_big(self, name: str) -> ExchangeError:
        return ExchangeError(f"refused: the archive member {name!r} unpacks to more than "
                             f"{MAX_MEMBER_BYTES // (1024 * 1024)} MiB (or the archive to more "
                             f"than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB); possible zip "
                             "bomb", path=self.path)

    def close(self) -> None:
        """Close the underlying zip file."""
        self._zip.close()


def find_project_file(archive: Archive) -> str:
    """The project file of an archive: the shallowest ``.qde``, ``project.qde`` (any letter
    case) before any other name; two candidates that nothing tells apart are refused."""
    candidates = [n for n in archive.names if n.lower().endswith(".qde")]
    if not candidates:
        raise ExchangeError("the archive holds no .qde project file; is it a REFI-QDA export?",
                            path=archive.path)

    def rank(name: str) -> tuple[int, bool]:
        return name.count("/"), PurePosixPath(name).name.lower() != "project.qde"

    first = min(rank(n) for n in candidates)
    top = sorted(n for n in candidates if rank(n) == first)
    if len(top) > 1:
        raise ExchangeError(f"refused: the archive holds two project files ({top[0]!r}, "
                            f"{top[1]!r}) and nothing says which one is the project; export "
                            "the project again", path=archive.path)
    return top[0]


def read_project_file(path: str | Path) -> tuple[str, bytes]:
    """The name and bytes of a ``.qdpx``'s project file, with every check of
    :class:`Archive` (duplicate names, links and devices, unsafe names, sizes) and the rule of
    :func:`find_project_file`."""
    archive = Archive(path)
    try:
        name = find_project_file(archive)
        return name, archive.read(name)
    finally:
        archive.close()


def has_bom(data: bytes) -> bool:
    """True if the bytes start with a UTF-8 or UTF-16 byte-order mark."""
    return any(data.startswith(bom) for bom, _ in _BOMS)


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` for bytes that are UTF-16 text written without a BOM
    (most of every other byte is NUL, as in mostly Latin text; such bytes are valid UTF-8, so
    UTF-8 alone would read them as text with NULs between the letters), else None."""
    if len(data) < 4 or len(data) % 2 or b"\x00" not in data:
        return None
    pairs = len(data) // 2
    for encoding, high in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if high.count(0) >= 0.6 * pairs:
            return encoding
    return None


def decode_text(data: bytes) -> str:
    """Text of a source file: a BOM decides (UTF-8, UTF-16), else UTF-16 when the bytes are
    plainly UTF-16 without a BOM, else UTF-8, else Windows-1252."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    wide = _utf16_without_bom(data)
    if wide is not None:
        return data.decode(wide, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# --- positions --------------------------------------------------------------------------------

_UNITS = ("cp", "utf16")
_NEWLINES = ("raw", "one", "two")
# units a line break written as CRLF, and one written as a lone LF or CR, counts for
_BREAK_WIDTHS = {"raw": (2, 1), "one": (1, 1), "two": (2, 2)}


@dataclass(frozen=True)
class Counting:
    """How a tool counted the positions of a text source.

    ``units``: ``cp`` (Unicode code points, as the standard says) or ``utf16`` (UTF-16 code
    units: a character outside the Basic Multilingual Plane, such as an emoji, counts two).
    ``newline``: ``raw`` (CR and LF each count, so CRLF is two), ``one`` (every line break is
    one, as in a tool that holds its text with LF) or ``two`` (every line break is two, as in a
    tool that holds CRLF while the file or inline text has LF). ``bom``: the byte-order mark at
    the start of the file is position 0.
    """

    units: str = "cp"
    newline: str = "raw"
    bom: bool = False

    def __post_init__(self) -> None:
        if self.units not in _UNITS or self.newline not in _NEWLINES:
            raise ValueError(f"unknown counting {self.units!r}/{self.newline!r}")


# Every rule seen in (or plausible for) real exports; the first of equals is preferred.
COUNTINGS = tuple(Counting(u, n, b) for b in (False, True) for u in _UNITS for n in _NEWLINES)


def producer_of(origin: str | None) -> str:
    """The producer family an ``origin`` names: ``"nvivo"`` (UTF-16 units) or ``"cp"``."""
    return "nvivo" if origin and "nvivo" in origin.lower() else "cp"


def default_counting(origin: str | None, *, inline: bool = False) -> Counting:
    """The rule a producer is known to use, before any evidence from the selections.

    NVivo counts UTF-16 code units of the text as it holds it (CRLF on Windows) and does not
    count the BOM it writes; in text inline in the XML, where the parser turned CRLF into LF,
    each line break therefore counts two. ATLAS.ti and QualCoder count code points of their own
    text, where a line break is one character even when the file has CRLF. Everyone else
    (MAXQDA, tipqual) counts code points as written.
    """
    name = (origin or "").lower()
    if "nvivo" in name:
        return Counting("utf16", "two" if inline else "raw")
    if "atlas" in name or "qualcoder" in name:
        return Counting("cp", "one")
    return Counting("cp", "raw")


def _label(name: str) -> str:
    """A selection's name as comparable text: NFC, no ellipsis, one space, case folded."""
    text = unicodedata.normalize("NFC", name).replace("…", " ")
    text = " ".join(text.split()).removesuffix("...").strip()
    return text.casefold()


def _joins(ch: str) -> bool:
    """True for characters that belong to the one before (combining marks, ZWJ, modifiers)."""
    return bool(unicodedata.combining(ch)) or ch in "\u200d\ufe0e\ufe0f" \
        or 0x1F3FB <= ord(ch) <= 0x1F3FF


def _inside_word(text: str, k: int) -> bool:
    """True if stored position ``k`` falls inside a word or a composed character."""
    if not 0 < k < len(text):
        return False
    before, after = text[k - 1], text[k]
    return (before.isalnum() and after.isalnum()) or _joins(after) or before == "\u200d"


@dataclass(frozen=True)
class Placement:
    """A selection in stored-text offsets, with what could not be placed exactly."""

    start: int
    end: int
    split_start: bool = False  # the start fell inside a character (a surrogate pair)
    split_end: bool = False
    cut_start: bool = False  # the start falls inside a word
    cut_end: bool = False

    @property
    def flaws(self) -> int:
        """How many boundaries are doubtful (inside a character or a word)."""
        return (self.split_start or self.cut_start) + (self.split_end or self.cut_end)


class SourceText:
    """A source text as written, its stored form, and where counting rules differ on it.

    The stored text has CRLF and lone CR turned into LF (as tipqual stores transcripts).
    """

    def __init__(self, raw: str, *, bom: bool = False):
        self.raw = raw
        self.bom = bom
        self.text = raw.replace("\r\n", "\n").replace("\r", "\n")
        self.crlf = [m.start() - n for n, m in enumerate(re.finditer("\r\n", raw))]
        crlf = set(self.crlf)
        self.breaks = [m.start() for m in re.finditer("\n", self.text) if m.start() not in crlf]
        self.astral = [m.start() for m in re.finditer("[\U00010000-\U0010FFFF]", self.text)]
        self._folded: str | None = None
        self._evidence: dict[str, bool] = {}

    def effective(self, counting: Counting) -> Counting:
        """The first rule of :data:`COUNTINGS` that counts this text exactly as ``counting``."""
        return next(c for c in COUNTINGS if self.widths(c) == self.widths(counting))

    def widths(self, c: Counting) -> tuple[int, int, int, bool]:
        """Units an astral character, a CRLF and a lone line break count for under ``c`` (1 for
        what this text does not have), and whether its BOM is counted."""
        crlf, lone = _BREAK_WIDTHS[c.newline]
        return (2 if c.units == "utf16" and self.astral else 1, crlf if self.crlf else 1,
                lone if self.breaks else 1, c.bom and self.bom)

    def describe(self, counting: Counting) -> str:
        """The rule in words, naming only what matters for this text."""
        astral, crlf, lone, bom = self.widths(counting)
        parts = ["UTF-16 code units" if counting.units == "utf16" else "code points"]
        if self.crlf and self.breaks:
            parts.append({(2, 1): "CRLF as two, a lone line break as one",
                          (1, 1): "every line break as one",
                          (2, 2): "every line break as two"}[(crlf, lone)])
        elif self.crlf:
            parts.append("CRLF as two" if crlf == 2 else "every line break as one")
        elif self.breaks and lone == 2:
            parts.append("every line break as two")
        if bom:
            parts.append("the BOM counted")
        return ", ".join(parts)

    def name_found(self, label: str) -> bool:
        """True if a comparable selection name occurs anywhere in the text."""
        if self._folded is None:
            self._folded = " ".join(unicodedata.normalize("NFC", self.text).split()).casefold()
        return label in self._folded

    def score(self, counting: Counting, probes: Sequence[tuple[int, int, str]]) -> int:
        """How well the selections fit the text under ``counting`` (higher is better).

        A name that matches its text gains 3; a boundary inside a word or a character loses 1;
        a selection outside the text loses 2. Names found nowhere in the text (labels such as
        "Quotation 6:1") are no evidence.
        """
        tmap = TextMap(self, counting)
        total = 0
        for start, end, name in probes:
            placed = tmap.place(start, end)
            if placed is None:
                total -= 2
                continue
            total -= placed.flaws
            if tmap.name_matches(placed, name):
                total += 3
        return total

    def name_is_evidence(self, name: str) -> bool:
        """True if a selection's name is text of this source (not a label like "Quotation 6:1"),
        long enough to tell one position from another."""
        if name not in self._evidence:
            label = _label(name)
            self._evidence[name] = len(label) >= 5 and any(ch.isalnum() for ch in label) \
                and self.name_found(label)
        return self._evidence[name]


class TextMap:
    """Positions of one counting rule translated into stored-text offsets of one source."""

    def __init__(self, source: SourceText | str, counting: Counting = Counting(), *,
                 bom: bool = False):
        self.source = source if isinstance(source, SourceText) else SourceText(source, bom=bom)
        self.counting = counting
        self.text = self.source.text
        astral, crlf, lone, counted_bom = self.source.widths(counting)
        wide: list[tuple[int, str]] = []
        if astral == 2:
            wide += [(k, "char") for k in self.source.astral]
        if crlf == 2:
            wide += [(k, "break") for k in self.source.crlf]
        if lone == 2:
            wide += [(k, "break") for k in self.source.breaks]
        wide.sort()
        self._wide = [k for k, _ in wide]
        self._kinds = [kind for _, kind in wide]
        self._starts = [k + n for n, k in enumerate(self._wide)]  # unit where each wide one starts
        self._offset = 1 if counted_bom else 0
        self.length = len(self.text) + len(wide) + self._offset

    def _locate(self, position: int, *, end: bool) -> tuple[int, bool]:
        """Stored offset of a position, and True if it fell inside a character."""
        p = position - self._offset
        if p <= 0:
            return 0, False
        n = bisect_right(self._starts, p - 2)  # wide characters wholly before p
        if n < len(self._starts) and self._starts[n] == p - 1:  # p is inside the n-th one
            # half a surrogate pair, or between the CR and LF of a line break: the whole
            # character is kept (only the former is a doubt: a line break is not text)
            k = self._wide[n]
            return (k + 1 if end else k), self._kinds[n] == "char"
        return p - n, False

    def to_stored(self, position: int, *, end: bool) -> int:
        """A position in stored-text code points (clamped; a split character is kept whole:
        a start rounds down, an end up)."""
        return self._locate(max(0, min(position, self.length)), end=end)[0]

    def place(self, start: int, end: int) -> Placement | None:
        """The selection ``start``-``end`` in stored offsets; None if outside the text or empty."""
        if start < 0 or end > self.length or start >= end:
            return None
        s, split_s = self._locate(start, end=False)
        e, split_e = self._locate(end, end=True)
        e = max(s, e)
        return Placement(s, e, split_s, split_e, _inside_word(self.text, s),
                         _inside_word(self.text, e))

    def name_matches(self, placed: Placement, name: str) -> bool | None:
        """True if the placed text starts with the selection's name, False if it does not,
        None if the name is no evidence (see :meth:`SourceText.name_is_evidence`)."""
        if not self.source.name_is_evidence(name):
            return None
        label = _label(name)
        piece = self.text[placed.start:min(placed.end, placed.start + 4 * len(label) + 16)]
        return _label(piece).startswith(label)


MARGIN = 2  # how much better another rule must fit before it replaces the expected one


def choose_countings(sources: Sequence[tuple[SourceText | str, bool,
                                              Sequence[tuple[int, int, str]]]],
                     default: Counting | Sequence[Counting]) -> list[Counting]:
    """The counting rule for each source of a project, by the evidence of its selections.

    ``sources`` are (text as written, whether the file had a BOM, selections as (start, end,
    name)); ``default`` is the rule the producer is known to use (one, or one per source). The
    evidence of all sources is pooled first: a rule that fits the whole project clearly better
    (by :data:`MARGIN`) than the expected one becomes the project's. Then a source whose own
    selections fit another rule clearly better than the project's gets that rule. Without
    evidence nothing changes.
    """
    texts = [s if isinstance(s, SourceText) else SourceText(s, bom=bom) for s, bom, _ in sources]
    defaults = [default] * len(texts) if isinstance(default, Counting) else list(default)
    rows: list[dict[Counting, int]] = []
    for text, (_, _, probes) in zip(texts, sources, strict=True):
        scored: dict[Counting, int] = {}
        for c in COUNTINGS:
            eff = text.effective(c)
            if eff not in scored:
                scored[eff] = text.score(eff, probes) if probes else 0
            scored[c] = scored[eff]
        rows.append(scored)
    baseline = sum(row[d] for row, d in zip(rows, defaults, strict=True))
    pooled = {c: sum(row[c] for row in rows) for c in COUNTINGS}
    best = max(dict.fromkeys([*defaults, *COUNTINGS]), key=lambda c: pooled[c])
    project = [best] * len(rows) if pooled[best] >= baseline + MARGIN else defaults
    chosen = []
    for row, mine, usual in zip(rows, project, defaults, strict=True):
        local = max(dict.fromkeys([mine, usual, *COUNTINGS]), key=lambda c: row[c])
        chosen.append(local if row[local] >= row[mine] + MARGIN else mine)
    return chosen
