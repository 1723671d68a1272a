"""The package's layering, checked on its source: who may import what, and no import cycles.

What counts as an import: every ``import`` and ``from … import`` statement, inside functions
too, and every call of ``importlib.import_module("…")`` or ``__import__("…")`` with a literal
name. The command group loads its commands by a computed name (``tipqual/cli/__init__.py``:
``COMMANDS`` maps a command to ``"module:attribute"``, ``_load`` imports
``f"tipqual.cli.{module}"``); that loader is modelled as an import, by ``tipqual.cli``, of each
module ``COMMANDS`` names. Any other import by a computed name fails (model it here first).

Imports under ``if TYPE_CHECKING:`` never run, so they cannot make an import cycle: the cycle
check leaves them out. Every other rule counts them (a type-only import of the store is still
the store in the analysis layer). The rules are those of ARCHITECTURE.md.

Each rule is a function of a scanned package (:func:`scan`), so it runs on the real tree and,
at the end of this file, on small fake trees in which each kind of violation must fail and a
clean tree must pass.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tipqual"


@dataclass(frozen=True)
class Import:
    target: str  # an absolute module name
    line: int
    typing_only: bool = False  # under ``if TYPE_CHECKING:``


@dataclass
class Package:
    root: Path  # the package's folder
    name: str  # its import name
    modules: dict[str, Path] = field(default_factory=dict)
    imports: dict[str, list[Import]] = field(default_factory=dict)
    unmodelled: list[str] = field(default_factory=list)  # imports by a computed name

    def where(self, module: str, line: int) -> str:
        return f"{self.modules[module].relative_to(self.root.parent)}:{line}"

    def importers_of(self, target: str) -> Iterator[tuple[str, Import]]:
        """(module, import) for each import of ``target`` or of a module inside it."""
        for module, found in sorted(self.imports.items()):
            for imp in found:
                if imp.target == target or imp.target.startswith(target + "."):
                    yield module, imp

    def offenders(self, target: str, allowed: Callable[[str], bool]) -> list[str]:
        return [f"{self.where(m, imp.line)}: {m} imports {imp.target}"
                for m, imp in self.importers_of(target) if not allowed(m)]


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _resolve(name: str, level: int, package: str) -> str:
    """The absolute name of ``name`` imported with ``level`` leading dots from ``package``."""
    if not level:
        return name
    anchor = package.split(".")[: len(package.split(".")) - level + 1]
    return ".".join([*anchor, *([name] if name else [])])


def _prefix(arg: ast.expr, scope: ast.AST) -> str | None:
    """The literal start of a computed module name: ``f"a.b.{x}"``, or a name bound to one."""
    if isinstance(arg, ast.Name):
        bound = [n.value for n in ast.walk(scope) if isinstance(n, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == arg.id for t in n.targets)]
        arg = bound[0] if len(bound) == 1 else arg  # bound once: that value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        return _literal(arg.values[0])
    return None


def _dynamic(call: ast.Call, package: str) -> tuple[list[str], bool]:
    """The modules an ``import_module``/``__import__`` call imports; False if it is computed."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    keywords = {k.arg: k.value for k in call.keywords}
    target = _literal(call.args[0]) if call.args else _literal(keywords.get("name"))
    if target is None:
        return [], False
    if name == "import_module":
        level = len(target) - len(target.lstrip("."))
        anchor = call.args[1] if len(call.args) > 1 else keywords.get("package")
        if level and _literal(anchor) is None and not (
                isinstance(anchor, ast.Name) and anchor.id == "__package__"):
            return [], False
        base = _resolve(target[level:], level, _literal(anchor) or package)
        return [base], True
    # __import__(name, globals, locals, fromlist, level)
    fromlist = call.args[3] if len(call.args) > 3 else keywords.get("fromlist")
    level_node = call.args[4] if len(call.args) > 4 else keywords.get("level")
    level = level_node.value if isinstance(level_node, ast.Constant) else 0
    base = _resolve(target, int(level or 0), package)
    names = [_literal(e) for e in getattr(fromlist, "elts", [])]
    return [base, *(f"{base}.{n}" for n in names if n)], True


def imports_of(path: Path, name: str, modules: dict[str, Path]
               ) -> tuple[list[Import], list[tuple[int, str | None]]]:
    """Every import of the module at ``path``, and its imports by a computed name.

    A computed import is (line, the literal start of the name, if any).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []
    computed: list[tuple[int, str | None]] = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def add(target: str, line: int, typing: bool, submodules: Sequence[str] = ()) -> None:
        found.append(Import(target, line, typing))
        found.extend(Import(s, line, typing) for s in submodules if s in modules)

    def visit(node: ast.AST, typing: bool, scope: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.body:
                visit(child, True, scope)
            for child in node.orelse:
                visit(child, typing, scope)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = node
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, typing)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, package)
            add(base, node.lineno, typing, [f"{base}.{a.name}" for a in node.names])
        elif isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
                 and isinstance(node.func.value, ast.Name) and node.func.value.id == "importlib")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "__import__")
                or (isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__"))):
            targets, literal = _dynamic(node, package)
            if literal:
                add(targets[0], node.lineno, typing, targets[1:])
            else:
                named = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg == "name"), None)
                computed.append((node.lineno, None if named is None else _prefix(named, scope)))
        for child in ast.iter_child_nodes(node):
            visit(child, typing, scope)

    visit(tree, False, tree)
    return found, computed


def command_modules(path: Path, cli: str) -> list[Import]:
    """The command modules the command group loads: one per module ``COMMANDS`` names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "COMMANDS" \
                and isinstance(value, ast.Dict):
            return [Import(f"{cli}.{text.split(':')[0]}", v.lineno) for v in value.values
                    if (text := _literal(v)) is not None]
    return []


def scan(root: Path) -> Package:
    """Every module of the package at ``root`` and what it imports."""
    pkg = Package(root=root, name=root.name)
    pkg.modules = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    cli = f"{pkg.name}.cli"
    for name, path in pkg.modules.items():
        found, computed = imports_of(path, name, pkg.modules)
        for line, prefix in computed:
            loaded = command_modules(path, cli) if name == cli and prefix == f"{cli}." else []
            if loaded:
                found.extend(Import(i.target, line) for i in loaded)  # the loader's call
            else:
                pkg.unmodelled.append(f"{pkg.where(name, line)}: {name} imports a module "
                                      "by a computed name (model it in tests/test_layers.py)")
        pkg.imports[name] = found
    return pkg


# --- the rules: each returns its violations, "FILE:LINE: what" --------------------------------

def sqlite3_outside_the_store(pkg: Package) -> list[str]:
    return pkg.offenders("sqlite3", lambda m: m.startswith(f"{pkg.name}.store"))


def textual_outside_the_workbench(pkg: Package) -> list[str]:
    def allowed(m: str) -> bool:
        return m.startswith(f"{pkg.name}.tui") or m == f"{pkg.name}.cli.workbench"

    # and nothing outside the workbench command imports the workbench
    return [*pkg.offenders("textual", allowed), *pkg.offenders("rich", allowed),
            *pkg.offenders(f"{pkg.name}.tui", allowed)]


def click_outside_the_command_line(pkg: Package) -> list[str]:
    return pkg.offenders("click", lambda m: m.startswith((f"{pkg.name}.cli",
                                                          f"{pkg.name}.__main__")))


def _in_analysis_or_report(pkg: Package) -> Callable[[str], bool]:
    layers = (f"{pkg.name}.analysis", f"{pkg.name}.report")
    return lambda m: not (m in layers or m.startswith(tuple(f"{x}." for x in layers)))


def store_in_analysis_or_report(pkg: Package) -> list[str]:
    return pkg.offenders(f"{pkg.name}.store", _in_analysis_or_report(pkg))


def language_in_analysis_or_report(pkg: Package) -> list[str]:
    # The network counts the mentions its caller gives; finding them is the nlp stage's job.
    allowed = _in_analysis_or_report(pkg)
    return [*pkg.offenders("spacy", allowed), *pkg.offenders(f"{pkg.name}.nlp", allowed)]


def the_store_imports_a_stage(pkg: Package) -> list[str]:
    # The codebook model is data the study stores (parsed back on reading), not a stage.
    n = pkg.name
    allowed = {n, f"{n}.errors", f"{n}.records", f"{n}.codebook", f"{n}.codebook.model",
               f"{n}.codebook.check"}
    return [f"{pkg.where(m, imp.line)}: {m} imports {imp.target}"
            for m, found in sorted(pkg.imports.items()) if m.startswith(f"{n}.store")
            for imp in found if imp.target.startswith(f"{n}.")
            and not imp.target.startswith(f"{n}.store") and imp.target not in allowed]


def unmodelled_dynamic_imports(pkg: Package) -> list[str]:
    return pkg.unmodelled


def import_cycles(pkg: Package) -> list[str]:
    """Each import cycle (``TYPE_CHECKING`` imports left out), with the imports that make it."""
    graph = {m: sorted({i.target for i in found if not i.typing_only and i.target in pkg.modules
                        and i.target != m}) for m, found in pkg.imports.items()}
    problems = []
    for component in _strongly_connected(graph):
        inside = set(component)
        edges = {f"{pkg.where(m, i.line)} -> {i.target}" for m in component
                 for i in pkg.imports[m] if not i.typing_only and i.target in inside
                 and i.target != m}
        problems.append(f"import cycle {' / '.join(component)}: {'; '.join(sorted(edges))}")
    return problems


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of two or more, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(s, ast.Expr) and _literal(s.value) is not None for s in body)


def owners(pkg: Package) -> set[str]:
    """The paths ARCHITECTURE.md's tree table must list: every module with code, every folder
    of package data.

    An ``__init__.py`` that holds only a docstring (today every subpackage's but ``cli/``'s)
    owns nothing but the package's description: its package's modules are the rows, and a row
    for it counts as stale. An ``__init__.py`` with code (the top level's, ``cli/``'s) is a
    module like any other and needs its row. A folder without ``__init__.py`` that holds files
    (``report/templates``) is package data, listed as ``path/``.
    """
    top = pkg.root.parent
    paths = {str(p.relative_to(top)) for p in pkg.modules.values()
             if not (p.name == "__init__.py" and _docstring_only(p))}
    for folder in pkg.root.rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__" \
                and not (folder / "__init__.py").exists() and any(folder.iterdir()):
            paths.add(f"{folder.relative_to(top)}/")
    return paths


def table_rows(text: str, name: str) -> list[str]:
    """The paths the rows of ARCHITECTURE.md's tables name: ``| `tipqual/x.py` | … |``."""
    row = re.compile(rf"^\|\s*`({re.escape(name)}/[^`]*)`\s*\|", re.M)
    return row.findall(text)


def architecture_table_mismatches(pkg: Package) -> list[str]:
    md = pkg.root.parent / "ARCHITECTURE.md"
    rows = table_rows(md.read_text(encoding="utf-8"), pkg.name)
    wanted = owners(pkg)
    return [*(f"ARCHITECTURE.md: {p} is listed {n} times" for p, n in Counter(rows).items()
              if n > 1),
            *(f"ARCHITECTURE.md: no row for {p}" for p in sorted(wanted - set(rows))),
            *(f"ARCHITECTURE.md: the row {p} names no module with code or data folder"
              for p in sorted(set(rows) - wanted))]


RULES: dict[str, Callable[[Package], list[str]]] = {
    "sqlite3": sqlite3_outside_the_store,
    "textual": textual_outside_the_workbench,
    "click": click_outside_the_command_line,
    "store": store_in_analysis_or_report,
    "language": language_in_analysis_or_report,
    "stage": the_store_imports_a_stage,
    "dynamic": unmodelled_dynamic_imports,
    "cycle": import_cycles,
    "architecture": architecture_table_mismatches,
}

REAL = scan(PACKAGE)


# --- the real tree ----------------------------------------------------------------------------

def test_the_parser_sees_imports_inside_functions_and_marks_type_checking(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import json\n"
                      "def f():\n    import sqlite3\n    from tipqual.analysis import matrices\n"
                      "    importlib.import_module('csv')\n    __import__('shlex')\n",
                      encoding="utf-8")
    found, computed = imports_of(source, "tipqual.probe", REAL.modules)
    runs = {i.target for i in found if not i.typing_only}
    assert {"sqlite3", "tipqual.analysis.matrices", "csv", "shlex"} <= runs
    assert [i for i in found if i.typing_only] == [Import("json", 3, True)]
    assert computed == []


def test_sqlite3_only_in_the_store():
    assert sqlite3_outside_the_store(REAL) == []


def test_textual_only_in_the_workbench():
    assert textual_outside_the_workbench(REAL) == []


def test_click_only_in_the_command_line():
    assert click_outside_the_command_line(REAL) == []


def test_analysis_and_report_never_import_the_store():
    assert store_in_analysis_or_report(REAL) == []


def test_analysis_and_report_take_mentions_as_data():
    assert language_in_analysis_or_report(REAL) == []


def test_the_store_imports_no_stage():
    assert the_store_imports_a_stage(REAL) == []


def test_every_import_by_a_computed_name_is_modelled():
    assert unmodelled_dynamic_imports(REAL) == []


def test_the_command_loader_is_seen_as_importing_every_command_module():
    from tipqual.cli import COMMANDS

    loaded = {i.target for i in REAL.imports["tipqual.cli"]}
    wanted = {f"tipqual.cli.{v.split(':')[0]}" for v in COMMANDS.values()}
    assert wanted <= loaded and wanted <= set(REAL.modules)


def test_no_import_cycle():
    assert import_cycles(REAL) == []


def test_architecture_md_lists_every_module_once_and_nothing_else():
    assert architecture_table_mismatches(REAL) == []
    assert "tipqual/report/templates/" in owners(REAL)
    assert "tipqual/cli/__init__.py" in owners(REAL)
    assert "tipqual/store/__init__.py" not in owners(REAL)


def test_top_level_keeps_few_modules_and_the_stages_live_in_subpackages():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
    for stage in ("store", "codebook", "ingest", "nlp", "suggest", "coding", "analysis",
                  "report", "exchange", "output", "cli"):
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


def test_the_long_standing_names_still_import():
    import tipqual
    from tipqual.agreement import cohen_kappa, krippendorff_alpha
    from tipqual.analysis import agreement
    from tipqual.store.project import Project as Store

    assert cohen_kappa is agreement.cohen_kappa
    assert krippendorff_alpha is agreement.krippendorff_alpha
    from tipqual import agreement as former

    assert former.agreement_table is agreement.agreement_table  # the former module's other names
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        former.nonsense  # noqa: B018
    assert issubclass(tipqual.Project, Store) and callable(tipqual.Project.open)
    assert tipqual.Project.__module__ == "tipqual.api"


# --- the rules on fake trees ------------------------------------------------------------------

CLEAN = {
    "__init__.py": '"""A fake tipqual."""\nVERSION = "0"\n',
    "__main__.py": "import click\n",
    "errors.py": "class TipqualError(Exception):\n    pass\n",
    "store/__init__.py": '"""The store."""\n',
    "store/project.py": "import sqlite3\n\nfrom tipqual import errors\n"
                        "from tipqual.codebook import model\n",
    "codebook/__init__.py": '"""Codebooks."""\n',
    "codebook/model.py": "import json\n",
    "nlp/__init__.py": '"""Language."""\n',
    "nlp/pipeline.py": "def load():\n    import spacy\n    return spacy\n",
    "analysis/__init__.py": '"""Analysis."""\n',
    # a cycle with a TYPE_CHECKING import only: allowed (it never runs)
    "analysis/matrices.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                            "    from tipqual.report.context import Context\n",
    "report/__init__.py": '"""Reports."""\n',
    "report/context.py": "from tipqual.analysis import matrices\n",
    "report/templates/report.md.j2": "{{ title }}\n",
    "tui/__init__.py": '"""The workbench."""\n',
    "tui/app.py": "import textual\nfrom tipqual.store.project import Project\n",
    "cli/__init__.py": 'import importlib\n\nimport click\n\n'
                       'COMMANDS = {"init": "study:init", "workbench": "workbench:workbench"}\n\n'
                       "\ndef _load(name):\n"
                       '    module_name, attr = COMMANDS[name].split(":")\n'
                       '    full = f"tipqual.cli.{module_name}"\n'
                       "    return getattr(importlib.import_module(full), attr)\n",
    "cli/common.py": "import click\n\nfrom tipqual.store.project import Project\n",
    "cli/study.py": "import click\n\nfrom tipqual.cli.common import Project\n"
                    "from tipqual.report import context\n",
    "cli/workbench.py": "import click\n\n\ndef workbench():\n    from tipqual.tui import app\n",
}
ROWS = ["__init__.py", "__main__.py", "errors.py", "store/project.py", "codebook/model.py",
        "nlp/pipeline.py", "analysis/matrices.py", "report/context.py", "report/templates/",
        "tui/app.py", "cli/__init__.py", "cli/common.py", "cli/study.py", "cli/workbench.py"]


def _architecture(rows: list[str], prose: str = "") -> str:
    lines = "\n".join(f"| `tipqual/{r}` | what it owns |" for r in rows)
    return f"# Architecture\n\n{prose}\n\n| module | owns |\n|---|---|\n{lines}\n"


def fake_tree(tmp_path: Path, change: dict[str, str] | None = None,
              architecture: str | None = None) -> Package:
    files = {**CLEAN, **(change or {})}
    for rel, text in files.items():
        path = tmp_path / "tipqual" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "ARCHITECTURE.md").write_text(architecture or _architecture(ROWS),
                                              encoding="utf-8")
    return scan(tmp_path / "tipqual")


def failing(pkg: Package) -> dict[str, list[str]]:
    return {name: found for name, rule in RULES.items() if (found := rule(pkg))}


def test_every_rule_passes_a_clean_fake_tree(tmp_path):
    pkg = fake_tree(tmp_path)
    assert failing(pkg) == {}
    # what the clean tree shows is seen: the command loader, and the type-only back edge
    assert {i.target for i in pkg.imports["tipqual.cli"]} >= {"tipqual.cli.study",
                                                              "tipqual.cli.workbench"}
    assert Import("tipqual.report.context", 4, True) in pkg.imports["tipqual.analysis.matrices"]


TYPED = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    {}\n"
LAZY = "import importlib\n\n\ndef f():\n    return importlib.import_module({!r})\n"

VIOLATIONS = {
    # kind: (files changed, the rule that must fail, the file:line it must name)
    "sqlite3 in analysis": ({"analysis/sql.py": "import sqlite3\n"}, "sqlite3",
                            "tipqual/analysis/sql.py:1"),
    "sqlite3 by __import__": ({"analysis/sql.py": 'x = __import__("sqlite3")\n'}, "sqlite3",
                              "tipqual/analysis/sql.py:1"),
    "sqlite3 by import_module imported by name": (
        {"report/sql.py": "from importlib import import_module\n\n"
                          "db = import_module('sqlite3')\n"}, "sqlite3", "tipqual/report/sql.py:3"),
    "sqlite3 under TYPE_CHECKING": ({"nlp/sql.py": TYPED.format("import sqlite3")}, "sqlite3",
                                    "tipqual/nlp/sql.py:4"),
    "click in a stage": ({"nlp/bar.py": "def f():\n    import click\n"}, "click",
                         "tipqual/nlp/bar.py:2"),
    "click by import_module": ({"nlp/bar.py": LAZY.format("click")}, "click",
                               "tipqual/nlp/bar.py:5"),
    "click under TYPE_CHECKING": ({"report/bar.py": TYPED.format("from click import Context")},
                                  "click", "tipqual/report/bar.py:4"),
    "textual outside the workbench": ({"report/tty.py": "import rich\n"}, "textual",
                                      "tipqual/report/tty.py:1"),
    "the workbench imported by a stage": ({"nlp/tty.py": "from tipqual.tui import app\n"},
                                          "textual", "tipqual/nlp/tty.py:1"),
    "store in analysis": ({"analysis/s.py": "from tipqual.store.project import Project\n"},
                          "store", "tipqual/analysis/s.py:1"),
    "store in report, relative": ({"report/s.py": "from ..store import project\n"}, "store",
                                  "tipqual/report/s.py:1"),
    "store in report, from the package": ({"report/s.py": "from tipqual import store\n"},
                                          "store", "tipqual/report/s.py:1"),
    "store in analysis under TYPE_CHECKING": (
        {"analysis/s.py": TYPED.format("from tipqual.store.project import Project")}, "store",
        "tipqual/analysis/s.py:4"),
    "store in report by import_module": ({"report/s.py": LAZY.format("tipqual.store.project")},
                                         "store", "tipqual/report/s.py:5"),
    "store in report by relative import_module": (
        {"report/s.py": "import importlib\n\n"
                        "p = importlib.import_module('..store.project', __package__)\n"},
        "store", "tipqual/report/s.py:3"),
    "spaCy in analysis": ({"analysis/n.py": "def f():\n    import spacy.tokens\n"}, "language",
                          "tipqual/analysis/n.py:2"),
    "nlp in report under TYPE_CHECKING": (
        {"report/n.py": TYPED.format("from tipqual.nlp import pipeline")}, "language",
        "tipqual/report/n.py:4"),
    "a stage in the store": ({"store/m.py": "def f():\n    from tipqual.report import context\n"},
                             "stage", "tipqual/store/m.py:2"),
    "a stage in the store under TYPE_CHECKING": (
        {"store/m.py": TYPED.format("from tipqual.analysis.matrices import x")}, "stage",
        "tipqual/store/m.py:4"),
    "a cycle through an import inside a function": (
        {"analysis/matrices.py": "def f():\n    from tipqual.report import context\n"}, "cycle",
        "tipqual/analysis/matrices.py:2 -> tipqual.report.context"),
    "a cycle through import_module": (
        {"analysis/matrices.py": LAZY.format("tipqual.report.context")}, "cycle",
        "tipqual/analysis/matrices.py:5 -> tipqual.report.context"),
    "a cycle through __import__ with a fromlist": (
        {"analysis/matrices.py": "def f():\n"
                                 "    __import__('tipqual.report', fromlist=['context'])\n"},
        "cycle", "tipqual/analysis/matrices.py:2 -> tipqual.report.context"),
    "a cycle through the command loader": (
        {"cli/common.py": "import click\n\nfrom tipqual.cli import COMMANDS\n"}, "cycle",
        "tipqual/cli/__init__.py:11 -> tipqual.cli.study"),
    "an import by a computed name": (
        {"report/plugins.py": "import importlib\n\n\ndef load(name):\n"
                              "    return importlib.import_module(name)\n"}, "dynamic",
        "tipqual/report/plugins.py:5"),
    "an import by a computed name given by keyword": (
        {"nlp/plugins.py": "def load(n):\n    return __import__(name=n)\n"}, "dynamic",
        "tipqual/nlp/plugins.py:2"),
    "a computed import outside the command loader's form": (
        {"cli/__init__.py": "import importlib\n\nimport click\n\nCOMMANDS = {'init': 'study:i'}\n"
                            "\n\ndef _load(name):\n"
                            "    return importlib.import_module('tipqual.' + name)\n"},
        "dynamic", "tipqual/cli/__init__.py:9"),
}


@pytest.mark.parametrize("kind", list(VIOLATIONS))
def test_each_kind_of_violation_fails_its_rule(tmp_path, kind):
    change, rule, where = VIOLATIONS[kind]
    found = failing(fake_tree(tmp_path, change))
    if rule != "architecture" and "architecture" in found:
        found.pop("architecture")  # a new file has no row: that rule is tested below
    assert list(found) == [rule], found
    assert any(where in problem for problem in found[rule]), found[rule]


ARCHITECTURE = {
    # kind: (files changed, the table's rows, what the rule must say)
    "a stale row": ({}, [*ROWS, "analysis/ghost.py"],
                    "the row tipqual/analysis/ghost.py names no module"),
    "a row twice": ({}, [*ROWS, "cli/study.py"], "tipqual/cli/study.py is listed 2 times"),
    "a module without a row": ({"analysis/network.py": "import json\n"}, ROWS,
                               "no row for tipqual/analysis/network.py"),
    "a module named only in prose": ({"analysis/network.py": "import json\n"}, ROWS,
                                     "no row for tipqual/analysis/network.py"),
    "a docstring-only __init__ listed": ({}, [*ROWS, "store/__init__.py"],
                                         "the row tipqual/store/__init__.py names no module"),
    "an __init__ with code not listed": ({"nlp/__init__.py": '"""L."""\nNAME = "nlp"\n'}, ROWS,
                                         "no row for tipqual/nlp/__init__.py"),
    "a data folder not listed": ({"report/styles/a.css": "p {}\n"}, ROWS,
                                 "no row for tipqual/report/styles/"),
    "a data folder removed": ({}, [*ROWS, "report/figures/"],
                              "the row tipqual/report/figures/ names no module"),
}


@pytest.mark.parametrize("kind", list(ARCHITECTURE))
def test_each_kind_of_table_mismatch_fails(tmp_path, kind):
    change, rows, message = ARCHITECTURE[kind]
    prose = "`tipqual/analysis/network.py` draws the graph." if "prose" in kind else ""
    found = failing(fake_tree(tmp_path, change, _architecture(rows, prose)))
    assert list(found) == ["architecture"], found
    assert any(message in problem for problem in found["architecture"]), found


def test_the_table_rows_are_read_from_table_rows_only():
    text = _architecture(["a.py", "b/"], prose="A `tipqual/c.py` in prose, | `tipqual/d.py` |")
    assert table_rows(text, "tipqual") == ["tipqual/a.py", "tipqual/b/"]
