"""``tipqual codebook validate | export | import | diff`` and ``init --codebook``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, REPO, TIP_CODEBOOK, run_tipqual, shared

from tipqual.cli import cli
from tipqual.codebook import formats as codebook_io
from tipqual.codebook import model as codebook
from tipqual.store.project import Project

BAD = FIXTURES / "codebooks"


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
    ("empty-definition.yaml", "empty-definition.yaml:9:16: code 'delays': 'definition' is empty"),
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


def test_validate_error_in_a_real_process_has_no_traceback() -> None:
    result = run_tipqual("codebook", "validate", str(BAD / "bad-pattern.yaml"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{BAD / 'bad-pattern.yaml'}:9:9: code 'corruption': pattern 2 is rejected by spaCy's "
        "Matcher: [pattern -> 0 -> LOWERCASE] Extra inputs are not permitted",
        f"Error: {BAD / 'bad-pattern.yaml'}: 1 problem found (listed above); fix them and run "
        "validate again"]


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


def test_import_sample_qdc_notes_missing_definitions(tmp_path: Path) -> None:
    sample = shared("refi", "samples", "taguette_tests_expected_reconstructed.qdc")
    out = tmp_path / "taguette.yaml"
    result = run_tipqual("codebook", "import", str(sample), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Imported 3 codes" in result.stdout
    assert "needs 3 fix(es)" in result.stderr and "'definition' is empty" in result.stderr
    assert "- id: interesting-places" in out.read_text(encoding="utf-8")


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
