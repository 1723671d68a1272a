"""Create a study from a REFI-QDA project (``.qdpx`` archive, or a bare ``.qde`` file).

Reading is pure and happens first (:func:`read_plan`); the study is created only when the whole
project has been understood, and it is written in one transaction: a failure removes the new
study file. Leniency covers what real tools write: ``project.qde``/``Project.qde``/``<name>.qde``,
``sources/`` or ``Sources/``, ``internal://`` and ``relative://`` paths, GUIDs in any case or
braced, namespace variants, missing dates, a BOM, CRLF line ends, and NVivo's positions (UTF-16
code units) — the producer is read from ``origin``, and how each source's positions were counted
is confirmed by the evidence of its selections (:func:`tipqual.exchange.archive.choose_countings`).

Text sources are segmented by tipqual's ingest. Each text selection becomes codings of its
coder on the segments it covers: a selection inside one segment gives one coding — of the whole
segment when it covers all of it, otherwise a span coding (span offsets relative to the
segment's text, as everywhere in tipqual). A selection crossing segment boundaries is split at
them: one coding per segment it touches, each on the part of the selection inside that segment;
text between segments (blank lines) stays uncoded. A coding of a whole source codes each of its
segments. Sources that are not text (PDF, picture, audio, video) are listed in the report and
skipped, with their codings. A text source missing from the archive stops the import when its
codings would be lost, unless the caller allows it (``allow_missing``): then it is listed and
skipped too.

Refused, never guessed at: a selection whose positions are not whole numbers, fall outside the
text or are empty (listed under ``refused``), an archive with two members of one name or with
links or devices (see :class:`~tipqual.exchange.archive.Archive`), and a project that gives two
codes, sources or selections the same GUID. Selections placed but not exactly (a boundary inside
a character or a word, a name that does not match the text) are listed under ``inexact``.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any

from tipqual.errors import ExchangeError, ProjectError
from tipqual.exchange import qdaxml
from tipqual.exchange.archive import (
    Archive,
    Counting,
    Placement,
    SourceText,
    TextMap,
    choose_countings,
    decode_text,
    default_counting,
    has_bom,
    producer_of,
)
from tipqual.exchange.qdaxml import (
    attr,
    child,
    child_text,
    children,
    descendants,
    localname,
    nfc,
    normalize_guid,
)

NON_TEXT = {"PictureSource": "picture", "PDFSource": "PDF", "AudioSource": "audio",
            "VideoSource": "video"}
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
    refused: list[str] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    counting: dict[str, str] = field(default_factory=dict)
    lost: list[tuple[str, str, int]] = field(default_factory=list)  # missing, with codings


def import_project(archive: str | Path, target: str | Path, *, command: str = "refi import",
                   allow_missing: bool = False) -> dict[str, Any]:
    """Read ``archive`` and create the study ``target`` from it; returns the import report.

    A text source missing from the archive whose codings would be lost is an error unless
    ``allow_missing`` is given; nothing is created then.
    """
    from tipqual.store.project import Project

    target = Path(target)
    if target.exists():
        raise ProjectError("a file already exists there; 'refi import' creates a new study, "
                           "choose another path", path=target)
    plan = read_plan(archive)
    if plan.lost and not allow_missing:
        name, ref, n = plan.lost[0]
        more = len(plan.lost) - 1
        others = f" (and {more} more source{'s' if more > 1 else ''} with codings)" if more \
            else ""
        raise ExchangeError(f"the text source {name!r} ({ref or 'no plainTextPath'}) is not in "
                            f"the archive, so its {n} codings would be lost{others}; export the "
                            "project again with its sources, or give --allow-missing to import "
                            "without them", path=archive)
    segmented = [(src, _segments_for(src)) for src in plan.sources]
    counts: dict[str, int | list[str]] = {}
    Project.create(target, name=plan.name, command=command,
                   fill=lambda p: counts.update(_write(p, plan, segmented))).close()
    return {"study": str(target), "name": plan.name, "origin": plan.origin,
            "producer": plan.producer, **counts, "missing": plan.missing,
            "skipped": plan.skipped, "dropped": plan.dropped, "notes": plan.notes,
            "refused": plan.refused, "inexact": plan.inexact, "counting": plan.counting}


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
        return _plan(qdaxml.parse_xml(data, path), data, path, str(path), None, "")
    archive = Archive(path)
    try:
        qde = _find_qde(archive)
        data = archive.read(qde)
        root = qdaxml.parse_xml(data, f"{path}/{qde}")
        base = str(PurePosixPath(qde).parent)
        return _plan(root, data, path, f"{path}/{qde}", archive,
                     "" if base == "." else base + "/")
    finally:
        archive.close()


def _find_qde(archive: Archive) -> str:
    """The project file: the shallowest ``.qde``, ``project.qde`` before any other name."""
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


# Elements whose GUIDs must be unique, the tags they are written with (for the line number).
_GUID_KINDS = (("codes", "Code"), ("sources", r"\w*Source"), ("selections", "PlainTextSelection"))


def _check_guids(root: ET.Element, data: bytes, where: str) -> None:
    """Refuse a project that gives two codes, sources or selections the same GUID."""
    book = child(root, "CodeBook")
    codes_el = child(book, "Codes") if book is not None else None
    sources_el = child(root, "Sources")
    sources = list(sources_el) if sources_el is not None else []
    groups: dict[str, list[tuple[ET.Element, ET.Element | None]]] = {
        "codes": [(el, None) for el in (descendants(codes_el, "Code")
                                        if codes_el is not None else [])],
        "sources": [(el, None) for el in sources if localname(el.tag).endswith("Source")],
        # the selections imported; a PDF's text representation repeats its PDFSelection's GUID
        "selections": [(sel, src) for src in sources if localname(src.tag) == "TextSource"
                       for sel in _selections_of(src)]}
    for kind, tags in _GUID_KINDS:
        seen: dict[str, tuple[ET.Element, ET.Element | None]] = {}
        for el, src in groups[kind]:
            guid = normalize_guid(attr(el, "guid"))
            if not guid:
                continue
            if guid not in seen:
                seen[guid] = (el, src)
                continue
            first, first_src = seen[guid]
            if kind == "selections":
                what = (f"two selections have the GUID {guid} (in "
                        f"{_name_of(first_src)!r} and {_name_of(src)!r})")
            else:
                what = (f"two {kind} ({_name_of(first)!r} and {_name_of(el)!r}) have the "
                        f"GUID {guid}")
            raise ExchangeError(f"{what}; every one needs a GUID of its own: give one of them "
                                "a new GUID (in the tool that wrote the file, or in the .qde) "
                                "and export again", path=where, line=_line_of(data, tags, guid))


def _name_of(el: ET.Element | None) -> str:
    return nfc(attr(el, "name")) if el is not None else ""


def _line_of(data: bytes, tags: str, guid: str) -> int | None:
    """The line of the second element among ``tags`` with this GUID (None if not found)."""
    text = data.decode("utf-8", errors="replace")
    pattern = re.compile(rf"<(?:[\w.-]+:)?(?:{tags})\b[^>]*?\bguid\s*=\s*([\"'])\s*\{{?\s*"
                         rf"{re.escape(guid)}\s*\}}?\s*\1", re.IGNORECASE)
    hits = list(islice(pattern.finditer(text), 2))
    return text.count("\n", 0, hits[1].start()) + 1 if len(hits) == 2 else None


def _plan(root: ET.Element, data: bytes, path: Path, where: str, archive: Archive | None,
          base: str) -> Plan:
    from tipqual.codebook.formats import from_qdc, saved_codebook
    from tipqual.codebook.model import Code, Codebook

    if localname(root.tag) != "Project":
        raise ExchangeError(f"not a REFI-QDA project: the root element is "
                            f"<{localname(root.tag)}>, expected <Project>", path=path)
    ns = qdaxml.namespace(root.tag)
    if ns and "QDA-XML" not in ns:
        raise ExchangeError(f"not a REFI-QDA project: unknown namespace {ns!r}", path=path)
    _check_guids(root, data, where)
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
    ctx = _Context(path=path, archive=archive, base=base, origin=origin,
                   producer=producer_of(origin), users=users, default_user=default_user,
                   code_of=code_of, notes=_notes(root))
    cases, case_of = _cases(root)
    plan = Plan(name=name, origin=origin, producer=ctx.producer, codebook=codebook,
                cases=cases, sources=[])
    pending: list[_Pending] = []
    sources_el = child(root, "Sources")
    for el in (list(sources_el) if sources_el is not None else []):
        kind = localname(el.tag)
        label = nfc(attr(el, "name")) or normalize_guid(attr(el, "guid"))
        if kind in NON_TEXT:
            plan.skipped.append(f"{label} ({NON_TEXT[kind]})")
        elif kind == "TextSource":
            found = _read_source(el, ctx, plan)
            if found is not None:
                pending.append(found)
    countings = choose_countings([(p.text, p.text.bom, p.probes) for p in pending],
                                 [p.default for p in pending])
    used: set[str] = set()
    for found, counting in zip(pending, countings, strict=True):
        planned = _place_source(found, counting, ctx, plan, used)
        planned.case = case_of.get(normalize_guid(attr(found.el, "guid")))
        plan.sources.append(planned)
    return plan


@dataclass
class _Context:
    path: Path
    archive: Archive | None
    base: str
    origin: str
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


@dataclass
class _Pending:
    """A text source whose text was found, before its positions are translated."""

    el: ET.Element
    name: str
    text: SourceText
    default: Counting
    probes: list[tuple[int, int, str]]


def _read_source(el: ET.Element, ctx: _Context, plan: Plan) -> _Pending | None:
    """A text source's text and its selections as written (None if its text is missing)."""
    name = nfc(attr(el, "name")) or normalize_guid(attr(el, "guid"))
    found = _source_text(el, ctx, name, plan)
    if found is None:
        n = sum(len(children(s, "Coding")) for s in _selections_of(el)) + \
            len(children(el, "Coding"))
        if n:
            plan.dropped.append(f"{name}: {n} codings skipped with the source")
            plan.lost.append((name, attr(el, "plainTextPath") or "", n))
        return None
    raw, bom, inline = found
    probes = []
    for sel in _selections_of(el):
        start, end = _int(attr(sel, "startPosition")), _int(attr(sel, "endPosition"))
        if start is not None and end is not None:
            probes.append((start, end, attr(sel, "name") or ""))
    return _Pending(el, name, SourceText(raw, bom=bom),
                    default_counting(ctx.origin, inline=inline), probes)


def _place_source(found: _Pending, counting: Counting, ctx: _Context, plan: Plan,
                  used: set[str]) -> PlannedSource:
    """The source with its selections in stored-text offsets, under ``counting``."""
    name, text = found.name, found.text
    described = text.describe(counting)
    if text.effective(counting) != text.effective(found.default):
        plan.notes.append(f"{name}: positions read as {described} (the counting under which the "
                          "selections fall on word boundaries and match their names)")
    source_id = _source_id(name, used)
    plan.counting[name if name not in plan.counting else f"{name} ({source_id})"] = described
    tmap = TextMap(text, counting)
    source = PlannedSource(id=source_id, name=name, text=tmap.text, case=None,
                           meta={"refi": {"guid": normalize_guid(attr(found.el, "guid")),
                                          "name": name, "origin": plan.origin}})
    for n, sel in enumerate(_selections_of(found.el), 1):
        n_codings = len(children(sel, "Coding"))
        if not n_codings:
            continue  # a selection without codings brings nothing into the study
        label = normalize_guid(attr(sel, "guid")) or f"#{n}"
        raw_start, raw_end = attr(sel, "startPosition"), attr(sel, "endPosition")
        start, end = _int(raw_start), _int(raw_end)
        lost = f"; its {_codings_word(n_codings)} not imported"
        if start is None or end is None:
            bad = " and ".join(f"{key}={value!r}" if value is not None else f"no {key}"
                               for key, value in (("startPosition", raw_start),
                                                  ("endPosition", raw_end))
                               if _int(value) is None)
            plan.refused.append(f"{name}: selection {label} has {bad}, not a whole "
                                f"number{lost}")
            continue
        placed = tmap.place(start, end)
        where = f"{name}: selection {label} (from {start} to {end})"
        if placed is None:
            if start < 0:
                why = "starts before the start of the text"
            elif end > tmap.length:
                why = (f"ends past the end of the text ({tmap.length} positions, counted as "
                       f"{described})")
            else:
                why = "is empty or reversed"
            plan.refused.append(f"{where} {why}{lost}")
            continue
        doubts = _doubts(placed, tmap, attr(sel, "name") or "")
        if doubts:
            plan.inexact.append(f"{where} {', '.join(doubts)}")
        memo = [child_text(sel, "Description").strip()] + _note_texts(sel, ctx)
        for coding in _codings(sel, ctx, plan, name, memo):
            source.selections.append(Selection(placed.start, placed.end, *coding))
    for coding in _codings(found.el, ctx, plan, name, []):
        source.whole.append(Selection(0, len(tmap.text), *coding))
    return source


def _codings_word(n: int) -> str:
    return "coding is" if n == 1 else f"{n} codings are"


def _doubts(placed: Placement, tmap: TextMap, name: str) -> list[str]:
    """Why a placed selection may not be where the other tool showed it."""
    doubts = []
    for side, split, cut in (("starts", placed.split_start, placed.cut_start),
                             ("ends", placed.split_end, placed.cut_end)):
        if split:
            doubts.append(f"{side} inside a character (the whole character is kept)")
        elif cut:
            doubts.append(f"{side} inside a word")
    if tmap.name_matches(placed, name) is False:
        doubts.append("its name does not match the text at its position")
    return doubts


def _selections_of(el: ET.Element) -> list[ET.Element]:
    return children(el, "PlainTextSelection")


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _int(value: str | None) -> int | None:
    """A position attribute as an integer; None if it is missing or not a whole number."""
    if value is None or not _INTEGER.fullmatch(value.strip()):
        return None
    return int(value.strip())


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


def _source_text(el: ET.Element, ctx: _Context, name: str,
                 plan: Plan) -> tuple[str, bool, bool] | None:
    """The plain text of a source, whether its file had a BOM, and whether it was inline in the
    XML (None if it is missing from the archive)."""
    content = child(el, "PlainTextContent")
    if content is not None and content.text:
        return content.text, False, True
    ref = attr(el, "plainTextPath") or ""
    archive = ctx.archive
    member = archive.resolve(ref, ctx.base) if archive is not None else None
    if archive is None or member is None:
        plan.missing.append(f"{name} ({ref or 'no plainTextPath'})")
        return None
    if archive.is_folder(member):
        raise ExchangeError(f"refused: the text source {name!r} ({ref}) points at {member!r}, "
                            "which is a folder of the archive, not a file; export the project "
                            "again", path=archive.path)
    data = archive.read(member)
    return decode_text(data), has_bom(data), False


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
