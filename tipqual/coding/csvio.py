"""Codings in and out: one by hand, a CSV of many, and the export CSV.

Import CSV: a header with at least ``segment,code,coder`` and optionally ``memo``; the columns
``status``, ``score`` and ``provenance`` of an export are read back too, and ``case``, ``source``
and ``text`` are ignored, so an exported file imports again unchanged. Every row is checked
before anything is written (unknown segment, unknown code when the study has a codebook, a
coder name not allowed, bad status or score, a row given twice); the first problem is reported
with its line and nothing is imported. Every write goes through the audit log.

Coder names: :func:`check_coder_name` is the one rule for a name a person codes under, used
wherever a name enters (``code add``, ``code remove``, CSV rows, ``review``, ``merge``). A CSV
row may keep a suggester's own name (``tipqual-rules``) on a ``suggested`` row, as ``code
export`` writes suggestions.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tipqual.errors import CodingError, IngestError, quoted
from tipqual.output.files import safe_cell, unsafe_cell, write_text  # noqa: F401 (public here too)
from tipqual.records import Coding
from tipqual.store.project import STATUSES, Project

EXPORT_COLUMNS = ("segment", "code", "coder", "status", "score", "provenance", "memo", "case",
                  "source", "text")
REQUIRED = ("segment", "code", "coder")
READ_BACK = ("memo", "status", "score", "provenance")
IGNORED = ("case", "source", "text")


def _check_code(project: Project, code: str, known: list[str],
                categories: dict[str, list[str]]) -> None:
    if not code:
        raise CodingError("the code must not be empty")
    if known and code not in known:
        raise CodingError(f"unknown code {code!r}; the study's codebook has "
                          f"{', '.join(known[:8])}{' …' if len(known) > 8 else ''}")
    if code in categories:
        below = categories[code]
        hint = (f"code with one of the codes below it: {', '.join(below[:8])}"
                f"{' …' if len(below) > 8 else ''}" if below else
                "give it codes of its own in the codebook, or make it codable")
        raise CodingError(f"{code!r} is a category (codable: false), which only groups other "
                          f"codes; {hint}")


def _categories(project: Project) -> dict[str, list[str]]:
    """The codebook's categories (``codable: false``), each with the codes directly below it."""
    book = project.codebook()
    if book is None:
        return {}
    return {c.id: [k.id for k in book.codes if k.parent == c.id]
            for c in book.codes if not c.codable}


CODER_NAME_MAX = 64
CODER_NAME_PUNCTUATION = " ._-@'"
CODER_NAME_FORM = (f"a coder name is 1-{CODER_NAME_MAX} letters (any script), digits, spaces "
                   "and . _ - @ ', starting with a letter or digit, e.g. 'alice' or "
                   "'T. Mokoena'")
RESERVED_CODER_PREFIX = "tipqual-"


def _name_char_ok(ch: str) -> bool:
    category = unicodedata.category(ch)
    # L*: letters; Mn/Mc: the combining marks many scripts write names with; Nd: digits
    return category[0] == "L" or category in ("Mn", "Mc", "Nd") or ch in CODER_NAME_PUNCTUATION


def _name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a coder name, or None."""
    from tipqual.suggest.engine import SUGGESTERS

    if len(name) > CODER_NAME_MAX:
        return f"it is {len(name)} characters long"
    bad = next((ch for ch in name if not _name_char_ok(ch)), None)
    if bad is not None:
        if unicodedata.category(bad) in ("Cc", "Cf", "Zl", "Zp"):
            return f"it holds a control or formatting character (U+{ord(bad):04X})"
        return f"it holds {bad!r} (U+{ord(bad):04X}), which is not allowed"
    first = unicodedata.category(name[0])
    if not (first[0] == "L" or first == "Nd"):
        return "it does not start with a letter or digit"
    if name.endswith(" "):
        return "it ends with a space"
    if name.lower() in SUGGESTERS or name.lower().startswith(RESERVED_CODER_PREFIX):
        return (f"names starting {RESERVED_CODER_PREFIX!r} are kept for tipqual's own "
                f"suggesters ({', '.join(SUGGESTERS)})")
    return None


def check_coder_name(name: str, *, path: str | Path | None = None,
                     line: int | None = None) -> str:
    """Refuse a coder name a person may not use; returns the name unchanged.

    A coder name is 1 to 64 characters: letters of any script (with their combining marks),
    digits, spaces and ``. _ - @ '``; it starts with a letter or digit and does not end with a
    space, so there are no control or formatting characters (newlines, terminal escapes,
    direction overrides) and nothing a spreadsheet would read as a formula. Names of tipqual's
    own suggesters (``tipqual-rules``, ``tipqual-model``, and the ``tipqual-`` prefix, in any
    case) are reserved. Names already stored in a study are not checked when it is read.
    Raises :class:`CodingError` naming ``path`` and ``line`` where given.
    """
    if not name.strip():
        raise CodingError("the coder name must not be empty", path=path, line=line)
    problem = _name_problem(name)
    if problem is not None:
        raise CodingError(f"the coder name {quoted(name, 40)} is not allowed: {problem}; "
                          f"{CODER_NAME_FORM}", path=path, line=line)
    return name


def person_coders(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are people's, not tipqual's suggesters', in order.

    A suggester (``tipqual-rules``, ``tipqual-model``) only proposes codings; wherever coders
    are listed to a person (to compare, to choose from) it is left out or named apart.
    """
    return [n for n in names if not n.lower().startswith(RESERVED_CODER_PREFIX)]


def _unique(segments: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(segments))


def add_coding(project: Project, segment: str, code: str, coder: str,
               memo: str | None = None) -> str:
    """Code one segment by hand (status ``human``); returns added / updated / unchanged."""
    return add_codings(project, [segment], code, coder, memo)[0]


def add_codings(project: Project, segments: Iterable[str], code: str, coder: str,
                memo: str | None = None) -> list[str]:
    """Code segments by hand (status ``human``) in one transaction, all or nothing.

    Returns added / updated / unchanged for each segment, in the order given (a segment given
    twice is coded once). Every segment is checked before anything is written.
    """
    ids = _unique(segments)
    if not ids:
        raise CodingError("name at least one segment to code, e.g. CSO-01:12")
    check_coder_name(coder)
    _check_code(project, code, project.code_ids(), _categories(project))
    unknown = [s for s in ids if project.segment(s) is None]
    if len(ids) == 1 and unknown:
        raise CodingError(f"unknown segment {ids[0]!r}; list them with 'tipqual segments'")
    if unknown:
        listed = ", ".join(map(repr, unknown))
        raise CodingError(f"unknown segment{'s' if len(unknown) > 1 else ''} {listed}; "
                          "nothing was coded; list them with 'tipqual segments'")
    codings = []
    for segment in ids:
        old = project.find_coding(segment, code, coder)
        codings.append(Coding(segment, code, coder, status="human", provenance="manual",
                              memo=memo if memo is not None else (old.memo if old else None),
                              created_at=old.created_at if old else None))
    with project.atomic():
        return [project.put_coding(c) for c in codings]


def remove_coding(project: Project, segment: str, code: str, coder: str) -> Coding:
    """Remove one coding (audited); an error if there is none.

    The coder name is checked unless the study already holds it (an older study may hold a
    name that is no longer allowed; its codings can still be removed).
    """
    return remove_codings(project, [segment], code, coder)[0]


def remove_codings(project: Project, segments: Iterable[str], code: str,
                   coder: str) -> list[Coding]:
    """Remove ``code`` by ``coder`` from segments in one transaction, all or nothing.

    An error, and nothing removed, if one of the segments does not carry that coding. The
    coder name is checked as :func:`remove_coding` says. Returns the removed codings.
    """
    ids = _unique(segments)
    if not ids:
        raise CodingError("name at least one segment, e.g. CSO-01:12")
    if coder not in project.coders():
        check_coder_name(coder)
    found = []
    for segment in ids:
        old = project.find_coding(segment, code, coder)
        if old is None:
            nothing = "; nothing was removed" if len(ids) > 1 else ""
            raise CodingError(f"no coding {code!r} by {coder!r} on segment {segment!r}"
                              f"{nothing}; see 'tipqual code export'")
        found.append(old)
    with project.atomic():
        for old in found:
            project.delete_coding(old)
    return found


@dataclass
class ImportResult:
    """How many rows of a codings CSV added, updated or left codings unchanged."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0


def _read_csv(path: Path) -> list[dict[str, str]]:
    from tipqual.ingest.readers import csv_records, decode_bytes, read_bytes

    text = decode_bytes(read_bytes(path, "codings CSV"), path, "codings CSV")
    records = csv_records(text, path)
    header = [h.strip().lower() for h in next(records, (1, []))[1]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise IngestError(f"the header lacks {', '.join(missing)}; a codings CSV starts with "
                          "segment,code,coder[,memo]", path=path, line=1)
    unknown = [h for h in header if h not in (*REQUIRED, *READ_BACK, *IGNORED)]
    if unknown:
        raise IngestError(f"unknown column(s) {', '.join(unknown)}; use segment, code, coder "
                          "and memo", path=path, line=1)
    rows = []
    for line, row in records:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise IngestError(f"has {len(row)} fields, the header has {len(header)}",
                              path=path, line=line)
        cells = {h: unsafe_cell(c) for h, c in zip(header, row, strict=False)}
        cells["_line"] = str(line)
        rows.append(cells)
    return rows


def _row_coding(row: dict[str, str], provenance: str) -> Coding:
    status = row.get("status", "").strip() or "human"
    if status not in STATUSES:
        raise CodingError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    score_text = row.get("score", "").strip()
    try:
        score = float(score_text) if score_text else None
    except ValueError:
        raise CodingError(f"the score {score_text!r} is not a number") from None
    return Coding(segment=row["segment"].strip(), code=row["code"].strip(),
                  coder=row["coder"].strip(), status=status, score=score,
                  provenance=row.get("provenance", "").strip() or provenance,
                  memo=row.get("memo") or None)


def _keeping(project: Project, coding: Coding, row: dict[str, str]) -> Coding:
    """``coding`` as a row gives it, with what the CSV has no column for (its memo, status,
    score, provenance) kept from the study's coding of the same segment, code and coder: a
    CSV of segment,code,coder does not erase a memo or undo a review's acceptance."""
    from dataclasses import replace

    absent = [column for column in READ_BACK if column not in row]
    if not absent:
        return coding
    have = project.find_coding(coding.segment, coding.code, coding.coder)
    if have is None:
        return coding
    return replace(coding, **{column: getattr(have, column) for column in absent})


def _check_row_coder(coding: Coding) -> None:
    """A row's coder: a person's name, or a suggester's own on its suggestion (an export)."""
    from tipqual.suggest.engine import SUGGESTERS

    if coding.coder in SUGGESTERS and coding.status == "suggested":
        return  # an exported suggestion read back, as `code export` wrote it
    check_coder_name(coding.coder)


def import_codings(project: Project, path: str | Path) -> ImportResult:
    """Import a codings CSV, all or nothing; errors name the CSV line."""
    path = Path(path)
    rows = _read_csv(path)
    known_segments = project.segment_ids()
    known_codes, categories = project.code_ids(), _categories(project)
    codings: list[Coding] = []
    seen: dict[tuple, int] = {}
    for row in rows:
        line = int(row["_line"])
        try:
            coding = _row_coding(row, f"import:{path.name}")
            _check_row_coder(coding)
            _check_code(project, coding.code, known_codes, categories)
            if coding.segment not in known_segments:
                raise CodingError(f"unknown segment {coding.segment!r}; import the transcripts "
                                  "first or list them with 'tipqual segments'")
            if coding.key in seen:
                raise CodingError(f"the same segment, code and coder as line {seen[coding.key]}")
        except CodingError as exc:
            raise CodingError(f"{exc.message}; nothing was imported", path=path, line=line) from exc
        seen[coding.key] = line
        codings.append(_keeping(project, coding, row))
    result = ImportResult()
    with project.atomic():
        for coding in codings:
            outcome = project.put_coding(coding)
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def export_rows(project: Project, statuses: Iterable[str] | None = None,
                coders: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Codings as export rows (cells made spreadsheet-safe), in segment order."""
    statuses = list(statuses) if statuses else None
    for status in statuses or []:
        if status not in STATUSES:
            raise CodingError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    coders = sorted(set(coders)) if coders else None
    known = set(project.coders()) if coders else set()
    for coder in coders or []:
        if coder not in known:  # a misspelt name would otherwise export an empty file
            people = person_coders(sorted(known))
            suggesters = sorted(known - set(people))
            listed = ", ".join(people) or "none"
            if suggesters:
                listed += f" (suggestions: {', '.join(suggesters)})"
            raise CodingError(f"unknown coder {coder!r}; the study's coders are: {listed}",
                              path=project.path)
    codings = project.codings(statuses=statuses, coders=coders)
    segments = {s.id: s for s in project.segments(ids={c.segment for c in codings})}
    rows = []
    for c in codings:
        seg = segments[c.segment]
        text = seg.text
        if c.span_start is not None and c.span_end is not None:
            text = text[c.span_start:c.span_end]
        values = {"segment": c.segment, "code": c.code, "coder": c.coder, "status": c.status,
                  "score": "" if c.score is None else repr(c.score),
                  "provenance": c.provenance or "", "memo": c.memo or "",
                  "case": seg.case or "", "source": seg.source, "text": text}
        rows.append({k: safe_cell(v) for k, v in values.items()})
    return rows


def export_codings(project: Project, out: str | Path, statuses: Iterable[str] | None = None,
                   coders: Iterable[str] | None = None) -> int:
    """Write the codings CSV (UTF-8 with BOM, for Excel) atomically; returns the row count."""
    out = Path(out)
    rows = export_rows(project, statuses, coders)
    if not out.parent.is_dir():
        raise CodingError("the output folder does not exist", path=out)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_text(out, buffer.getvalue(), error=CodingError, what="CSV", encoding="utf-8-sig")
    return len(rows)
