"""``tipqual init``, ``status``, ``--version``, ``--debug`` and the light ``--help``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TIP_CODEBOOK, run_tipqual
from tipqual import __version__
from tipqual.cli import cli


def test_init_creates_wal_study_passing_integrity(tmp_path: Path, runner) -> None:
    path = tmp_path / "s.db"
    result = runner.invoke(cli, ["init", str(path)])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_second_init_fails_and_leaves_file_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    assert run_tipqual("init", str(path)).returncode == 0
    before = path.read_bytes()
    second = run_tipqual("init", str(path))
    assert second.returncode != 0
    assert second.stderr.startswith("Error: ")
    assert "already exists" in second.stderr and str(path) in second.stderr
    assert "Traceback" not in second.stderr
    assert path.read_bytes() == before


def test_status_json_has_contract_keys(tmp_path: Path, runner) -> None:
    path = tmp_path / "s.db"
    runner.invoke(cli, ["init", str(path)])
    result = runner.invoke(cli, ["status", str(path), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert list(data) == ["cases", "sources", "segments", "codes", "coders", "codings"]
    assert data["codings"] == {"human": 0, "suggested": 0, "accepted": 0, "rejected": 0}


def test_status_on_missing_file_is_clear_error(tmp_path: Path) -> None:
    result = run_tipqual("status", str(tmp_path / "missing.db"))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: {tmp_path / 'missing.db'}: no such study file; "
                                     "create one with 'tipqual init'")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run_tipqual("--debug", "status", str(tmp_path / "missing.db"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_version(runner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_every_command_has_help(runner) -> None:
    for name in cli.list_commands(None):
        command = cli.get_command(None, name)
        assert command.help, f"{name} has no help text"
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_help_imports_no_heavy_module() -> None:
    code = ("import sys\nfrom tipqual.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('spacy', 'pandas', 'sklearn', 'matplotlib', 'networkx', "
            "'numpy', 'openpyxl', 'docx') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_python_dash_m_runs(tmp_path: Path) -> None:
    result = run_tipqual("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_ctrl_c_while_loading_ends_quietly() -> None:
    code = ("import sys\n"
            "class Interrupt:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'tipqual.cli':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "from tipqual.__main__ import run\n"
            "run()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 130
    assert "Traceback" not in out.stderr and out.stderr.strip() == "Interrupted."


def test_every_registered_command_loads() -> None:
    """Each command of the registry is present in this build (none silently missing)."""
    from tipqual.cli import COMMANDS

    assert sorted(cli.list_commands(None)) == sorted(COMMANDS)


# --- tipqual set --name: the study's name (the report's title) after creation -----------------

def test_set_name_renames_the_study_and_the_report_title(tmp_path: Path, runner) -> None:
    from tipqual.report.context import build_context
    from tipqual.store.project import Project

    path = tmp_path / "study.db"
    assert runner.invoke(cli, ["init", str(path), "--codebook", str(TIP_CODEBOOK)]).exit_code == 0
    result = runner.invoke(cli, ["set", str(path), "--name", "  Shelters in Gauteng, 2024 "])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"{path}: the study's name is now 'Shelters in Gauteng, "
                                     "2024' (it was 'study')")
    with Project.open(path, readonly=True) as p:
        assert p.meta("name") == "Shelters in Gauteng, 2024"
        assert build_context(p)["title"] == "Findings: Shelters in Gauteng, 2024"


@pytest.mark.slow
def test_set_refuses_an_empty_or_control_character_name(tmp_path: Path) -> None:
    from tipqual.store.project import Project

    path = tmp_path / "study.db"
    assert run_tipqual("init", str(path), "--name", "Kept").returncode == 0
    for bad, words in [("", "must not be empty"), ("   ", "must not be empty"),
                       ("two\nlines", "U+000A"), ("red \x1b[31mtitle", "U+001B"),
                       ("flip \u202eeltit", "U+202E")]:
        result = run_tipqual("set", str(path), "--name", bad)
        assert result.returncode == 1, bad
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
        assert "Traceback" not in result.stderr and not result.stdout
        with Project.open(path, readonly=True) as p:
            assert p.meta("name") == "Kept"
    init = run_tipqual("init", str(tmp_path / "other.db"), "--name", "bad\x07name")
    assert init.returncode == 1 and "U+0007" in init.stderr
    assert not (tmp_path / "other.db").exists()


def test_set_gives_the_report_a_study_s_own_word_for_a_case_and_quote_label(
        tmp_path: Path, runner) -> None:
    from tipqual.report.context import build_context
    from tipqual.store.project import Project

    path = tmp_path / "clinics.db"
    cases = tmp_path / "cases.csv"
    cases.write_text("case,source,district\nCL-1,cl1.txt,Vhembe\n", encoding="utf-8")
    (tmp_path / "cl1.txt").write_text("Interviewer: Staff?\n\nNurse: Two of us at night.\n",
                                      encoding="utf-8")
    assert runner.invoke(cli, ["init", str(path), "--codebook", str(TIP_CODEBOOK)]).exit_code == 0
    assert runner.invoke(cli, ["import", str(path), str(tmp_path / "cl1.txt"), "--cases",
                               str(cases)]).exit_code == 0
    with Project.open(path, readonly=True) as p:
        assert build_context(p)["study"]["noun"] == {"one": "case", "many": "cases"}
    result = runner.invoke(cli, ["set", str(path), "--case-noun", "clinic",
                                 "--quote-attribute", "district"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path}: the report's word for a case is now 'clinic'",
        f"{path}: the attribute named beside quotations is now 'district'"]
    with Project.open(path, readonly=True) as p:
        assert build_context(p)["study"]["noun"] == {"one": "clinic", "many": "clinics"}
        assert p.meta("quote_attribute") == "district"
    for args, words in [(["--quote-attribute", "province"],
                         "no case has the attribute 'province'; the study's attributes: "
                         "district"),
                        (["--case-noun", "/x"], "has no word"),
                        (["--case-noun", "two\nlines"], "line break"),
                        ([], "give --name, --case-noun or --quote-attribute")]:
        result = runner.invoke(cli, ["set", str(path), *args])
        assert result.exit_code in (1, 2) and words in result.output, (args, result.output)
    with Project.open(path, readonly=True) as p:
        assert (p.meta("case_noun"), p.meta("quote_attribute")) == ("clinic", "district")


# --- status counts a decided suggestion as no longer awaiting review ---------------------------

def test_status_counts_only_undecided_suggestions(tmp_path: Path, runner) -> None:
    from tests.fixtures.suggest.water import WATER_SUGGESTIONS, build_water_study

    n = WATER_SUGGESTIONS
    path = tmp_path / "water.db"
    build_water_study(path).close()
    assert runner.invoke(cli, ["suggest", str(path)]).exit_code == 0
    review = runner.invoke(cli, ["review", str(path), "--coder", "nomsa"],
                           input="a\na\na\nr\nr\nq\n")
    assert review.output.splitlines()[-1].endswith(f"{n - 5} left to review")
    data = json.loads(runner.invoke(cli, ["status", str(path), "--json"]).output)
    assert data["codings"] == {"human": 0, "suggested": n - 5, "accepted": 3, "rejected": 2}
    assert data["coders"] == ["nomsa"]
    text = runner.invoke(cli, ["status", str(path)]).output.splitlines()
    assert text[-1] == (f"codings   human 0, suggested {n - 5} (awaiting review), accepted 3, "
                        "rejected 2")
    runner.invoke(cli, ["review", str(path), "--coder", "nomsa"], input="a\nu\nr\nq\n")
    data = json.loads(runner.invoke(cli, ["status", str(path), "--json"]).output)
    assert data["codings"] == {"human": 0, "suggested": n - 6, "accepted": 3, "rejected": 3}
