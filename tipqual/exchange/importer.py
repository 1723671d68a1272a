"""Create a study from a REFI-QDA project (``.qdpx`` archive, or a bare ``.qde`` file).

Reading is pure and happens first (:func:`read_plan`); the study is created only when the whole
project has been understood, and it is written in one transaction: a failure removes the new
study file. Leniency covers what real tools write: ``project.qde``/``Project.qde``/``<name>.qde``,
``sources/`` or ``Sources/``, ``internal://`` and ``relative://`` paths, GUIDs in any case or
braced, namespace variants, missing dates, a BOM, CRLF line ends, and NVivo's positions (UTF-16
code units, every line break counted as two) — the producer is read from ``origin``.

Text sources are segmented by tipqual's ingest. Each text selection becomes codings of its
coder on the segments it covers: a selection inside one segment gives one coding — of the whole
segment when it covers all of it, otherwise a span coding (span offsets relative to the
segment's text, as everywhere in tipqual). A selection crossing segment boundaries is split at
them: one coding per segment it touches, each on the part of the selection inside that segment;
text between segments (blank lines) stays uncoded. A coding of a whole source codes each of its
segments. Sources that are not text (PDF, picture, audio, video) and text sources missing from
the archive are listed in the report and skipped, with their codings.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tipqual.errors import ExchangeError, ProjectError
from tipqual.exchange import qdaxml
from tipqual.exchange.archive import Archive, TextMap, choose_counting, decode_text, producer_of
from tipqual.exchange.qdaxml import (
    attr,
    child,
    child_text,
    children,
    localname,
    nfc,
    normalize_guid,
)

NON_TEXT = {"PictureSource": "picture", "PDFSource": "PDF", "AudioSource": "audio",
            "VideoSource": "video"}
_RULE_NAMES = {"cp": "code points", "nvivo": "UTF-16 units with line breaks as two",
               "utf16": "UTF-16 units"}
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue",
               "DateTimeValue")


@dataclass
class Selection:
    """A coded region in stored-text offsets, with its code, coder and memo."""

    start: int
    end: int
    code: str
    coder: str
    memo: str | None = None
    created_at: str | None = None


@dataclass
class PlannedSource:
    """A text source ready to store: id, stored text, case and selections."""

    id: str
    name: str
    text: str
    case: str | None
    meta: dict[str, Any]
    selections: list[Selection] = field(default_factory=list)
    whole: list[Selection] = field(default_factory=list)


@dataclass
class Plan:
    """Everything read from a REFI-QDA project, before any study is touched."""

    name: str
    origin: str
    producer: str
    codebook: Any
    cases: dict[str, dict[str, str]]
    sources: list[PlannedSource]
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def import_project(archive: str | Path, target: str | Path, *,
                   command: str = "refi import") -> dict[str, Any]:
    """Read ``archive`` and create the study ``target`` from it; returns the import report."""
    from tipqual.store.project import Project

    target = Path(target)
    if target.exists():
        raise ProjectError("a file already exists there; 'refi import' creates a new study, "
                           "choose another path", path=target)
    plan = read_plan(archive)
    segmented = [(src, _segments_for(src)) for src in plan.sources]
    counts: dict[str, int | list[str]] = {}
    Project.create(target, name=plan.name, command=command,
                   fill=lambda p: counts.update(_write(p, plan, segmented))).close()
    return {"study": str(target), "name": plan.name, "origin": plan.origin,
            "producer": plan.producer, **counts, "missing": plan.missing,
            "skipped": plan.skipped, "dropped": plan.dropped, "notes": plan.notes}


# --- reading ----------------------------------------------------------------------------------

def read_plan(path: str | Path) -> Plan:
    """Read a ``.qdpx`` (or bare ``.qde``) into a :class:`Plan`; never touches a study."""
    path = Path(path)
    if not path.exists() or path.is_dir():
        raise ExchangeError("no such file; give the path of a .qdpx archive", path=path)
    if not zipfile.is_zipfile(path):
        head = path.read_bytes()[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head.startswith(b"<"):
            raise ExchangeError("not a .qdpx archive (neither a zip file nor a QDA-XML .qde); "
                                "export the project again as REFI-QDA", path=path)
        data = path.read_bytes()
        return _plan(qdaxml.parse_xml(data, path), data, path, None, "")
    archive = Archive(path)
    try:
        qde = _find_qde(archive)
        data = archive.read(qde)
        root = qdaxml.parse_xml(data, f"{path}/{qde}")
        base = str(PurePosixPath(qde).parent)
        return _plan(root, data, path, archive, "" if base == "." else base + "/")
    finally:
        archive.close()


def _find_qde(archive: Archive) -> str:
    candidates = [n for n in archive.names if n.lower().endswith(".qde")]
    if not candidates:
        raise ExchangeError("the archive holds no .qde project file; is it a REFI-QDA export?",
                            path=archive.path)
    return min(candidates, key=lambda n: (n.count("/"), n.lower() != "project.qde"
                                          and not n.lower().endswith("/project.qde"), n))


def _plan(root: ET.Element, data: bytes, path: Path, archive: Archive | None,
          base: str) -> Plan:
    from tipqual.codebook.formats import from_qdc, saved_codebook
    from tipqual.codebook.model import Code, Codebook

    if localname(root.tag) != "Project":
        raise ExchangeError(f"not a REFI-QDA project: the root element is "
                            f"<{localname(root.tag)}>, expected <Project>", path=path)
    ns = qdaxml.namespace(root.tag)
    if ns and "QDA-XML" not in ns:
        raise ExchangeError(f"not a REFI-QDA project: unknown namespace {ns!r}", path=path)
    origin = attr(root, "origin") or ""
    name = nfc(attr(root, "name")) or path.stem
    users = _users(root)
    default_user = users.get(normalize_guid(attr(root, "creatingUserGUID")), "")
    book_el = child(root, "CodeBook")
    codes_el = child(book_el, "Codes") if book_el is not None else None
    read = qdaxml.read_codes(codes_el, path) if codes_el is not None and \
        children(codes_el, "Code") else []
    codes: list[Code] = []
    for q in read:
        if not isinstance(q.code, Code):  # QdaCode.code is typed ``object``
            raise TypeError(f"read_codes gave a {type(q.code).__name__}, not a Code")
        codes.append(q.code)
    codebook = Codebook(name=name, version="1", codes=codes,
                        description=f"Imported from {origin or 'a REFI-QDA project'}.")
    code_of = {q.guid: code.id for q, code in zip(read, codes, strict=True)}
    saved = saved_codebook(data) if read else None
    if saved is not None:  # written by tipqual: keep its code ids, hints and registry
        codebook = from_qdc(data, path)
        ids = {qdaxml.stable_guid("code", c.id): c.id for c in saved.codes}
        code_of = {guid: ids.get(guid, code) for guid, code in code_of.items()}
    ctx = _Context(path=path, archive=archive, base=base, producer=producer_of(origin),
                   users=users, default_user=default_user, code_of=code_of,
                   notes=_notes(root))
    cases, case_of = _cases(root)
    plan = Plan(name=name, origin=origin, producer=ctx.producer, codebook=codebook,
                cases=cases, sources=[])
    used: set[str] = set()
    sources_el = child(root, "Sources")
    for el in (list(sources_el) if sources_el is not None else []):
        kind = localname(el.tag)
        label = nfc(attr(el, "name")) or normalize_guid(attr(el, "guid"))
        if kind in NON_TEXT:
            plan.skipped.append(f"{label} ({NON_TEXT[kind]})")
        elif kind == "TextSource":
            planned = _text_source(el, ctx, plan, used)
            if planned is not None:
                planned.case = case_of.get(normalize_guid(attr(el, "guid")))
                plan.sources.append(planned)
    return plan


@dataclass
class _Context:
    path: Path
    archive: Archive | None
    base: str
    producer: str
    users: dict[str, str]
    default_user: str
    code_of: dict[str, str]
    notes: dict[str, str]


def _users(root: ET.Element) -> dict[str, str]:
    users: dict[str, str] = {}
    taken: set[str] = set()
    users_el = child(root, "Users")
    for el in children(users_el, "User") if users_el is not None else []:
        guid = normalize_guid(attr(el, "guid"))
        name = nfc(attr(el, "name") or attr(el, "id")) or f"user-{guid[:8].lower()}"
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name} ({n})", n + 1
        taken.add(unique)
        users[guid] = unique
    return users


def _notes(root: ET.Element) -> dict[str, str]:
    notes_el = child(root, "Notes")
    out: dict[str, str] = {}
    for el in children(notes_el, "Note") if notes_el is not None else []:
        text = child_text(el, "PlainTextContent").strip() or child_text(el, "Description").strip()
        if text:
            out[normalize_guid(attr(el, "guid"))] = text
    return out


def _cases(root: ET.Element) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    variables: dict[str, str] = {}
    vars_el = child(root, "Variables")
    for el in children(vars_el, "Variable") if vars_el is not None else []:
        variables[normalize_guid(attr(el, "guid"))] = nfc(attr(el, "name"))
    cases: dict[str, dict[str, str]] = {}
    case_of: dict[str, str] = {}
    cases_el = child(root, "Cases")
    for n, el in enumerate(children(cases_el, "Case") if cases_el is not None else [], 1):
        case_id = nfc(attr(el, "name")) or f"case-{n}"
        attrs = cases.setdefault(case_id, {})
        for value_el in children(el, "VariableValue"):
            ref = child(value_el, "VariableRef")
            var = variables.get(normalize_guid(attr(ref, "targetGUID"))) if ref is not None \
                else None
            value = next((child_text(value_el, t) for t in _VALUE_TAGS
                          if child(value_el, t) is not None), None)
            if var and value is not None:
                attrs[var] = value.strip()
        for ref in children(el, "SourceRef"):
            case_of.setdefault(normalize_guid(attr(ref, "targetGUID")), case_id)
    return cases, case_of


def _source_id(name: str, used: set[str]) -> str:
    from tipqual.ingest.importer import source_id_for

    stem = source_id_for(PurePosixPath(name.replace("\\", "/")).name) if name else "source"
    clean = "".join("_" if ch in ':/\\|"<>*?' else ch for ch in stem).strip() or "source"
    unique, n = clean, 2
    while unique in used:
        unique, n = f"{clean}-{n}", n + 1
    used.add(unique)
    return unique


def _text_source(el: ET.Element, ctx: _Context, plan: Plan,
                 used: set[str]) -> PlannedSource | None:
    name = nfc(attr(el, "name")) or normalize_guid(attr(el, "guid"))
    raw = _source_text(el, ctx, name, plan)
    if raw is None:
        n = sum(len(children(s, "Coding")) for s in _selections_of(el)) + \
            len(children(el, "Coding"))
        if n:
            plan.dropped.append(f"{name}: {n} codings skipped with the source")
        return None
    probes = [(_int(attr(sel, "startPosition")) or 0, _int(attr(sel, "endPosition")) or 0,
               attr(sel, "name") or "") for sel in _selections_of(el)]
    rule = choose_counting(raw, ctx.producer, probes)
    if rule != ctx.producer:
        plan.notes.append(f"{name}: positions read as {_RULE_NAMES[rule]}, the counting under "
                          "which the selections' names match their text")
    tmap = TextMap(raw, rule)
    source = PlannedSource(id=_source_id(name, used), name=name, text=tmap.text, case=None,
                           meta={"refi": {"guid": normalize_guid(attr(el, "guid")),
                                          "name": name, "origin": plan.origin}})
    for sel in _selections_of(el):
        start = _int(attr(sel, "startPosition"))
        end = _int(attr(sel, "endPosition"))
        if start is None or end is None:
            plan.dropped.append(f"{name}: a selection without valid positions")
            continue
        s, e = tmap.to_stored(min(start, end), end=False), tmap.to_stored(max(start, end),
                                                                          end=True)
        memo = [child_text(sel, "Description").strip()] + _note_texts(sel, ctx)
        for coding in _codings(sel, ctx, plan, name, memo):
            source.selections.append(Selection(s, e, *coding))
    for coding in _codings(el, ctx, plan, name, []):
        source.whole.append(Selection(0, len(tmap.text), *coding))
    return source


def _selections_of(el: ET.Element) -> list[ET.Element]:
    return children(el, "PlainTextSelection")


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _note_texts(el: ET.Element, ctx: _Context) -> list[str]:
    return [ctx.notes.get(normalize_guid(attr(r, "targetGUID")), "")
            for r in children(el, "NoteRef")]


def _codings(parent: ET.Element, ctx: _Context, plan: Plan, source_name: str,
             memo_parts: list[str]) -> list[tuple[str, str, str | None, str | None]]:
    """(code, coder, memo, created_at) for each ``<Coding>`` of a selection or source."""
    out = []
    for coding in children(parent, "Coding"):
        ref = child(coding, "CodeRef")
        code = ctx.code_of.get(normalize_guid(attr(ref, "targetGUID"))) if ref is not None \
            else None
        if code is None:
            plan.dropped.append(f"{source_name}: a coding refers to a code not in the codebook")
            continue
        coder = ctx.users.get(normalize_guid(attr(coding, "creatingUser"))) \
            or ctx.users.get(normalize_guid(attr(parent, "creatingUser"))) \
            or _unknown_user(attr(coding, "creatingUser") or attr(parent, "creatingUser"), ctx)
        parts = memo_parts + _note_texts(coding, ctx)
        memo = "\n\n".join(p for p in parts if p) or None
        created = attr(coding, "creationDateTime") or attr(parent, "creationDateTime") \
            or attr(parent, "modifiedDateTime")
        out.append((code, coder, memo, created))
    return out


def _unknown_user(guid: str | None, ctx: _Context) -> str:
    if guid and normalize_guid(guid):
        return f"user-{normalize_guid(guid)[:8].lower()}"
    return ctx.default_user or "unknown"


def _source_text(el: ET.Element, ctx: _Context, name: str, plan: Plan) -> str | None:
    """The plain text of a source: inline content or its archive member (None if missing)."""
    content = child(el, "PlainTextContent")
    if content is not None and content.text:
        return content.text
    ref = attr(el, "plainTextPath") or ""
    archive = ctx.archive
    member = archive.resolve(ref, ctx.base) if archive is not None else None
    if archive is None or member is None:
        plan.missing.append(f"{name} ({ref or 'no plainTextPath'})")
        return None
    return decode_text(archive.read(member))


# --- segmenting and writing -------------------------------------------------------------------

def _segments_for(src: PlannedSource) -> list:
    """Segments of a source's stored text, cut exactly as ``tipqual import`` cuts a .txt/.md."""
    from tipqual.ingest.importer import SegmentationRules, build_segments, parse_text, split_long

    rules = SegmentationRules()
    parsed = parse_text(src.text, rules, markdown=src.name.lower().endswith(".md"))
    return build_segments(src.id, split_long(parsed, rules))


def _write(project: Any, plan: Plan, segmented: list) -> dict[str, int | list[str]]:
    from tipqual.records import Coding, Source

    if plan.codebook.codes:
        project.set_codebook(plan.codebook)
    for case_id, attributes in sorted(plan.cases.items()):
        project.put_case(case_id, attributes)
    n_codings = n_segments = 0
    coders: set[str] = set()
    for src, segments in segmented:
        project.add_source(Source(id=src.id, case=src.case, path=src.name, format="refi",
                                  sha256=hashlib.sha256(src.text.encode("utf-8")).hexdigest(),
                                  text=src.text, meta=src.meta), segments)
        n_segments += len(segments)
        for sel in src.selections + src.whole:
            pieces = _pieces(sel, segments)
            if not pieces:
                plan.dropped.append(f"{src.name}: a selection at {sel.start}-{sel.end} covers "
                                    "no segment text (blank lines only)")
            for seg, span in pieces:
                added = project.put_coding(Coding(
                    segment=seg.id, code=sel.code, coder=sel.coder, status="human",
                    provenance=f"refi:{plan.origin}"[:200] if plan.origin else "refi",
                    memo=sel.memo, span_start=span[0] if span else None,
                    span_end=span[1] if span else None, created_at=sel.created_at,
                    updated_at=sel.created_at))
                n_codings += added == "added"
                coders.add(sel.coder)
    return {"sources": len(segmented), "segments": n_segments,
            "codes": len(plan.codebook.codes), "cases": len(plan.cases),
            "codings": n_codings, "coders": sorted(coders)}


def _pieces(sel: Selection, segments: list) -> list[tuple[Any, tuple[int, int] | None]]:
    """The segments a selection touches, each with a segment-relative span (None: whole)."""
    out: list[tuple[Any, tuple[int, int] | None]] = []
    for seg in segments:
        start, end = max(sel.start, seg.start), min(sel.end, seg.end)
        if end <= start or not seg.text[start - seg.start:end - seg.start].strip():
            continue
        if start <= seg.start and end >= seg.end:
            out.append((seg, None))
        else:
            out.append((seg, (start - seg.start, end - seg.start)))
    return out
