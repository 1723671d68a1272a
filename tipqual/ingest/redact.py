"""Pseudonymisation of transcripts before they are stored (``tipqual import --redact``).

What is replaced, each kind with its own numbered placeholder:

- ``[EMAIL-n]`` e-mail addresses; ``[URL-n]`` web addresses (``http(s)://…``, ``www.…``);
- ``[PHONE-n]`` phone numbers: South African national (``0xx xxx xxxx``, ``(0xx) …``,
  ``08x0 xxx xxx``) and international (``+27 82 …``, ``+27 (0)82 …``, ``0027 …``, ``+44 …``),
  with spaces or dashes; the same number written two ways gets one placeholder;
- ``[ID-n]`` South African ID numbers: 13 digits (optionally ``YYMMDD SSSS CAZ``) whose first six
  are a real date, whose eleventh is 0, 1 or 2 and whose last is a valid Luhn check digit;
- ``[PERSON-n]`` people named in the roster (one name a line; the full name and each first or
  last name of two letters or more, as whole words, case-insensitive), people already in the key
  file, and PERSON entities found by a trained spaCy pipeline named with ``--model``.

Each distinct person gets one placeholder: a first or last name shared by several roster people
gets its own placeholder rather than a guess. The key (placeholder → original) lives in a separate
JSON file written with 0600 permissions; an existing key is read first so that placeholders stay
the same across imports. Dates, years, money amounts and case ids are left alone.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipqual.errors import IngestError

KINDS = ("EMAIL", "URL", "ID", "PHONE", "PERSON")  # also the priority when matches overlap
_PLACEHOLDER = re.compile(r"^\[(PERSON|EMAIL|PHONE|ID|URL)-(\d+)\]$")
_NOT_NAMES = {"mr", "mrs", "ms", "miss", "dr", "prof", "rev", "van", "der", "den", "de", "du",
              "le", "la", "von", "da", "dos"}
_SPEAKER_LABELS = {"interviewer", "respondent", "facilitator", "moderator", "participant"}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(r"(?i)(?<![\w@])(?:https?://|www\.)[^\s<>\"'()\[\]]+")
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)\d{1,3}(?:[ -]?\(0\))?(?:[ -]?\(\d{1,4}\))?"
                         r"(?:[ -]?\d){6,13}(?![\w])")
_PHONE_ZA = re.compile(r"(?<![\w+])(?:(?:\(0\d{2}\)|0\d{2})[ -]?\d{3}[ -]?\d{4}"
                       r"|08[06]\d[ -]?\d{3}[ -]?\d{3})(?![\w])")
_SA_ID = re.compile(r"(?<![\w])\d{6} ?\d{4} ?\d{3}(?![\w])")


@dataclass(frozen=True)
class Match:
    """One piece of personal information found in a text."""

    start: int
    end: int
    kind: str
    original: str


def luhn_ok(digits: str) -> bool:
    """True when the last digit is the Luhn check digit of the others."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_sa_id(number: str) -> bool:
    """True for a plausible South African ID number (date, citizenship digit, Luhn)."""
    digits = re.sub(r"\D", "", number)
    if len(digits) != 13 or digits[10] not in "012":
        return False
    yy, mm, dd = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if not 1 <= mm <= 12:
        return False
    # Either century will do: 29 February is valid when one of them is a leap year.
    if not any(1 <= dd <= monthrange(century + yy, mm)[1] for century in (1900, 2000)):
        return False
    return luhn_ok(digits)


def _norm(kind: str, text: str) -> str:
    if kind == "PHONE":
        compact = text.replace("(0)", "")
        digits = re.sub(r"\D", "", compact)
        if compact.lstrip().startswith("00"):
            digits = digits[2:]
        if compact.lstrip().startswith(("+", "00")) and digits.startswith("27"):
            digits = "0" + digits[2:]
        return digits
    if kind == "ID":
        return re.sub(r"\D", "", text)
    if kind == "URL":
        return text.lower().rstrip("/")
    if kind == "PERSON":
        return " ".join(re.sub(r"['’]s$", "", text).casefold().split())
    return text.lower()


def name_parts(name: str) -> list[str]:
    """The first and last names of a roster entry worth matching on their own."""
    return [p for p in _norm("PERSON", name).replace(",", " ").split()
            if len(p.strip(".")) >= 2 and p.strip(".") not in _NOT_NAMES]


class Redactor:
    """Finds personal information and replaces it with stable placeholders."""

    def __init__(self, roster: Iterable[str] = (), key: dict[str, str] | None = None,
                 nlp: Any = None):
        self.nlp = nlp
        self.key: dict[str, str] = {}
        self._by_original: dict[tuple[str, str], str] = {}
        self._next = {kind: 1 for kind in KINDS}
        self.changed = False
        people: list[str] = []
        for placeholder, original in sorted((key or {}).items()):
            m = _PLACEHOLDER.match(placeholder)
            if m is None or not isinstance(original, str):
                continue
            kind, number = m.group(1), int(m.group(2))
            self.key[placeholder] = original
            self._by_original.setdefault((kind, _norm(kind, original)), placeholder)
            self._next[kind] = max(self._next[kind], number + 1)
            if kind == "PERSON":
                people.append(original)
        self._variants = self._build_variants([*people, *roster])

    def _build_variants(self, people: list[str]) -> dict[str, str]:
        """Map each matchable name variant to the person it stands for (normalised)."""
        self._spelling: dict[str, str] = {}  # normalised name -> spelling as first given
        for person in people:
            if _norm("PERSON", person):
                self._spelling.setdefault(_norm("PERSON", person), " ".join(person.split()))
        full = set(self._spelling)
        owners: dict[str, set[str]] = {}
        for person in full:
            for part in name_parts(person):
                owners.setdefault(part, set()).add(person)
        variants = {person: person for person in full}
        for part, who in owners.items():
            variants.setdefault(part, next(iter(who)) if len(who) == 1 else part)
        self._person_re = None
        if variants:
            alternatives = sorted(variants, key=lambda v: (-len(v), v))
            body = "|".join(r"\s+".join(map(re.escape, v.split())) for v in alternatives)
            self._person_re = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
        return variants

    def placeholder(self, kind: str, original: str) -> str:
        """The placeholder for this piece of information, creating one the first time."""
        norm = _norm(kind, original)
        if kind == "PERSON":
            norm = self._variants.get(norm, norm)
        found = self._by_original.get((kind, norm))
        if found is not None:
            return found
        placeholder = f"[{kind}-{self._next[kind]}]"
        self._next[kind] += 1
        self._by_original[(kind, norm)] = placeholder
        self.key[placeholder] = self._spelling.get(norm, original) if kind == "PERSON" else original
        self.changed = True
        return placeholder

    def find(self, text: str) -> list[Match]:
        """Every piece of personal information in ``text``, non-overlapping, in order."""
        found: list[Match] = []
        for m in _EMAIL.finditer(text):
            found.append(Match(m.start(), m.end(), "EMAIL", m.group()))
        for m in _URL.finditer(text):
            url = m.group().rstrip(".,;:!?")
            found.append(Match(m.start(), m.start() + len(url), "URL", url))
        for m in _SA_ID.finditer(text):
            if is_sa_id(m.group()):
                found.append(Match(m.start(), m.end(), "ID", m.group()))
        for pattern in (_PHONE_INTL, _PHONE_ZA):
            for m in pattern.finditer(text):
                if 9 <= len(re.sub(r"\D", "", m.group())) <= 15:
                    found.append(Match(m.start(), m.end(), "PHONE", m.group()))
        if self._person_re is not None:
            for m in self._person_re.finditer(text):
                found.append(Match(m.start(), m.end(), "PERSON", m.group()))
        found.extend(self._entities(text))
        return _non_overlapping(found)

    def _entities(self, text: str) -> list[Match]:
        if self.nlp is None:
            return []
        blocks = [(m.group(), m.start()) for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", text)]
        out = []
        for doc, offset in self.nlp.pipe(blocks, as_tuples=True, batch_size=64):
            for ent in doc.ents:
                name = ent.text.strip()
                if (ent.label_ != "PERSON" or "[" in name or not name
                        or _norm("PERSON", name) in _SPEAKER_LABELS):
                    continue
                start = offset + ent.start_char + (len(ent.text) - len(ent.text.lstrip()))
                out.append(Match(start, start + len(name), "PERSON", name))
        return out

    def redact(self, text: str) -> tuple[str, list[tuple[int, int, int]]]:
        """The redacted text and the replacements made, as (start, end, new length)."""
        parts: list[str] = []
        replacements: list[tuple[int, int, int]] = []
        pos = 0
        for m in self.find(text):
            placeholder = self.placeholder(m.kind, m.original)
            parts.append(text[pos:m.start])
            parts.append(placeholder)
            replacements.append((m.start, m.end, len(placeholder)))
            pos = m.end
        parts.append(text[pos:])
        return "".join(parts), replacements

    def redact_text(self, text: str | None) -> str | None:
        """Just the redacted text (for speaker names and other short strings)."""
        return None if text is None else self.redact(text)[0]


def _non_overlapping(found: list[Match]) -> list[Match]:
    ordered = sorted(found, key=lambda m: (m.start, -(m.end - m.start), KINDS.index(m.kind)))
    out: list[Match] = []
    for m in ordered:
        if out and m.start < out[-1].end:
            continue
        out.append(m)
    return out


class OffsetMap:
    """Maps offsets in a text to offsets in its redacted version.

    An offset that falls inside a replaced piece moves to the edge of its placeholder (outwards),
    so a segment never holds half of a piece of personal information.
    """

    def __init__(self, replacements: list[tuple[int, int, int]]):
        self._starts = [r[0] for r in replacements]
        self._ends = [r[1] for r in replacements]
        self._reps = replacements
        self._shift = [0]
        for start, end, new_len in replacements:
            self._shift.append(self._shift[-1] + new_len - (end - start))

    def start(self, pos: int) -> int:
        """Where a segment starting at ``pos`` starts in the redacted text."""
        j = bisect.bisect_right(self._ends, pos)
        if j < len(self._reps) and self._starts[j] < pos:
            return self._starts[j] + self._shift[j]
        return pos + self._shift[j]

    def end(self, pos: int) -> int:
        """Where a segment ending at ``pos`` ends in the redacted text."""
        k = bisect.bisect_left(self._starts, pos)
        if k and self._ends[k - 1] > pos:
            start, _, new_len = self._reps[k - 1]
            return start + self._shift[k - 1] + new_len
        return pos + self._shift[k]


# --- roster, model and key file ---------------------------------------------------------------

def read_roster(path: Path) -> list[str]:
    """Names from a roster file: one a line; blank lines and ``#`` comments ignored."""
    from tipqual.ingest.readers import decode_bytes, read_bytes

    text = decode_bytes(read_bytes(path, "roster"), path, "roster")
    names = [line.strip() for line in text.split("\n")]
    return [n for n in names if n and not n.startswith("#")]


def load_model(name: str) -> Any:
    """An installed trained spaCy pipeline that recognises PERSON entities."""
    import spacy

    try:
        nlp = spacy.load(name)
    except (OSError, ValueError) as exc:
        raise IngestError(f"no spaCy pipeline {name!r} is installed ({type(exc).__name__}); "
                          "install one (e.g. en_core_web_sm) or leave out --model") from exc
    if not any("PERSON" in labels for labels in nlp.pipe_labels.values()):
        raise IngestError(f"the spaCy pipeline {name!r} does not recognise PERSON entities; "
                          "name a trained English pipeline")
    return nlp


def default_key_path(study: Path) -> Path:
    """Where the redaction key of a study lives unless ``--key`` says otherwise."""
    return study.with_name(f"{study.stem}.redaction-key.json")


def read_key(path: Path) -> dict[str, str]:
    """The placeholder → original mapping of an existing key file (empty if there is none)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IngestError(f"cannot read the redaction key ({exc}); restore it from a backup "
                          "or name another with --key", path=path) from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise IngestError("the redaction key is not a JSON object of placeholder → original",
                          path=path)
    return data


def write_key(path: Path, key: dict[str, str]) -> None:
    """Write the key atomically, readable by its owner only (0600)."""
    def order(item: tuple[str, str]) -> tuple[int, int]:
        m = _PLACEHOLDER.match(item[0])
        return (KINDS.index(m.group(1)), int(m.group(2))) if m else (len(KINDS), 0)

    body = json.dumps(dict(sorted(key.items(), key=order)), indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise IngestError(f"cannot write the redaction key: {exc.strerror or exc}",
                          path=path) from exc
