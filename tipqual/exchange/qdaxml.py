"""Shared QDA-XML (REFI-QDA) helpers: namespaces, GUIDs, safe parsing, codes in and out.

Used by the codebook exchange (``.qdc``) and the project exchange (``.qdpx``). Parsing goes
through :mod:`defusedxml` with DTDs, entities and external references refused, so an entity
bomb or an external-entity file fails at once with an :class:`ExchangeError` naming the file.
Reading is lenient about what real tools write (namespace variants, GUID case and braces, a
BOM); writing always produces the QDA-XML 1.0 form that validates against the schemas.

Code ids are derived from code names as lowercase slugs (``"Trust in SAPS"`` → ``trust-in-saps``),
made unique in document order; nesting becomes ``parent`` ids. A GUID that tipqual itself wrote
(``stable_guid("code", id)``) gives its id back when that id is the slug of the name or of its
first words (``partnership`` for "Partnership and collaboration"). A code with ``isCodable="false"``
is kept (its children need it) and reported as a category: through the ``codable`` field of
:class:`tipqual.codebook.model.Code` when that field exists, and through the ``categories`` set a
caller may pass in.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

from tipqual.errors import ExchangeError

if TYPE_CHECKING:
    from tipqual.codebook.model import Code, Codebook

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
PROJECT_NS_VARIANTS = (PROJECT_NS, "urn:QDA-XML:project:0:10", "urn:QDA-XML:project:1:0")
CODEBOOK_NS_VARIANTS = (CODEBOOK_NS, "urn:QDA-XML:codebook:0:4", "urn:QDA-XML:codebook:1:0")

# Fixed forever: every GUID tipqual writes is uuid5(TIPQUAL_NAMESPACE, "kind:key"), so the same
# study exported twice carries the same GUIDs and other tools see updates, not new objects.
TIPQUAL_NAMESPACE = uuid.UUID("6f1c2a7e-4b9d-5e3a-9c8f-2d7e41b0a6c5")

_GUID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
_RGB_RE = re.compile(r"^#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")
_BOMS = (b"\xef\xbb\xbf",)


def stable_guid(kind: str, key: str) -> str:
    """A GUID (upper-case 8-4-4-4-12) derived from a kind and a key; the same every run."""
    return str(uuid.uuid5(TIPQUAL_NAMESPACE, f"{kind}:{key}")).upper()


def normalize_guid(s: str | None) -> str:
    """A GUID in one canonical form: no braces or spaces, upper case ('' for None)."""
    if s is None:
        return ""
    return s.strip().strip("{}").strip().upper()


def is_guid(s: str | None) -> bool:
    """True if ``s`` is a GUID once normalised."""
    return bool(_GUID_RE.match(normalize_guid(s)))


# --- parsing ------------------------------------------------------------------------------------

# (byte-order mark, or how the first characters "<?" look without one; the codec)
_WIDE = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
         (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
         (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"))
_DECLARED = re.compile(rb"\A\s*<\?xml\b[^>]*?\bencoding\s*=\s*([\"'])\s*([^\"'>]*?)\s*\1")
_DECLARATION = re.compile(r"\A(\s*<\?xml\b[^>]*?\bencoding\s*=\s*)([\"'])[^\"'>]*\2")
# Character sets an XML declaration may name, as codecs.lookup() names them: Unicode, the
# ISO 8859 and code-page families, and the East Asian, Cyrillic and Thai sets tools write.
_TEXT_CODEC = re.compile(r"utf-(?:8|16|32)(?:-[bl]e)?|ascii|iso8859-\d+|cp\d+|mac-[a-z]+"
                         r"|koi8-[ru]|kz1048|ptcp154|hp-roman8|tis-620|shift_jis(?:_?2004|x0213)?"
                         r"|euc_(?:jp|jis_2004|jisx0213|kr)|iso2022_[a-z0-9_]+|gb2312|gbk"
                         r"|gb18030|hz|big5(?:hkscs)?|johab")


def looks_like_xml(data: bytes) -> bool:
    """True if the bytes start as an XML document does (after a BOM and white space), in
    UTF-8, UTF-16 or UTF-32 or an encoding that writes ASCII as ASCII."""
    if data.startswith(_BOMS[0]):
        data = data[len(_BOMS[0]):]
    return data.lstrip(b" \t\r\n").startswith(b"<") or \
        any(data.startswith(head) for head, _ in _WIDE)


def as_utf8(data: bytes, path: str | Path) -> bytes:
    """An XML document's bytes as UTF-8, without a BOM, its declaration saying ``utf-8``.

    The encoding is the one its BOM (UTF-8, UTF-16, UTF-32), the shape of its first
    characters (UTF-16 or UTF-32 without a BOM) or its XML declaration names. Exports come in
    any encoding a tool's platform writes (UTF-16 from Windows tools, ``windows-1252``,
    ``Shift_JIS`` …), and expat reads only UTF-8, UTF-16 and single-byte encodings itself; the
    rest of the import (line numbers, tipqual's own comment) reads UTF-8. Line breaks are kept,
    so lines stay where they were. An encoding that is unknown, or bytes that are not in the
    encoding named, give an :class:`ExchangeError` naming ``path`` (and the line).
    """
    if data.startswith(_BOMS[0]):
        return data[len(_BOMS[0]):]
    codec = next((name for head, name in _WIDE if data.startswith(head)), None)
    if codec is None:
        m = _DECLARED.match(data[:1024])
        declared = m.group(2).decode("ascii", "replace") if m else ""
        if not declared:
            return data
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            codec = ""
        if not _TEXT_CODEC.fullmatch(codec):  # unknown, or not a character set (base64,
            # rot13, zlib …; UTF-7 and IDNA, which can spell markup in letters): refused
            raise ExchangeError(f"the XML declaration names the encoding {declared[:40]!r}, "
                                "which is not a known character set; export the file again "
                                "as UTF-8 (or correct the declaration)", path=path,
                                line=1) from None
        if codec == "utf-8" or codec.startswith(("utf-16", "utf-32")):
            return data  # expat reads these and says when the bytes are not what is declared
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1 if not codec.startswith("utf-") else \
            data[:exc.start].decode(codec, "replace").count("\n") + 1
        raise ExchangeError(f"malformed XML: bytes that are not {codec} text, the encoding "
                            "the file declares; export the file again as UTF-8", path=path,
                            line=line) from None
    text = _DECLARATION.sub(lambda m: f"{m.group(1)}{m.group(2)}utf-8{m.group(2)}",
                            text.removeprefix("\ufeff"), count=1)
    return text.encode("utf-8")


def parse_xml(data: bytes, path: str | Path) -> ET.Element:
    """Parse XML bytes safely (defusedxml, no DTD/entities); errors name ``path`` and the line.

    The bytes may be in any encoding (see :func:`as_utf8`).
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    data = as_utf8(data, path).lstrip(b" \t\r\n")
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        kind = type(exc).__name__
        what = {"DTDForbidden": "a DTD", "EntitiesForbidden": "entity declarations",
                "ExternalReferenceForbidden": "an external reference"}.get(kind, "unsafe XML")
        raise ExchangeError(f"refused: the XML contains {what}, which exchange files never "
                            "need (possible entity bomb or external-entity attack); re-export "
                            "it from the tool that wrote it", path=path) from None
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise ExchangeError(f"malformed XML: {_short_parse_message(exc)}; re-export the file",
                            path=path, line=line) from None
    except (LookupError, ValueError) as exc:  # an encoding expat cannot read, as declared
        raise ExchangeError(f"malformed XML: {exc}; export the file again as UTF-8",
                            path=path, line=1) from None


def _short_parse_message(exc: ET.ParseError) -> str:
    return str(exc).split(":", 1)[0].strip() or "cannot parse"


def localname(tag: str | object) -> str:
    """The tag without its ``{namespace}`` (comments and processing instructions give '')."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    """The namespace of a tag ('' when it has none)."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def children(el: ET.Element, name: str) -> list[ET.Element]:
    """Direct children with this local name, whatever their namespace."""
    return [c for c in el if localname(c.tag) == name]


def child(el: ET.Element, name: str) -> ET.Element | None:
    """The first direct child with this local name, or None."""
    for c in el:
        if localname(c.tag) == name:
            return c
    return None


def child_text(el: ET.Element, name: str) -> str:
    """The text of the first direct child with this local name ('' if none)."""
    c = child(el, name)
    return (c.text or "") if c is not None else ""


def descendants(el: ET.Element, name: str) -> Iterator[ET.Element]:
    """Every descendant (and ``el`` itself) with this local name, in document order."""
    for d in el.iter():
        if localname(d.tag) == name:
            yield d


def attr(el: ET.Element, name: str, default: str | None = None) -> str | None:
    """An attribute by local name (plain or namespace-qualified, any letter case)."""
    if name in el.attrib:
        return el.attrib[name]
    lowered = name.lower()
    for key, value in el.attrib.items():
        if localname(key).lower() == lowered:
            return value
    return default


def nfc(value: str | None) -> str:
    """A name in Unicode NFC, stripped (macOS tools write decomposed accents)."""
    return unicodedata.normalize("NFC", value or "").strip()


def qname(ns: str, name: str) -> str:
    """A Clark-notation tag ``{ns}name`` (just ``name`` when ``ns`` is empty)."""
    return f"{{{ns}}}{name}" if ns else name


# --- codes ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QdaCode:
    """A code read from QDA-XML: its GUID (normalised), the tipqual code, and its codability."""

    guid: str
    code: Code
    codable: bool


def slugify(name: str) -> str:
    """A lowercase id from a name: ASCII letters and digits joined by ``-``."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")
    if not slug:
        return "code"
    return slug if slug[0].isalpha() else f"c-{slug}"


def _id_for(name: str, guid: str, used: set[str]) -> str:
    """The id tipqual wrote under this GUID when it can be recognised, else a unique slug."""
    slug = slugify(name)
    words = slug.split("-")
    for n in range(len(words), 0, -1):
        candidate = "-".join(words[:n])
        if candidate not in used and stable_guid("code", candidate) == guid:
            used.add(candidate)
            return candidate
    return _unique(slug, used)


def _unique(slug: str, used: set[str]) -> str:
    candidate, n = slug, 2
    while candidate in used:
        candidate = f"{slug}-{n}"
        n += 1
    used.add(candidate)
    return candidate


def _has_codable_field() -> bool:
    from tipqual.codebook.model import Code

    return any(f.name == "codable" for f in dataclasses.fields(Code))


class _CodeFields(TypedDict):
    """The keyword arguments :func:`read_codes` gives :class:`~tipqual.codebook.model.Code`."""

    id: str
    name: str
    parent: str | None
    color: str | None
    definition: str
    codable: NotRequired[bool]


def read_codes(codes_el: ET.Element, path: str | Path | None = None, *,
               data: bytes | None = None) -> list[QdaCode]:
    """Every ``<Code>`` under a ``<Codes>`` element, pre-order, with ids, parents and GUIDs.

    The nesting is walked without recursion, and codes nested more than
    :data:`tipqual.codebook.check.MAX_CODE_DEPTH` levels are refused with an ExchangeError
    (naming the line when the file's bytes are given as ``data``).
    """
    from tipqual.codebook.check import MAX_CODE_DEPTH
    from tipqual.codebook.model import Code

    with_codable = _has_codable_field()
    used: set[str] = set()
    out: list[QdaCode] = []
    # (the <Code> children still to read, their parent's id, their level)
    pending: list[tuple[Iterator[ET.Element], str | None, int]] = [
        (iter(children(codes_el, "Code")), None, 1)]
    while pending:
        kids, parent, level = pending[-1]
        code_el = next(kids, None)
        if code_el is None:
            pending.pop()
            continue
        name = nfc(attr(code_el, "name")) or "unnamed code"
        if level > MAX_CODE_DEPTH:
            raise ExchangeError(f"the code {name[:60]!r} is nested more than {MAX_CODE_DEPTH} "
                                f"levels deep; codes may nest at most {MAX_CODE_DEPTH} levels, "
                                "so move it higher up in the tool that wrote the file",
                                path=path, line=_deep_code_line(data, MAX_CODE_DEPTH))
        raw_guid = normalize_guid(attr(code_el, "guid"))
        code_id = _id_for(name, raw_guid, used)
        codable = (attr(code_el, "isCodable", "true") or "true").strip().lower() \
            not in ("false", "0")
        color = _normal_color(attr(code_el, "color"))
        fields: _CodeFields = {"id": code_id, "name": name, "parent": parent, "color": color,
                               "definition": child_text(code_el, "Description").strip()}
        if with_codable:
            fields["codable"] = codable
        guid = raw_guid or stable_guid("code", code_id)
        out.append(QdaCode(guid=guid, code=Code(**fields), codable=codable))
        pending.append((iter(children(code_el, "Code")), code_id, level + 1))
    if not out:
        raise ExchangeError("the <Codes> element holds no <Code>", path=path)
    return out


class _Found(Exception):
    """Stops the line search of :func:`_deep_code_line`."""


def _deep_code_line(data: bytes | None, limit: int) -> int | None:
    """The line of the first ``<Code>`` nested more than ``limit`` levels in ``data``.

    Only called on the way to an error, on bytes that :func:`parse_xml` has already accepted
    (no DTD, no entities); expat reads them as a stream, without recursion.
    """
    if data is None:
        return None
    from xml.parsers import expat

    parser = expat.ParserCreate()
    levels: list[int] = []  # per open element: how many <Code> in a row it closes

    def start(name: str, attrs: object) -> None:
        is_code = name.rsplit(":", 1)[-1] == "Code"
        levels.append((levels[-1] if levels else 0) + 1 if is_code else 0)
        if levels[-1] > limit:
            raise _Found(parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: levels.pop()
    try:
        body = as_utf8(data, "")
    except ExchangeError:
        return None
    stripped = body.lstrip(b" \t\r\n")  # as parse_xml reads it; the lines it drops count
    try:
        parser.Parse(stripped, True)
    except _Found as found:
        return int(found.args[0]) + body[:len(body) - len(stripped)].count(b"\n")
    except (expat.ExpatError, LookupError, ValueError):
        return None
    return None


def codes_from_element(codes_el: ET.Element, *, categories: set[str] | None = None,
                       path: str | Path | None = None,
                       data: bytes | None = None) -> list[Code]:
    """The codes of a ``<Codes>`` element as :class:`~tipqual.codebook.model.Code`s.

    Nesting gives each code its parent.

    Ids of ``isCodable="false"`` codes are added to ``categories`` when a set is given;
    ``data`` (the file's bytes) lets an error name its line.
    """
    read = read_codes(codes_el, path, data=data)
    if categories is not None:
        categories.update(q.code.id for q in read if not q.codable)
    return [q.code for q in read]


def _normal_color(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if not _RGB_RE.match(value):
        return None
    if len(value) == 4:
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value.upper()


_Node = tuple["Code", list["_Node"]]  # a code and the subtrees of its children


def _ordered_tree(codebook: Codebook) -> list[_Node]:
    """Codes as a forest in codebook order; unknown parents and cycles become top level.

    Built without recursion; a forest deeper than
    :data:`tipqual.codebook.check.MAX_CODE_DEPTH` levels (a codebook stored by an older
    tipqual) is refused, since no tool needs it and XML serialisation recurses.
    """
    from tipqual.codebook.check import MAX_CODE_DEPTH

    ids = {c.id for c in codebook.codes}
    kids: dict[str | None, list[Code]] = {}
    for c in codebook.codes:
        parent = c.parent if c.parent in ids and c.parent != c.id else None
        kids.setdefault(parent, []).append(c)
    placed: set[str] = set()

    def build(code: Code) -> _Node:
        placed.add(code.id)
        root: _Node = (code, [])
        stack = [(root, 1)]
        while stack:
            (parent, below), level = stack.pop()
            if level > MAX_CODE_DEPTH:
                raise ExchangeError(f"the codebook nests codes more than {MAX_CODE_DEPTH} "
                                    f"levels deep (the code {parent.id!r}); give deep codes a "
                                    "parent higher up before exporting")
            for k in kids.get(parent.id, []):
                if k.id not in placed:
                    placed.add(k.id)
                    node: _Node = (k, [])
                    below.append(node)
                    stack.append((node, level + 1))
        return root

    forest = [build(c) for c in kids.get(None, [])]
    for c in codebook.codes:  # codes caught in a parent cycle
        if c.id not in placed:
            forest.append(build(c))
    return forest


def codes_to_element(codebook: Codebook, parent_el: ET.Element, ns: str, *,
                     categories: set[str] | frozenset[str] = frozenset(),
                     note_refs: dict[str, list[str]] | None = None) -> ET.Element | None:
    """Append ``<Codes>`` (nested ``<Code>`` with ``<Description>``) to ``parent_el``.

    GUIDs are ``stable_guid("code", id)``. Returns the ``<Codes>`` element, or None (nothing
    appended) when the codebook has no codes, since the schemas need at least one.
    """
    if not codebook.codes:
        return None
    forest = _ordered_tree(codebook)
    codes_el = ET.SubElement(parent_el, qname(ns, "Codes"))
    pending = [(codes_el, node) for node in reversed(forest)]
    while pending:  # depth first, each code's children in order, without recursion
        where, (code, kids) = pending.pop()
        codable = getattr(code, "codable", True) and code.id not in categories
        el = ET.SubElement(where, qname(ns, "Code"), {
            "guid": stable_guid("code", code.id), "name": code.name or code.id,
            "isCodable": "true" if codable else "false"})
        color = _normal_color(code.color)
        if color:
            el.set("color", color)
        if code.definition and code.definition.strip():
            ET.SubElement(el, qname(ns, "Description")).text = code.definition.strip()
        for target in (note_refs or {}).get(code.id, []):
            ET.SubElement(el, qname(ns, "NoteRef"), {"targetGUID": target})
        pending += [(el, kid) for kid in reversed(kids)]
    return codes_el


def to_bytes(root: ET.Element) -> bytes:
    """Serialise an element tree as indented UTF-8 XML with a declaration."""
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")


# --- .qdc codebooks -----------------------------------------------------------------------------

def codebook_to_qdc(codebook, *, categories: set[str] | frozenset[str] = frozenset()) -> bytes:
    """A QDA-XML 1.0 codebook (``.qdc``) for a tipqual codebook; valid against Codebook.xsd."""
    from tipqual.version import __version__
    if not codebook.codes:
        raise ExchangeError(f"the codebook {codebook.name!r} has no codes; a .qdc needs at "
                            "least one")
    ET.register_namespace("", CODEBOOK_NS)
    root = ET.Element(qname(CODEBOOK_NS, "CodeBook"), {"origin": f"tipqual {__version__}"})
    codes_to_element(codebook, root, CODEBOOK_NS, categories=categories)
    return to_bytes(root)


def codebook_from_qdc(data: bytes, path: str | Path, *,
                      categories: set[str] | None = None):
    """Read a ``.qdc`` (or the codebook inside a ``.qde`` project) into a Codebook."""
    from tipqual.codebook.model import Codebook

    data = as_utf8(data, path)
    root = parse_xml(data, path)
    ns = namespace(root.tag)
    if localname(root.tag) == "Project":
        book_el = child(root, "CodeBook")
        if book_el is None:
            raise ExchangeError("the project holds no <CodeBook>", path=path)
    elif localname(root.tag) == "CodeBook":
        book_el = root
    else:
        raise ExchangeError(f"not a QDA-XML codebook: the root element is "
                            f"<{localname(root.tag)}>, expected <CodeBook>", path=path)
    if ns and "QDA-XML" not in ns:
        raise ExchangeError(f"not a QDA-XML codebook: unknown namespace {ns!r}", path=path)
    codes_el = child(book_el, "Codes")
    if codes_el is None:
        raise ExchangeError("the codebook has no <Codes> element", path=path)
    codes = codes_from_element(codes_el, categories=categories, path=path, data=data)
    origin = attr(book_el, "origin") or attr(root, "origin") or ""
    # a project's own name before its file's ("project" for most exports), on one line
    name = " ".join(nfc(attr(root, "name")).split()) if localname(root.tag) == "Project" else ""
    if len(name) > 200 or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        name = ""
    return Codebook(name=name or Path(str(path)).stem, version="1", codes=codes,
                    description=f"Imported from a QDA-XML codebook ({origin})." if origin
                    else "Imported from a QDA-XML codebook.")
