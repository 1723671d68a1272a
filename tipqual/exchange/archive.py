"""What REFI-QDA (``.qdpx``) export and import share.

Export lives in :mod:`tipqual.exchange.export`, import in :mod:`tipqual.exchange.importer`.
This module holds the pieces both need: a safe, in-memory view of a zip archive and the
translation of positions between the counting rules of other tools and tipqual's stored text.

Safety: members are read into memory, never extracted; an archive with a member name that
climbs out (``../``), is absolute or carries a drive letter is refused as a whole, and member and
total sizes are capped (checked while reading, since zip headers can lie).
"""

from __future__ import annotations

import re
import zipfile
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tipqual.errors import ExchangeError

MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 20_000
_DRIVE = re.compile(r"^[A-Za-z]:")


# --- archives ---------------------------------------------------------------------------------

def check_member_name(name: str, archive: str | Path) -> str:
    """The member name with ``\\`` as ``/``; refuse names that would leave the target folder."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if (clean.startswith("/") or _DRIVE.match(clean) or ".." in parts
            or "\x00" in clean):
        raise ExchangeError(f"refused: the archive holds an unsafe member name {name!r} "
                            "(absolute, with a drive letter or climbing out with '..'); this is "
                            "not a file a QDA tool writes", path=archive)
    return clean


class Archive:
    """A zip archive read in memory with limits; member lookup ignores letter case."""

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
        for info in infos:
            name = check_member_name(info.filename, self.path)
            if not info.is_dir():
                self._infos[name] = info
        self._read_total = 0

    @property
    def names(self) -> list[str]:
        """Member names (``/`` separators), sorted."""
        return sorted(self._infos)

    def find(self, name: str) -> str | None:
        """The member with this name, ignoring letter case (exact case preferred)."""
        name = name.replace("\\", "/").lstrip("/")
        if name in self._infos:
            return name
        lowered = name.lower()
        for member in self.names:
            if member.lower() == lowered:
                return member
        return None

    def resolve(self, ref: str, base: str = "") -> str | None:
        """The member an ``internal://`` or ``relative://`` path names (None if absent).

        ``base`` is the folder of the ``.qde``; the file may sit in its ``sources/`` folder (any
        letter case) or beside it. ``absolute://`` and bare paths point outside the archive:
        they are never read.
        """
        scheme, _, rest = ref.partition("://")
        if scheme.lower() not in ("internal", "relative") or not rest:
            return None
        rel = rest.replace("\\", "/").lstrip("/")
        if not rel or ".." in PurePosixPath(rel).parts:
            return None
        for folder in ("sources/", ""):
            found = self.find(base + folder + rel)
            if found is not None:
                return found
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


def decode_text(data: bytes) -> str:
    """Text of a source file: a BOM decides (UTF-8, UTF-16), else UTF-8, else Windows-1252."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                          (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# --- positions --------------------------------------------------------------------------------

COUNTING_RULES = ("cp", "nvivo", "utf16")


def producer_of(origin: str | None) -> str:
    """Which counting rule a producer uses: ``"nvivo"`` (UTF-16, newline as two) or ``"cp"``."""
    return "nvivo" if origin and "nvivo" in origin.lower() else "cp"


def _probe_text(label: str) -> str:
    return " ".join(label.replace("…", " ").split()).removesuffix("...").strip()


def choose_counting(raw: str, default: str,
                    probes: list[tuple[int, int, str]]) -> str:
    """The counting rule under which most selections' names match the text they point at.

    Tools such as ATLAS.ti name a selection after its first words; when another rule than the
    producer's usual one lands clearly more selections on their names, that rule is used.
    ``probes`` are (start, end, name) as written in the file.
    """
    usable = [(a, b, _probe_text(n)[:40]) for a, b, n in probes if len(_probe_text(n)) >= 8]
    if not usable:
        return default

    def score(rule: str) -> int:
        tmap = TextMap(raw, rule)
        hits = 0
        for a, b, label in usable:
            text = tmap.text[tmap.to_stored(a, end=False):tmap.to_stored(b, end=True)]
            hits += " ".join(text.split()).startswith(label)
        return hits

    scores = {rule: score(rule) for rule in COUNTING_RULES}
    best = max(COUNTING_RULES, key=lambda r: (scores[r], r == default))
    return best if scores[best] > scores[default] else default


@dataclass
class TextMap:
    """A source text as the producer counted it, its stored form, and position translation.

    The stored text has CRLF and lone CR turned into LF (as tipqual stores transcripts). For
    ``nvivo`` positions count UTF-16 code units and every line break as two units; for
    ``utf16`` UTF-16 code units of the text as written; for ``cp`` code points as written.
    """

    raw: str
    producer: str = "cp"

    def __post_init__(self) -> None:
        stored: list[str] = []
        self._stored_of_cp: list[int] = []  # raw code point index -> stored index
        units: list[int] = []  # raw code point index -> producer unit offset
        unit = 0
        i, raw = 0, self.raw
        while i < len(raw):
            ch = raw[i]
            self._stored_of_cp.append(len(stored))
            units.append(unit)
            if ch == "\r" and i + 1 < len(raw) and raw[i + 1] == "\n":
                # CRLF: one stored LF; the CR and the LF each map onto it
                self._stored_of_cp.append(len(stored))
                units.append(unit + 1)
                stored.append("\n")
                unit += 2
                i += 2
                continue
            if ch in "\r\n":
                stored.append("\n")
                unit += 2 if self.producer == "nvivo" else 1
            else:
                stored.append(ch)
                unit += 2 if (self.producer != "cp" and ord(ch) > 0xFFFF) else 1
            i += 1
        self._stored_of_cp.append(len(stored))
        units.append(unit)
        self._units = units
        self.text = "".join(stored)

    def to_stored(self, position: int, *, end: bool) -> int:
        """A producer position in stored-text code points (a start rounds down, an end up)."""
        position = max(0, min(position, self._units[-1]))
        if end:
            k = bisect_left(self._units, position)
        else:
            k = bisect_right(self._units, position) - 1
        return self._stored_of_cp[k]
