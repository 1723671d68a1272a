"""How the tests themselves are written: one way to import what they share.

Shared helpers live in ``tests/helpers.py`` and shared study builders in ``tests/fixtures/``;
every test module imports them by their package path (``from tests.helpers import ...``;
``pythonpath = ["."]`` in pyproject.toml makes that work from any folder and with a bare
``pytest``). ``conftest.py`` holds fixtures only, no test module imports another, and nothing
edits ``sys.path``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

TESTS = REPO / "tests"


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def import_problems(path: Path, test_modules: set[str], root: Path = REPO) -> list[str]:
    """Every way ``path`` imports a test helper other than by its package path, as
    ``FILE:LINE: what``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root)
    problems = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            top = name.split(".")[0]
            if top == "conftest" or name == "tests.conftest":
                problems.append(f"{rel}:{node.lineno}: imports {name}; import shared helpers "
                                "from tests.helpers (conftest holds fixtures only)")
            elif top in test_modules or (name.startswith("tests.test_")):
                problems.append(f"{rel}:{node.lineno}: imports the test module {name}; move "
                                "what it shares to tests/helpers.py or tests/fixtures/")
            elif top in {"minimal_study", "report_study", "build", "water", "vectors"}:
                problems.append(f"{rel}:{node.lineno}: imports {name} by a bare name; use "
                                "its path under tests.fixtures")
        if (isinstance(node, ast.Attribute) and node.attr in {"insert", "append"}
                and isinstance(node.value, ast.Attribute) and node.value.attr == "path"
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "sys"):
            problems.append(f"{rel}:{node.lineno}: edits sys.path; import by package path")
    return problems


def test_every_test_file_imports_its_helpers_one_way() -> None:
    test_modules = {p.stem for p in TESTS.glob("test_*.py")}
    problems = [line for path in _python_files()
                for line in import_problems(path, test_modules)]
    assert problems == []


@pytest.mark.parametrize("source, expected", [
    ("from conftest import REPO\n", "imports conftest"),
    ("from tests.conftest import REPO\n", "imports tests.conftest"),
    ("from test_review import build_water_study\n", "imports the test module test_review"),
    ("from tests.test_review import x\n", "imports the test module tests.test_review"),
    ("import sys\nsys.path.insert(0, 'x')\n", "edits sys.path"),
    ("def f():\n    from minimal_study import build\n", "by a bare name"),
])
def test_the_import_rule_catches_each_other_way(tmp_path: Path, source: str,
                                                 expected: str) -> None:
    (tmp_path / "tests").mkdir()
    fake = tmp_path / "tests" / "test_fake.py"
    fake.write_text(source, encoding="utf-8")
    problems = import_problems(fake, {"test_review", "test_fake"}, tmp_path)
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("tests/test_fake.py:")
    clean = tmp_path / "tests" / "test_ok.py"
    clean.write_text("from tests.helpers import REPO\n"
                     "from tests.fixtures.suggest.build import build_study\n", encoding="utf-8")
    assert import_problems(clean, {"test_review", "test_ok"}, tmp_path) == []
