"""Codebook validation: one bad file per kind of error, each message naming file, line, code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, TIP_CODEBOOK
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


def test_a_stakeholder_id_with_an_accent_is_refused_saying_which_letters(tmp_path: Path):
    path = tmp_path / "accent.yaml"
    path.write_text("codes:\n  - id: a\n    name: A\n    definition: d\n"
                    "stakeholders:\n  - id: NGO-\u00c4\n    name: Ärzte NGO\n"
                    "    sector: civil society\n", encoding="utf-8")
    problems = [p for p in check(path) if p.code == "NGO-\u00c4"]
    assert problems and problems[0].line == 6
    assert "may hold only the letters A-Z (no accents)" in problems[0].message
    assert "keep the full name in 'name'" in problems[0].message


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
                    "  - id: a\n    name: A\n    color: red\n    colour: '#fff'\n")
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


# --- token regexes that could hang 'suggest' -------------------------------------------------

HOSTILE_REGEXES = [r"^(a+)+$", r"(a*)*", r"(a|a)+", r"(a|ab)+$", r"(.*a){12}", r"(a{1,2})+",
                   r"(a?a)+$", r"^(\w+)*$", r"\w+\w*x", r"a+b?a+", r".*.*=", r"(a)\1",
                   r"(?P<x>a)(?P=x)", r"(a)?(?(1)a|b)", r"(?=a)\w", r"(?<!a)b", "a" * 201,
                   r"(unclosed",
                   # a repeated group holding an optional or empty part, at any depth
                   r"(a(b?)?)+c", r"(a(x?)?)+$", r"(?:a(?:)?)+$", r"(?:a(?:x*)?)+$",
                   r"(?:a(?:b?){2})+$", r"(?:x(?:y(?:z+)))*$", r"(?:ab{2,})+", r"(?:)+",
                   r"(\b)*", r"(?:^)+",
                   # linear, but refused by the same rule (^[a-z-]+$ says the same)
                   r"^[a-z]+(-[a-z]+)*$", r"^(\w+\s)+$"]


@pytest.mark.parametrize("regex", HOSTILE_REGEXES)
def test_catastrophic_regexes_are_refused(regex: str) -> None:
    problem = codebook_check.regex_problem(regex)
    assert problem is not None and problem.startswith("the REGEX ")


@pytest.mark.parametrize("regex", [r"^traffick\w*$", r"^(anti-)?traffick(ing|ers?)$",
                                   r"^[a-z-]+$", r"^(?:\w\s)+$", r"colou?r", r"^\d{4}$",
                                   r"(police|saps)", r"(?:ab)+", r"(?:ab){3}",
                                   r"^\w+-\w+$", r"^\d{1,2}[./]\d{1,2}$", r"(ab|cd)+",
                                   r"\bpolice\b", r"^\w+ing$", r"(?i)^(A|a)+$", "a" * 200])
def test_ordinary_regexes_pass(regex: str) -> None:
    assert codebook_check.regex_problem(regex) is None


def test_passed_regexes_stay_fast_on_long_words() -> None:
    """Repetitions that a character they cannot take ends are linear, however long the word:
    a regex the check passes finishes on a 9,000-character word that defeats it at its end.
    (A backtracking one would run for longer than the universe; the minute allowed is a hang
    guard, not a speed claim.)"""
    import subprocess
    import sys

    regexes = [r"^[a-z-]+$", r"^(?:ab-)+$", r"^(ab|cd)+$", r"^traffick\w*$"]
    for regex in regexes:
        assert codebook_check.regex_problem(regex) is None
    probe = ("import re, sys\n"
             "for regex in sys.argv[1:]:\n"
             "    print(re.search(regex, 'ab-' * 3000 + '!'))\n")
    try:  # in a process of its own, which the guard can stop (a thread could not be)
        done = subprocess.run([sys.executable, "-c", probe, *regexes], capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a regex the check passed was still matching after 60 s", pytrace=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None"] * len(regexes)  # every search ran to its end


def test_pattern_problem_checks_shape_depth_and_every_regex() -> None:
    check_pattern = codebook_check.pattern_problem
    assert check_pattern([{"LOWER": {"REGEX": "^bribe"}}, {"TEXT": {"IN": ["a", "b"]}}]) is None
    assert "(a+)+" in check_pattern([{"LOWER": "x"}, {"TEXT": {"REGEX": "(a+)+"}}])
    assert "(a+)+" in check_pattern([{"_": {"ext": {"REGEX": "(a+)+"}}}])
    assert "must be text" in check_pattern([{"LOWER": {"REGEX": ["(a+)+"]}}])
    deep: list = ["x"]
    for _ in range(10_000):
        deep = [deep]
    assert "nested more than 8 levels" in check_pattern([{"LOWER": {"IN": deep}}])
    assert "non-empty list" in check_pattern({"LOWER": "x"})


def test_a_hostile_regex_in_yaml_names_the_code_the_pattern_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text("name: x\ncodes:\n  - id: trust\n    name: Trust\n    definition: d\n"
                    "    patterns:\n      - [{LOWER: trust}]\n"
                    "      - [{LOWER: {REGEX: \"^(a+)+$\"}}]\n")
    [problem] = check(path)
    assert (problem.line, problem.code) == (8, "trust")
    assert problem.message.startswith('pattern 2 is refused: the REGEX "^(a+)+$" repeats a part')


@pytest.mark.slow
def test_a_study_holding_a_hostile_pattern_makes_suggest_fail_fast(tmp_path: Path) -> None:
    """A codebook stored by an older tipqual never reaches the Matcher (needs the pipeline's
    check in CodeRuler.add_rules)."""
    from tests.fixtures.suggest.build import segments_of
    from tests.helpers import run_tipqual
    from tipqual.codebook.model import Code, Codebook
    from tipqual.records import Source
    from tipqual.store.project import Project

    study = tmp_path / "study.db"
    text = "R: we saw " + "a" * 40 + "b there\n\nR: and the police came\n"
    book = Codebook(name="old", version="1", codes=[
        Code(id="trust", name="Trust", definition="d", phrases=["police"],
             patterns=[[{"LOWER": {"REGEX": "^(a+)+$"}}]])])
    with Project.create(study) as project, project.atomic():
        project.set_codebook(book)  # straight into the store, as an older version could
        project.add_source(Source(id="s", case="c", path="s.txt", format="txt", sha256="0",
                                  text=text), segments_of("s", text, "c"))
    result = run_tipqual("suggest", str(study), "--jobs", "1", timeout=60)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "code 'trust'" in line and "^(a+)+$" in line
    assert "Traceback" not in result.stderr
    with Project.open(study) as project:
        assert project.status()["codings"]["suggested"] == 0


# --- nesting ---------------------------------------------------------------------------------

def _yaml_with_include(value: str) -> str:
    return f"name: x\nversion: 1\ncodes:\n  - id: a\n    name: A\n    definition: d\n" \
           f"    include: {value}\n"


@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "b" + "}" * 5000,
                                   "\n" + "".join(" " * (6 + i) + "-\n" for i in range(3000))])
def test_yaml_nested_thousands_deep_is_one_problem_with_its_line(tmp_path: Path,
                                                                 value: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(_yaml_with_include(value))
    [problem] = check(path)
    assert problem.line is not None and problem.line >= 7
    assert "nested more than 50 levels deep" in problem.message


@pytest.mark.slow
@pytest.mark.parametrize("aliases, words", [
    ("x: &p [*p]\n", "refers to the list or mapping that contains it"),
    ("x0: &a0 [b]\n" + "".join(f"x{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000)),
     "nest values more than 50 levels deep"),
    ("x0: &a0 [b, b, b, b, b, b, b, b, b, b]\n"
     + "".join(f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
     "more than 200000 values"),
])
def test_yaml_aliases_cannot_loop_nest_or_explode(tmp_path: Path, aliases: str,
                                                  words: str) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(aliases + _yaml_with_include("[x]"))
    [problem] = check(path)
    assert words in problem.message and problem.line is not None


@pytest.mark.slow
def test_codes_nested_more_than_50_levels_through_parent_are_refused(tmp_path: Path) -> None:
    def chain(n: int) -> str:
        return "codes:\n" + "".join(
            f"  - id: c{i}\n    name: C{i}\n    definition: d\n"
            + (f"    parent: c{i - 1}\n" if i else "") for i in range(n))

    ok = tmp_path / "fifty.yaml"
    ok.write_text(chain(50))
    assert check(ok) == []
    deep = tmp_path / "deep.yaml"
    deep.write_text(chain(3000))  # one problem for the line of codes, quickly
    [problem] = check(deep)
    assert (problem.code, problem.line) == ("c50", 2 + 3 + 49 * 4)
    assert "nested 51 levels deep" in problem.message


def test_code_levels_count_from_the_top_and_mark_cycles() -> None:
    levels = codebook_check.code_levels({"a": None, "b": "a", "c": "b", "x": "y", "y": "x",
                                         "z": "x", "u": "unknown"})
    assert levels == {"a": 1, "b": 2, "c": 3, "x": 0, "y": 0, "z": 0, "u": 1}


# --- the map section ----------------------------------------------------------------------

MEALS = """\
name: School meals
version: "1"
codes:
  - id: food
    name: The food served
    definition: What children eat.
  - id: delivery
    name: Deliveries
    definition: Food arriving late or not at all.
"""


@pytest.mark.parametrize("section, line, words", [
    ("map:\n  axis_codes: [food, deliveries]\n", 11,
     "the map's axis_codes name an unknown code 'deliveries'; did you mean 'delivery'?"),
    ("map:\n  axis_codes:\n    - food\n    - victim-services\n", 13,
     "unknown code 'victim-services'; name a code of this codebook"),
    ("map:\n  axis_codes: [food, food]\n", 11, "name 'food' twice; keep one"),
    ("map:\n  axis_codes: []\n", 11, "the map's axis_codes are empty"),
    ("map:\n  axis_codes: [food, 010]\n", 11,
     "YAML reads a code id of the map's axis_codes '010' as the number 8, not as written; "
     "quote it: axis_codes: [\"010\"]"),
    ("map:\n  axis_codes: [food, 3]\n", 11, "unknown code '3'; name a code"),
    ("map:\n  axis_label: how fed\n", 11, "the map section has no 'axis_codes'"),
    ("map: [food]\n", 10, "'map' must be a mapping such as {axis_codes:"),
    ("map:\n  axis_codes: [food]\n  axis_lable: fed\n", 12,
     "unknown key 'axis_lable' in this map section; did you mean 'axis_label'?"),
    ("map:\n  axis_codes: [food]\n  centre_label: [child]\n", 12,
     "'centre_label' must be text, not a list or mapping"),
    ("map:\n  axis_codes: [food]\n  axis_label: " + "very " * 14 + "fed\n", 12,
     "the map's axis_label is 73 characters long; keep it to 60"),
])
def test_a_bad_map_section_is_one_problem_with_its_line(tmp_path: Path, section: str,
                                                        line: int, words: str) -> None:
    path = tmp_path / "meals.yaml"
    path.write_text(MEALS + section, encoding="utf-8")
    [problem] = check(path)
    assert problem.line == line, problem.format()
    assert problem.format().startswith(f"{path}:{line}:")
    assert words in problem.message, problem.message


def test_a_good_map_section_is_no_problem(tmp_path: Path) -> None:
    path = tmp_path / "meals.yaml"
    path.write_text(MEALS + "map:\n  axis_codes: [delivery]\n  axis_label: food on time\n"
                            "  high_label: often late\nmap_note: x\n", encoding="utf-8")
    [problem] = check(path)  # only the unknown top-level key
    assert "unknown key 'map_note'" in problem.message
    book = analyse(path).codebook
    assert book is not None
    assert book["map"] == {"axis_codes": ["delivery"], "axis_label": "food on time",
                           "high_label": "often late"}
    from tipqual.codebook.model import MAP_KEYS

    assert codebook_check.MAP_KEYS == MAP_KEYS  # the checker's keys are the model's fields
    empty = tmp_path / "empty-map.yaml"
    empty.write_text(MEALS + "map:\n", encoding="utf-8")
    assert check(empty) == [] and "map" not in (analyse(empty).codebook or {})


def test_a_map_from_another_format_is_checked(tmp_path: Path) -> None:
    from tipqual.codebook.model import Code, Codebook, MapAxis

    book = Codebook(name="m", version="1", codes=[Code("food", "Food")],
                    map=MapAxis(axis_codes=["food", "stigma"]))
    [problem] = codebook_check.book_problems(book, tmp_path / "m.qdc")
    assert "unknown code 'stigma'" in problem.message
    assert codebook_check.map_problems(Codebook(name="m", version="1",
                                                codes=[Code("food", "Food")])) == []
    odd = Codebook(name="m", version="1", codes=[Code("food", "Food")],
                   map=MapAxis(axis_codes="food"))  # a hostile .qdc copy: not a list
    assert codebook_check.map_problems(odd) == [
        "the map's axis_codes must be a non-empty list of code ids"]


def test_a_repeated_group_with_an_optional_part_is_refused_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "optional.yaml"
    path.write_text("name: x\ncodes:\n  - id: trust\n    name: Trust\n"
                    "    patterns:\n      - [{LOWER: {REGEX: \"(a(b?)?)+c\"}}]\n")
    [problem] = check(path)
    assert (problem.line, problem.code) == (6, "trust")
    assert problem.message.startswith('pattern 1 is refused: the REGEX "(a(b?)?)+c" repeats '
                                      "a part that holds a quantifier of its own")


# --- ids as written, names on one line ----------------------------------------------------------

def _codes(*lines: str) -> str:
    return "name: x\nversion: '1'\ncodes:\n" + "".join(f"{line}\n" for line in lines)


@pytest.mark.parametrize("entry, line, words", [
    ("  - id: 010\n    name: A", 4, "YAML reads the code id '010' as the number 8, not as "
                                    "written; quote it: id: \"010\""),
    ("  - id: 0x1f\n    name: A", 4, "YAML reads the code id '0x1f' as the number 31"),
    ("  - id: 1_000\n    name: A", 4, "the code id '1_000' as the number 1000"),
    ("  - id: yes\n    name: A", 4, "YAML reads the code id 'yes' as true"),
    ("  - id: 2024-01-02\n    name: A", 4, "as a date, not as written"),
    ("  - id: [x]\n    name: A", 4, "the code id must be a single word, not a list or mapping"),
    ("  - id: {a: b}\n    name: A", 4, "the code id must be a single word"),
    ("  - id: a\n    name: A\n  - id: b\n    name: B\n    parent: 010", 8,
     "code 'b': YAML reads the parent '010' as the number 8, not as written; quote it: "
     "parent: \"010\""),
    ("  - id: a\n    name: A\n  - id: b\n    name: B\n    parent: [a]", 8,
     "code 'b': the parent must be a single word, not a list or mapping"),
    ("  - id: a\n    name: A\n    replaces: [010]", 6,
     "code 'a': YAML reads replaces item 1 '010' as the number 8, not as written; quote it: "
     "replaces: [\"010\"]"),
    ("  - id: a\n    name: A\n    replaces: 0x1f", 6, "replaces item 1 '0x1f' as the number 31"),
])
def test_an_id_yaml_would_change_is_refused_at_its_line(tmp_path: Path, entry: str, line: int,
                                                        words: str) -> None:
    path = tmp_path / "ids.yaml"
    path.write_text(_codes(entry), encoding="utf-8")
    [problem] = check(path)
    assert problem.line == line, problem.format()
    assert words in problem.text


def test_a_plain_whole_number_is_an_id_as_written(tmp_path: Path) -> None:
    path = tmp_path / "seven.yaml"
    path.write_text(_codes("  - id: 7", "    name: Seven", "  - id: b", "    name: B",
                           "    parent: 7", "    replaces: [0]", "map:", "  axis_codes: [7]"),
                    encoding="utf-8")
    result = analyse(path)
    assert result.problems == []
    assert result.codebook is not None
    assert [(c["id"], c["parent"]) for c in result.codebook["codes"]] == [("7", None),
                                                                         ("b", "7")]
    assert result.codebook["codes"][1]["replaces"] == ["0"]
    assert result.codebook["map"]["axis_codes"] == ["7"]


def test_a_stakeholder_id_yaml_would_change_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text("stakeholders:\n  - id: 010\n    name: Office\n" + _codes(
        "  - id: a", "    name: A").removeprefix("name: x\nversion: '1'\n"), encoding="utf-8")
    [problem] = check(path)
    assert problem.line == 2
    assert "YAML reads the stakeholder id '010' as the number 8" in problem.message


@pytest.mark.parametrize("text, line, code, char", [
    (_codes("  - id: a", '    name: "A\\nB"'), 5, "a", "U+000A"),
    (_codes("  - id: a", '    name: "A\\x1b[31m"'), 5, "a", "U+001B"),
    (_codes("  - id: a", '    name: "A\\u202eB"'), 5, "a", "U+202E"),
    (_codes("  - id: a", '    name: "A\\u2028B"'), 5, "a", "U+2028"),
    (_codes("  - id: a", "    name: A").replace("name: x", 'name: "x\\ny"'), 1, None, "U+000A"),
    (_codes("  - id: a", "    name: A").replace("version: '1'", 'version: "1\\x1b"'), 2, None,
     "U+001B"),
])
def test_a_name_or_version_with_a_control_character_is_refused(tmp_path: Path, text: str,
                                                               line: int, code: str | None,
                                                               char: str) -> None:
    path = tmp_path / "names.yaml"
    path.write_text(text, encoding="utf-8")
    [problem] = check(path)
    assert (problem.line, problem.code) == (line, code)
    assert f"holds a control or formatting character ({char}); give it as plain text on one " \
           "line" in problem.message


def test_a_name_from_another_format_must_be_one_line_too(tmp_path: Path) -> None:
    from tipqual.codebook.model import Code, Codebook

    book = Codebook(name="m\n", version="1\x1b", codes=[Code("food", "Fo\u202eod")])
    problems = codebook_check.book_problems(book, tmp_path / "m.xlsx", lines={"food": 2})
    assert [(p.line, p.code, p.message.split(" holds")[0]) for p in problems] == [
        (None, None, "the codebook's name"), (None, None, "the codebook's version"),
        (2, "food", "the code's name")]


def test_ids_in_messages_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "escaped.yaml"
    path.write_text(_codes('  - id: "x\\ny"', "    name: A"), encoding="utf-8")
    [problem] = check(path)
    assert "\n" not in problem.format()
    assert problem.format() == (f"{path}:4:9: code 'x\\ny': the code id 'x\\ny' is not a "
                                "lowercase slug; use letters, digits and - such as 'x-y'")


@pytest.mark.parametrize("tagged", ["name: !foo x", "name: !!python/object:os.system x"])
def test_a_yaml_tag_a_codebook_does_not_use_is_a_problem_not_a_crash(tmp_path: Path,
                                                                      tagged: str) -> None:
    path = tmp_path / "tagged.yaml"
    path.write_text(_codes("  - id: a", "    name: A").replace("name: x", tagged))
    [problem] = check(path)
    assert problem.line == 1 and "is not one a codebook uses; remove it" in problem.message


def test_a_code_without_a_definition_is_valid() -> None:
    """Other tools' codebooks often have no descriptions: an empty or missing definition is
    no problem (the file has one of each)."""
    result = analyse(BAD / "empty-definition.yaml")
    assert result.problems == []
    assert result.codebook is not None
    assert [c["definition"] for c in result.codebook["codes"]] == ["Trust in officials.", ""]
