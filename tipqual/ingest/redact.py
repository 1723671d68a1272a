"""Pseudonymisation of transcripts before they are stored (``tipqual import --redact``).

What is replaced, each kind with its own numbered placeholder:

- ``[EMAIL-n]`` e-mail addresses; ``[URL-n]`` web addresses (``http(s)://…``, ``www.…``);
- ``[PHONE-n]`` phone numbers: South African national (``0xx xxx xxxx``, ``(0xx) …``,
  ``08x0 xxx xxx``) and international (``+27 82 …``, ``+27 (0)82 …``, ``0027 …``, ``+44 …``),
  with spaces or dashes; the same number written two ways gets one placeholder;
- ``[ID-n]`` South African ID numbers: 13 digits, also grouped ``YYMMDD SSSS CAZ`` with spaces,
  no-break spaces or hyphens/dashes between the groups, whose first six are a real date, whose
  eleventh is 0, 1 or 2 and whose last is a valid Luhn check digit;
- ``[PERSON-n]`` people named in the roster (one name a line; the full name and each first or
  last name of two letters or more, as whole words), people already in the key file, and PERSON
  entities found by a trained spaCy pipeline named with ``--model``. Names match in any casing
  (full case folding too: ``Straße`` is ``STRASSE``), in composed or decomposed Unicode, with any
  apostrophe (``O'Brien`` is ``O’Brien``), and before a possessive ``'s`` / ``’s``.

Each distinct person gets one placeholder: a first or last name shared by several roster people
gets its own placeholder rather than a guess. The key (placeholder → original) lives in a separate
JSON file written with 0600 permissions; an existing key is read first so that placeholders stay
the same across imports. Dates, years, money amounts and organisation codes such as ``CSO-01``
are left alone.

:meth:`Redactor.scan` finds, without replacing anything, what still looks like an e-mail
address, a phone number, an SA ID number or a roster name; :func:`check_study` runs it over every
string of a study (``tipqual redact check``).
"""

from __future__ import annotations

import bisect
import json
import os
import re
import unicodedata
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import IngestError

if TYPE_CHECKING:
    from tipqual.store.project import Project

KINDS = ("EMAIL", "URL", "ID", "PHONE", "PERSON")  # also the priority when matches overlap
_PLACEHOLDER = re.compile(r"^\[(PERSON|EMAIL|PHONE|ID|URL)-(\d+)\]$")
_NOT_NAMES = {"mr", "mrs", "ms", "miss", "dr", "prof", "rev", "van", "der", "den", "de", "du",
              "le", "la", "von", "da", "dos"}
_SPEAKER_LABELS = {"interviewer", "respondent", "facilitator", "moderator", "participant"}
# The kinds ``redact check`` looks for, with the words it reports them by.
RESIDUAL_KINDS = {"EMAIL": "e-mail", "PHONE": "phone", "ID": "ID number", "PERSON": "roster name"}
# Straight, typographic and modifier apostrophes, and the accents typed in their place.
_APOSTROPHES = "'\u2019\u2018\u02bc\u0060\u00b4"
_APOSTROPHE_MAP = str.maketrans({ch: "'" for ch in _APOSTROPHES})
_ANY_APOSTROPHE = "[" + re.escape(_APOSTROPHES) + "]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(r"(?i)(?<![\w@])(?:https?://|www\.)[^\s<>\"'()\[\]]+")
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)\d{1,3}(?:[ -]?\(0\))?(?:[ -]?\(\d{1,4}\))?"
                         r"(?:[ -]?\d){6,13}(?![\w])")
_PHONE_ZA = re.compile(r"(?<![\w+])(?:(?:\(0\d{2}\)|0\d{2})[ -]?\d{3}[ -]?\d{4}"
                       r"|08[06]\d[ -]?\d{3}[ -]?\d{3})(?![\w])")
_ID_SEP = "[ \u00a0\u202f\\-\u2010-\u2013]?"  # space, no-break spaces, hyphen, dashes
_SA_ID = re.compile(rf"(?<![\w])\d{{6}}{_ID_SEP}\d{{4}}{_ID_SEP}\d{{3}}(?![\w])")


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
        return _fold(text, str.casefold)
    return text.lower()


def _fold(name: str, case: Any) -> str:
    """A name compared: NFC, one apostrophe, no possessive ``'s``, ``case``-mapped, one space."""
    text = unicodedata.normalize("NFC", name).translate(_APOSTROPHE_MAP)
    return " ".join(case(re.sub(r"'s$", "", text.strip(), flags=re.IGNORECASE)).split())


def name_parts(name: str) -> list[str]:
    """The first and last names of a roster entry worth matching on their own."""
    return _parts(_norm("PERSON", name))


def _parts(folded: str) -> list[str]:
    return [p for p in folded.replace(",", " ").split()
            if len(p.strip(".")) >= 2 and p.strip(".") not in _NOT_NAMES]


def _name_pattern(form: str) -> str:
    """A regex for one spelling of a name: any whitespace between words, any apostrophe."""
    words = []
    for word in form.split():
        words.append("".join(_ANY_APOSTROPHE if ch == "'" else re.escape(ch) for ch in word))
    return r"\s+".join(words)


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
        # What the regex looks for: each variant (case-folded, so "strasse" finds STRASSE) and
        # the same names lower-cased (so "straße" finds Straße), composed and decomposed; the
        # match is folded again to find its person.
        forms = set(variants)
        for spelling in self._spelling.values():
            lowered = _fold(spelling, str.lower)
            forms.update([lowered, *_parts(lowered)])
        forms |= {unicodedata.normalize("NFD", f) for f in forms}
        self._person_re = None
        if forms:
            alternatives = sorted(forms, key=lambda v: (-len(v), v))
            body = "|".join(_name_pattern(v) for v in alternatives)
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
        return _non_overlapping([*self._patterns(text), *self._entities(text)])

    def scan(self, text: str) -> list[Match]:
        """What still looks like an e-mail, phone, SA ID number or roster name in ``text``.

        Nothing is replaced and no placeholder is made. Web addresses are not reported, but an
        e-mail or phone number inside one is; placeholders (``[PHONE-1]``) never match.
        """
        return _non_overlapping([m for m in self._patterns(text) if m.kind in RESIDUAL_KINDS])

    def _patterns(self, text: str) -> list[Match]:
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
        return found

    def _entities(self, text: str) -> list[Match]:
        if self.nlp is None:
            return []
        from tipqual.nlp.pipeline import PIECE_CHARS, text_pieces

        # A paragraph longer than the model's max_length is read in pieces that end at
        # sentence ends (entities do not cross them).
        size = min(self.nlp.max_length, PIECE_CHARS)
        blocks: list[tuple[str, int]] = []
        for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", text):
            block = m.group()
            blocks.extend((block[a:b], m.start() + a) for a, b in text_pieces(block, size))
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

    def redact_string(self, text: str) -> str:
        """The redacted form of a short string: an id, a file name, a case attribute."""
        return self.redact(text)[0]

    def redact_value(self, value: Any) -> Any:
        """A metadata value with every string in it (keys too) redacted."""
        if isinstance(value, str):
            return self.redact_string(value)
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value


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


# --- residual check -------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """Something in a study that still looks like personal information (never its value).

    ``where`` is ``study``, ``case``, ``source``, ``segment``, ``coding`` or ``audit``; ``id``
    names the record (a coding by ``SEGMENT CODE CODER``); ``field`` the string in it (``id``,
    ``path``, ``text``, ``speaker``, ``meta``, ``attribute NAME``, ``memo`` …); ``kind`` one of
    :data:`RESIDUAL_KINDS`' words; ``count`` how many matches that string holds.
    """

    where: str
    id: str
    field: str
    kind: str
    count: int = 1

    def line(self) -> str:
        """The finding as one line: where, which string, what kind (and how many)."""
        name = f" {self.id!r}" if self.id else ""
        times = f" ({self.count} times)" if self.count > 1 else ""
        return f"{self.where}{name} {self.field}: {self.kind}{times}"


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


class _Collector:
    """Findings counted per place, string and kind, in the order first seen."""

    def __init__(self, scanner: Redactor):
        self.scanner = scanner
        self.counts: dict[tuple[str, str, str, str], int] = {}

    def add(self, where: str, ident: str, field: str, matches: Iterable[Match]) -> None:
        for m in matches:
            key = (where, ident, field, RESIDUAL_KINDS[m.kind])
            self.counts[key] = self.counts.get(key, 0) + 1

    def scan(self, where: str, ident: str, field: str, value: Any) -> None:
        for text in _strings(value):
            self.add(where, ident, field, self.scanner.scan(text))

    def findings(self) -> list[Finding]:
        return [Finding(*key, count=n) for key, n in self.counts.items()]


def check_study(study: Project, roster: Iterable[str] = ()) -> list[Finding]:
    """Every string of ``study`` that still looks like PII (roster names only with a roster).

    Looked at: the study's name; case ids, attribute names and values; source ids, paths,
    metadata and the text outside every segment (speaker prefixes, headings); segment speakers,
    texts, metadata (and ids not of the form ``SOURCE:N``); coding memos and provenance; the
    strings recorded in the audit log. The codebook is not. A match inside a segment's part of
    its source's text is reported for the segment only.
    """
    out = _Collector(Redactor(roster))
    out.scan("study", "", "name", study.meta("name") or "")
    for case in study.cases():
        out.scan("case", case.id, "id", case.id)
        for name, value in case.attributes.items():
            out.scan("case", case.id, "attribute name", name)
            out.scan("case", case.id, f"attribute {name}", value)
    segments = _Collector(out.scanner)
    spans: dict[str, list[tuple[int, int]]] = {}
    for seg in study.segments():
        spans.setdefault(seg.source, []).append((seg.start, seg.end))
        if not seg.id.startswith(f"{seg.source}:"):
            segments.scan("segment", seg.id, "id", seg.id)
        segments.scan("segment", seg.id, "speaker", seg.speaker or "")
        segments.scan("segment", seg.id, "text", seg.text)
        segments.scan("segment", seg.id, "meta", seg.meta)
    for source in study.sources():
        out.scan("source", source.id, "id", source.id)
        out.scan("source", source.id, "path", source.path)
        out.scan("source", source.id, "meta", source.meta)
        covered = spans.get(source.id, [])
        out.add("source", source.id, "text",
                (m for m in out.scanner.scan(source.text) if not _inside(m, covered)))
    out.counts.update(segments.counts)
    for coding in study.codings():
        ident = f"{coding.segment} {coding.code} {coding.coder}"
        out.scan("coding", ident, "memo", coding.memo or "")
        out.scan("coding", ident, "provenance", coding.provenance or "")
    for entry in study.audit():
        out.scan("audit", str(entry.id), "before", entry.before or {})
        out.scan("audit", str(entry.id), "after", entry.after or {})
    return out.findings()


def _inside(match: Match, spans: list[tuple[int, int]]) -> bool:
    """True when ``match`` lies within one of the segment spans (in document order)."""
    i = bisect.bisect_right(spans, match.start, key=lambda span: span[0]) - 1
    return i >= 0 and match.end <= spans[i][1]


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
