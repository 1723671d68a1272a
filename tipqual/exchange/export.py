"""Export a study as a REFI-QDA project (``.qdpx``): ``project.qde`` plus ``sources/<GUID>.txt``.

What goes in:
- Users: one per coder with at least one exported coding. Exported codings are those a person
  stands behind: ``human`` and ``accepted``. Unreviewed suggestions and rejected ones are not
  codings in the exchange sense and stay out, so a suggester appears only if one of its codings
  was accepted under its own name (acceptances are normally filed under the reviewer).
- The codebook, nested, with colours and definitions as descriptions; a coded code missing
  from the codebook is added at the top level so no coding points nowhere.
- Cases with their attributes as text variables, and references to their sources.
- One ``TextSource`` per source, its stored text as UTF-8; one ``PlainTextSelection`` per coded
  region (code-point offsets into the stored text, end exclusive: a whole-segment coding covers
  the segment's offsets, a span coding its span inside the segment), with one ``Coding`` per
  code and coder carrying ``creatingUser``.
- Coding memos as ``Note`` elements referenced from their coding.

Every GUID is :func:`~tipqual.exchange.qdaxml.stable_guid` of an id, and the zip is written
with sorted members and a fixed timestamp, so the same study always gives the same bytes.

The export streams: it reads the exported codings and where their segments lie (not the
segment texts), the sources without their texts, and then each source's text on its own, once
for the selections' names and once to write it into the archive, which is written member by
member to a temporary file beside ``out`` and moved into place. At most one source's text is
held at a time.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tipqual.errors import ExchangeError
from tipqual.exchange import qdaxml
from tipqual.output.files import write_zip
from tipqual.records import APPLIED_STATUSES

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.codebook.model import Codebook
    from tipqual.records import Coding, Source
    from tipqual.store.project import Project

NS = qdaxml.PROJECT_NS
EXPORTED_STATUSES = APPLIED_STATUSES


def _q(name: str) -> str:
    return qdaxml.qname(NS, name)


@dataclass(frozen=True)
class _Region:
    """One coded region of a source: stored-text offsets and the codings on it."""

    start: int
    end: int
    codings: tuple


def export_project(project: Project, out: str | Path) -> dict[str, int]:
    """Write the study as a ``.qdpx`` archive at ``out``; returns counts of what was written."""
    out = Path(out)
    if out.is_dir():
        raise ExchangeError("is a folder; give a file name ending in .qdpx", path=out)
    if out.suffix.lower() != ".qdpx":
        # QDA tools only open a REFI-QDA project by its extension; never write one unseen.
        raise ExchangeError(f"a REFI-QDA project is written to a .qdpx file, not "
                            f"{out.suffix or 'a file without extension'!r}; name it e.g. "
                            f"{out.with_suffix('.qdpx').name}", path=out)
    if not out.parent.exists():
        raise ExchangeError(f"the folder {str(out.parent)!r} does not exist", path=out)
    qde, counts = build_project(project)
    write_zip(out, _members(project, qde), error=ExchangeError, what="archive")
    return counts


@dataclass(frozen=True)
class _Place:
    """Where a segment lies in its source's stored text."""

    source: str
    start: int
    end: int


def build_project(project: Project) -> tuple[bytes, dict[str, int]]:
    """The ``project.qde`` bytes and counts for a study (the source texts are read one at a
    time: see :func:`_members` for the archive's other members)."""
    from tipqual.version import __version__
    codings = project.codings(statuses=EXPORTED_STATUSES)
    segments = {sid: _Place(src, start, end) for sid, src, _case, _n, _speaker, _role, start, end
                in project.segment_index({c.segment for c in codings})} if codings else {}
    codings = [c for c in codings if c.segment in segments]
    book = _codebook_with(project.codebook(), sorted({c.code for c in codings}))
    coders = sorted({c.coder for c in codings})
    ET.register_namespace("", NS)
    root = ET.Element(_q("Project"), {
        "name": project.meta("name") or project.path.stem,
        "origin": f"tipqual {__version__}"})
    if coders:
        users = ET.SubElement(root, _q("Users"))
        for coder in coders:
            ET.SubElement(users, _q("User"), {"guid": _user(coder), "name": coder, "id": coder})
    memo_notes = {_coding_key(c): c.memo for c in codings if c.memo and c.memo.strip()}
    if book is not None and book.codes:
        from tipqual.codebook.formats import comment_text, described

        book_el = ET.SubElement(root, _q("CodeBook"))
        # The whole codebook rides along in a comment so a tipqual import keeps ids and hints.
        book_el.append(ET.Comment(comment_text(book)))
        qdaxml.codes_to_element(described(book), book_el, NS)
    sources = project.source_headers()
    cases = project.cases()
    _variables_and_cases(root, cases, sources)
    _sources(root, sources, project.source_texts(), segments, codings, memo_notes)
    _notes(root, memo_notes)
    counts = {"sources": len(sources), "codes": len(book.codes) if book else 0,
              "codings": len(codings), "users": len(coders), "cases": len(cases),
              "notes": len(memo_notes)}
    return qdaxml.to_bytes(root), counts


def _text_member(source_id: str) -> str:
    return f"sources/{qdaxml.stable_guid('source-text', source_id)}.txt"


def _members(project: Project, qde: bytes) -> Iterable[tuple[str, bytes]]:
    """The archive's members in name order: ``project.qde``, then each source's text, read
    from the study when it is written."""
    names = sorted((_text_member(s.id), s.id) for s in project.source_headers())
    members = [("project.qde", None), *names]
    for name, source_id in sorted(members, key=lambda m: m[0]):
        if source_id is None:
            yield name, qde
            continue
        for _id, text in project.source_texts([source_id]):
            yield name, text.encode("utf-8")


def _user(coder: str) -> str:
    return qdaxml.stable_guid("user", coder)


def _coding_key(c: Coding) -> str:
    return f"{c.segment}|{c.code}|{c.coder}|{c.span_start}|{c.span_end}"


def _codebook_with(book: Codebook, coded: list[str]) -> Codebook:
    """The study codebook plus a plain code for every coded id it lacks."""
    from tipqual.codebook.model import Code, Codebook

    if book is None:
        book = Codebook(name="codebook", version="1")
    have = set(book.ids)
    extra = [Code(id=code_id, name=code_id) for code_id in coded if code_id not in have]
    if not extra:
        return book
    return Codebook(name=book.name, version=book.version, codes=[*book.codes, *extra],
                    description=book.description)


# A variable's REFI type when every case's value has its form (checked in this order); the
# value element each is written in.
_VARIABLE_TYPES = (
    ("Boolean", re.compile(r"^(?:true|false)$")),
    ("Integer", re.compile(r"^[+-]?\d+$")),
    ("Float", re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")),
    ("Date", re.compile(r"^\d{4}-\d{2}-\d{2}$")),
    ("DateTime", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"
                            r"(?:Z|[+-]\d{2}:\d{2})?$")),
)


def variable_type(values: Iterable[str]) -> str:
    """The REFI ``typeOfVariable`` of an attribute: Boolean, Integer, Float, Date or DateTime
    when every value has that form (dates real ones), else Text; so a partner's typed
    variables keep their type through tipqual, and a value is never written in a form its
    type's schema refuses."""
    import datetime as dt

    given = list(values)
    for kind, form in _VARIABLE_TYPES:
        if given and all(form.match(v) for v in given):
            if kind.startswith("Date"):
                parse = dt.date.fromisoformat if kind == "Date" else dt.datetime.fromisoformat
                try:
                    for v in given:
                        parse(v)
                except ValueError:  # 2024-02-30, 25:00: text that only looks like a date
                    continue
            return kind
    return "Text"


def _variables_and_cases(root: ET.Element, cases: list, sources: list) -> None:
    names = sorted({name for case in cases for name in case.attributes})
    kinds = {name: variable_type(c.attributes[name] for c in cases if name in c.attributes)
             for name in names}
    if names:
        variables = ET.SubElement(root, _q("Variables"))
        for name in names:
            ET.SubElement(variables, _q("Variable"), {
                "guid": qdaxml.stable_guid("variable", name), "name": name,
                "typeOfVariable": kinds[name]})
    if not cases:
        return
    by_case: dict[str, list[str]] = defaultdict(list)
    for s in sources:
        if s.case is not None:
            by_case[s.case].append(s.id)
    cases_el = ET.SubElement(root, _q("Cases"))
    for case in cases:
        el = ET.SubElement(cases_el, _q("Case"), {"guid": qdaxml.stable_guid("case", case.id),
                                                 "name": case.id})
        for name in sorted(case.attributes):
            value = ET.SubElement(el, _q("VariableValue"))
            ET.SubElement(value, _q("VariableRef"),
                          {"targetGUID": qdaxml.stable_guid("variable", name)})
            ET.SubElement(value, _q(f"{kinds[name]}Value")).text = str(case.attributes[name])
        for source_id in sorted(by_case.get(case.id, [])):
            ET.SubElement(el, _q("SourceRef"),
                          {"targetGUID": qdaxml.stable_guid("source", source_id)})


def _source_name(source: Source) -> str:
    """The name other tools show: the original file name when its stem is the source id."""
    name = Path(source.path).name if source.path else ""
    return name if name and Path(name).stem == source.id else f"{source.id}.txt"


def _sources(root: ET.Element, sources: list, texts: Iterable[tuple[str, str]],
             segments: dict[str, _Place], codings: list, memo_notes: dict[str, str]) -> None:
    """One ``TextSource`` per source (``sources`` without their text, ``texts`` the same
    sources' ``(id, text)`` in the same order, read one at a time)."""
    if not sources:
        return
    by_source: dict[str, list] = defaultdict(list)
    for c in codings:
        by_source[segments[c.segment].source].append(c)
    sources_el = ET.SubElement(root, _q("Sources"))
    for source, (_id, text) in zip(sources, texts, strict=True):
        guid = qdaxml.stable_guid("source", source.id)
        file_guid = qdaxml.stable_guid("source-text", source.id)
        el = ET.SubElement(sources_el, _q("TextSource"), {
            "guid": guid, "name": _source_name(source),
            "plainTextPath": f"internal://{file_guid}.txt"})
        for region in _regions(by_source.get(source.id, []), segments):
            _selection(el, source.id, text, region, memo_notes)


def _regions(codings: list, segments: dict[str, _Place]) -> list[_Region]:
    """Codings grouped by the stored-text region they cover, in text order."""
    grouped: dict[tuple[int, int], list] = defaultdict(list)
    for c in codings:
        seg = segments[c.segment]
        start, end = _offsets(seg, c)
        grouped[(start, end)].append(c)
    return [_Region(start, end, tuple(sorted(cs, key=lambda c: (c.code, c.coder))))
            for (start, end), cs in sorted(grouped.items())]


def _offsets(seg: _Place, c: Coding) -> tuple[int, int]:
    """Stored-text offsets of a coding: the segment, or its span inside the segment."""
    length = seg.end - seg.start
    if c.span_start is None or c.span_end is None:
        return seg.start, seg.end
    start = max(0, min(c.span_start, length))
    end = max(0, min(c.span_end, length))
    if end <= start:
        return seg.start, seg.end
    return seg.start + start, seg.start + end


def _selection(source_el: ET.Element, source_id: str, source_text: str, region: _Region,
               memo_notes: dict[str, str]) -> None:
    coders = sorted({c.coder for c in region.codings})
    text = source_text[region.start:region.end]
    label = " ".join(text.split())
    attrs = {"guid": qdaxml.stable_guid("selection", f"{source_id}|{region.start}|{region.end}"),
             "name": label if len(label) <= 100 else label[:99] + "…",
             "startPosition": str(region.start), "endPosition": str(region.end)}
    if len(coders) == 1:
        attrs["creatingUser"] = _user(coders[0])
    sel = ET.SubElement(source_el, _q("PlainTextSelection"), attrs)
    for c in region.codings:
        coding_attrs = {"guid": qdaxml.stable_guid("coding", _coding_key(c)),
                        "creatingUser": _user(c.coder)}
        if c.created_at:
            coding_attrs["creationDateTime"] = c.created_at
        coding = ET.SubElement(sel, _q("Coding"), coding_attrs)
        ET.SubElement(coding, _q("CodeRef"), {"targetGUID": qdaxml.stable_guid("code", c.code)})
        if _coding_key(c) in memo_notes:
            ET.SubElement(coding, _q("NoteRef"),
                          {"targetGUID": qdaxml.stable_guid("note", _coding_key(c))})


def _notes(root: ET.Element, memo_notes: dict[str, str]) -> None:
    if not memo_notes:
        return
    notes = ET.SubElement(root, _q("Notes"))
    for key in sorted(memo_notes):
        segment, code, coder = key.split("|")[:3]
        note = ET.SubElement(notes, _q("Note"), {
            "guid": qdaxml.stable_guid("note", key), "name": f"Memo: {code} on {segment}",
            "creatingUser": _user(coder)})
        ET.SubElement(note, _q("PlainTextContent")).text = memo_notes[key]


