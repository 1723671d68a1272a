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

Nothing is left out silently: everything a project holds that tipqual has no place for is listed
under ``dropped`` with why, one line each: the codings of non-text sources (of their selections,
transcripts and text representations; a PDF quotation repeated in its representation counts
once), sets, links and graphs, every note that did not become a coding's memo (with what it was
attached to: the project, a source, a code, a case, nothing), codings inside notes, a source's
own memo, the memos of selections no code was given,
a case's description, the selections and codes given to a case (tipqual gives cases whole
sources) and a source a second case claims.

A source's own variables (MAXQDA's document variables, where a document is the case) become
attributes of its case: of the case that holds it, beside the case's own values (a case's own
value, or the first of its sources' values, is kept where two disagree, and the other is listed
under ``dropped``), or of a new case named after the source when no case holds it (listed under
``notes``).

The project file may be in any encoding (UTF-16 from Windows tools, ``windows-1252``,
``Shift_JIS`` …): it is read as UTF-8 (:func:`tipqual.exchange.qdaxml.as_utf8`) before anything
else, so the lines named in messages are found in every encoding.

Refused, never guessed at: a selection whose positions are not whole numbers, fall outside the
text or are empty (listed under ``refused``), an archive with two members of one name or with
links or devices (see :class:`~tipqual.exchange.archive.Archive`), and a project that gives two
codes, sources, selections or users the same GUID. Selections placed but not exactly (a boundary
inside a character or a word, a name that does not match the text) are listed under ``inexact``.

Names are held to the rules of plain import, but a partner's file is not refused for them: a
name that cannot be stored as given is stored under a new one and listed under ``renamed`` (with
the line of its element). A user name is checked as ``code add`` checks a coder name
(:func:`tipqual.coding.csvio.check_coder_name`: control characters, tipqual's suggester names,
over 64 characters …); one not allowed, missing or given to two users becomes ``user-GUID8``
(the first 8 hex digits of its GUID). A source, case or attribute name with a line break, a
control or an invisible character (the rule of cases.csv ids) becomes ``source-GUID8`` (its
extension kept), ``case-GUID8`` or ``attribute-GUID8``.

With a redactor (``refi import --redact``) every string that enters the study goes through it,
as with ``tipqual import --redact``: the study's name and the tool's, user names (a user name
that changes is stored as ``user-GUID8``), source names (and so their ids and stored names),
case names, attribute names and values, source texts with their speaker labels (through
:func:`tipqual.ingest.importer.redact_parsed`, so segments are cut as plain import cuts them),
and the memos of selections and codings (their descriptions and notes). The codebook is not: a
partner's codes, definitions and examples are the study's tools, not its participants' data.
Selections are moved with the text, onto the same words; one whose boundary falls inside a
replaced piece codes the whole placeholder and is listed under ``inexact``. Two names that would
share one pseudonymised case or attribute name are kept apart (the second gets the GUID name).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from tipqual.errors import ExchangeError, IngestError, ProjectError, quoted
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
    find_project_file,
    has_bom,
    producer_of,
)
from tipqual.exchange.qdaxml import (
    attr,
    child,
    child_text,
    children,
    descendants,
    is_guid,
    localname,
    nfc,
    normalize_guid,
)

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.ingest.redact import Redactor
    from tipqual.store.project import Project

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
    where: str = ""  # the selection as the report names it ('' for a coding of a whole source)


@dataclass(frozen=True)
class Renamed:
    """A name from the project stored as another one, and why (the report lists each)."""

    what: str  # project, user, source, case or attribute
    given: str
    stored: str
    reason: str
    line: int | None = None  # of the element in the project file, when it can be found

    def to_dict(self) -> dict[str, Any]:
        """The rename as JSON data."""
        return {"what": self.what, "given": self.given, "stored": self.stored,
                "reason": self.reason, "line": self.line}


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
    markdown: bool = False


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
    renamed: list[Renamed] = field(default_factory=list)


def import_project(archive: str | Path, target: str | Path, *, command: str = "refi import",
                   allow_missing: bool = False, redact: bool = False,
                   roster: str | Path | None = None, key: str | Path | None = None,
                   model: str | None = None) -> dict[str, Any]:
    """Read ``archive`` and create the study ``target`` from it; returns the import report.

    A text source missing from the archive whose codings would be lost is an error unless
    ``allow_missing`` is given; nothing is created then. With ``redact`` (implied by
    ``roster``, ``key`` or ``model``) every string that enters the study is pseudonymised as
    ``tipqual import --redact`` does (see the module's docstring); the redaction key is written
    only once the study is there.
    """
    from tipqual.store.project import Project

    target = Path(target)
    if target.exists():
        raise ProjectError("a file already exists there; 'refi import' creates a new study, "
                           "choose another path", path=target)
    redactor, key_file = None, None
    if redact or roster is not None or key is not None or model is not None:
        redactor, key_file = _make_redactor(target, roster, key, model)
    plan = read_plan(archive, redactor)
    if plan.lost and not allow_missing:
        name, ref, n = plan.lost[0]
        more = len(plan.lost) - 1
        others = f" (and {more} more source{'s' if more > 1 else ''} with codings)" if more \
            else ""
        raise ExchangeError(f"the plain text of the text source {name!r} ({ref}) is not in "
                            f"the archive, so its {_n(n, 'coding')} would be lost{others}; "
                            "export the project again with its sources, or give --allow-missing "
                            "to import without them", path=archive)
    segmented = [(src, _segments_for(src, redactor, plan)) for src in plan.sources]
    counts: dict[str, int | list[str]] = {}
    Project.create(target, name=plan.name, command=command,
                   fill=lambda p: counts.update(_write(p, plan, segmented))).close()
    if redactor is not None and key_file is not None:
        _save_key(redactor, key_file, target)
    return {"study": str(target), "name": plan.name, "origin": plan.origin,
            "producer": plan.producer, **counts, "missing": plan.missing,
            "skipped": plan.skipped, "dropped": plan.dropped, "notes": plan.notes,
            "refused": plan.refused, "inexact": plan.inexact, "counting": plan.counting,
            "renamed": [r.to_dict() for r in plan.renamed], "redacted": redactor is not None,
            "key": str(key_file) if key_file is not None else None}


def renamed_line(entry: dict[str, Any]) -> str:
    """One rename of the report (:meth:`Renamed.to_dict`) as a line of the summary."""
    line = f" (line {entry['line']})" if entry.get("line") else ""
    as_what = "coder " if entry["what"] == "user" else ""
    return (f"{entry['what']} {quoted(entry['given'])}{line} is stored as {as_what}"
            f"{entry['stored']!r}: {entry['reason']}")


def _make_redactor(target: Path, roster: str | Path | None, key: str | Path | None,
                   model: str | None) -> tuple[Any, Path]:
    from tipqual.ingest import redact as pii

    key_file = Path(key) if key is not None else pii.default_key_path(target)
    names = pii.read_roster(Path(roster)) if roster is not None else []
    nlp = pii.load_model(model) if model else None
    return pii.Redactor(names, pii.read_key(key_file), nlp), key_file


def _save_key(redactor: Redactor, key_file: Path, target: Path) -> None:
    """Write (or keep) the redaction key; if that fails, the new study goes too."""
    from tipqual.ingest.redact import write_key

    try:
        if redactor.changed or not key_file.exists():
            write_key(key_file, redactor.key)
        else:
            key_file.chmod(0o600)
    except (IngestError, OSError) as exc:
        target.unlink(missing_ok=True)
        message = exc.message if isinstance(exc, IngestError) else \
            f"cannot write the redaction key: {exc.strerror or exc}"
        raise IngestError(f"{message}; the new study was removed (its placeholders would have "
                          "no key): make the key's folder writable, or name another key with "
                          "--key, and import again", path=key_file) from exc


# --- reading ----------------------------------------------------------------------------------

def read_plan(path: str | Path, redactor: Redactor | None = None) -> Plan:
    """Read a ``.qdpx`` (or bare ``.qde``) into a :class:`Plan`; never touches a study.

    With a ``redactor`` the names (project, users, sources, cases, attributes) are
    pseudonymised here; texts and memos are when the sources are segmented.
    """
    path = Path(path)
    if not path.exists() or path.is_dir():
        raise ExchangeError("no such file; give the path of a .qdpx archive", path=path)
    if not zipfile.is_zipfile(path):
        data = path.read_bytes()
        if not qdaxml.looks_like_xml(data[:64]):
            raise ExchangeError("not a .qdpx archive (neither a zip file nor a QDA-XML .qde); "
                                "export the project again as REFI-QDA", path=path)
        data = qdaxml.as_utf8(data, path)  # UTF-16, windows-1252 …: lines are found in UTF-8
        return _plan(qdaxml.parse_xml(data, path), data, path, str(path), None, "", redactor)
    archive = Archive(path)
    try:
        qde = find_project_file(archive)
        data = qdaxml.as_utf8(archive.read(qde), f"{path}/{qde}")
        root = qdaxml.parse_xml(data, f"{path}/{qde}")
        base = str(PurePosixPath(qde).parent)
        plan = _plan(root, data, path, f"{path}/{qde}", archive,
                     "" if base == "." else base + "/", redactor)
        plan.dropped += [f"{other}: another project file in the archive, not read (the "
                         f"project is {qde})" for other in sorted(archive.names)
                         if other.lower().endswith(".qde") and other != qde]
        return plan
    finally:
        archive.close()


# Elements whose GUIDs must be unique, the tags they are written with (for the line number).
_GUID_KINDS = (("codes", "Code"), ("sources", r"\w*Source"), ("selections", "PlainTextSelection"),
               ("users", "User"))


def _check_guids(root: ET.Element, data: bytes, where: str) -> None:
    """Refuse a project that gives two codes, sources, selections or users the same GUID (two
    users with one GUID would put one's codings under the other's name)."""
    users_el = child(root, "Users")
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
                       for sel in _selections_of(src)],
        "users": [(el, None) for el in (children(users_el, "User")
                                        if users_el is not None else [])]}
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
          base: str, redactor: Redactor | None) -> Plan:
    from tipqual.codebook.formats import from_qdc, saved_codebook
    from tipqual.codebook.model import Code, Codebook

    if localname(root.tag) != "Project":
        raise ExchangeError(f"not a REFI-QDA project: the root element is "
                            f"<{localname(root.tag)}>, expected <Project>", path=path)
    ns = qdaxml.namespace(root.tag)
    if ns and "QDA-XML" not in ns:
        raise ExchangeError(f"not a REFI-QDA project: unknown namespace {ns!r}", path=path)
    _check_guids(root, data, where)
    renamed: list[Renamed] = []
    names = _Names(data, redactor, renamed)
    raw_origin = attr(root, "origin") or ""
    origin = names.record("origin", raw_origin, *names.fit(raw_origin, ""), "Project", None)
    given = nfc(attr(root, "name")) or path.stem
    name = names.record("project", given, *names.fit(given, "project"), "Project", None)
    users = _users(root, names)
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
    ctx = _Context(path=path, archive=archive, base=base, origin=raw_origin,
                   producer=producer_of(raw_origin), users=users, default_user=default_user,
                   code_of=code_of, notes=_notes(root), names=names)
    case_leftovers: list[str] = []
    cases, case_of, variables = _cases(root, names, case_leftovers)
    plan = Plan(name=name, origin=origin, producer=ctx.producer, codebook=codebook,
                cases=cases, sources=[], renamed=renamed, dropped=case_leftovers)
    pending: list[_Pending] = []
    sources_el = child(root, "Sources")
    for el in (list(sources_el) if sources_el is not None else []):
        kind = localname(el.tag)
        label = nfc(attr(el, "name")) or normalize_guid(attr(el, "guid"))
        if kind in NON_TEXT:
            plan.skipped.append(f"{label} ({NON_TEXT[kind]})")
            n = _non_text_codings(el)
            if n:
                article = "an" if NON_TEXT[kind][0] in "aeiou" else "a"
                plan.dropped.append(f"{label}: {_n(n, 'coding')} not imported ({article} "
                                    f"{NON_TEXT[kind]} source: tipqual codes text only)")
        elif kind == "TextSource":
            plan.dropped += _source_leftovers(el, label)
            found = _read_source(el, ctx, plan)
            if found is not None:
                pending.append(found)
    countings = choose_countings([(p.text, p.text.bom, p.probes) for p in pending],
                                 [p.default for p in pending])
    used: set[str] = set()
    for found, counting in zip(pending, countings, strict=True):
        planned = _place_source(found, counting, ctx, plan, used)
        planned.case = case_of.get(normalize_guid(attr(found.el, "guid")))
        _document_variables(planned, _values(found.el, variables, names), plan)
        plan.sources.append(planned)
    plan.dropped += _project_leftovers(root, ctx)
    return plan


@dataclass
class _Context:
    path: Path
    archive: Archive | None
    base: str
    origin: str  # as the project gives it (the one stored is ``Plan.origin``)
    producer: str
    users: dict[str, str]
    default_user: str
    code_of: dict[str, str]
    notes: dict[str, str]
    names: _Names
    used_notes: set[str] = field(default_factory=set)  # GUIDs of the notes that became memos


# An element's tag and GUID, wherever the element starts (for the line of a renamed name).
_ELEMENT_GUID = re.compile(r"<(?:[\w.-]+:)?([\w.-]+)\b[^>]*?\bguid\s*=\s*([\"'])\s*\{?\s*"
                           r"([^\"'{}]*?)\s*\}?\s*\2", re.IGNORECASE)
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


class _Names:
    """The project's names made fit to store, every change recorded in ``renamed``.

    A name holding a line break, a control or an invisible character (the rule of cases.csv
    ids, :mod:`tipqual.ingest.readers`) is stored as a name made from its element's GUID
    (``case-1a2b3c4d``); with a redactor every name is pseudonymised first.
    """

    def __init__(self, data: bytes, redactor: Any, renamed: list[Renamed]):
        self._data = data
        self._lines: dict[tuple[str, str], int] | None = None
        self.redactor = redactor
        self.renamed = renamed

    def redact(self, text: str) -> str:
        """``text`` pseudonymised (unchanged without a redactor)."""
        return text if self.redactor is None or not text else self.redactor.redact_string(text)

    def fit(self, given: str, fallback: str) -> tuple[str, str | None]:
        """The name stored for ``given``, and why it differs (None when it does not)."""
        from tipqual.ingest.readers import invisible_problem  # the cases.csv id rule, one for both

        bad = invisible_problem(given)
        if bad is not None:
            return fallback, f"it holds {bad}"
        stored = self.redact(given)
        return stored, "pseudonymised" if stored != given else None

    def record(self, what: str, given: str, stored: str, reason: str | None, tag: str,
               guid: str | None) -> str:
        """Note a rename (when there is a ``reason``); returns ``stored``."""
        if reason is not None:
            self.renamed.append(Renamed(what, given, stored, reason,
                                        self.line(tag, guid) if guid else None))
        return stored

    def line(self, tag: str, guid: str) -> int | None:
        """The line of the first ``tag`` element with this GUID in the project file."""
        if self._lines is None:
            text = self._data.decode("utf-8", errors="replace")
            self._lines, at, line = {}, 0, 1
            for m in _ELEMENT_GUID.finditer(text):
                line += text.count("\n", at, m.start())
                at = m.start()
                self._lines.setdefault((m.group(1), normalize_guid(m.group(3))), line)
        return self._lines.get((tag, normalize_guid(guid)))


def _guid8(guid: str | None, n: int) -> str:
    """A short stable tag for an element: its GUID's first 8 hex digits (a hash of a GUID that
    is not one; the element's number without a GUID)."""
    if not normalize_guid(guid):
        return str(n)
    if is_guid(guid):
        return normalize_guid(guid)[:8].lower()
    return hashlib.sha256((guid or "").encode("utf-8")).hexdigest()[:8]


def _unique(name: str, taken: set[str] | dict[str, str]) -> str:
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}-{n}", n + 1
    return unique


def _users(root: ET.Element, names: _Names) -> dict[str, str]:
    """Coder names by user GUID, each checked as ``code add`` checks a coder name.

    A name not allowed there (a control character, a tipqual suggester's name, too long …),
    pseudonymised, missing or given to two users is stored as ``user-GUID8`` and listed;
    spaces around a name are dropped (and that is listed too).
    """
    from tipqual.coding.csvio import CODER_NAME_FORM, check_coder_name
    from tipqual.errors import CodingError

    users: dict[str, str] = {}
    taken: set[str] = set()
    users_el = child(root, "Users")
    for n, el in enumerate(children(users_el, "User") if users_el is not None else [], 1):
        guid = attr(el, "guid")
        written = unicodedata.normalize("NFC", attr(el, "name") or attr(el, "id") or "")
        given = written.strip(" ")  # spaces only: a line break or a control character stays
        stored, reason = given, None
        if not given.strip():
            reason = "the user has no name"
        elif names.redact(given) != given:
            reason = "pseudonymised"
        else:
            try:
                check_coder_name(given)
            except CodingError as exc:
                reason = _coder_problem(exc.message, CODER_NAME_FORM)
            else:
                if given in taken:
                    reason = "another user of the project has this name"
        if reason is not None:
            stored = _unique(f"user-{_guid8(guid, n)}", taken)
        elif given != written:
            reason = "the spaces around it were dropped"
        names.record("user", written, stored, reason, "User", guid)
        taken.add(stored)
        users[normalize_guid(guid)] = stored
    return users


def _coder_problem(message: str, form: str) -> str:
    """What :func:`~tipqual.coding.csvio.check_coder_name` found wrong, without the name."""
    problem = message.removesuffix(f"; {form}")
    return problem.rsplit(" is not allowed: ", 1)[-1] if " is not allowed: " in problem \
        else problem.removeprefix("the coder name ")


def _notes(root: ET.Element) -> dict[str, str]:
    notes_el = child(root, "Notes")
    out: dict[str, str] = {}
    for el in children(notes_el, "Note") if notes_el is not None else []:
        text = child_text(el, "PlainTextContent").strip() or child_text(el, "Description").strip()
        if text:
            out[normalize_guid(attr(el, "guid"))] = text
    return out


def _cases(root: ET.Element, names: _Names, leftovers: list[str]
           ) -> tuple[dict[str, dict[str, str]], dict[str, str], dict[str, str]]:
    """Case attributes by case id, the case of each source GUID and the stored attribute name
    of each variable GUID (names made fit to store: see :class:`_Names`; two names that
    pseudonymising would make one are kept apart).

    What a case holds that tipqual cannot keep (a memo, parts of sources or codes given to
    it, a source another case has already) is added to ``leftovers``, one line each."""
    variables: dict[str, str] = {}
    vars_el = child(root, "Variables")
    stored_of: dict[str, str] = {}  # attribute name as given -> as stored
    for n, el in enumerate(children(vars_el, "Variable") if vars_el is not None else [], 1):
        guid = attr(el, "guid")
        given = nfc(attr(el, "name"))
        if given:
            variables[normalize_guid(guid)] = _fit_apart(
                names, "attribute", given, f"attribute-{_guid8(guid, n)}", "Variable", guid,
                stored_of)
    cases: dict[str, dict[str, str]] = {}
    case_of: dict[str, str] = {}
    sources_el = child(root, "Sources")
    source_names = {normalize_guid(attr(el, "guid")): nfc(attr(el, "name"))
                    for el in (sources_el if sources_el is not None else [])}
    cases_el = child(root, "Cases")
    stored_of = {}
    for n, el in enumerate(children(cases_el, "Case") if cases_el is not None else [], 1):
        guid = attr(el, "guid")
        given = nfc(attr(el, "name"))
        case_id = _fit_apart(names, "case", given, f"case-{_guid8(guid, n)}", "Case", guid,
                             stored_of) if given else f"case-{n}"
        cases.setdefault(case_id, {}).update(_values(el, variables, names))
        for ref in children(el, "SourceRef"):
            target = normalize_guid(attr(ref, "targetGUID"))
            first = case_of.setdefault(target, case_id)
            if first != case_id:
                shown = repr(source_names[target]) if source_names.get(target) else target
                leftovers.append(f"case {case_id!r}: the source {shown} is already in the case "
                                 f"{first!r} and stays there (a tipqual source belongs to one "
                                 "case)")
        leftovers += _case_leftovers(el, case_id)
    return cases, case_of, variables


def _values(el: ET.Element, variables: dict[str, str], names: _Names) -> dict[str, str]:
    """The attribute values an element (a case or a source) gives, by stored attribute name;
    each value pseudonymised when there is a redactor."""
    out: dict[str, str] = {}
    for value_el in children(el, "VariableValue"):
        ref = child(value_el, "VariableRef")
        var = variables.get(normalize_guid(attr(ref, "targetGUID"))) if ref is not None \
            else None
        value = next((child_text(value_el, t) for t in _VALUE_TAGS
                      if child(value_el, t) is not None), None)
        if var and value is not None:
            out[var] = names.redact(value.strip())
    return out


def _document_variables(planned: PlannedSource, values: dict[str, str], plan: Plan) -> None:
    """A source's own variables made attributes of its case (a new case named after the
    source when none holds it). A value the case has already (from its ``<Case>`` or an
    earlier source) is kept, and a different one is listed."""
    if not values:
        return
    if planned.case is None:
        planned.case = _unique(planned.id, set(plan.cases))
        plan.cases[planned.case] = {}
        plan.notes.append(f"{planned.name}: no case holds it; its "
                          f"{_n(len(values), 'document variable')} became the attributes of "
                          f"a new case {planned.case!r}")
    attrs = plan.cases[planned.case]
    for name, value in sorted(values.items()):
        if attrs.setdefault(name, value) != value:
            plan.dropped.append(f"{planned.name}: its document variable {name!r} = {value!r} "
                                f"not kept (its case {planned.case!r} already has {name!r} = "
                                f"{attrs[name]!r})")


def _n(n: int, what: str) -> str:
    """``1 coding``, ``2 codings``."""
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _case_leftovers(el: ET.Element, case_id: str) -> list[str]:
    """What a ``<Case>`` holds besides attributes and whole sources, one line each."""
    out = []
    if child_text(el, "Description").strip():
        out.append(f"case {case_id!r}: its description (tipqual keeps attributes of cases, "
                   "not memos)")
    n = len(children(el, "SelectionRef"))
    if n:
        out.append(f"case {case_id!r}: {_n(n, 'selection')} given to it (tipqual gives a case "
                   "whole sources: give it the source in the other tool)")
    n = len(children(el, "CodeRef"))
    if n:
        out.append(f"case {case_id!r}: {_n(n, 'code')} linked to it (tipqual links cases to "
                   "sources only)")
    return out


def _non_text_codings(el: ET.Element) -> int:
    """The codings of a PDF, picture, audio or video source: of the source itself and of its
    selections, transcripts and text representation (a PDF's text representation repeats the
    GUIDs of its PDF selections, so a quotation coded in both counts once)."""
    seen: set[tuple[str, str]] = set()
    n = 0
    for holder in el.iter():
        sel_guid = normalize_guid(attr(holder, "guid")) if holder is not el else ""
        for coding in children(holder, "Coding"):
            ref = child(coding, "CodeRef")
            code = normalize_guid(attr(ref, "targetGUID")) if ref is not None else ""
            key = (sel_guid, code)
            if sel_guid and key in seen:
                continue
            seen.add(key)
            n += 1
    return n


def _source_leftovers(el: ET.Element, name: str) -> list[str]:
    """What a text source holds that tipqual does not keep: its memo and the memos of
    selections no code was given (its own variables go to its case)."""
    out = []
    if child_text(el, "Description").strip():
        out.append(f"{name}: the source's memo (its description; tipqual keeps memos on "
                   "codings)")
    bare = [s for s in _selections_of(el) if not children(s, "Coding")
            and (child_text(s, "Description").strip() or children(s, "NoteRef"))]
    if bare:
        out.append(f"{name}: {_n(len(bare), 'selection')} without codings, with "
                   f"{'its memo' if len(bare) == 1 else 'their memos'} (tipqual keeps coded "
                   "passages only)")
    return out


_OWNERS = {"Project": "the project", "Code": "the code", "Case": "the case",
           "Set": "the set", "Note": "the note"}


def _project_leftovers(root: ET.Element, ctx: _Context) -> list[str]:
    """What the project holds that tipqual has no place for, one line each: sets, links,
    graphs, the project's description, and every note that did not become a coding's memo
    (with what it was attached to)."""
    out = []
    for tag, what, why in (("Sets", "set", "tipqual groups sources by case and codes by "
                                            "parent"),
                           ("Links", "link", "tipqual keeps no links between codes, notes and "
                                             "passages"),
                           ("Graphs", "graph", "tipqual draws no code networks")):
        holder = child(root, tag)
        items = children(holder, tag[:-1]) if holder is not None else []
        if items:
            shown = ", ".join(repr(nfc(attr(i, "name")) or normalize_guid(attr(i, "guid")))
                              for i in items[:5])
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            out.append(f"{_n(len(items), what)} ({shown}{more}): {why}")
    if child_text(root, "Description").strip():
        out.append("the project's description (tipqual keeps memos on codings)")
    owners: dict[str, str] = {}
    for holder in root.iter():
        for ref in children(holder, "NoteRef"):
            target = normalize_guid(attr(ref, "targetGUID"))
            kind = localname(holder.tag)
            if kind in _OWNERS or kind.endswith("Source"):
                named = nfc(attr(holder, "name"))
                owner = "the project" if kind == "Project" else \
                    f"{_OWNERS.get(kind, 'the source')} {named!r}" if named else \
                    _OWNERS.get(kind, "a source")
            else:
                owner = "a passage not imported"
            owners.setdefault(target, owner)
    notes_el = child(root, "Notes")
    for el in children(notes_el, "Note") if notes_el is not None else []:
        guid = normalize_guid(attr(el, "guid"))
        name = nfc(attr(el, "name")) or guid
        # a note is a text of its own, and some tools code passages of it
        coded = sum(1 for d in el.iter() if localname(d.tag) == "Coding")
        if coded:
            out.append(f"note {name!r}: {_n(coded, 'coding')} of passages in the note not "
                       "imported (tipqual codes the text of sources only)")
        if guid in ctx.used_notes:
            continue
        where = f"on {owners[guid]}" if guid in owners else "on nothing"
        out.append(f"note {name!r} ({where}): tipqual keeps memos on codings only")
    return out


def _fit_apart(names: _Names, what: str, given: str, fallback: str, tag: str,
               guid: str | None, stored_of: dict[str, str]) -> str:
    """``given`` made fit to store (:meth:`_Names.fit`), never the name stored for another
    name given; the same name given twice is one case or attribute, as before."""
    if given in stored_of:
        return stored_of[given]
    stored, reason = names.fit(given, fallback)
    taken = set(stored_of.values())
    if stored in taken:
        stored = _unique(fallback, taken)
        reason = f"{reason + ', and ' if reason else ''}another {what} is stored under that name"
    stored_of[given] = names.record(what, given, stored, reason, tag, guid)
    return stored


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
            plan.dropped.append(f"{name}: {_n(n, 'coding')} skipped with the source")
            plan.lost.append((name, _text_ref(el), n))
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
    guid = attr(found.el, "guid")
    suffix = _SUFFIX.search(name)
    stored, reason = ctx.names.fit(
        name, f"source-{_guid8(guid, len(used) + 1)}{suffix.group() if suffix else ''}")
    source_id = _source_id(stored, used)
    ctx.names.record("source", name, source_id, reason, localname(found.el.tag), guid)
    plan.counting[name if name not in plan.counting else f"{name} ({source_id})"] = described
    tmap = TextMap(text, counting)
    meta: dict[str, Any] = {"refi": {"guid": normalize_guid(guid), "name": stored,
                                     "origin": plan.origin}}
    if ctx.names.redactor is not None:
        meta["redacted"] = True
    source = PlannedSource(id=source_id, name=stored, text=tmap.text, case=None, meta=meta,
                           markdown=name.lower().endswith(".md"))
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
            source.selections.append(Selection(placed.start, placed.end, *coding, where=where))
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
    """The texts of the notes ``el`` links to (each noted as imported)."""
    targets = [normalize_guid(attr(r, "targetGUID")) for r in children(el, "NoteRef")]
    ctx.used_notes.update(targets)
    return [ctx.notes.get(target, "") for target in targets]


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
    """The coder of a coding whose user is not among the project's users."""
    if guid and normalize_guid(guid):
        return f"user-{_guid8(guid, 0)}"
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
    member = archive.resolve(ref, ctx.base) if archive is not None and ref else None
    if archive is None or member is None:
        plan.missing.append(f"{name} ({_text_ref(el)})")
        return None
    if archive.is_folder(member):
        raise ExchangeError(f"refused: the text source {name!r} ({ref}) points at {member!r}, "
                            "which is a folder of the archive, not a file; export the project "
                            "again", path=archive.path)
    data = archive.read(member)
    return decode_text(data), has_bom(data), False


def _text_ref(el: ET.Element) -> str:
    """Where a text source says its plain text is, for messages: its ``plainTextPath``, or
    that it has none (and only a rich text, which positions do not count in)."""
    ref = (attr(el, "plainTextPath") or "").strip()
    if ref:
        return ref
    rich = (attr(el, "richTextPath") or "").strip()
    return f"no plainTextPath, only the rich text {rich}" if rich else "no plainTextPath"


# --- segmenting and writing -------------------------------------------------------------------

def _segments_for(src: PlannedSource, redactor: Any = None, plan: Plan | None = None) -> list:
    """Segments of a source's stored text, cut exactly as ``tipqual import`` cuts a .txt/.md
    (and, with a redactor, pseudonymised as ``tipqual import --redact`` does)."""
    from tipqual.ingest.importer import SegmentationRules, build_segments, parse_text, split_long

    rules = SegmentationRules()
    parsed = parse_text(src.text, rules, markdown=src.markdown)
    if redactor is not None:
        parsed = _redact_source(src, parsed, redactor, plan)
    return build_segments(src.id, split_long(parsed, rules))


class _Remembering:
    """A redactor that remembers the replacements it made in each text it was given."""

    def __init__(self, redactor: Any):
        self._redactor = redactor
        self.made: dict[str, list[tuple[int, int, int]]] = {}

    def redact(self, text: str) -> tuple[str, list[tuple[int, int, int]]]:
        out = self._redactor.redact(text)
        self.made[text] = out[1]
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redactor, name)


def _redact_source(src: PlannedSource, parsed: Any, redactor: Any, plan: Plan | None) -> Any:
    """The source's text, speakers and memos pseudonymised as ``import --redact`` does
    (:func:`tipqual.ingest.importer.redact_parsed`), its selections moved with the text.

    A selection keeps its words; a boundary inside a replaced piece moves out to the edge of
    its placeholder (so the whole placeholder is coded), and that selection is listed.
    """
    from tipqual.ingest.importer import redact_parsed
    from tipqual.ingest.redact import OffsetMap

    original = parsed.text
    remembering = _Remembering(redactor)
    parsed = redact_parsed(parsed, remembering)
    made = remembering.made.get(original)
    if made is None:  # the same replacements again (placeholders are stable)
        made = redactor.redact(original)[1]
    offsets, starts = OffsetMap(made), [r[0] for r in made]

    def inside(pos: int) -> bool:
        k = bisect_right(starts, pos) - 1
        return k >= 0 and made[k][0] < pos < made[k][1]

    listed: set[str] = set()
    for sel in src.selections + src.whole:
        cut = [side for side, pos in (("starts", sel.start), ("ends", sel.end)) if inside(pos)]
        if cut and sel.where and plan is not None and sel.where not in listed:
            listed.add(sel.where)
            plan.inexact.append(f"{sel.where} {' and '.join(cut)} inside personal information "
                                "that was replaced (its whole placeholder is coded)")
        sel.start, sel.end = offsets.start(sel.start), offsets.end(sel.end)
        sel.memo = redactor.redact_text(sel.memo)
    src.text = parsed.text
    return parsed


def _write(project: Project, plan: Plan, segmented: list) -> dict[str, int | list[str]]:
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
                where = sel.where or f"{src.name}: a coding of the whole source"
                plan.dropped.append(f"{where} covers only a speaker label or blank lines, "
                                    "which tipqual does not code")
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
