"""Pseudonymisation of transcripts before they are stored (``tipqual import --redact``).

What is replaced, each kind with its own numbered placeholder:

- ``[EMAIL-n]`` e-mail addresses; ``[URL-n]`` web addresses (``http(s)://…``, ``www.…``);
- ``[PHONE-n]`` phone numbers: South African national numbers of ten digits (``082 555 0199``,
  ``082-555-0199``, ``082.555.0199``, ``082 5550 199``, ``0825550199``, ``(082) 555 0199``,
  ``0800 123 456``), the same with the country code but no ``+`` (``27825550199``,
  ``27 82 555 0199``), and international numbers (``+27 82 555 0199``, ``+27 (0)82 …``,
  ``0027 …``, ``+44 20 7946 0958``, ``+1 (202) 555-0143``: 9 to 15 digits); the same number
  written two ways gets one placeholder;
- ``[ID-n]`` South African ID numbers: 13 digits ``YYMMDD SSSS C A Z``, also with the groups
  apart (``800101 5009 087``, ``800101 5009 08 7``, ``80 01 01 5009 087`` …), whose first six
  are a real date, whose eleventh is 0, 1 or 2 and whose last is a valid Luhn check digit;
- ``[PERSON-n]`` people named in the roster (one name a line; the full name and each first or
  last name of two letters or more, as whole words), people already in the key file, and PERSON
  entities found by a trained spaCy pipeline named with ``--model``. Names match in any casing
  (full case folding too: ``Straße`` is ``STRASSE``), in composed or decomposed Unicode, with any
  apostrophe (``O'Brien`` is ``O’Brien``), and before a possessive ``'s`` / ``’s``.

Between the groups of a phone or ID number there may be up to three separators: spaces of any
width (no-break and thin spaces too, never a line break), invisible characters (soft hyphen,
zero-width space), ``.``, ``/``, hyphens and every Unicode dash or minus sign (``800101 - 5009 -
087``, ``082–555–0199``). No pattern has a quantifier inside another, so the time taken is linear in
the text, whatever the text.

Each distinct person gets one placeholder: a first or last name shared by several roster people
gets its own placeholder rather than a guess. The key (placeholder → original) lives in a separate
JSON file written with 0600 permissions; an existing key is read first so that placeholders stay
the same across imports. Dates, years (``2019 2020``), times (``10:30``), money amounts
(``R 5000``, ``R 1 200 000``), other numbers and organisation codes such as ``CSO-01`` are left
alone.

:meth:`Redactor.scan` finds, without replacing anything, what still looks like an e-mail
address, a phone number, an SA ID number or a roster name; it casts a wider net than the
redaction (any grouping of an ID number, any phone-like group of 9 to 12 digits).
:func:`check_study` runs it over every string stored in a study (``tipqual redact check``).
"""

from __future__ import annotations

import bisect
import glob
import json
import os
import re
import unicodedata
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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

# E-mail: one quantifier a part, so matching stays linear on any input.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]*[A-Za-z0-9-]")
_URL = re.compile(r"(?i)(?<![\w@])(?:https?://|www\.)[^\s<>\"'()\[\]]+")

# What may stand between the digit groups of an ID or phone number: every kind of space but
# line breaks, invisible characters, dots, slashes and every Unicode dash and minus sign.
_SPACES = " \t\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_DASHES = ("-\u058a\u05be\u1400\u1806" + "".join(map(chr, range(0x2010, 0x2016)))
           + "\u2212\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58"
           "\ufe63\uff0d\U00010ead")
_DOTS = "./\u00b7\u2024\u2027\u2219\uff0e\uff0f"
SEPARATORS = _SPACES + _INVISIBLE + _DASHES + _DOTS
_SEP = "".join(re.escape(ch) for ch in SEPARATORS)
_GAP = f"[{_SEP}]{{0,3}}"  # between two groups: nothing, or up to three separators


def _grouped(*digits: str) -> str:
    """Digit classes in a row, an optional gap wherever the list has ``|``."""
    return "".join(_GAP if d == "|" else d for d in digits)


# Every pattern below is a row of single digits and bounded gaps (no quantifier inside
# another): one way to match at each start, so the time is linear in the text.
# SA ID YYMMDD SSSS C A Z, groups split between the date parts, after the date, the sequence
# number and each last digit (8001015009087, 800101 5009 087, 800101-5009-08-7, 80 01 01 …);
# found at every start (a lookahead) so that a candidate failing is_sa_id hides no other.
_D = r"\d"
_SA_ID = re.compile(r"(?<!\w)(?=(" + _grouped(_D, _D, "|", _D, _D, "|", _D, _D, "|",
                                               _D, _D, _D, _D, "|", _D, "|", _D, "|", _D)
                    + r")(?!\w))")
# SA national numbers (a 0, then nine digits) in the groupings in use: 3-3-4, 3-4-3, 4-3-3,
# 3-3-2-2, the area code in brackets …
_PHONE_ZA = re.compile(r"(?<![\w+])(?:\(0[1-9]\d\)|0[1-9]\d)"
                       + _grouped("|", _D, "|", _D, _D, "|", _D, "|", _D, "|", _D, _D)
                       + r"(?!\w)")
# SA numbers written with the country code but no + or 00: 27 82 555 0199, 27825550199.
_PHONE_27 = re.compile(r"(?<![\w+])27" + _grouped("|", "[1-9]", _D, "|", _D, _D, _D, "|", _D,
                                                  "|", _D, _D, _D) + r"(?!\w)")
# A run of digit groups and what may stand between them (then read group by group): the
# international numbers (+ or 00, then 9 to 15 digits) and what the residual check looks for.
_RUN = re.compile(rf"(?<![\w+])[+(]?\d[\d(){_SEP}]*")
_INTL_RUN = re.compile(rf"(?<![\w+])(?:\+|00(?=[1-9]))\d[\d(){_SEP}]*")
_DIGITS = re.compile(r"\d+")
_NOT_DIGIT = re.compile(r"\D")
_WORDCHAR = re.compile(r"\w")
_YEAR = re.compile(r"(?:19|20)\d\d")
_DATE = re.compile(r"(?<!\d)(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d\d"
                   r"|(?:19|20)\d\d[./-]\d{1,2}[./-]\d{1,2})(?!\d)")
_MONEY = re.compile(r"(?:\bR|[$€£¥]|ZAR|USD|EUR|GBP)\s?$")


@dataclass(frozen=True)
class Match:
    """One piece of personal information found in a text."""

    start: int
    end: int
    kind: str
    original: str


def luhn_ok(digits: str) -> bool:
    """True when the last digit is the Luhn check digit of the others."""
    kept = sum(int(ch) for ch in digits[::-2])
    doubled = sum(_LUHN_DOUBLED[int(ch)] for ch in digits[-2::-2])
    return (kept + doubled) % 10 == 0


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # each digit doubled, its two digits added


def ascii_digits(text: str) -> str:
    """The decimal digits of ``text`` in order, as ASCII (``٨`` and ``８`` are ``8``)."""
    digits = _NOT_DIGIT.sub("", text)
    return digits if digits.isascii() else "".join(str(unicodedata.decimal(ch)) for ch in digits)


def is_sa_id(number: str) -> bool:
    """True for a plausible South African ID number (date, citizenship digit, Luhn)."""
    return _id_digits_ok(ascii_digits(number))


def _id_digits_ok(digits: str) -> bool:
    """:func:`is_sa_id` of ASCII digits alone."""
    if len(digits) != 13 or digits[10] not in "012" or digits[2] not in "01":
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
        compact = text.replace("(0)", "").lstrip()
        digits = ascii_digits(compact)
        if compact.startswith("00"):
            digits = digits[2:]
        international = compact.startswith(("+", "00"))
        if digits.startswith("27") and (international or len(digits) == 11):
            digits = "0" + digits[2:]
        return digits
    if kind == "ID":
        return ascii_digits(text)
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


_GUID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
                   r"(?![0-9A-Za-z])")


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

        Nothing is replaced and no placeholder is made. Wider than what :meth:`redact`
        replaces: also any 13 digits, grouped any way, that pass :func:`is_sa_id`, and any
        group of 9 to 12 digits written like a phone number (not years, dates, thousands or
        money amounts). Web addresses are not reported, but an e-mail or phone number inside
        one is; placeholders (``[PHONE-1]``) never match.
        """
        # A GUID (a REFI-QDA item's id) is no phone number however many digits it holds.
        text = _GUID.sub(lambda m: "x" * len(m.group()), text)
        runs = list(_runs(text))
        found = [m for m in self._patterns(text, runs) if m.kind in RESIDUAL_KINDS]
        return _non_overlapping([*found, *_loose_numbers(text, runs)])

    def _patterns(self, text: str, runs: list[_Run] | None = None) -> list[Match]:
        found: list[Match] = []
        for m in _EMAIL.finditer(text):
            found.append(Match(m.start(), m.end(), "EMAIL", m.group()))
        for m in _URL.finditer(text):
            url = m.group().rstrip(".,;:!?")
            found.append(Match(m.start(), m.start() + len(url), "URL", url))
        for m in _SA_ID.finditer(text):
            if is_sa_id(m.group(1)):
                found.append(Match(m.start(1), m.end(1), "ID", m.group(1)))
        for pattern in (_PHONE_ZA, _PHONE_27):
            for m in pattern.finditer(text):
                found.append(Match(m.start(), m.end(), "PHONE", m.group()))
        found.extend(_international(text, _runs(text, _INTL_RUN) if runs is None else runs))
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


# --- digit groups: international numbers and the residual check's wider net -----------------

class _Run(NamedTuple):
    """Digit groups written close together: ``start`` of the run (at its ``+`` or ``(``), and
    its chunks, each a list of ``(start, end)`` groups at most three characters apart."""

    start: int
    chunks: list[list[tuple[int, int]]]


def _runs(text: str, pattern: re.Pattern[str] = _RUN) -> Iterator[_Run]:
    """Every run of digit groups in ``text`` whose first group starts a word (those too short
    to hold nine digits left out)."""
    for m in pattern.finditer(text):
        if m.end() - m.start() < 9:
            continue
        groups = [g.span() for g in _DIGITS.finditer(text, m.start(), m.end())]
        if groups[-1][1] == m.end() and _WORDCHAR.match(text, m.end()):
            groups.pop()  # the last group runs on into a word (5009087abc): not a number
        chunks: list[list[tuple[int, int]]] = []
        for group in groups:
            if chunks and group[0] - chunks[-1][-1][1] <= 3:
                chunks[-1].append(group)
            else:
                chunks.append([group])
        if chunks:
            yield _Run(m.start(), chunks)


def _trunk(text: str, group: tuple[int, int]) -> bool:
    """True for the ``(0)`` written after a country code: it is not dialled."""
    a, b = group
    return text[a:b] == "0" and text[a - 1:a] == "(" and text[b:b + 1] == ")"


def _international(text: str, runs: Iterable[_Run]) -> Iterator[Match]:
    """Numbers written with ``+`` or ``00`` and a country code: 9 to 15 digits in all (the
    ``(0)`` aside), 11 for South Africa (+27 82 555 0199), the groups at most three
    separators apart."""
    for run in runs:
        first = run.chunks[0]
        plus = text[run.start] == "+"
        if not plus and not (text.startswith("00", run.start) and first[0][1] - run.start > 2
                             and text[run.start + 2] != "0"):
            continue
        digits, end = "", None
        for i, group in enumerate(first):
            if _trunk(text, group) and i:
                continue
            more = ascii_digits(text[group[0] + (0 if plus or i else 2):group[1]])
            cap = 11 if (digits + more).startswith("27") else 15
            if len(digits) + len(more) > cap:
                break
            digits, end = digits + more, group[1]
        if end is not None and len(digits) >= 9:
            yield Match(run.start, end, "PHONE", text[run.start:end])


def _loose_numbers(text: str, runs: Iterable[_Run]) -> Iterator[Match]:
    """What the residual check finds beyond what :meth:`Redactor.redact` replaces: 13 digits
    in any grouping that pass :func:`is_sa_id`, and phone-like groups of 9 to 12 digits."""
    for run in runs:
        for n, chunk in enumerate(run.chunks):
            yield from _loose_ids(text, chunk)
            plus = n == 0 and text[run.start] == "+"
            phone = _phone_like(text, chunk, plus, run.start if plus else chunk[0][0])
            if phone is not None:
                yield phone


def _loose_ids(text: str, chunk: list[tuple[int, int]]) -> Iterator[Match]:
    """Every run of whole groups in ``chunk`` holding 13 digits that pass is_sa_id."""
    sizes = [b - a for a, b in chunk]
    digits = ascii_digits("".join(text[a:b] for a, b in chunk))
    j, total, at = 0, 0, 0  # the window is groups i..j-1, its digits from ``at``
    for i in range(len(chunk)):
        j, total = max(j, i), total if j > i else 0
        while j < len(chunk) and total + sizes[j] <= 13:
            total += sizes[j]
            j += 1
        if total == 13 and _id_digits_ok(digits[at:at + 13]):
            start, end = chunk[i][0], chunk[j - 1][1]
            yield Match(start, end, "ID", text[start:end])
        if j > i:
            total -= sizes[i]
        at += sizes[i]


def _phone_like(text: str, chunk: list[tuple[int, int]], plus: bool,
                start: int) -> Match | None:
    """The chunk as a phone number when it is written like one: 9 to 12 digits (15 after a
    ``+``), groups of two digits or more (a country code and ``(0)`` aside), and not years,
    a date, a thousands-grouped amount or money."""
    groups = [g for i, g in enumerate(chunk) if not (i and _trunk(text, g))]
    sizes = [b - a for a, b in groups]
    if not 9 <= sum(sizes) <= (15 if plus else 12):
        return None
    if any(size < 2 for size in sizes[1 if plus else 0:]):
        return None
    words = [text[a:b] for a, b in groups]
    if len(words) > 1 and all(len(w) == 4 and _YEAR.fullmatch(w) for w in words):
        return None
    end = chunk[-1][1]
    body = text[chunk[0][0]:end]
    if _DATE.search(body) or _MONEY.search(text[max(0, start - 4):start]):
        return None
    if len(words) > 1 and _YEAR.fullmatch(words[-1]) and "/" in text[groups[-2][1]:groups[-1][0]]:
        return None  # 12345/2021, CAS 123/05/2021: a case or docket number of a year
    if (not plus and len(words) >= 3 and not words[0].startswith("0")
            and len(words[0]) <= 3 and all(len(w) == 3 for w in words[1:])):
        return None  # 120 000 000: thousands
    return Match(start, end, "PHONE", text[start:end])


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

    ``where`` is the kind of record: ``study`` (a setting: ``field`` is its name), ``case``,
    ``source``, ``segment``, ``coding``, ``retired`` (a coding a step took out of play),
    ``step``, ``audit``, ``codebook`` (a stored version, ``id`` its version), ``mention``, or
    the name of the file's table for text found outside all of those. ``id`` names the record
    (a coding by ``SEGMENT CODE CODER``, a retired coding, step or audit entry by its number);
    ``field`` the string in it (``id``, ``path``, ``text``, ``speaker``, ``meta``, ``attribute
    NAME``, ``memo``, ``segment text``, ``plan``, ``code ID definition`` …); ``kind`` one of
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


# Columns that hold the id of a row read elsewhere (a source's case, a segment's source, a
# coding's segment …; foreign keys, so always an id that is looked at there), and the codes
# table, which repeats the codebook versions' data.
REFERENCES = frozenset({
    ("case_attributes", "case_id"), ("sources", "case_id"), ("segments", "source_id"),
    ("codings", "segment_id"), ("mentions", "segment_id"), ("stage_state", "segment_id"),
    ("codes", "id"), ("codes", "name"), ("codes", "parent"),
})
# The columns :func:`check_study` reads through the study's records, or as references. Every
# other column is read as raw text (timestamps, hashes, stage keys, migrations, and anything a
# later schema adds).
READ_COLUMNS = REFERENCES | {
    ("meta", "key"), ("meta", "value"),
    ("cases", "id"), ("case_attributes", "name"), ("case_attributes", "value"),
    ("sources", "id"), ("sources", "path"), ("sources", "text"), ("sources", "meta"),
    ("segments", "id"), ("segments", "speaker"), ("segments", "text"), ("segments", "meta"),
    ("codings", "code_id"), ("codings", "coder"), ("codings", "provenance"), ("codings", "memo"),
    ("retired_codings", "source_id"), ("retired_codings", "segment_text"),
    ("retired_codings", "segment_id"), ("retired_codings", "code_id"),
    ("retired_codings", "coder"), ("retired_codings", "provenance"), ("retired_codings", "memo"),
    ("steps", "actor"), ("steps", "command"), ("steps", "summary"), ("steps", "plan"),
    ("steps", "backup"),
    ("audit", "actor"), ("audit", "command"), ("audit", "segment_id"), ("audit", "code_id"),
    ("audit", "coder"), ("audit", "before"), ("audit", "after"),
    ("codebooks", "name"), ("codebooks", "version"), ("codebooks", "data"),
    ("mentions", "stakeholder_id"), ("mentions", "text"),
}
_NUMBERED = re.compile(r"(.*):\d+")


def check_study(study: Project, roster: Iterable[str] = ()) -> list[Finding]:
    """Every string stored in ``study`` that still looks like PII (roster names only with a
    roster).

    Looked at: the settings (the study's name …); case ids, attribute names and values; source
    ids, paths, metadata and the text outside every segment (speaker prefixes, headings);
    segment speakers, texts, metadata (and ids not of the form ``SOURCE:N``); codings' memos,
    provenance, coders and codes; retired codings (the text of the segment they were on, memos,
    provenance, coders, codes, their old source and segment ids); steps (summaries, plans,
    who ran them, their copies' names); every field of the audit log; every stored codebook
    version (name, descriptions, code names, definitions, examples, patterns, stakeholders);
    stakeholder mentions; and, as raw text, every other text value in the file. A match inside
    a segment's part of its source's text is reported for the segment only; a reference to a
    source or segment of the study (``SOURCE:N``) is looked at as that source's id.
    """
    out = _Collector(Redactor(roster))
    for key, value in study.settings().items():
        out.scan("study", "", key, [key, value])
    for case in study.cases():
        out.scan("case", case.id, "id", case.id)
        for name, value in case.attributes.items():
            out.scan("case", case.id, "attribute name", name)
            out.scan("case", case.id, f"attribute {name}", value)
    segments = _Collector(out.scanner)
    spans: dict[str, list[tuple[int, int]]] = {}
    for seg in study.segments():
        spans.setdefault(seg.source, []).append((seg.start, seg.end))
        if seg.id != f"{seg.source}:{seg.n}":
            segments.scan("segment", seg.id, "id", seg.id)
        segments.scan("segment", seg.id, "speaker", seg.speaker or "")
        segments.scan("segment", seg.id, "text", seg.text)
        segments.scan("segment", seg.id, "meta", seg.meta)
    sources = set()
    for source in study.sources():
        sources.add(source.id)
        out.scan("source", source.id, "id", source.id)
        out.scan("source", source.id, "path", source.path)
        out.scan("source", source.id, "meta", source.meta)
        covered = spans.get(source.id, [])
        out.add("source", source.id, "text",
                (m for m in out.scanner.scan(source.text) if not _inside(m, covered)))
    out.counts.update(segments.counts)
    _check_codings(study, out, sources)
    _check_history(study, out, sources)
    for book in study.codebook_versions():
        _check_codebook(out, str(book["version"]), book)
    for mention in study.mentions():
        out.scan("mention", mention.segment, "text", mention.text)
        out.scan("mention", mention.segment, "stakeholder", mention.stakeholder)
    for table, rowid, column, value in study.text_cells(skip=READ_COLUMNS):
        out.scan(table, "" if rowid is None else str(rowid), column, _raw(value))
    return out.findings()


def study_copies(study: Path) -> list[Path]:
    """The copies of a study kept beside it (before a step, a restore or a schema upgrade):
    files of their own, which :func:`check_study` does not look into."""
    pattern = re.compile(re.escape(study.name) + r"\.(?:step|restore|v)\d+\.bak")
    return sorted(p for p in study.parent.glob(f"{glob.escape(study.name)}.*.bak")
                  if pattern.fullmatch(p.name))


def _refers(segment: str | None, sources: set[str]) -> bool:
    """True for ``SOURCE:N`` naming a source whose id is looked at anyway."""
    m = _NUMBERED.fullmatch(segment or "")
    return m is not None and m.group(1) in sources


def _check_codings(study: Project, out: _Collector, sources: set[str]) -> None:
    """Codings in play and those steps retired (with the text they were on)."""
    for coding in study.codings():
        ident = f"{coding.segment} {coding.code} {coding.coder}"
        out.scan("coding", ident, "memo", coding.memo or "")
        out.scan("coding", ident, "provenance", coding.provenance or "")
        out.scan("coding", ident, "coder", coding.coder)
        out.scan("coding", ident, "code", coding.code)
    for retired in study.retired():
        ident, old = str(retired.id), retired.coding
        out.scan("retired", ident, "segment text", retired.segment_text)
        out.scan("retired", ident, "memo", old.memo or "")
        out.scan("retired", ident, "provenance", old.provenance or "")
        out.scan("retired", ident, "coder", old.coder)
        out.scan("retired", ident, "code", old.code)
        if retired.source is not None and retired.source not in sources:
            out.scan("retired", ident, "source", retired.source)
        if not _refers(old.segment, sources | {retired.source or ""}):
            out.scan("retired", ident, "segment", old.segment)


def _check_history(study: Project, out: _Collector, sources: set[str]) -> None:
    """The steps taken and every field of the audit log."""
    for step in study.steps():
        ident = str(step.id)
        out.scan("step", ident, "summary", step.summary)
        out.scan("step", ident, "plan", step.plan)
        out.scan("step", ident, "actor", step.actor)
        out.scan("step", ident, "command", step.command)
        out.scan("step", ident, "backup", step.backup or "")
    for entry in study.audit():
        ident = str(entry.id)
        out.scan("audit", ident, "before", entry.before or {})
        out.scan("audit", ident, "after", entry.after or {})
        out.scan("audit", ident, "actor", entry.actor)
        out.scan("audit", ident, "command", entry.command)
        out.scan("audit", ident, "code", entry.code or "")
        out.scan("audit", ident, "coder", entry.coder or "")
        if not _refers(entry.segment, sources):
            out.scan("audit", ident, "segment", entry.segment or "")


def _check_codebook(out: _Collector, version: str, book: dict[str, Any]) -> None:
    """One stored codebook version: each code's and stakeholder's fields by their id."""
    data = book["data"] if isinstance(book["data"], dict) else {"data": book["data"]}
    for key in ("name", "version"):
        if data.get(key) != book[key]:
            out.scan("codebook", version, key, book[key])
    for key, value in data.items():
        items = value if key in ("codes", "stakeholders") and isinstance(value, list) else None
        if items is None or not all(isinstance(item, dict) for item in items):
            out.scan("codebook", version, key, value)
            continue
        kind = key[:-1]  # code, stakeholder
        for item in items:
            ident = str(item.get("id", ""))
            for field, text in item.items():
                out.scan("codebook", version, f"{kind} {ident} {field}", text)


def _raw(value: str) -> Any:
    """A raw text value as scanned: the strings inside it when it is JSON, else itself."""
    if value.startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


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
    publish_key(stage_key(path, key), path)


def stage_key(path: Path, key: dict[str, str]) -> Path:
    """Write the key whole (0600, on disk) beside ``path`` under a temporary name; returns
    it, for :func:`publish_key` to put in place once what the key serves is saved."""
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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise IngestError(f"cannot write the redaction key: {exc.strerror or exc}",
                          path=path) from exc
    return tmp


def publish_key(staged: Path, path: Path) -> None:
    """Put a key written by :func:`stage_key` in place of ``path`` (one rename)."""
    try:
        os.replace(staged, path)
    except OSError as exc:
        raise IngestError(f"the import is saved but its redaction key could not be put in "
                          f"place ({exc.strerror or exc}); move {staged.name} (beside it) to "
                          f"{path.name} before anything else", path=path) from exc
