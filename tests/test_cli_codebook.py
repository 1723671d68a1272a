"""``tipqual codebook validate | export | import | diff`` and ``init --codebook``."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.helpers import FIXTURES, REPO, TIP_CODEBOOK, run_tipqual, shared
from tipqual.cli import cli
from tipqual.codebook import formats as codebook_io
from tipqual.codebook import model as codebook
from tipqual.exchange import qdaxml
from tipqual.store.project import Project

BAD = FIXTURES / "codebooks"


@pytest.mark.slow
def test_validate_shipped_codebook_passes() -> None:
    result = run_tipqual("codebook", "validate", str(TIP_CODEBOOK))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"OK {TIP_CODEBOOK}: TIP partnerships South Africa v1.0, "
                                     "21 codes (13 top-level), 20 stakeholders")
    assert result.stderr == ""


def test_validate_shipped_registry_passes(runner) -> None:
    registry = REPO / "codebooks" / "sa-stakeholders.yaml"
    result = runner.invoke(cli, ["codebook", "validate", str(registry)])
    assert result.exit_code == 0
    assert result.output.strip() == f"OK {registry}: stakeholder registry, 20 stakeholders"


@pytest.mark.parametrize("name, needle", [
    ("syntax-error.yaml", "syntax-error.yaml:6:22: YAML syntax error"),
    ("duplicate-id.yaml", "duplicate-id.yaml:10:9: code 'trust': duplicate code id"),
    ("unknown-parent.yaml", "unknown-parent.yaml:9:13: code 'funding-sustainability': "
                            "unknown parent 'fundng'"),
    ("cycle.yaml", "cycle.yaml:6:13: code 'alpha': the parents form a cycle"),
    ("empty-name.yaml", "empty-name.yaml:5:11: code 'trust': 'name' is empty"),
    ("bad-pattern.yaml", "bad-pattern.yaml:9:9: code 'corruption': pattern 2 is rejected"),
    ("unknown-key.yaml", "unknown-key.yaml:6:5: code 'capacity': unknown key 'defintion' in "
                         "this code; did you mean 'definition'?"),
    ("empty.yaml", "empty.yaml: the file is empty"),
    ("binary.yaml", "binary.yaml: this is a binary file"),
    ("bad-registry.yaml", "bad-stakeholders.yaml:8:22: stakeholder 'DPCI': the alias 'Police'"),
])
def test_validate_refuses_bad_codebooks(runner, name: str, needle: str) -> None:
    result = runner.invoke(cli, ["codebook", "validate", str(BAD / name)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a clean error, not a crash
    assert needle in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {BAD / name}: ")
    assert "found (listed above)" in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_validate_error_in_a_real_process_has_no_traceback() -> None:
    result = run_tipqual("codebook", "validate", str(BAD / "bad-pattern.yaml"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{BAD / 'bad-pattern.yaml'}:9:9: code 'corruption': pattern 2 is rejected by spaCy's "
        "Matcher: [pattern -> 0 -> LOWERCASE] Extra inputs are not permitted",
        f"Error: {BAD / 'bad-pattern.yaml'}: 1 problem found (listed above); fix them and run "
        "validate again"]


@pytest.mark.slow
def test_init_stores_version_and_hash_then_export_reads_the_study(tmp_path: Path) -> None:
    study = tmp_path / "s.db"
    result = run_tipqual("init", str(study), "--codebook", str(TIP_CODEBOOK))
    assert result.returncode == 0, result.stderr
    book = codebook.load(TIP_CODEBOOK)
    with Project.open(study) as project:
        info = project.codebook_info()
        assert project.codebook() == book
    assert (info["name"], info["version"], info["sha256"]) == (book.name, "1.0", book.sha256)
    out = tmp_path / "x.md"
    exported = run_tipqual("codebook", "export", str(study), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.read_text(encoding="utf-8") == codebook_io.to_markdown(book)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db", "x.md"]


def test_init_with_a_bad_codebook_leaves_no_study(tmp_path: Path) -> None:
    study = tmp_path / "s.db"
    result = run_tipqual("init", str(study), "--codebook", str(BAD / "unknown-key.yaml"))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: {BAD / 'unknown-key.yaml'}:6: code 'capacity': "
                                     "unknown key 'defintion' in this code; did you mean "
                                     "'definition'?")
    assert list(tmp_path.iterdir()) == []


def test_export_study_without_codebook_is_an_error(tmp_path: Path, runner) -> None:
    study = tmp_path / "s.db"
    Project.create(study).close()
    result = runner.invoke(cli, ["codebook", "export", str(study), "--out",
                                 str(tmp_path / "x.yaml")])
    assert result.exit_code == 1
    assert "the study has no codebook" in result.output
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".qdc", ".xlsx", ".yaml"])
def test_export_then_import_gives_the_same_codebook(tmp_path: Path, runner, suffix: str) -> None:
    out = tmp_path / f"tip{suffix}"
    result = runner.invoke(cli, ["codebook", "export", str(TIP_CODEBOOK), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Wrote {out}: TIP partnerships South Africa v1.0, 21 codes"
    back = tmp_path / "back.yaml"
    source = out if suffix != ".yaml" else tmp_path / "tip-copy.qdc"
    if suffix == ".yaml":
        runner.invoke(cli, ["codebook", "export", str(out), "--out", str(source)])
    imported = runner.invoke(cli, ["codebook", "import", str(source), "--out", str(back)])
    assert imported.exit_code == 0, imported.output
    assert f"Imported 21 codes from {source} into {back}" in imported.output
    assert codebook.load(back) == codebook.load(TIP_CODEBOOK)


def test_a_code_without_a_definition_is_valid(runner) -> None:
    """Other tools' codebooks often give none; the report says so in words."""
    result = runner.invoke(cli, ["codebook", "validate", str(BAD / "empty-definition.yaml")])
    assert result.exit_code == 0, result.output


def test_import_sample_qdc_without_definitions_gives_a_valid_codebook(tmp_path: Path) -> None:
    sample = shared("refi", "samples", "taguette_tests_expected_reconstructed.qdc")
    out = tmp_path / "taguette.yaml"
    result = run_tipqual("codebook", "import", str(sample), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Imported 3 codes" in result.stdout and "fix" not in result.stderr
    assert "- id: interesting-places" in out.read_text(encoding="utf-8")
    assert run_tipqual("codebook", "validate", str(out)).returncode == 0


def test_import_refuses_to_overwrite(tmp_path: Path, runner) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("keep me")
    result = runner.invoke(cli, ["codebook", "import", str(BAD / "lenient.qdc"), "--out",
                                 str(out)])
    assert result.exit_code == 1
    assert "exists already" in result.output and out.read_text() == "keep me"
    forced = runner.invoke(cli, ["codebook", "import", str(BAD / "lenient.qdc"), "--out",
                                 str(out), "--force"])
    assert forced.exit_code == 0
    assert codebook_io.load_any(BAD / "lenient.qdc") == \
        codebook.Codebook.from_dict(yaml.safe_load(out.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_diff_text_and_json(tmp_path: Path, runner) -> None:
    shutil.copy(REPO / "codebooks" / "sa-stakeholders.yaml", tmp_path)
    old = tmp_path / "old.yaml"
    text = TIP_CODEBOOK.read_text(encoding="utf-8").replace("name: Trust and distrust",
                                                            "name: Trust")
    old.write_text(text.replace('version: "1.0"', 'version: "0.9"'), encoding="utf-8")
    result = runner.invoke(cli, ["codebook", "diff", str(old), str(TIP_CODEBOOK)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "TIP partnerships South Africa v0.9 -> TIP partnerships South Africa v1.0",
        "renamed    trust: 'Trust' -> 'Trust and distrust'"]
    as_json = runner.invoke(cli, ["codebook", "diff", str(old), str(TIP_CODEBOOK), "--json"])
    data = json.loads(as_json.output)
    assert data["renamed"] == [{"id": "trust", "old": "Trust", "new": "Trust and distrust"}]
    assert data["added"] == [] and data["removed"] == []


def test_every_codebook_command_has_help(runner) -> None:
    for command in ("validate", "export", "import", "diff"):
        result = runner.invoke(cli, ["codebook", command, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output


# --- hostile codebooks: catastrophic regexes, deep nesting --------------------------------------

HOSTILE_YAML = ("name: hostile\nversion: 1\ncodes:\n  - id: trust\n    name: Trust\n"
                "    definition: Confidence in a partner.\n    patterns:\n"
                "      - [{LOWER: {REGEX: \"^(a+)+$\"}}]\n")


def _hostile_book() -> codebook.Codebook:
    return codebook.Codebook(name="hostile", version="1", codes=[codebook.Code(
        id="trust", name="Trust", definition="d", patterns=[[{"LOWER": {"REGEX": "^(a+)+$"}}]])])


@pytest.mark.slow
def test_validate_and_init_refuse_a_catastrophic_regex(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE_YAML)
    checked = run_tipqual("codebook", "validate", str(path))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    problem, error = checked.stderr.splitlines()
    assert problem.startswith(f"{path}:8:9: code 'trust': pattern 1 is refused: the REGEX "
                              '"^(a+)+$" repeats a part')
    assert error.startswith(f"Error: {path}: 1 problem found")
    study = tmp_path / "s.db"
    created = run_tipqual("init", str(study), "--codebook", str(path))
    assert created.returncode == 1
    [line] = created.stderr.splitlines()
    assert line.startswith(f"Error: {path}:8: code 'trust': pattern 1 is refused: the REGEX "
                           '"^(a+)+$"')
    assert not study.exists()


@pytest.mark.slow
def test_import_refuses_a_catastrophic_regex_carried_by_a_qdc_or_qdpx(tmp_path: Path) -> None:
    qdc = tmp_path / "partner.qdc"
    qdc.write_bytes(codebook_io.to_qdc(_hostile_book()))
    study = tmp_path / "old.db"
    with Project.create(study) as project:
        project.set_codebook(_hostile_book())  # as a study written by an older tipqual
    qdpx = tmp_path / "partner.qdpx"
    exported = run_tipqual("refi", "export", str(study), "--out", str(qdpx))
    assert exported.returncode == 0, exported.stderr
    out, target = tmp_path / "mine.yaml", tmp_path / "new.db"
    for args, named in ((("codebook", "import", str(qdc), "--out", str(out)), qdc),
                        (("codebook", "import", str(qdpx), "--out", str(out)), qdpx),
                        (("refi", "import", str(qdpx), str(target)), qdpx)):
        result = run_tipqual(*args)
        assert result.returncode == 1, args
        [line] = result.stderr.splitlines()
        assert line.startswith(f"Error: {named}") and "Traceback" not in result.stderr
        assert "code 'trust': pattern 1 is refused: the REGEX \"^(a+)+$\"" in line
    assert not out.exists() and not target.exists()


def _deep_code_xml(root: str, ns: str, n: int) -> str:
    codes = "".join(f'<Code guid="{qdaxml.stable_guid("code", f"c{i}")}" name="c{i}" '
                    'isCodable="true">\n' for i in range(n)) + "</Code>" * n
    inner = f"<Codes>{codes}</Codes>"
    body = inner if root == "CodeBook" else f"<CodeBook>{inner}</CodeBook>"
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns="{ns}" name="deep">'
            f"{body}</{root}>\n")


@pytest.mark.parametrize("kind", ["yaml-lists", "yaml-mappings", "init", "qdc", "qdpx",
                                  "refi-qdpx", "refi-qde"])
def test_deeply_nested_files_give_one_error_line(tmp_path: Path, kind: str) -> None:
    deep_yaml = tmp_path / "deep.yaml"
    value = ("[" * 5000 + "]" * 5000) if kind != "yaml-mappings" else \
        ("{a: " * 5000 + "b" + "}" * 5000)
    deep_yaml.write_text(HOSTILE_YAML.split("    patterns:")[0] + f"    include: {value}\n")
    qdc = tmp_path / "deep.qdc"
    qdc.write_text(_deep_code_xml("CodeBook", qdaxml.CODEBOOK_NS, 3000), encoding="utf-8")
    qde = tmp_path / "project.qde"
    qde.write_text(_deep_code_xml("Project", qdaxml.PROJECT_NS, 3000), encoding="utf-8")
    qdpx = tmp_path / "deep.qdpx"
    with zipfile.ZipFile(qdpx, "w") as archive:
        archive.write(qde, "project.qde")
    out, study = tmp_path / "out.yaml", tmp_path / "s.db"
    args, named, line = {
        "yaml-lists": (("codebook", "validate", str(deep_yaml)), deep_yaml, None),
        "yaml-mappings": (("codebook", "validate", str(deep_yaml)), deep_yaml, None),
        "init": (("init", str(study), "--codebook", str(deep_yaml)), deep_yaml, 7),
        "qdc": (("codebook", "import", str(qdc), "--out", str(out)), qdc, 52),
        "qdpx": (("codebook", "import", str(qdpx), "--out", str(out)),
                 f"{qdpx}/project.qde", 52),
        "refi-qdpx": (("refi", "import", str(qdpx), str(study)), qdpx, None),
        "refi-qde": (("refi", "import", str(qde), str(study)), qde, None),
    }[kind]
    result = run_tipqual(*args, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"Error: {named}" + (f":{line}:" if line else ""))
    assert "nested more than 50 levels" in result.stderr
    assert not out.exists() and not study.exists()
