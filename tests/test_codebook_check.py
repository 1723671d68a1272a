"""Codebook validation: one bad file per kind of error, each message naming file, line, code."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, TIP_CODEBOOK

from tipqual.codebook import check as codebook_check
from tipqual.codebook.check import Problem, analyse, check, check_registry

BAD = FIXTURES / "codebooks"


def only(name: str) -> Problem:
    """The single problem of a fixture."""
    problems = check(BAD / name)
    assert len(problems) == 1, [p.format() for p in problems]
    return problems[0]


@pytest.mark.parametrize("name, line, code, words", [
    ("syntax-error.yaml", 6, None, ["YAML syntax error at column 22",
                                    "mapping values are not allowed"]),
    ("duplicate-id.yaml", 10, "trust", ["duplicate code id", "already used by the code at line 4"]),
    ("unknown-parent.yaml", 9, "funding-sustainability", ["unknown parent 'fundng'",
                                                          "did you mean 'funding'"]),
    ("empty-name.yaml", 5, "trust", ["'name' is empty"]),
    ("empty-definition.yaml", 9, "delays", ["'definition' is empty"]),
    ("bad-pattern.yaml", 9, "corruption", ["pattern 2 is rejected by spaCy's Matcher",
                                           "LOWERCASE"]),
    ("unknown-key.yaml", 6, "capacity", ["unknown key 'defintion'",
                                         "did you mean 'definition'?"]),
    ("bad-color.yaml", 7, "trust", ['color "red" is not a #RRGGBB colour']),
    ("bad-id.yaml", 4, "Trust In Police", ["not a lowercase slug", "'trust-in-police'"]),
    ("boolean-phrase.yaml", 7, "delays", ["phrases item 2 is false", "quote it"]),
    ("missing-registry.yaml", 3, None, ["no-such-registry.yaml does not exist"]),
    ("no-codes.yaml", 1, None, ["no 'codes' list"]),
    ("not-utf8.yaml", 5, None, ["not UTF-8 text"]),
])
def test_each_error_names_file_line_and_code(name: str, line: int, code: str | None,
                                             words: list[str]) -> None:
    problem = only(name)
    assert problem.path == str(BAD / name)
    assert problem.line == line
    assert problem.code == code
    formatted = problem.format()
    assert formatted.startswith(f"{BAD / name}:{line}")
    if code:
        assert f"code '{code}'" in formatted
    for word in words:
        assert word in formatted


@pytest.mark.parametrize("name, words", [
    ("empty.yaml", "the file is empty"),
    ("binary.yaml", "binary file, not YAML text"),
])
def test_unreadable_files_name_the_file(name: str, words: str) -> None:
    problem = only(name)
    assert problem.line is None and problem.code is None
    assert problem.format() == f"{BAD / name}: {problem.message}"
    assert words in problem.message


def test_a_cycle_is_reported_for_every_code_in_it() -> None:
    problems = check(BAD / "cycle.yaml")
    assert [(p.line, p.code) for p in problems] == [(6, "alpha"), (10, "beta"), (14, "gamma")]
    assert "cycle (alpha -> gamma -> beta -> alpha)" in problems[0].message


def test_a_code_that_is_its_own_parent_is_a_cycle(tmp_path: Path) -> None:
    path = tmp_path / "self.yaml"
    path.write_text("codes:\n  - id: a\n    name: A\n    definition: d\n    parent: a\n")
    [problem] = check(path)
    assert (problem.line, problem.code) == (5, "a")
    assert "cycle (a -> a)" in problem.message


def test_registry_problems_name_the_registry_file_and_stakeholder() -> None:
    problems = check(BAD / "bad-registry.yaml")
    registry = str(BAD / "bad-stakeholders.yaml")
    assert [(p.path, p.line, p.code) for p in problems] == [
        (registry, 8, "DPCI"), (registry, 9, "DPCI"), (registry, 10, "SAPS"),
        (registry, 14, "SAPS")]
    text = "\n".join(p.format() for p in problems)
    assert "stakeholder 'DPCI': the alias 'Police' also belongs to SAPS" in text
    assert "unknown sector 'govenment'; did you mean 'government'?" in text
    assert "duplicate stakeholder id; already used at line 2" in text
    assert "unknown key 'levle' in this stakeholder; did you mean 'level'?" in text
    assert check_registry(BAD / "bad-stakeholders.yaml") == problems


def test_a_registry_file_is_recognised_and_checked_as_such() -> None:
    result = analyse(BAD / "bad-stakeholders.yaml")
    assert result.kind == "registry" and result.codebook is None
    assert len(result.problems) == 4


def test_repeated_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("codes:\n  - id: a\n    name: A\n    name: B\n    definition: d\n")
    [problem] = check(path)
    assert (problem.line, problem.code) == (4, "a")
    assert "the key 'name' appears twice" in problem.message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    [missing] = check(tmp_path / "nope.yaml")
    assert "no such file" in missing.message
    [folder] = check(tmp_path)
    assert "folder" in folder.message


def test_shipped_codebook_and_registry_are_valid() -> None:
    assert check(TIP_CODEBOOK) == []
    assert check_registry(REPO / "codebooks" / "sa-stakeholders.yaml") == []
    result = analyse(TIP_CODEBOOK)
    assert result.kind == "codebook" and len(result.codebook["codes"]) == 21
    assert len(result.stakeholders) >= 12


def test_valid_patterns_pass_the_real_matcher() -> None:
    matcher = codebook_check._matcher()
    assert codebook_check._pattern_problem(matcher, [{"LEMMA": "wait"},
                                                     {"LIKE_NUM": True, "OP": "?"}]) is None
    assert "LOWER" in codebook_check._pattern_problem(matcher, [{"LOWER": True}])
    assert "non-empty list" in codebook_check._pattern_problem(matcher, [])
    assert "_check" not in matcher  # the matcher is left clean for the next pattern


def test_problems_come_in_reading_order(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("name: x\ncodes:\n  - id: b\n    name: ''\n    definition: d\n"
                    "  - id: a\n    name: A\n    definition: ''\n    colour: '#fff'\n")
    problems = check(path)
    assert [p.line for p in problems] == [4, 8, 9]
    assert "did you mean 'color'?" in problems[2].message


def test_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_text("codes: []\n", encoding="utf-16")
    [problem] = check(path)
    assert problem.message == "the file is UTF-16 text; save it as UTF-8"


def test_inline_stakeholders_are_checked_in_the_codebook_file(tmp_path: Path) -> None:
    path = tmp_path / "inline.yaml"
    path.write_text("stakeholders:\n  - id: SAPS\n    name: Police\n    aliases: [cops]\n"
                    "    sector: goverment\ncodes:\n  - id: a\n    name: A\n    definition: d\n")
    [problem] = check(path)
    assert problem.format() == (f"{path}:5:13: stakeholder 'SAPS': unknown sector 'goverment'; "
                                "did you mean 'government'?")
