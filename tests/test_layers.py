"""The package's layering, checked on its source: who may import what, and no import cycles.

Imports made inside functions count; imports under ``if TYPE_CHECKING:`` do not (they never
run). The rules are those of ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tipqual"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports when run (absolute names; submodules resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.add(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


IMPORTS = {name: imports_of(path, name) for name, path in MODULES.items()}


def importers_of(target: str) -> list[str]:
    return sorted(m for m, deps in IMPORTS.items()
                  if any(d == target or d.startswith(target + ".") for d in deps))


def test_the_parser_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import json\n"
                      "def f():\n    import sqlite3\n    from tipqual.analysis import matrices\n",
                      encoding="utf-8")
    found = imports_of(source, "tipqual.probe")
    assert {"sqlite3", "tipqual.analysis.matrices"} <= found
    assert "json" not in found


def test_sqlite3_only_in_the_store():
    assert [m for m in importers_of("sqlite3") if not m.startswith("tipqual.store")] == []


def test_textual_only_in_the_workbench():
    users = [m for m in importers_of("textual") + importers_of("rich")
             if not m.startswith("tipqual.tui") and m != "tipqual.cli.workbench"]
    assert users == []
    # and nothing outside the workbench command imports the workbench
    assert [m for m in importers_of("tipqual.tui")
            if not m.startswith("tipqual.tui") and m != "tipqual.cli.workbench"] == []


def test_click_only_in_the_command_line():
    allowed = ("tipqual.cli", "tipqual.__main__")
    assert [m for m in importers_of("click") if not m.startswith(allowed)] == []


@pytest.mark.parametrize("layer", ["tipqual.analysis", "tipqual.report"])
def test_analysis_and_report_never_import_the_store(layer):
    offenders = [m for m in importers_of("tipqual.store") if m.startswith(layer)]
    assert offenders == []


@pytest.mark.parametrize("layer", ["tipqual.analysis", "tipqual.report"])
@pytest.mark.parametrize("language", ["spacy", "tipqual.nlp"])
def test_analysis_and_report_take_mentions_as_data(layer, language):
    # The network counts the mentions its caller gives; finding them is the nlp stage's job.
    offenders = [m for m in importers_of(language) if m.startswith(layer)]
    assert offenders == []


def test_the_store_imports_no_stage():
    # The codebook model is data the study stores (parsed back on reading), not a stage.
    allowed = {"tipqual.errors", "tipqual.records", "tipqual.codebook",
               "tipqual.codebook.model", "tipqual.codebook.check"}
    for name, deps in IMPORTS.items():
        if name.startswith("tipqual.store"):
            outside = {d for d in deps if d.startswith("tipqual")
                       and not d.startswith("tipqual.store") and d not in allowed}
            assert outside == set(), name


def _cycles() -> list[list[str]]:
    graph = {m: sorted(d for d in deps if d in MODULES and d != m) for m, deps in IMPORTS.items()}
    # Tarjan's strongly connected components, iteratively: a component of two or more is a cycle.
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


def test_no_import_cycle():
    assert _cycles() == []


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


def test_architecture_md_names_every_module():
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            assert str(path.relative_to(PACKAGE.parent)) in text, name
