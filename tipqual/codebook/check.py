"""Validation of codebook and stakeholder-registry YAML files, with file, line and code id.

:func:`check` reads a codebook file (and the registry it references) and returns every problem
it finds, each naming the file, the line and column where known, and the code or stakeholder
id. :func:`analyse` does the same and also returns the plain data, so that
:func:`tipqual.codebook.model.load` parses each file only once. The YAML is composed into nodes
first, so every value keeps the place it came from.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CODEBOOK_KEYS = ("name", "version", "description", "stakeholders", "codes")
CODE_KEYS = ("id", "name", "definition", "include", "exclude", "examples", "parent", "color",
             "phrases", "patterns", "codable")
REGISTRY_KEYS = ("name", "version", "description", "stakeholders")
STAKEHOLDER_KEYS = ("id", "name", "aliases", "sector", "level", "description")
LIST_FIELDS = ("include", "exclude", "examples", "phrases")
SECTORS = ("government", "civil_society", "international", "donor", "private", "academic",
           "media", "community", "other")
LEVELS = ("local", "district", "provincial", "regional", "national", "international")

CODE_ID_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
STAKEHOLDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.&-]*$")
COLOR_RE = re.compile(r"^#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a codebook or registry file."""

    path: str
    line: int | None
    column: int | None
    code: str | None
    message: str
    kind: str = "code"

    @property
    def text(self) -> str:
        """The message with the code (or stakeholder) id in front, when there is one."""
        return f"{self.kind} '{self.code}': {self.message}" if self.code else self.message

    def format(self) -> str:
        """``FILE:LINE:COLUMN: ID: message`` (the parts that are known)."""
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.text}"


@dataclass
class Analysis:
    """What :func:`analyse` found: the plain data (when readable) and the problems."""

    codebook: dict[str, Any] | None = None
    kind: str = "codebook"
    stakeholders: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _Report:
    """Collects problems for one file."""

    def __init__(self, path: Path, problems: list[Problem], kind: str = "code"):
        self.path = str(path)
        self.problems = problems
        self.kind = kind

    def add(self, node: Any, message: str, code: str | None = None) -> None:
        """Record a problem at the start of ``node`` (None: the file as a whole)."""
        mark = getattr(node, "start_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        self.problems.append(Problem(self.path, line, column, code, message, self.kind))


def check(path: str | Path) -> list[Problem]:
    """Every problem of a codebook file and the registry it references (empty: valid)."""
    return analyse(path).problems


def check_registry(path: str | Path) -> list[Problem]:
    """Every problem of a stakeholder registry file on its own."""
    result = Analysis(kind="registry")
    _registry_file(Path(path), result)
    return _sorted(result).problems


def analyse(path: str | Path) -> Analysis:
    """Validate a codebook file and return its plain data with the problems found."""
    path = Path(path)
    result = Analysis()
    report = _Report(path, result.problems)
    root = _compose(path, report)
    if root is None:
        return _sorted(result)
    if _looks_like_registry(root):
        result.kind = "registry"
        result.stakeholders = _registry_root(root, _Report(path, result.problems, "stakeholder"))
        return _sorted(result)
    book = _codebook(root, report)
    if book is None:
        return _sorted(result)
    ref = book.pop("_stakeholders_node", None)
    if ref is not None and _is(ref, "scalar") and isinstance(_value(ref), str):
        result.stakeholders = _registry_file(path.parent / _value(ref), result, ref_node=ref,
                                             referrer=report)
    elif ref is not None and _is(ref, "seq"):
        result.stakeholders = _stakeholders(ref, _Report(path, result.problems, "stakeholder"))
    elif ref is not None and _value(ref) is not None:
        report.add(ref, "'stakeholders' must be a file name or a list of stakeholders")
    book["stakeholders"] = result.stakeholders
    result.codebook = book
    return _sorted(result)


def _sorted(result: Analysis) -> Analysis:
    """Problems in reading order: the codebook's first, then the registry's, by line."""
    order = {p: i for i, p in enumerate(dict.fromkeys(p.path for p in result.problems))}
    result.problems.sort(key=lambda p: (order[p.path], p.line or 0, p.column or 0))
    return result


def _looks_like_registry(root: Any) -> bool:
    """A mapping with a 'stakeholders' list and no 'codes', or a list of entries with aliases."""
    if _is(root, "map"):
        keys = {k.value for k, _ in root.value if _is(k, "scalar")}
        return "codes" not in keys and "stakeholders" in keys and \
            any(_is(v, "seq") for k, v in root.value if k.value == "stakeholders")
    return False


# --- reading --------------------------------------------------------------------------------

def _compose(path: Path, report: _Report) -> Any:
    """The YAML node tree of a file, or None after reporting why it cannot be read."""
    import yaml

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        report.add(None, "no such file; give the path of a codebook YAML file")
        return None
    except IsADirectoryError:
        report.add(None, "this is a folder; give the path of a YAML file")
        return None
    except OSError as exc:
        report.add(None, f"cannot read the file: {exc.strerror or exc}")
        return None
    text = _decode(raw, report)
    if text is None:
        return None
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        report.problems.append(Problem(
            report.path, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
            None, f"YAML syntax error at column {mark.column + 1 if mark else '?'}: {what}; "
                  "fix the YAML there"))
        return None
    except yaml.YAMLError as exc:
        report.add(None, f"YAML syntax error: {exc}")
        return None
    if root is None:
        report.add(None, "the file is empty (or only comments); a codebook needs 'codes'")
    return root


def _decode(raw: bytes, report: _Report) -> str | None:
    if not raw.strip():
        report.add(None, "the file is empty; a codebook needs a 'codes' list")
        return None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        report.add(None, "the file is UTF-16 text; save it as UTF-8")
        return None
    if b"\x00" in raw[:8192]:
        report.add(None, "this is a binary file, not YAML text; give the codebook's .yaml file "
                         "(import .xlsx or .qdc files with 'tipqual codebook import')")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        report.problems.append(Problem(report.path, line, None, None,
                                       f"not UTF-8 text (bad byte at offset {exc.start}); "
                                       "save the file as UTF-8"))
        return None


def _value(node: Any) -> Any:
    """The Python value of a node (safe types only)."""
    import yaml

    constructor = yaml.constructor.SafeConstructor()
    return constructor.construct_object(node, deep=True)


def _is(node: Any, kind: str) -> bool:
    import yaml

    kinds = {"map": yaml.MappingNode, "seq": yaml.SequenceNode, "scalar": yaml.ScalarNode}
    return isinstance(node, kinds[kind])


def _items(node: Any, allowed: tuple[str, ...], report: _Report, code: str | None,
           what: str) -> dict[str, tuple[Any, Any]]:
    """Key → (key node, value node) of a mapping; unknown and repeated keys are reported."""
    out: dict[str, tuple[Any, Any]] = {}
    for key_node, value_node in node.value:
        key = str(_value(key_node)) if _is(key_node, "scalar") else "?"
        if key in out:
            report.add(key_node, f"the key '{key}' appears twice in this {what}; keep one",
                       code)
            continue
        out[key] = (key_node, value_node)
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else \
                f"valid keys are: {', '.join(allowed)}"
            report.add(key_node, f"unknown key '{key}' in this {what}; {hint}", code)
    return out


def _text(items: dict[str, tuple[Any, Any]], key: str, report: _Report, code: str | None,
          owner: Any, *, required: bool = False) -> str | None:
    """A scalar field as text; reports a missing, empty or non-scalar required value."""
    if key not in items:
        typo = difflib.get_close_matches(key, list(items), n=1, cutoff=0.6)
        if required and not typo:  # a misspelt key is reported as unknown, with the fix
            report.add(owner, f"'{key}' is missing; every entry needs a non-empty {key}", code)
        return None
    node = items[key][1]
    if not _is(node, "scalar"):
        report.add(node, f"'{key}' must be text, not a list or mapping", code)
        return None
    value = _value(node)
    text = "" if value is None else str(value)
    if required and not text.strip():
        report.add(node, f"'{key}' is empty; write a {key}", code)
    return text


def _strings(items: dict[str, tuple[Any, Any]], key: str, report: _Report,
             code: str | None) -> list[str]:
    """A list-of-text field; a single text becomes a one-item list."""
    if key not in items:
        return []
    node = items[key][1]
    if _is(node, "scalar"):
        value = _value(node)
        return [] if value is None else [str(value)]
    if not _is(node, "seq"):
        report.add(node, f"'{key}' must be a list of texts", code)
        return []
    out = []
    for i, item in enumerate(node.value, start=1):
        value = _value(item) if _is(item, "scalar") else None
        if not isinstance(value, str) or not value.strip():
            shown = json.dumps(value) if _is(item, "scalar") else "a list or mapping"
            report.add(item, f"{key} item {i} is {shown}, not a non-empty text; quote it "
                             "(YAML reads bare on/off/yes/no as true/false)", code)
            continue
        out.append(value)
    return out


# --- codebook ---------------------------------------------------------------------------------

def _codebook(root: Any, report: _Report) -> dict[str, Any] | None:
    if not _is(root, "map"):
        report.add(root, "not a codebook: expected a mapping with 'name', 'version' and "
                         "'codes'")
        return None
    items = _items(root, CODEBOOK_KEYS, report, None, "codebook")
    book: dict[str, Any] = {
        "name": _text(items, "name", report, None, root) or Path(report.path).stem,
        "version": _text(items, "version", report, None, root) or "1",
        "description": _text(items, "description", report, None, root) or "",
    }
    if "stakeholders" in items:
        book["_stakeholders_node"] = items["stakeholders"][1]
    if "codes" not in items:
        report.add(root, "no 'codes' list; a codebook needs at least one code")
        return None
    codes_node = items["codes"][1]
    if not _is(codes_node, "seq") or not codes_node.value:
        report.add(codes_node, "'codes' must be a non-empty list of codes")
        return None
    book["codes"] = _codes(codes_node, report)
    return book


def _codes(node: Any, report: _Report) -> list[dict[str, Any]]:
    codes: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for entry in node.value:
        code = _code(entry, report, seen)
        if code is not None:
            codes.append(code)
    _check_parents(codes, report)
    return codes


def _code(entry: Any, report: _Report, seen: dict[str, int]) -> dict[str, Any] | None:
    if not _is(entry, "map"):
        report.add(entry, "each code must be a mapping with at least id, name and definition")
        return None
    code_id = _code_id(entry, report)
    items = _items(entry, CODE_KEYS, report, code_id, "code")
    if code_id is not None:
        line = entry.start_mark.line + 1
        if code_id in seen:
            report.add(items["id"][1], f"duplicate code id; it is already used by the code at "
                                       f"line {seen[code_id]}; give each code its own id",
                       code_id)
        else:
            seen[code_id] = line
    code: dict[str, Any] = {
        "id": code_id or "",
        "name": _text(items, "name", report, code_id, entry, required=True) or "",
        "definition": _text(items, "definition", report, code_id, entry, required=True) or "",
        "parent": _text(items, "parent", report, code_id, entry) or None,
        "color": _color(items, report, code_id),
        "patterns": _patterns(items, report, code_id),
        "_node": entry,
        "_parent_node": items["parent"][1] if "parent" in items else None,
    }
    for key in LIST_FIELDS:
        code[key] = _strings(items, key, report, code_id)
    if "codable" in items:
        value = _value(items["codable"][1]) if _is(items["codable"][1], "scalar") else None
        if not isinstance(value, bool):
            report.add(items["codable"][1], "'codable' must be true or false", code_id)
        elif not value:
            code["codable"] = False
    return code


def _code_id(entry: Any, report: _Report) -> str | None:
    for key_node, value_node in entry.value:
        if _is(key_node, "scalar") and key_node.value == "id":
            value = _value(value_node) if _is(value_node, "scalar") else None
            text = "" if value is None else str(value)
            if not text.strip():
                report.add(value_node, "the code id is empty; give a lowercase slug such as "
                                       "'trust'")
                return None
            if not CODE_ID_RE.match(text):
                slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "code"
                report.add(value_node, f"the code id '{text}' is not a lowercase slug; use "
                                       f"letters, digits and - such as '{slug}'", text)
            return text
    report.add(entry, "the code has no 'id'; give it a stable lowercase id such as 'trust'")
    return None


def _color(items: dict[str, tuple[Any, Any]], report: _Report, code: str | None) -> str | None:
    if "color" not in items:
        return None
    node = items["color"][1]
    value = _value(node) if _is(node, "scalar") else None
    if value is None and _is(node, "scalar"):
        return None
    if not isinstance(value, str) or not COLOR_RE.match(value):
        report.add(node, f"color {json.dumps(value)} is not a #RRGGBB colour; quote it, e.g. "
                         "\"#1F77B4\"", code)
        return None
    return value


def _patterns(items: dict[str, tuple[Any, Any]], report: _Report,
              code: str | None) -> list[list[dict[str, Any]]]:
    """Token patterns, each tried in a real spaCy Matcher; spaCy's complaints are reported."""
    if "patterns" not in items:
        return []
    node = items["patterns"][1]
    if not _is(node, "seq"):
        report.add(node, "'patterns' must be a list of token patterns (each a list of "
                         "mappings such as {LOWER: bribe})", code)
        return []
    matcher = _matcher()
    out = []
    for i, item in enumerate(node.value, start=1):
        pattern = _value(item)
        problem = _pattern_problem(matcher, pattern)
        if problem:
            report.add(item, f"pattern {i} is rejected by spaCy's Matcher: {problem}", code)
            continue
        out.append(pattern)
    return out


_MATCHER: list[Any] = []


def _matcher() -> Any:
    """One validating Matcher on a blank English vocabulary, built on first use."""
    if not _MATCHER:
        import spacy
        from spacy.matcher import Matcher

        _MATCHER.append(Matcher(spacy.blank("en").vocab, validate=True))
    return _MATCHER[0]


def _pattern_problem(matcher: Any, pattern: Any) -> str | None:
    if not isinstance(pattern, list) or not pattern or \
            not all(isinstance(t, dict) for t in pattern):
        return "a pattern must be a non-empty list of token mappings such as [{LOWER: bribe}]"
    try:
        matcher.add("_check", [pattern])
    except Exception as exc:  # spaCy raises several types; all mean "rejected"
        lines = [ln.strip(" -") for ln in str(exc).splitlines() if ln.strip()]
        details = [ln for ln in lines if ln.startswith("[")] or lines[-1:]
        return "; ".join(details)[:300] or type(exc).__name__
    finally:
        if "_check" in matcher:
            matcher.remove("_check")
    return None


def _check_parents(codes: list[dict[str, Any]], report: _Report) -> None:
    """Unknown parents and cycles in the hierarchy."""
    ids = {c["id"] for c in codes if c["id"]}
    parents = {c["id"]: c["parent"] for c in codes if c["id"]}
    for code in codes:
        node = code.pop("_parent_node")
        code.pop("_node")
        parent = code["parent"]
        if parent is None or not code["id"]:
            continue
        if parent not in ids:
            near = difflib.get_close_matches(parent, sorted(ids), n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else "name an existing code id"
            report.add(node, f"unknown parent '{parent}'; {hint}", code["id"])
            continue
        chain, current = [code["id"]], parent
        while current is not None and current not in chain:
            chain.append(current)
            current = parents.get(current)
        if current == code["id"]:
            loop = " -> ".join([*chain, code["id"]])
            report.add(node, f"the parents form a cycle ({loop}); a code cannot be its own "
                             "ancestor", code["id"])


# --- stakeholder registry -----------------------------------------------------------------------

def _registry_file(path: Path, result: Analysis, *, ref_node: Any = None,
                   referrer: _Report | None = None) -> list[dict[str, Any]]:
    if referrer is not None and not path.is_file():
        referrer.add(ref_node, f"the stakeholder registry {path} does not exist; fix the "
                               "'stakeholders' file name (relative to the codebook)")
        return []
    report = _Report(path, result.problems, "stakeholder")
    root = _compose(path, report)
    if root is None:
        return []
    return _registry_root(root, report)


def _registry_root(root: Any, report: _Report) -> list[dict[str, Any]]:
    if _is(root, "map"):
        items = _items(root, REGISTRY_KEYS, report, None, "registry")
        if "stakeholders" not in items:
            report.add(root, "no 'stakeholders' list in the registry")
            return []
        root = items["stakeholders"][1]
    return _stakeholders(root, report)


def _stakeholders(node: Any, report: _Report) -> list[dict[str, Any]]:
    if not _is(node, "seq"):
        report.add(node, "'stakeholders' must be a list of stakeholders")
        return []
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    owners: dict[str, str] = {}
    for entry in node.value:
        item = _stakeholder(entry, report, seen, owners)
        if item is not None:
            out.append(item)
    return out


def _stakeholder(entry: Any, report: _Report, seen: dict[str, int],
                 owners: dict[str, str]) -> dict[str, Any] | None:
    if not _is(entry, "map"):
        report.add(entry, "each stakeholder must be a mapping with at least id and name")
        return None
    raw_id = next((_value(v) for k, v in entry.value
                   if _is(k, "scalar") and k.value == "id" and _is(v, "scalar")), None)
    sid = None if raw_id is None else str(raw_id)
    items = _items(entry, STAKEHOLDER_KEYS, report, sid, "stakeholder")
    if not sid or not sid.strip():
        report.add(entry, "the stakeholder has no id; give it a short id such as 'SAPS'")
        return None
    if not STAKEHOLDER_ID_RE.match(sid):
        report.add(items["id"][1], f"the stakeholder id '{sid}' may hold only letters, digits "
                                   "and - _ . &", sid)
    if sid in seen:
        report.add(items["id"][1], f"duplicate stakeholder id; already used at line "
                                   f"{seen[sid]}", sid)
    seen[sid] = entry.start_mark.line + 1
    name = _text(items, "name", report, sid, entry, required=True) or ""
    aliases = _strings(items, "aliases", report, sid)  # after name: reports keep their order
    item = {"id": sid,
            "name": name,
            "aliases": aliases,
            "sector": _choice(items, "sector", SECTORS, report, sid) or "other",
            "level": _choice(items, "level", LEVELS, report, sid),
            "description": _text(items, "description", report, sid, entry) or ""}
    alias_node = items["aliases"][1] if "aliases" in items else None
    nodes = {n.value: n for n in alias_node.value if _is(n, "scalar")} \
        if alias_node is not None and _is(alias_node, "seq") else {}
    for alias in aliases:
        key = " ".join(alias.lower().split())
        if owners.get(key, sid) != sid:
            report.add(nodes.get(alias, alias_node), f"the alias '{alias}' also belongs to "
                       f"{owners[key]}; an alias must name one actor", sid)
        owners.setdefault(key, sid)
    return item


def _choice(items: dict[str, tuple[Any, Any]], key: str, allowed: tuple[str, ...],
            report: _Report, sid: str) -> str | None:
    value = _text(items, key, report, sid, None)
    if not value:
        return None
    if value not in allowed:
        near = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'?" if near else f"use one of: {', '.join(allowed)}"
        report.add(items[key][1], f"unknown {key} '{value}'; {hint}", sid)
    return value
