"""``tipqual code add|remove|import|export`` from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.helpers import run_tipqual
from tipqual.cli import cli
from tipqual.store.project import Project

INGEST = Path(__file__).resolve().parent / "fixtures" / "ingest"


@pytest.fixture
def study_path(tmp_path: Path, runner) -> Path:
    """A study holding ``cso.txt`` (three segments) and no codebook."""
    path = tmp_path / "study.db"
    transcript = tmp_path / "cso.txt"
    transcript.write_text("Interviewer: What is hard?\n\nRespondent: Funding.\n\n"
                          "Respondent: @clerk said =wait.\n")
    assert runner.invoke(cli, ["init", str(path)]).exit_code == 0
    assert runner.invoke(cli, ["import", str(path), str(transcript)]).exit_code == 0
    return path


def test_add_and_remove(study_path: Path, runner) -> None:
    added = runner.invoke(cli, ["code", "add", str(study_path), "--coder", "ann", "--code",
                                "funding", "cso:2", "--memo", "money"])
    assert added.exit_code == 0 and added.output == "Added: cso:2 funding by ann\n"
    removed = runner.invoke(cli, ["code", "remove", str(study_path), "--coder", "ann",
                                  "--code", "funding", "cso:2"])
    assert removed.exit_code == 0 and removed.output == "Removed: cso:2 funding by ann\n"
    with Project.open(study_path) as p:
        assert p.codings() == []
        # CliRunner names the program "cli"; the installed command is "tipqual"
        assert [(e.action, e.command.split()[-2:]) for e in p.audit()] == [
            ("add", ["code", "add"]), ("remove", ["code", "remove"])]


def test_add_unknown_segment_is_one_line_error(study_path: Path) -> None:
    before = study_path.read_bytes()
    result = run_tipqual("code", "add", str(study_path), "--coder", "ann", "--code", "trust",
                         "cso:7")
    assert result.returncode == 1
    assert result.stderr == ("Error: unknown segment 'cso:7'; list them with 'tipqual "
                             "segments'\n")
    assert study_path.read_bytes() == before


def test_import_error_names_row_and_changes_nothing(study_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("segment,code,coder\ncso:2,funding,ann\ncso:3,trust,\n")
    before = study_path.read_bytes()
    result = run_tipqual("code", "import", str(study_path), str(path))
    assert result.returncode == 1
    assert result.stderr == (f"Error: {path}:3: the coder name must not be empty; nothing was "
                             "imported\n")
    assert study_path.read_bytes() == before


@pytest.mark.slow
def test_import_then_export_filtered_and_guarded(study_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("segment,code,coder,memo\ncso:2,funding,ann,=1+2\ncso:3,trust,ann,\n"
                    "cso:3,trust,bo,\n")
    result = run_tipqual("code", "import", str(study_path), str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Codings: 3 added, 0 updated, 0 unchanged\n"
    out = tmp_path / "out.csv"
    result = run_tipqual("code", "export", str(study_path), "--out", str(out), "--coder", "ann",
                         "--status", "human,accepted")
    assert result.stdout == f"Wrote 2 codings to {out}\n"
    one = run_tipqual("code", "export", str(study_path), "--out", str(tmp_path / "bo.csv"),
                      "--coder", "bo", "--status", "human")
    assert one.stdout == f"Wrote 1 coding to {tmp_path / 'bo.csv'}\n"
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["segment", "code", "coder", "status", "score", "provenance", "memo",
                       "case", "source", "text"]
    assert rows[1] == ["cso:2", "funding", "ann", "human", "", "import:c.csv", "'=1+2", "cso",
                       "cso", "Funding."]
    assert rows[2][-1] == "'@clerk said =wait."
    bad = run_tipqual("code", "export", str(study_path), "--out", str(out), "--status", "done")
    assert bad.returncode == 1 and "unknown status 'done'" in bad.stderr


def test_code_help_lists_subcommands(runner) -> None:
    result = runner.invoke(cli, ["code", "--help"])
    assert result.exit_code == 0
    for name in ("add", "remove", "import", "export"):
        assert name in result.output
        sub = runner.invoke(cli, ["code", name, "--help"])
        assert sub.exit_code == 0 and "Example:" in sub.output


@pytest.mark.parametrize("name", ["eve\nmallory", "eve\x1b[2J", "tipqual-model", "eve "])
def test_add_refuses_a_coder_name_not_allowed_in_one_line(study_path: Path, name: str) -> None:
    before = study_path.read_bytes()
    result = run_tipqual("code", "add", str(study_path), "--coder", name, "--code", "funding",
                         "cso:2")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: the coder name {name!r} is not allowed: ")
    assert len(result.stderr.splitlines()) == 1 and "\x1b" not in result.stderr
    assert study_path.read_bytes() == before


def test_import_names_the_line_of_a_coder_name_not_allowed(study_path: Path,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("segment,code,coder\ncso:2,funding,ann\ncso:3,trust,tipqual-rules\n")
    before = study_path.read_bytes()
    result = run_tipqual("code", "import", str(study_path), str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {path}:3: the coder name 'tipqual-rules' is not "
                                    "allowed: names starting 'tipqual-' are kept for tipqual's "
                                    "own suggesters")
    assert result.stderr.endswith("; nothing was imported\n")
    assert study_path.read_bytes() == before


def test_remove_works_for_an_odd_name_an_older_study_holds(study_path: Path, runner) -> None:
    from tipqual.records import Coding

    with Project.open(study_path) as p, p.atomic():
        p.put_coding(Coding("cso:2", "funding", "old\x1b[1mname"))
    removed = runner.invoke(cli, ["code", "remove", str(study_path), "--coder",
                                  "old\x1b[1mname", "--code", "funding", "cso:2"])
    assert removed.exit_code == 0, removed.output
    assert removed.output == "Removed: cso:2 funding by 'old\\x1b[1mname'\n"
    unknown = run_tipqual("code", "remove", str(study_path), "--coder", "new\x1b[1m",
                          "--code", "funding", "cso:2")
    assert unknown.returncode == 1 and "is not allowed" in unknown.stderr


# --- several segments at once; export's default statuses --------------------------------------

def test_add_and_remove_several_segments_in_one_transaction(study_path: Path, runner) -> None:
    added = runner.invoke(cli, ["code", "add", str(study_path), "--coder", "ann", "--code",
                                "funding", "cso:2", "cso:3", "cso:2"])
    assert added.exit_code == 0, added.output
    assert added.output == "Added: cso:2 funding by ann\nAdded: cso:3 funding by ann\n"
    with Project.open(study_path) as p:
        assert [(c.segment, c.code) for c in p.codings()] == [("cso:2", "funding"),
                                                             ("cso:3", "funding")]
    removed = runner.invoke(cli, ["code", "remove", str(study_path), "--coder", "ann",
                                  "--code", "funding", "cso:2", "cso:3"])
    assert removed.exit_code == 0, removed.output
    assert removed.output == "Removed: cso:2 funding by ann\nRemoved: cso:3 funding by ann\n"
    with Project.open(study_path) as p:
        assert p.codings() == []


def test_several_segments_are_all_or_nothing(study_path: Path, runner) -> None:
    before = study_path.read_bytes()
    bad = run_tipqual("code", "add", str(study_path), "--coder", "ann", "--code", "funding",
                      "cso:2", "cso:9", "cso:3", "cso:8")
    assert bad.returncode == 1
    assert bad.stderr == ("Error: unknown segments 'cso:9', 'cso:8'; nothing was coded; list "
                          "them with 'tipqual segments'\n")
    assert study_path.read_bytes() == before
    assert runner.invoke(cli, ["code", "add", str(study_path), "--coder", "ann", "--code",
                               "funding", "cso:2"]).exit_code == 0
    with Project.open(study_path) as p:
        audit = len(p.audit())
    missing = run_tipqual("code", "remove", str(study_path), "--coder", "ann", "--code",
                          "funding", "cso:2", "cso:3")
    assert missing.returncode == 1
    assert missing.stderr == ("Error: no coding 'funding' by 'ann' on segment 'cso:3'; nothing "
                              "was removed; see 'tipqual code export'\n")
    with Project.open(study_path) as p:
        assert [c.segment for c in p.codings()] == ["cso:2"] and len(p.audit()) == audit


def _coded_every_way(path: Path) -> None:
    """A human coding, a suggestion, an accepted one and a rejected one."""
    from tipqual.records import Coding

    with Project.open(path) as p, p.atomic():
        p.put_coding(Coding("cso:2", "funding", "ann"))
        p.put_coding(Coding("cso:3", "trust", "tipqual-rules", status="suggested", score=0.5))
        p.put_coding(Coding("cso:3", "delays", "ann", status="accepted", score=0.6))
        p.put_coding(Coding("cso:2", "trust", "ann", status="rejected", score=0.4))


def _exported(path: Path) -> list[tuple[str, str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [(r["segment"], r["code"], r["status"]) for r in csv.DictReader(fh)]


def test_export_writes_human_and_accepted_unless_status_all(study_path: Path,
                                                            tmp_path: Path) -> None:
    _coded_every_way(study_path)
    out = tmp_path / "codings.csv"
    plain = run_tipqual("code", "export", str(study_path), "--out", str(out))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == (f"Wrote 2 codings (human and accepted; --status all writes every "
                            f"status) to {out}\n")
    assert _exported(out) == [("cso:2", "funding", "human"), ("cso:3", "delays", "accepted")]
    every = run_tipqual("code", "export", str(study_path), "--out", str(out), "--status", "all")
    assert every.returncode == 0 and every.stdout == f"Wrote 4 codings to {out}\n"
    assert sorted(_exported(out)) == [("cso:2", "funding", "human"),
                                      ("cso:2", "trust", "rejected"),
                                      ("cso:3", "delays", "accepted"),
                                      ("cso:3", "trust", "suggested")]
    only = run_tipqual("code", "export", str(study_path), "--out", str(out), "--status",
                       "suggested")
    assert only.returncode == 0 and _exported(out) == [("cso:3", "trust", "suggested")]


def test_export_help_documents_the_default_and_status_all(runner) -> None:
    text = " ".join(runner.invoke(cli, ["code", "export", "--help"]).output.split())
    assert "Default: human,accepted" in text and "--status all" in text


def test_export_names_people_and_suggesters_apart_for_an_unknown_coder(
        study_path: Path, tmp_path: Path) -> None:
    _coded_every_way(study_path)
    result = run_tipqual("code", "export", str(study_path), "--out", str(tmp_path / "c.csv"),
                         "--coder", "bob")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: {study_path}: unknown coder 'bob'; the study's "
                                     "coders are: ann (suggestions: tipqual-rules)")
