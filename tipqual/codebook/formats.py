"""Codebook exchange: YAML, Markdown, Excel and REFI-QDA (.qdc) out; .qdc and .xlsx in.

Every export keeps every field that its format can hold. A ``.qdc`` shows other tools the
names, colours, nesting and a readable description (definition, include, exclude, examples);
the rest (tagging hints, version, stakeholders, the map section) travels in one XML comment
that other tools ignore, so a tipqual file read back gives the same codebook. GUIDs come from
the code ids (:func:`tipqual.exchange.qdaxml.stable_guid`), so re-exporting does not churn
them. ``diff`` (what changed between two versions) lives with the model and is re-exported
here.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

from tipqual.codebook.model import (
    MAP_KEYS,
    Code,
    Codebook,
    CodebookDiff,
    MapAxis,
    Stakeholder,
    diff,
    validate,
)
from tipqual.errors import (
    NO_CODEBOOK_ADVICE,
    CodebookError,
    ExchangeError,
    TipqualError,
)
from tipqual.exchange import qdaxml
from tipqual.exchange.archive import read_project_file
from tipqual.output.files import write_bytes

__all__ = ["CodebookDiff", "diff", "export", "import_file", "load_any", "load_source",
           "to_markdown", "to_qdc", "to_yaml", "from_qdc", "read_xlsx", "write_xlsx"]

EXPORT_SUFFIXES = (".qdc", ".xlsx", ".md", ".yaml", ".yml")
IMPORT_SUFFIXES = (".qdc", ".qde", ".qdpx", ".xlsx")
CODE_COLUMNS = ("id", "name", "parent", "definition", "include", "exclude", "examples",
                "color", "phrases", "patterns", "codable")
STAKEHOLDER_COLUMNS = ("id", "name", "aliases", "sector", "level", "description")
COMMENT_TAG = "tipqual-codebook"
# A codebook workbook is a few hundred KB unpacked; more is refused before openpyxl sees it.
MAX_XLSX_UNZIPPED = 64 * 1024 * 1024  # bytes, all members together
MAX_XLSX_RATIO = 200  # unpacked : packed, for a member over MAX_XLSX_RATIO_FROM bytes
MAX_XLSX_RATIO_FROM = 1024 * 1024
SECTIONS = (("include", "Include:"), ("exclude", "Exclude:"), ("examples", "Examples:"))


# --- sources and dispatch -------------------------------------------------------------------------

def load_source(src: str | Path) -> Codebook:
    """The codebook of a YAML file, or the current codebook of a study file."""
    from tipqual.codebook import model as codebook
    src = Path(src)
    try:
        with open(src, "rb") as fh:
            header = fh.read(16)
    except FileNotFoundError:
        raise CodebookError("no such file; give a codebook YAML or a study file",
                            path=src) from None
    except OSError as exc:
        raise CodebookError(f"cannot read the file: {exc.strerror or exc}", path=src) from exc
    if header != b"SQLite format 3\x00":
        return codebook.load(src)
    from tipqual.store.project import Project

    with Project.open(src, command="codebook export") as project:
        book = project.codebook()
    if book is None:
        raise CodebookError(f"the study has no codebook; {NO_CODEBOOK_ADVICE}", path=src)
    return book


def load_any(path: str | Path) -> Codebook:
    """A codebook from any file tipqual reads: YAML, a study, .qdc / .qde / .qdpx or .xlsx."""
    path = Path(path)
    if path.suffix.lower() in IMPORT_SUFFIXES:
        return import_file(path)
    return load_source(path)


def export(book: Codebook, out: str | Path) -> Path:
    """Write ``book`` to ``out`` in the format its suffix names (.qdc .xlsx .md .yaml)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise CodebookError(f"cannot export to '{out.suffix or out.name}'; use one of "
                            f"{', '.join(EXPORT_SUFFIXES)}", path=out)
    if suffix == ".xlsx":
        write_xlsx(book, out)
        return out
    data = {".qdc": lambda: to_qdc(book), ".md": lambda: to_markdown(book).encode("utf-8")}.get(
        suffix, lambda: to_yaml(book).encode("utf-8"))()
    return write_bytes(out, data, error=CodebookError, what="codebook")


def import_file(path: str | Path) -> Codebook:
    """Read a codebook from a .qdc (or a project's .qde / .qdpx) or an .xlsx file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise CodebookError(f"cannot import '{path.suffix or path.name}' files; give a "
                            f"{', '.join(IMPORT_SUFFIXES)} file", path=path)
    if not path.is_file():
        raise CodebookError("no such file", path=path)
    if suffix == ".xlsx":
        return read_xlsx(path)
    if suffix == ".qdpx":  # errors name the project file inside, as 'refi import' does
        member, data = _qdpx_member(path)
        return from_qdc(data, f"{path}/{member}")
    return from_qdc(path.read_bytes(), path)


# --- YAML -----------------------------------------------------------------------------------------

class _FlowList(list):
    """A list written on one line (token patterns read best that way)."""


def _yaml_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(
        "tag:yaml.org,2002:seq", v, flow_style=True))
    return Dumper


def _code_yaml(code: Code) -> dict[str, Any]:
    out: dict[str, Any] = {"id": code.id, "name": code.name}
    if code.parent:
        out["parent"] = code.parent
    if code.color:
        out["color"] = code.color
    out["definition"] = code.definition
    for key in ("include", "exclude", "examples", "phrases"):
        if getattr(code, key):
            out[key] = list(getattr(code, key))
    if code.patterns:
        out["patterns"] = [_FlowList(p) for p in code.patterns]
    if not code.codable:
        out["codable"] = False
    if code.replaces:
        out["replaces"] = list(code.replaces)
    return out


def _stakeholder_yaml(s: Stakeholder) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id, "name": s.name, "sector": s.sector}
    if s.level:
        out["level"] = s.level
    if s.description:
        out["description"] = s.description
    out["aliases"] = _FlowList(s.aliases)
    return out


def _map_yaml(axis: MapAxis) -> dict[str, Any]:
    """The map section with its codes on one line and only the labels that are set."""
    out: dict[str, Any] = {"axis_codes": _FlowList(axis.axis_codes)}
    out.update((key, getattr(axis, key)) for key in MAP_KEYS[1:] if getattr(axis, key))
    return out


def to_yaml(book: Codebook) -> str:
    """The codebook as YAML in a fixed key order; loading it gives an equal Codebook."""
    import yaml

    data: dict[str, Any] = {"name": book.name, "version": book.version}
    if book.description:
        data["description"] = book.description
    if book.stakeholders:
        data["stakeholders"] = [_stakeholder_yaml(s) for s in book.stakeholders]
    if book.map is not None:
        data["map"] = _map_yaml(book.map)
    data["codes"] = [_code_yaml(c) for c in book.codes]
    return yaml.dump(data, Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)


# --- Markdown -------------------------------------------------------------------------------------

def _md(text: str) -> str:
    """Codebook text made inert in Markdown: no raw HTML, table pipes escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace("|", "\\|")


def to_markdown(book: Codebook) -> str:
    """A readable appendix for reports: the hierarchy, then every code in full."""
    lines = [f"# {_md(book.name)}", "", f"Version {_md(book.version)} · {len(book.codes)} codes "
             f"· sha256 `{book.sha256[:16]}`", ""]
    if book.description:
        lines += [_md(book.description), ""]
    lines += ["## Codes at a glance", ""]
    lines += [f"{'  ' * book.depth(c.id)}- **{_md(c.name)}** (`{c.id}`)" for c in book.codes]
    lines += ["", "## Code definitions", ""]
    for code in book.codes:
        lines += _code_markdown(book, code)
    if book.stakeholders:
        lines += ["## Stakeholders", "", "| id | name | sector | level | aliases |",
                  "|---|---|---|---|---|"]
        lines += [f"| {_md(s.id)} | {_md(s.name)} | {_md(s.sector)} | {_md(s.level or '')} | "
                  f"{_md(', '.join(s.aliases))} |" for s in book.stakeholders]
        lines.append("")
    if book.map is not None:
        lines += ["## Stakeholder map", "",
                  "The map's height: the share of the respondent passages naming a stakeholder "
                  "that are coded " + ", ".join(f"`{c}`" for c in book.map.axis_codes)
                  + " (or a code below them).", ""]
        lines += [f"- {key}: {_md(getattr(book.map, key))}" for key in MAP_KEYS[1:]
                  if getattr(book.map, key)]
        lines.append("")
    return "\n".join(lines)


def _code_markdown(book: Codebook, code: Code) -> list[str]:
    lines = [f"### {_md(code.name)} (`{code.id}`)", ""]
    if code.parent:
        parent = next((c.name for c in book.codes if c.id == code.parent), code.parent)
        lines += [f"Part of: {_md(parent)} (`{code.parent}`)", ""]
    if not code.codable:
        lines += ["A category: it groups other codes and is not applied to text itself.", ""]
    if code.definition:
        lines += [f"**Definition.** {_md(code.definition)}", ""]
    for key, title in (("include", "Include"), ("exclude", "Exclude")):
        if getattr(code, key):
            lines += [f"**{title}:**", ""] + [f"- {_md(x)}" for x in getattr(code, key)] + [""]
    if code.examples:
        lines += ["**Examples:**", ""] + [f"> {_md(x)}\n".replace("\n", "\n> ", x.count("\n"))
                                           for x in code.examples]
    if code.phrases:
        lines += ["**Phrases:** " + ", ".join(_md(p) for p in code.phrases), ""]
    if code.patterns:
        lines += [f"**Token patterns:** {len(code.patterns)}", ""]
    return lines


# --- Excel ----------------------------------------------------------------------------------------

def _join(items: list[str]) -> str | None:
    """Newline-joined texts; JSON when an item holds a newline or the text starts with '['."""
    if not items:
        return None
    joined = "\n".join(items)
    if any("\n" in x or not x.strip() for x in items) or joined.startswith("["):
        return json.dumps(items, ensure_ascii=False)
    return joined


def _split(value: Any) -> list[str]:
    """Inverse of :func:`_join`."""
    if value is None or str(value).strip() == "":
        return []
    text = str(value)
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return data
    return [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]


def _code_row(code: Code) -> list[Any]:
    return [code.id, code.name, code.parent, code.definition or None, _join(code.include),
            _join(code.exclude), _join(code.examples), code.color, _join(code.phrases),
            json.dumps(code.patterns, ensure_ascii=False) if code.patterns else None,
            None if code.codable else "false"]


def write_xlsx(book: Codebook, out: str | Path) -> None:
    """One row per code with every field; every text cell stored as a string, never a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    from tipqual.output.xlsx import save_workbook

    wb = Workbook()
    wb.remove(wb.active)
    sheets: list[tuple[str, tuple[str, ...], list[list[Any]]]] = [
        ("codes", CODE_COLUMNS, [_code_row(c) for c in book.codes]),
        ("codebook", ("field", "value"), [["name", book.name], ["version", book.version],
                                         ["description", book.description or None],
                                         *_map_rows(book.map)])]
    if book.stakeholders:
        sheets.append(("stakeholders", STAKEHOLDER_COLUMNS, [
            [s.id, s.name, _join(s.aliases), s.sector, s.level, s.description or None]
            for s in book.stakeholders]))
    wrap = Alignment(wrap_text=True, vertical="top")
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        for col, name in enumerate(header, start=1):
            _cell(ws, 1, col, name).font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for col, value in enumerate(row, start=1):
                _cell(ws, r, col, value).alignment = wrap
        ws.freeze_panes = "B2"
    try:
        save_workbook(wb, out)
    except CodebookError:
        raise
    except TipqualError as exc:  # save_workbook reports write failures as ReportError
        raise CodebookError(exc.message, path=exc.path or out) from None
    except Exception as exc:
        raise CodebookError(f"cannot write the workbook: {exc}", path=out) from None


def _map_rows(axis: MapAxis | None) -> list[list[Any]]:
    """The map section as rows of the 'codebook' sheet: ``map.axis_codes``, ``map.…``."""
    if axis is None:
        return []
    return [[f"map.{key}", _join(axis.axis_codes) if key == "axis_codes" else
             getattr(axis, key) or None] for key in MAP_KEYS]


def _map_from_rows(meta: dict[str, Any]) -> MapAxis | None:
    """Inverse of :func:`_map_rows` (None when the sheet has no map rows)."""
    if not any(key.startswith("map.") for key in meta):
        return None
    values = {key: str(meta.get(f"map.{key}") or "").strip() for key in MAP_KEYS[1:]}
    return MapAxis(axis_codes=_split(meta.get("map.axis_codes")), **values)


def _cell(ws: Any, row: int, col: int, value: Any) -> Any:
    cell = ws.cell(row=row, column=col)
    if value is not None:
        cell.value = str(value)
        cell.data_type = "s"  # '=…' from a codebook is text, not a formula
    return cell


def read_xlsx(path: str | Path) -> Codebook:
    """Read a workbook written by :func:`write_xlsx` (or kept by hand in that layout)."""
    from openpyxl import load_workbook

    path = Path(path)
    _check_zip_sizes(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise CodebookError(f"cannot read the workbook ({type(exc).__name__}); is it an "
                            ".xlsx file?", path=path) from None
    try:
        if "codes" not in wb.sheetnames:
            raise CodebookError(f"no 'codes' sheet (sheets: {', '.join(wb.sheetnames)})",
                                path=path)
        rows = _sheet_rows(wb["codes"], CODE_COLUMNS, ("id", "name"), path)
        meta = {str(r[0]).strip(): (r[1] if len(r) > 1 else None)
                for r in wb["codebook"].iter_rows(min_row=2, values_only=True)
                if r and r[0] is not None} if "codebook" in wb.sheetnames else {}
        people = _sheet_rows(wb["stakeholders"], STAKEHOLDER_COLUMNS, ("id", "name"), path) \
            if "stakeholders" in wb.sheetnames else []
    finally:
        wb.close()
    codes = [_code_from_row(row, n, path) for n, row in rows]
    stakeholders = [Stakeholder(id=r["id"] or "", name=r["name"] or "",
                                aliases=_split(r.get("aliases")),
                                sector=r.get("sector") or "other", level=r.get("level") or None,
                                description=r.get("description") or "") for n, r in people]
    book = Codebook(name=str(meta.get("name") or path.stem), version=str(meta.get("version") or 1),
                    description=str(meta.get("description") or ""), codes=codes,
                    stakeholders=stakeholders, map=_map_from_rows(meta))
    return validate(book, path, lines={(row["id"] or "").strip(): n for n, row in reversed(rows)})


def _check_zip_sizes(path: Path) -> None:
    """Refuse a workbook that would unpack to more than :data:`MAX_XLSX_UNZIPPED` bytes, or
    with a member packed more tightly than :data:`MAX_XLSX_RATIO` (a zip bomb).

    The sizes come from the zip's directory; Python's zipfile, which openpyxl reads through,
    never unpacks a member beyond the size the directory gives for it.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CodebookError(f"cannot read the workbook ({type(exc).__name__}); is it an "
                            ".xlsx file?", path=path) from None
    total = sum(i.file_size for i in infos)
    dense = next((i for i in infos if i.file_size > MAX_XLSX_RATIO_FROM and
                  i.file_size > MAX_XLSX_RATIO * max(i.compress_size, 1)), None)
    mb = 1024 * 1024
    if total > MAX_XLSX_UNZIPPED:
        raise CodebookError(f"refused: the workbook unpacks to {total // mb} MB, more than the "
                            f"{MAX_XLSX_UNZIPPED // mb} MB a codebook may take (possibly a zip "
                            "bomb); save the codebook in a workbook of its own", path=path)
    if dense is not None:
        raise CodebookError(f"refused: the workbook part {dense.filename!r} is packed "
                            f"{dense.file_size // max(dense.compress_size, 1)} to 1, more than a "
                            "spreadsheet program writes (possibly a zip bomb); save the "
                            "codebook in a workbook of its own", path=path)


def _sheet_rows(ws: Any, columns: tuple[str, ...], required: tuple[str, ...],
                path: Path) -> list[tuple[int, dict[str, str | None]]]:
    import difflib

    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip().lower() if h is not None else "" for h in next(rows, ())]
    for name in header:
        if name and name not in columns:
            near = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else f"use: {', '.join(columns)}"
            raise CodebookError(f"sheet '{ws.title}': unknown column '{name}'; {hint}",
                                path=path, line=1)
    missing = [c for c in required if c not in header]
    if missing:
        raise CodebookError(f"sheet '{ws.title}' has no column {', '.join(missing)}",
                            path=path, line=1)
    out = []
    for n, values in enumerate(rows, start=2):
        row = {h: (None if v is None else str(v))
               for h, v in zip(header, values, strict=False) if h}
        if not any((v or "").strip() for v in row.values()):
            continue
        if not (row.get("id") or "").strip():
            raise CodebookError(f"sheet '{ws.title}' row {n} has no id", path=path, line=n)
        out.append((n, row))
    return out


def _code_from_row(row: dict[str, str | None], n: int, path: Path) -> Code:
    patterns: Any = []
    if (row.get("patterns") or "").strip():
        try:
            patterns = json.loads(row["patterns"] or "")
        except ValueError as exc:  # JSONDecodeError, or a number too long to convert
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise CodebookError(f"sheet 'codes' row {n} (code '{row['id']}'): the patterns "
                                f"are not valid JSON ({detail}); write them as a JSON list",
                                path=path, line=n) from None
    codable = (row.get("codable") or "true").strip().lower() not in ("false", "no", "0")
    return Code(id=(row["id"] or "").strip(), name=row.get("name") or "",
                definition=row.get("definition") or "", parent=row.get("parent") or None,
                include=_split(row.get("include")),
                exclude=_split(row.get("exclude")),
                examples=_split(row.get("examples")),
                color=row.get("color") or None, phrases=_split(row.get("phrases")),
                patterns=patterns if isinstance(patterns, list) else [patterns],
                codable=codable)


# --- REFI-QDA codebook (.qdc) ---------------------------------------------------------------------

def _description(code: Code) -> str:
    """What other tools show: the definition, then include / exclude / examples as lists."""
    parts = [code.definition.strip()]
    for key, title in SECTIONS:
        items = getattr(code, key)
        if items:
            parts.append(title + "\n" + "\n".join(f"- {x}" for x in items))
    return "\n\n".join(p for p in parts if p)


def _parse_description(text: str) -> dict[str, Any]:
    """Inverse of :func:`_description` for text that another tool has kept."""
    titles = {title: key for key, title in SECTIONS}
    out: dict[str, Any] = {"definition": [], "include": [], "exclude": [], "examples": []}
    current = "definition"
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip() in titles:
            current = titles[line.strip()]
        elif current == "definition":
            out["definition"].append(line)
        elif line.startswith("- "):
            out[current].append(line[2:])
        elif line.strip() and out[current]:
            out[current][-1] += "\n" + line
    out["definition"] = "\n".join(out["definition"]).strip()
    return out


def comment_text(book: Codebook) -> str:
    """The XML comment that carries the whole codebook through other tools unchanged."""
    data = json.dumps(book.to_dict(), ensure_ascii=True, sort_keys=True)
    # "--" may not appear inside an XML comment; \u002d reads back as "-"
    return f" {COMMENT_TAG} {data.replace('--', '-' + chr(92) + 'u002d')} "


def described(book: Codebook) -> Codebook:
    """The codebook as other tools show it: each description holds definition and criteria."""
    return dataclasses.replace(book, codes=[dataclasses.replace(c, definition=_description(c))
                                            for c in book.codes])


def to_qdc(book: Codebook) -> bytes:
    """A QDA-XML 1.0 codebook, valid against Codebook.xsd, with stable GUIDs."""
    from tipqual.version import __version__
    if not book.codes:
        raise ExchangeError(f"the codebook {book.name!r} has no codes; a .qdc needs one")
    shown = described(book)
    ET.register_namespace("", qdaxml.CODEBOOK_NS)
    root = ET.Element(qdaxml.qname(qdaxml.CODEBOOK_NS, "CodeBook"),
                      {"origin": f"tipqual {__version__}"})
    root.append(ET.Comment(comment_text(book)))
    qdaxml.codes_to_element(shown, root, qdaxml.CODEBOOK_NS)
    return qdaxml.to_bytes(root)


def from_qdc(data: bytes, path: str | Path) -> Codebook:
    """A codebook from .qdc / .qde bytes: lenient about what real tools write."""
    imported = qdaxml.codebook_from_qdc(data, path)
    saved = saved_codebook(data)
    by_guid = {qdaxml.stable_guid("code", c.id): c for c in saved.codes} if saved else {}
    read = qdaxml.read_codes(_codes_element(data, path), path)
    real_id = {q.code.id: by_guid[q.guid].id if q.guid in by_guid else q.code.id for q in read}
    codes = []
    for q in read:
        code = q.code
        parent = real_id.get(code.parent) if code.parent else None
        if q.guid in by_guid:
            codes.append(_merge(by_guid[q.guid], code, parent, q.codable))
        else:
            parts = _parse_description(code.definition)
            codes.append(dataclasses.replace(code, parent=parent, codable=q.codable, **parts))
    book = dataclasses.replace(imported if saved is None else saved, codes=codes)
    if book.map is not None:  # another tool may have deleted a code the map names
        kept = [c for c in book.map.axis_codes if c in book.ids] \
            if isinstance(book.map.axis_codes, list) else book.map.axis_codes
        book.map = dataclasses.replace(book.map, axis_codes=kept) if kept else None
    # The hidden copy can carry token patterns (a partner's file, written by any program):
    # a REGEX that could hang 'suggest' is refused here, before it reaches a study.
    return validate(book, path)


def _merge(saved: Code, read: Code, parent: str | None, codable: bool) -> Code:
    """The saved code, with what another tool may have changed in the XML taking precedence."""
    same_color = _rgb(saved.color) == _rgb(read.color)
    parts = _parse_description(read.definition)
    text_kept = parts == _parse_description(_description(saved))
    return dataclasses.replace(
        saved, name=read.name if read.name != saved.name.strip() else saved.name,
        color=saved.color if same_color else read.color, parent=parent, codable=codable,
        **({} if text_kept else parts))


def _rgb(color: str | None) -> str:
    """A colour in one form (#RRGGBB, upper case) for comparison."""
    value = (color or "").strip().upper()
    return "#" + "".join(ch * 2 for ch in value[1:]) if len(value) == 4 else value


def _codes_element(data: bytes, path: str | Path) -> ET.Element:
    root = qdaxml.parse_xml(data, path)
    book = root if qdaxml.localname(root.tag) == "CodeBook" else qdaxml.child(root, "CodeBook")
    codes = qdaxml.child(book, "Codes") if book is not None else None
    if codes is None:
        raise ExchangeError("the file holds no <Codes>", path=path)
    return codes


def saved_codebook(data: bytes) -> Codebook | None:
    """The full codebook tipqual left in its comment (in a .qdc or a .qde), if still there."""
    from defusedxml.ElementTree import DefusedXMLParser

    parser = DefusedXMLParser(target=ET.TreeBuilder(insert_comments=True), forbid_dtd=True)
    try:
        parser.feed(data.lstrip(b"\xef\xbb\xbf \t\r\n"))
        root = parser.close()
    except Exception:  # already parsed (and reported) by qdaxml; no comment to find
        return None
    for node in root.iter():
        text = (node.text or "").strip() if node.tag is ET.Comment else ""
        if text.startswith(COMMENT_TAG):
            try:
                return Codebook.from_dict(json.loads(text[len(COMMENT_TAG):]))
            except (ValueError, TypeError, KeyError, RecursionError):  # damaged or hostile
                return None
    return None


def _qdpx_member(path: Path) -> tuple[str, bytes]:
    """The name and bytes of the project XML inside a .qdpx zip, read in memory with the same
    checks as ``refi import`` (two members of one name, links, devices, unsafe names, sizes)."""
    return read_project_file(path)
