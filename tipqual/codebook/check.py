"""Validation of codebook and stakeholder-registry YAML files, with file, line and code id.

:func:`check` reads a codebook file (and the registry it references) and returns every problem
it finds, each naming the file, the line and column where known, and the code or stakeholder
id; the codes a ``map:`` section names must be the codebook's own. :func:`analyse` does the
same and also returns the plain data, so that :func:`tipqual.codebook.model.load` parses each
file only once. The YAML is composed into nodes
first, so every value keeps the place it came from; nesting (in the text, or through aliases)
is limited before anything recurses on it.

Token patterns are checked twice: by spaCy's Matcher, and by :func:`pattern_problem`, which
refuses a REGEX that Python's backtracking ``re`` could take exponential time over. That
check, and the limit on codes nested through ``parent``, also serve codebooks from other
formats (:func:`book_problems`, through :func:`tipqual.codebook.model.validate`) and whatever
runs patterns.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import quoted

if TYPE_CHECKING:
    from tipqual.codebook.model import Codebook

CODEBOOK_KEYS = ("name", "version", "description", "stakeholders", "map", "codes")
CODE_KEYS = ("id", "name", "definition", "include", "exclude", "examples", "parent", "color",
             "phrases", "patterns", "codable", "replaces")
REGISTRY_KEYS = ("name", "version", "description", "stakeholders")
STAKEHOLDER_KEYS = ("id", "name", "aliases", "sector", "level", "description")
LIST_FIELDS = ("include", "exclude", "examples", "phrases")
MAP_KEYS = ("axis_codes", "axis_label", "passages_label", "centre_label", "high_label",
            "low_label")  # the fields of tipqual.codebook.model.MapAxis
MAX_MAP_LABEL = 60  # characters: a label longer than this does not fit on the map
SECTORS = ("government", "civil_society", "international", "donor", "private", "academic",
           "media", "community", "other")
LEVELS = ("local", "district", "provincial", "regional", "national", "international")

CODE_ID_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
STAKEHOLDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.&-]*$")
COLOR_RE = re.compile(r"^#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")
PLAIN_NUMBER_RE = re.compile(r"^(?:0|[1-9][0-9]*)$")  # an id YAML reads as a number, unchanged
UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp")  # control, formatting and line-separator characters
MAX_CODE_DEPTH = 50  # levels of codes inside codes (a top-level code is level 1)
MAX_YAML_DEPTH = 50  # lists and mappings inside each other (a codebook needs about 10)
MAX_YAML_VALUES = 200_000  # values in a file, counting what aliases repeat


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
        return f"{self.kind} {quoted(self.code, 80)}: {self.message}" if self.code \
            else self.message

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
    lines: dict[str, int] = field(default_factory=dict)  # code id -> the line it starts on


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
    result.lines = {c["id"]: c.pop("_line") for c in book["codes"] if "_line" in c}
    for c in book["codes"]:
        c.pop("_line", None)
    result.codebook = book
    return _sorted(result)


def _sorted(result: Analysis) -> Analysis:
    """Problems in reading order: the codebook's first, then the registry's, by line."""
    order = {p: i for i, p in enumerate(dict.fromkeys(p.path for p in result.problems))}
    result.problems.sort(key=lambda p: (order[p.path], p.line or 0, p.column or 0))
    return result


def book_problems(book: Codebook, path: str | Path | None = None, *,
                  lines: dict[str, int] | None = None) -> list[Problem]:
    """What makes a codebook read from another format unsafe to store or to run.

    For codebooks that do not come from YAML (a ``.qdc``, a ``.qdpx`` project, a workbook):
    every token pattern must pass :func:`pattern_problem`, no code may be nested more
    than :data:`MAX_CODE_DEPTH` levels deep, the names and the version must be one line of
    plain text (:func:`unprintable`), and the map section must pass :func:`map_problems`.
    ``lines`` gives a code's line (or row), where the format has them.
    """
    where = "" if path is None else str(path)
    lines = lines or {}
    problems: list[Problem] = [Problem(where, None, None, None, f"the codebook's {key} {why}")
                               for key in ("name", "version")
                               if (why := unprintable(getattr(book, key)))]
    for code in book.codes:
        line = lines.get(code.id)
        why = unprintable(code.name)
        if why:
            problems.append(Problem(where, line, None, code.id or None, f"the code's name {why}"))
        if not isinstance(code.patterns, list):
            problems.append(Problem(where, line, None, code.id or None,
                                    "'patterns' must be a list of token patterns"))
            continue
        for i, pattern in enumerate(code.patterns, start=1):
            refused = pattern_problem(pattern)
            if refused:
                problems.append(Problem(where, line, None, code.id or None,
                                        f"pattern {i} is refused: {refused}"))
    levels = code_levels({c.id: c.parent for c in book.codes})
    problems += [Problem(where, lines.get(c.id), None, c.id or None,
                         f"the code is nested {MAX_CODE_DEPTH + 1} levels deep; codes may nest "
                         f"at most {MAX_CODE_DEPTH} levels")
                 for c in book.codes if levels.get(c.id) == MAX_CODE_DEPTH + 1]
    problems += [Problem(where, None, None, None, text) for text in map_problems(book)]
    return problems


def unprintable(text: Any) -> str | None:
    """Why a name is not one line of plain text (None: it is), as the study's name is checked.

    Control, formatting and line-separator characters (a newline, a terminal escape, a
    direction override) would break the one-line messages and the exports that show it.
    """
    bad = next((ch for ch in str(text) if unicodedata.category(ch) in UNPRINTABLE), None)
    if bad is None:
        return None
    return (f"holds a control or formatting character (U+{ord(bad):04X}); give it as plain "
            "text on one line")


def map_problems(book: Codebook) -> list[str]:
    """What is wrong with a codebook's ``map`` section as read from any format (empty: fine).

    Its axis codes must be a non-empty list of the codebook's code ids, each named once, and
    its labels short texts.
    """
    axis = book.map
    if axis is None:
        return []
    codes = axis.axis_codes
    if not isinstance(codes, list) or not codes or \
            not all(isinstance(c, str) for c in codes):
        return ["the map's axis_codes must be a non-empty list of code ids"]
    out = []
    known = set(book.ids)
    out += [f"the map's axis_codes name an unknown code {quoted(c)}; name a code of this "
            "codebook" for c in codes if c not in known]
    out += [f"the map's axis_codes name {quoted(c)} twice; keep one"
            for i, c in enumerate(codes) if c in codes[:i]]
    for key in MAP_KEYS[1:]:
        value = getattr(axis, key)
        if not isinstance(value, str):
            out.append(f"the map's {key} must be text")
        elif len(value) > MAX_MAP_LABEL:
            out.append(f"the map's {key} is {len(value)} characters long; keep it to "
                       f"{MAX_MAP_LABEL} so it fits on the map")
    return out


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
        loader = _loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except _TooDeep as exc:
        report.problems.append(Problem(
            report.path, exc.mark.line + 1, exc.mark.column + 1, None,
            f"the YAML is nested more than {MAX_YAML_DEPTH} levels deep here; a codebook needs "
            "far fewer (codes nest through 'parent', not by indenting) - is this the right "
            "file?"))
        return None
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
        return None
    return root if _shape_ok(root, report) else None


class _TooDeep(Exception):
    """The YAML composer reached :data:`MAX_YAML_DEPTH` at ``mark``."""

    def __init__(self, mark: Any):
        super().__init__("nested too deeply")
        self.mark = mark


_LOADER: list[Any] = []


def _loader(text: str) -> Any:
    """A SafeLoader for ``text`` whose composer stops at :data:`MAX_YAML_DEPTH` levels.

    PyYAML composes nested lists and mappings recursively, so a file of a few thousand ``[``
    would end in a RecursionError; the composer is stopped long before Python's limit.
    """
    if not _LOADER:
        import yaml

        class DepthLimitedLoader(yaml.SafeLoader):
            depth = 0

            def compose_node(self, parent: Any, index: Any) -> Any:
                if self.depth >= MAX_YAML_DEPTH:
                    raise _TooDeep(self.peek_event().start_mark)
                self.depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self.depth -= 1

        _LOADER.append(DepthLimitedLoader)
    return _LOADER[0](text)


def _shape_ok(root: Any, report: _Report) -> bool:
    """False (after reporting) for a node graph that aliases make cyclic, too deep or too big.

    Aliases (``*name``) reuse a node without nesting the text, so the composer's limit does
    not bound them: ``&a [*a]`` is a cycle, a chain of aliases can nest thousands of levels,
    and a few lines of aliases can stand for millions of values. The graph is walked once,
    without recursion, each shared node measured once. A tag that the safe loader cannot
    build a value for (``!foo``, ``!!python/object``) is refused on the way.
    """
    import yaml

    known_tags = {tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None}
    depth: dict[int, int] = {}
    size: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        kids = _kids(node)
        if leaving:
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            if depth[key] > MAX_YAML_DEPTH:
                report.add(node, f"YAML aliases here nest values more than {MAX_YAML_DEPTH} "
                                 "levels deep; write the values out instead of aliasing them")
                return False
            if size[key] > MAX_YAML_VALUES:
                report.add(node, f"this holds more than {MAX_YAML_VALUES} values once its YAML "
                                 "aliases are expanded; write the values out instead of "
                                 "aliasing them")
                return False
            continue
        if key in depth:
            continue
        if key in entered:  # entered and not yet left: an ancestor of itself
            report.add(node, "a YAML alias here refers to the list or mapping that contains "
                             "it; remove the alias")
            return False
        if node.tag not in known_tags:
            report.add(node, f"the YAML tag {quoted(str(node.tag))} is not one a codebook uses; "
                             "remove it (write plain values)")
            return False
        entered.add(key)
        stack.append((node, True))
        stack += [(k, False) for k in kids]
    return True


def _kids(node: Any) -> list[Any]:
    """The nodes directly inside a list or mapping node (keys and values)."""
    if _is(node, "seq"):
        return list(node.value)
    if _is(node, "map"):
        return [n for pair in node.value for n in pair]
    return []


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
            report.add(key_node, f"the key {quoted(key)} appears twice in this {what}; keep one",
                       code)
            continue
        out[key] = (key_node, value_node)
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else \
                f"valid keys are: {', '.join(allowed)}"
            report.add(key_node, f"unknown key {quoted(key)} in this {what}; {hint}", code)
    return out


def _text(items: dict[str, tuple[Any, Any]], key: str, report: _Report, code: str | None,
          owner: Any, *, required: bool = False, one_line: bool = False) -> str | None:
    """A scalar field as text; reports a missing, empty or non-scalar required value, and
    (``one_line``) one that is not one line of plain text."""
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
    why = unprintable(text) if one_line else None
    if why:
        report.add(node, f"'{key}' {why}", code)
    return text


def _id_text(node: Any, report: _Report, code: str | None, what: str,
             example: str) -> str | None:
    """An id exactly as written ('' for none); None, after reporting, when it is not one word
    or YAML would read it as something else (010 as 8, 0x1f as 31, yes as true).

    A whole number written plainly (7, not 07 or 1_000) is taken as the text it is.
    ``example`` is the YAML the hints show, with ``{}`` where the id goes (``id: {}``).
    """
    if not _is(node, "scalar"):
        report.add(node, f"{what} must be a single word, not a list or mapping; write it as "
                         f"{example.format('trust')}", code)
        return None
    tag = str(node.tag).rsplit(":", 1)[-1]
    if tag == "null":
        return ""
    if tag == "str" or (tag == "int" and PLAIN_NUMBER_RE.match(node.value)):
        return str(node.value)
    if tag in ("int", "float"):
        kind = f"the number {_value(node)}"
    elif tag == "bool":
        kind = str(_value(node)).lower()
    else:
        kind = "a date" if tag == "timestamp" else "something other than text"
    report.add(node, f"YAML reads {what} {quoted(str(node.value))} as {kind}, not as written; "
                     f"quote it: {example.format(json.dumps(str(node.value)))}", code)
    return None


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
        "name": _text(items, "name", report, None, root, one_line=True) or
        Path(report.path).stem,
        "version": _text(items, "version", report, None, root, one_line=True) or "1",
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
    if "map" in items:
        axis = _map(items["map"][1], [c["id"] for c in book["codes"] if c["id"]], report)
        if axis is not None:
            book["map"] = axis
    return book


def _map(node: Any, ids: list[str], report: _Report) -> dict[str, Any] | None:
    """The ``map:`` section: the codes of the stakeholder map's vertical axis, and its labels."""
    if _is(node, "scalar") and _value(node) is None:
        return None  # 'map:' left empty: the map's fallback axis
    if not _is(node, "map"):
        report.add(node, "'map' must be a mapping such as {axis_codes: [code-id, ...], "
                         "axis_label: TEXT}")
        return None
    items = _items(node, MAP_KEYS, report, None, "map section")
    out: dict[str, Any] = {}
    if "axis_codes" not in items:
        report.add(node, "the map section has no 'axis_codes'; list the codes whose passages "
                         "place a stakeholder high on the map, or remove 'map'")
        return None
    codes_node = items["axis_codes"][1]
    entries = list(codes_node.value) if _is(codes_node, "seq") else [codes_node]
    known = set(ids)
    codes: list[str] = []
    for item in entries:
        value = _id_text(item, report, None, "a code id of the map's axis_codes",
                         "axis_codes: [{}]")
        if value is None:
            continue
        if not value.strip():
            report.add(item, f"the map's axis_codes hold an empty id; list code ids such as "
                             f"'{ids[0] if ids else 'trust'}'")
        elif value in codes:
            report.add(item, f"the map's axis_codes name {quoted(value)} twice; keep one")
        elif value not in known:
            near = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else "name a code of this codebook"
            report.add(item, f"the map's axis_codes name an unknown code {quoted(value)}; "
                             f"{hint}")
            codes.append(value)
        else:
            codes.append(value)
    if not entries:
        report.add(codes_node, "the map's axis_codes are empty; list at least one code id")
    out["axis_codes"] = [c for c in dict.fromkeys(codes) if c in known]
    for key in MAP_KEYS[1:]:
        text = _text(items, key, report, None, node)
        if text is None:
            continue
        text = " ".join(text.split())
        if len(text) > MAX_MAP_LABEL:
            report.add(items[key][1], f"the map's {key} is {len(text)} characters long; keep it "
                                      f"to {MAX_MAP_LABEL} so it fits on the map")
        out[key] = text
    return out


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
        report.add(entry, "each code must be a mapping with at least an id and a name")
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
        "name": _text(items, "name", report, code_id, entry, required=True,
                      one_line=True) or "",
        # optional: other tools' codebooks often have no descriptions
        "definition": _text(items, "definition", report, code_id, entry) or "",
        "parent": _id_text(items["parent"][1], report, code_id, "the parent",
                           "parent: {}") or None if "parent" in items else None,
        "color": _color(items, report, code_id),
        "patterns": _patterns(items, report, code_id),
        "_node": entry,
        "_parent_node": items["parent"][1] if "parent" in items else None,
        "_line": entry.start_mark.line + 1,
    }
    for key in LIST_FIELDS:
        code[key] = _strings(items, key, report, code_id)
    replaces = _replaces(items, report, code_id)
    if replaces:
        code["replaces"] = replaces
    if "codable" in items:
        value = _value(items["codable"][1]) if _is(items["codable"][1], "scalar") else None
        if not isinstance(value, bool):
            report.add(items["codable"][1], "'codable' must be true or false", code_id)
        elif not value:
            code["codable"] = False
    return code


def _replaces(items: dict[str, tuple[Any, Any]], report: _Report,
              code: str | None) -> list[str]:
    """``replaces:``: the ids of the previous version's codes this code takes over."""
    if "replaces" not in items:
        return []
    node = items["replaces"][1]
    out: list[str] = []
    for i, item in enumerate(node.value if _is(node, "seq") else [node], start=1):
        old = _id_text(item, report, code, f"replaces item {i}", "replaces: [{}]")
        if old is None:
            continue
        if not old.strip():
            if item is not node:  # 'replaces:' left empty replaces nothing
                report.add(item, f"replaces item {i} is empty; list the ids of the earlier "
                                 "codes it takes over", code)
        elif not CODE_ID_RE.match(old):
            report.add(item, f"replaces {quoted(old)}, which is not a code id (a lowercase "
                             "slug such as 'trust')", code)
        elif old == code:
            report.add(item, "a code cannot replace itself; list the ids of the earlier codes "
                             "it takes over", code)
        elif old in out:
            report.add(item, f"{quoted(old)} is listed twice in replaces", code)
        else:
            out.append(old)
    return out


def _code_id(entry: Any, report: _Report) -> str | None:
    for key_node, value_node in entry.value:
        if _is(key_node, "scalar") and key_node.value == "id":
            text = _id_text(value_node, report, None, "the code id", "id: {}")
            if text is None:
                return None
            if not text.strip():
                report.add(value_node, "the code id is empty; give a lowercase slug such as "
                                       "'trust'")
                return None
            if not CODE_ID_RE.match(text):
                slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "code"
                report.add(value_node, f"the code id {quoted(text)} is not a lowercase slug; "
                                       f"use letters, digits and - such as '{slug}'", text)
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
        refused = pattern_problem(pattern)
        if refused:
            report.add(item, f"pattern {i} is refused: {refused}", code)
            continue
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


# --- token patterns and their regular expressions -----------------------------------------------
#
# spaCy's Matcher runs a token pattern's {"REGEX": ...} with Python's backtracking ``re`` on
# every token it tries, so a regex such as ^(a+)+$ takes exponential time on a long word and a
# codebook (or a partner's .qdc / .qdpx that carries one) could hang ``suggest``. Such regexes
# are refused when a codebook enters tipqual, by a check of the regex's parse tree:
#
# - nothing repeated (*, +, {n,}, {n,m} with m > 1) may hold a quantifier of its own, at any
#   depth, or match nothing: (a+)+  (a*)*  (.*a){3}  (a{1,2})+  (a(b?)?)+  (a(?:)?)+  (\b)+
#   (a group such as (-[a-z]+)* is refused too: ^[a-z-]+$ says the same)
# - no repeated alternatives that can start alike or match nothing: (a|a)+  (a|ab)+  (a|)+
# - no two variable-length repetitions in a row that can take the same characters: \w+\w*
#   a+b?a+ (what lies between them must hold a character the first cannot take)
# - no backreferences or conditionals (\1, (?P=x), (?(1)a|b)), no lookarounds ((?=…) (?<!…))
# - at most MAX_REGEX_CHARS characters.
#
# The standard library has no public regex parser; ``re._parser`` (``sre_parse`` before 3.11)
# is the one ``re`` itself uses. It is internal, so it is used defensively: any node this check
# does not know, or a parser of another shape, makes the regex refused rather than trusted.
# (PyPI's RE2 bindings would make matching linear but cannot check what ``re`` will do, and
# spaCy's Matcher uses ``re``.)

MAX_REGEX_CHARS = 200
MAX_PATTERN_DEPTH = 8  # lists and mappings inside one token pattern ([{"LOWER": {"IN": [..]}}]: 4)
_SAFE_REGEX_ADVICE = ("simplify it (one repetition over a character class, such as "
                      "^traffick\\w*$) or list the words with IN")
_NESTED = ("repeats a part that holds a quantifier of its own (like (a+)+, (a(b?)?)+ or "
           "(.*a){3}), which can take exponential time on some words; " + _SAFE_REGEX_ADVICE)
_EMPTY = ("repeats a part that can match nothing (like (?:)+ or (\\b)*), which can take "
          "exponential time on some words; " + _SAFE_REGEX_ADVICE)
_ALTERNATIVES = ("repeats alternatives that can match the same text (like (a|a)+ or (a|ab)+), "
                 "which can take exponential time on some words; make each alternative start "
                 "with a different character, or " + _SAFE_REGEX_ADVICE)
_IN_A_ROW = ("has two repetitions in a row that can match the same characters (like \\w+\\w* "
             "or a+b?a+), which can take a very long time on long words; merge them into one, "
             "or " + _SAFE_REGEX_ADVICE)
# Sample characters beyond those a regex names itself, for telling whether two character
# classes can match the same character (the regex's literals and range ends are added).
_SAMPLE = "".join(map(chr, range(128))) + "\u00a0\u00e9\u00c9\u00df\u0436\u0416\u0663\u4e2d" \
    "\u2019\u2013\u200b\U0001f600\u00b2\u2028"


class _UnsafeRegex(Exception):
    """A reason to refuse a regular expression."""


_PARSER: list[Any] = []


def _regex_parser() -> Any:
    """``re._parser`` when it has the shape this check was written for, else None.

    The shape is tried once on a known regex: the node names and argument forms used below
    (those of CPython 3.11 to 3.13). A parser of another shape is not trusted.
    """
    if not _PARSER:
        import importlib

        parser = None
        try:
            candidate = importlib.import_module("re._parser")
            constants = importlib.import_module("re._constants")
            # expected: [(SUBPATTERN, (1, 0, 0, [(MAX_REPEAT, (1, MAXREPEAT, [(LITERAL, 97)]))])),
            #            (MAX_REPEAT, (2, 2, [(LITERAL, 98)]))]
            (group_op, group), (fixed_op, fixed) = candidate.parse("(a+)b{2}")
            (repeat_op, (low, high, body)), = group[3]
            (literal_op, char), = body
            names = [getattr(op, "name", None) for op in (group_op, fixed_op, repeat_op,
                                                         literal_op)]
            if names == ["SUBPATTERN", "MAX_REPEAT", "MAX_REPEAT", "LITERAL"] \
                    and group[0] == 1 and (low, char) == (1, 97) and fixed[:2] == (2, 2) \
                    and high == constants.MAXREPEAT and int(high) > 65535:
                parser = candidate
        except Exception:  # an unknown parser: refuse every REGEX rather than guess
            parser = None
        _PARSER.append(parser)
    return _PARSER[0]


def regex_problem(regex: Any) -> str | None:
    """Why a token pattern's REGEX is refused (None: safe to run with Python's ``re``)."""
    if not isinstance(regex, str):
        return f"a REGEX must be text, not a {type(regex).__name__}"
    shown = json.dumps(regex, ensure_ascii=False) if len(regex) <= 60 else \
        json.dumps(regex[:40], ensure_ascii=False)[:-1] + '…"'
    if len(regex) > MAX_REGEX_CHARS:
        return (f"the REGEX {shown} is {len(regex)} characters long; a token REGEX may have "
                f"at most {MAX_REGEX_CHARS}")
    parser = _regex_parser()
    if parser is None:
        return (f"the REGEX {shown} cannot be checked on this Python (its regex parser is not "
                "one tipqual knows), so it is not run; use IN lists or phrases instead")
    try:
        tree = parser.parse(regex)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        return f"the REGEX {shown} is not a valid regular expression ({exc})"
    try:
        _RegexCheck(regex, tree).run()
    except _UnsafeRegex as exc:
        return f"the REGEX {shown} {exc}"
    return None


class _RegexCheck:
    """Walks one parse tree of ``re._parser`` (a list of (opcode, argument) pairs)."""

    CHAR_OPS = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY"})
    REPEAT_OPS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})

    def __init__(self, regex: str, tree: Any):
        self.tree = list(tree)
        flags = int(getattr(getattr(tree, "state", None), "flags", 0))
        self.ignorecase = bool(flags & re.IGNORECASE)
        extra: set[str] = set()
        self._collect(self.tree, extra)
        sample = set(_SAMPLE) | set(regex) | extra
        self.sample = frozenset(sample | {v for c in sample for v in (c.lower(), c.upper())
                                          if len(v) == 1})

    # the tree ---------------------------------------------------------------------------------

    def ops(self, seq: Any) -> list[tuple[str, Any]]:
        """The (name, argument) pairs of a sequence; refuses what this check does not know."""
        out = []
        for item in seq:
            if not isinstance(item, tuple) or len(item) != 2:
                raise _UnsafeRegex("could not be checked (unexpected parse tree); simplify it")
            op, arg = item
            name = getattr(op, "name", None) or str(op)
            if name in ("ASSERT", "ASSERT_NOT"):
                raise _UnsafeRegex("uses a lookahead or lookbehind ((?=…), (?!…), (?<=…), "
                                   "(?<!…)), which token patterns may not; " + _SAFE_REGEX_ADVICE)
            if name.startswith("GROUPREF"):
                raise _UnsafeRegex("uses a backreference or a conditional group (\\1, "
                                   "(?P=name), (?(1)…)), which token patterns may not; "
                                   + _SAFE_REGEX_ADVICE)
            if name not in self.CHAR_OPS | self.REPEAT_OPS | \
                    {"AT", "SUBPATTERN", "ATOMIC_GROUP", "BRANCH"}:
                raise _UnsafeRegex(f"uses a feature tipqual does not check ({name}); "
                                   + _SAFE_REGEX_ADVICE)
            out.append((name, arg))
        return out

    def inner(self, name: str, arg: Any) -> list[Any]:
        """The sub-sequences directly inside one node."""
        if name == "SUBPATTERN":
            return [arg[-1]]
        if name == "ATOMIC_GROUP":
            return [arg]
        if name in self.REPEAT_OPS:
            return [arg[2]]
        if name == "BRANCH":
            return list(arg[1])
        return []

    def _collect(self, seq: Any, chars: set[str]) -> None:
        """Literal characters and range ends (for the sample), and local (?i) flags."""
        for name, arg in self.ops(seq):
            if name in ("LITERAL", "NOT_LITERAL"):
                chars.add(chr(arg))
            elif name == "IN":
                for op, value in arg:
                    kind = getattr(op, "name", str(op))
                    if kind == "LITERAL":
                        chars.add(chr(value))
                    elif kind == "RANGE":
                        chars.update((chr(value[0]), chr(value[1])))
            elif name == "SUBPATTERN" and int(arg[1] or 0) & re.IGNORECASE:
                self.ignorecase = True
            for sub in self.inner(name, arg):
                self._collect(sub, chars)

    # characters --------------------------------------------------------------------------------

    def _member(self, name: str, arg: Any, ch: str) -> bool:
        code = ord(ch)
        if name == "LITERAL":
            return code == arg
        if name == "NOT_LITERAL":
            return code != arg
        if name == "ANY":
            return True
        if name == "RANGE":
            return bool(arg[0] <= code <= arg[1])
        if name == "CATEGORY":
            kind = getattr(arg, "name", str(arg)).replace("CATEGORY_", "")
            kind = kind.replace("UNI_", "").replace("LOC_", "")
            negate = kind.startswith("NOT_")
            test = {"DIGIT": ch.isdecimal(), "SPACE": ch.isspace(),
                    "WORD": ch.isalnum() or ch == "_", "LINEBREAK": ch == "\n"}.get(
                kind.removeprefix("NOT_"))
            if test is None:
                raise _UnsafeRegex(f"uses a character class tipqual does not check ({kind})")
            return test != negate
        if name == "IN":
            items = [(getattr(op, "name", str(op)), value) for op, value in arg]
            negate = bool(items) and items[0][0] == "NEGATE"
            hit = any(self._member(n, v, ch) for n, v in items if n != "NEGATE")
            return hit != negate
        raise _UnsafeRegex(f"uses a character class tipqual does not check ({name})")

    def charset(self, name: str, arg: Any) -> frozenset[str]:
        """The sample characters one single-character node matches."""
        def matches(ch: str) -> bool:
            variants = {ch, ch.lower(), ch.upper()} if self.ignorecase else {ch}
            return any(len(v) == 1 and self._member(name, arg, v) for v in variants)

        return frozenset(ch for ch in self.sample if matches(ch))

    def chars(self, seq: Any) -> frozenset[str]:
        """Every sample character some part of ``seq`` can match."""
        out: frozenset[str] = frozenset()
        for name, arg in self.ops(seq):
            if name in self.CHAR_OPS:
                out |= self.charset(name, arg)
            for sub in self.inner(name, arg):
                out |= self.chars(sub)
        return out

    def first(self, seq: Any) -> tuple[frozenset[str], bool]:
        """The characters a match of ``seq`` can start with, and whether it can be empty."""
        out: frozenset[str] = frozenset()
        for name, arg in self.ops(seq):
            if name in self.CHAR_OPS:
                return out | self.charset(name, arg), False
            if name == "AT":
                continue
            if name == "BRANCH":
                parts = [self.first(alt) for alt in arg[1]]
                out |= frozenset().union(*(p[0] for p in parts))
                if not any(p[1] for p in parts):
                    return out, False
                continue
            chars, empty = self.first(self.inner(name, arg)[0])
            out |= chars
            if not empty and not (name in self.REPEAT_OPS and arg[0] == 0):
                return out, False
        return out, True

    # the rules ---------------------------------------------------------------------------------

    def run(self) -> None:
        self.nesting(self.tree)
        self.scan(self.tree, [])

    def nesting(self, seq: Any) -> None:
        """Every repetition that can run more than once: its body must split one way only.

        The body may hold no quantifier at any depth (not even ``?`` or ``{2}``), must match
        at least one character, and its alternatives must start differently.
        """
        for name, arg in self.ops(seq):
            if name in self.REPEAT_OPS and arg[1] > 1:
                body = arg[2]
                if self.quantified(body):
                    raise _UnsafeRegex(_NESTED)
                self.alternatives(body)
                if self.first(body)[1]:
                    raise _UnsafeRegex(_EMPTY)
            for sub in self.inner(name, arg):
                self.nesting(sub)

    def quantified(self, seq: Any) -> bool:
        """True if ``seq`` holds a quantifier (``?``, ``*``, ``+``, ``{…}``) at any depth."""
        return any(name in self.REPEAT_OPS or any(self.quantified(sub)
                                                  for sub in self.inner(name, arg))
                   for name, arg in self.ops(seq))

    def alternatives(self, seq: Any) -> None:
        """Alternatives inside a repetition must not be empty or start alike."""
        for name, arg in self.ops(seq):
            if name == "BRANCH":
                starts: list[frozenset[str]] = []
                for alt in arg[1]:
                    chars, empty = self.first(alt)
                    if empty or any(chars & other for other in starts):
                        raise _UnsafeRegex(_ALTERNATIVES)
                    starts.append(chars)
            for sub in self.inner(name, arg):
                self.alternatives(sub)

    def scan(self, seq: Any, open_sets: list[frozenset[str]]) -> list[frozenset[str]]:
        """Variable repetitions in a row that can take the same characters (like \\w+\\w*).

        ``open_sets`` holds the characters of the earlier variable repetitions that could
        still be running; a character they cannot take ends them.
        """
        for name, arg in self.ops(seq):
            if name in self.CHAR_OPS:
                chars = self.charset(name, arg)
                open_sets = [s for s in open_sets if s & chars]
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                open_sets = self.scan(self.inner(name, arg)[0], open_sets)
            elif name == "BRANCH":
                merged: list[frozenset[str]] = []
                for alt in arg[1]:
                    merged += [s for s in self.scan(alt, open_sets) if s not in merged]
                open_sets = merged
            elif name in self.REPEAT_OPS:
                low, high, body = arg
                if low == high or high <= 1:
                    after = self.scan(body, open_sets) if high else open_sets
                    open_sets = after if low else after + [s for s in open_sets
                                                           if s not in after]
                    continue
                # It clashes with a running one if its first character (any, when a turn can
                # be empty) could also be taken by that one.
                chars = self.chars(body)
                start, empty = self.first(body)
                if any(s & (chars if empty else start) for s in open_sets):
                    raise _UnsafeRegex(_IN_A_ROW)
                open_sets = (open_sets if low == 0 else []) + [chars]
        return open_sets


def pattern_problem(pattern: Any) -> str | None:
    """Why a token pattern is refused before any Matcher sees it (None: it may be compiled).

    Checks the shape (a non-empty list of token mappings, not nested deeper than
    :data:`MAX_PATTERN_DEPTH`) and every REGEX in it (:func:`regex_problem`). It needs no
    spaCy, so whatever runs patterns can call it on patterns from anywhere (a study written by
    an older tipqual, a saved pipeline).
    """
    if not isinstance(pattern, list) or not pattern or \
            not all(isinstance(t, dict) for t in pattern):
        return "a pattern must be a non-empty list of token mappings such as [{LOWER: bribe}]"
    regexes: list[Any] = []
    stack: list[tuple[Any, int]] = [(pattern, 1)]
    while stack:  # iterative: a hostile pattern may be nested very deeply
        value, depth = stack.pop()
        if depth > MAX_PATTERN_DEPTH:
            return (f"the pattern is nested more than {MAX_PATTERN_DEPTH} levels deep; a token "
                    "pattern is a list of mappings such as [{LOWER: {IN: [bribe, bribes]}}]")
        if isinstance(value, dict):
            for key, item in value.items():
                if str(key).upper() == "REGEX":
                    regexes.append(item)
                else:
                    stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]
    for regex in regexes:
        problem = regex_problem(regex)
        if problem:
            return problem
    return None


def _check_parents(codes: list[dict[str, Any]], report: _Report) -> None:
    """Unknown parents, cycles and codes nested too deeply in the hierarchy."""
    ids = {c["id"] for c in codes if c["id"]}
    parents = {c["id"]: c["parent"] for c in codes if c["id"]}
    levels = code_levels(parents)
    for code in codes:
        node = code.pop("_parent_node")
        entry = code.pop("_node")
        parent = code["parent"]
        if parent is None or not code["id"]:
            continue
        if parent not in ids:
            near = difflib.get_close_matches(parent, sorted(ids), n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else "name an existing code id"
            report.add(node, f"unknown parent {quoted(parent)}; {hint}", code["id"])
            continue
        if levels.get(code["id"]) == MAX_CODE_DEPTH + 1:  # the first too deep in its line
            report.add(entry, f"the code is nested {MAX_CODE_DEPTH + 1} levels deep (through "
                              f"'parent'); codes may nest at most {MAX_CODE_DEPTH} levels, so "
                              "give it a parent higher up", code["id"])
        if levels.get(code["id"]) != 0:
            continue
        chain, on_chain, current = [code["id"]], {code["id"]}, parent
        while current is not None and current not in on_chain:
            chain.append(current)
            on_chain.add(current)
            current = parents.get(current)
        if current == code["id"]:
            shown = chain if len(chain) <= 8 else [*chain[:4], "…", *chain[-2:]]
            loop = " -> ".join([*shown, code["id"]])
            report.add(node, f"the parents form a cycle ({loop}); a code cannot be its own "
                             "ancestor", code["id"])


def code_levels(parents: dict[str, str | None]) -> dict[str, int]:
    """Each code's level in the hierarchy (1: top level), from a code id -> parent id map.

    An unknown parent counts as the top. A code in a cycle of parents, or under one, gets 0.
    Each code is visited once (no recursion), so long chains cost no more than short ones.
    """
    levels: dict[str, int] = {}
    for start in parents:
        chain: list[str] = []
        on_chain: set[str] = set()
        current: str | None = start
        while current is not None and current in parents and current not in levels \
                and current not in on_chain:
            chain.append(current)
            on_chain.add(current)
            current = parents[current]
        if current is not None and (current in on_chain or levels.get(current) == 0):
            levels.update(dict.fromkeys(chain, 0))
            continue
        level = levels.get(current, 0) if current is not None else 0
        for code_id in reversed(chain):
            level += 1
            levels[code_id] = level
    return levels


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
    id_node = next((v for k, v in entry.value if _is(k, "scalar") and k.value == "id"), None)
    sid = None if id_node is None else _id_text(id_node, report, None, "the stakeholder id",
                                                "id: {}")
    items = _items(entry, STAKEHOLDER_KEYS, report, sid, "stakeholder")
    if id_node is not None and sid is None:  # reported
        return None
    if not sid or not sid.strip():
        report.add(entry, "the stakeholder has no id; give it a short id such as 'SAPS'")
        return None
    if not STAKEHOLDER_ID_RE.match(sid):
        report.add(items["id"][1], f"the stakeholder id {quoted(sid)} may hold only the "
                                   "letters A-Z (no accents), digits and - _ . &, starting with "
                                   "a letter or digit; keep the full name in 'name'", sid)
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
            report.add(nodes.get(alias, alias_node), f"the alias {quoted(alias)} also belongs to "
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
        report.add(items[key][1], f"unknown {key} {quoted(value)}; {hint}", sid)
    return value
