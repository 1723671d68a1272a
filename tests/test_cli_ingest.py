"""``tipqual import`` and ``tipqual segments`` from the command line (real subprocesses)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_tipqual
from tipqual.cli import cli
from tipqual.cli.ingest import _fates

INGEST = Path(__file__).resolve().parent / "fixtures" / "ingest"
GOOD = INGEST / "good"
BAD = INGEST / "bad"


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    path = tmp_path / "study.db"
    assert run_tipqual("init", str(path)).returncode == 0
    return path


def state(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


def segments_json(path: Path, *extra: str) -> list[dict]:
    result = run_tipqual("segments", str(path), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(("bad", "message"), [
    ("binary.txt", "is a binary file (NUL bytes), not a transcript"),
    ("empty.txt", "the file is empty"),
    ("corrupt.docx", "is not a valid .docx"),
    ("missing.txt", "no such file or folder"),
])
def test_bad_file_clear_error_and_study_byte_identical(study_path: Path, bad: str,
                                                       message: str) -> None:
    before = state(study_path)
    result = run_tipqual("import", str(study_path), str(GOOD / "cp1252-interview.txt"),
                         str(BAD / bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"Error: {BAD / bad}: {message}")
    assert "nothing was imported" in lines[0] and "--skip-bad" in lines[0]
    assert state(study_path) == before


@pytest.mark.slow
def test_folder_with_one_bad_file(study_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "transcripts"
    shutil.copytree(GOOD, folder)
    shutil.copy(BAD / "binary.txt", folder / "scan.txt")
    (folder / "README.txt").write_text("About the interviews.\n")
    before = state(study_path)
    result = run_tipqual("import", str(study_path), str(folder))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {folder / 'scan.txt'}: is a binary file")
    assert state(study_path) == before
    result = run_tipqual("import", str(study_path), str(folder), "--skip-bad")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Imported 7 new sources (25 segments); 0 unchanged; "
                                    "0 replaced;")
    assert f"Skipped {folder / 'scan.txt'}: is a binary file" in result.stderr
    assert f"Not a transcript, passed over: {folder / 'README.txt'}" in result.stderr
    assert "Importing" not in result.stderr  # no progress bar when stderr is not a terminal


@pytest.mark.slow
def test_import_twice_and_segments_json(study_path: Path) -> None:
    args = ("import", str(study_path), str(GOOD), "--cases", str(INGEST / "cases.csv"))
    first = run_tipqual(*args)
    assert first.returncode == 0, first.stderr
    rows = segments_json(study_path)
    assert len(rows) == 25
    assert all(list(r) == ["id", "case", "source", "speaker", "role", "start", "end", "text"]
               for r in rows)
    utf16 = [r for r in rows if r["source"] == "utf16-interview"]
    assert [r["id"] for r in utf16] == [f"utf16-interview:{n}" for n in (1, 2, 3)]
    assert utf16[1]["case"] == "CSO-01" and utf16[1]["speaker"] == "Nomsa"
    second = run_tipqual(*args)
    assert second.returncode == 0
    assert second.stdout.startswith("Imported 0 new sources; 7 unchanged (25 segments already in "
                                    "the study); 0 replaced;")
    assert segments_json(study_path) == rows


@pytest.mark.slow
def test_segments_of_one_source_as_table(study_path: Path) -> None:
    run_tipqual("import", str(study_path), str(GOOD / "court-visit.srt"))
    result = run_tipqual("segments", str(study_path), "--source", "court-visit")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "case", "speaker", "role", "text"]
    assert lines[2].split()[:4] == ["court-visit:2", "court-visit", "THABO", "respondent"]
    assert lines[2].endswith("Our volunteer sits with her in the waiting room. The prosec…")
    missing = run_tipqual("segments", str(study_path), "--source", "nope")
    assert missing.returncode == 1 and "no source 'nope'" in missing.stderr


def test_redact_with_roster(study_path: Path, tmp_path: Path) -> None:
    result = run_tipqual("import", str(study_path), str(INGEST / "pii-interview.txt"),
                         "--redact", "--roster", str(INGEST / "roster.txt"))
    assert result.returncode == 0, result.stderr
    key = tmp_path / "study.redaction-key.json"
    assert f"Redaction key: {key}" in result.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    dumped = json.dumps(segments_json(study_path)).lower()
    for original in ("mokoena", "thandi", "pieter", "berg", "nomsa", "@", "082", "+27", "011 234",
                     "+44", "8001015009087", "4720 083", "www.", "https"):
        assert original not in dumped, original
    assert "[person-1]" in dumped and "cso-01 and cso-02" in dumped


@pytest.mark.slow
def test_replace_carries_edited_codings_and_orphans_rewritten_ones(study_path: Path,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "cso.txt"
    path.write_text("Interviewer: Why?\n\nRespondent: Money.\n\nRespondent: Delays at court.\n")
    run_tipqual("import", str(study_path), str(path))
    for seg, code in (("cso:2", "funding"), ("cso:3", "delays")):
        run_tipqual("code", "add", str(study_path), "--coder", "ann", "--code", code, seg)
    path.write_text("Interviewer: Why?\n\nRespondent: Money and time.\n\n"
                    "Respondent: The police never came.\n")
    refused = run_tipqual("import", str(study_path), str(path))
    assert refused.returncode == 1 and "rerun with --replace" in refused.stderr
    replaced = run_tipqual("import", str(study_path), str(path), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    out = replaced.stdout
    assert "; 1 replaced (now 3 segments);" in out
    assert "codings 0 kept, 0 moved, 1 re-anchored, 1 orphaned" in out
    assert 'orphan cso:3 delays by ann (human): "Delays at court."' in out
    assert "Recorded as step 1" in out and (tmp_path / "study.db.step1.bak").is_file()
    listed = run_tipqual("code", "orphans", str(study_path), "--json")
    [orphan] = json.loads(listed.stdout)
    assert (orphan["segment"], orphan["code"], orphan["text"], orphan["step"]) == (
        "cso:3", "delays", "Delays at court.", 1)
    back = run_tipqual("code", "reattach", str(study_path), str(orphan["id"]), "cso:3")
    assert back.returncode == 0 and "Reattached: cso:3 delays by ann" in back.stdout
    assert "No retired codings." in run_tipqual("code", "orphans", str(study_path)).stdout


@pytest.mark.slow
def test_a_split_paragraph_says_its_codings_go_on_every_piece(study_path: Path,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "farm.txt"
    path.write_text("Interviewer: And the borehole?\n\nRespondent: The pump broke in May. "
                    "Nobody from the municipality came to fix it.\n")
    run_tipqual("import", str(study_path), str(path))
    run_tipqual("code", "add", str(study_path), "--coder", "ann", "--code", "delays", "farm:2")
    path.write_text("Interviewer: And the borehole?\n\nRespondent: The pump broke in May.\n\n"
                    "Nobody from the municipality came to fix it.\n")
    plan = run_tipqual("import", str(study_path), str(path), "--replace", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "1 coding of paragraphs split in pieces also put on the other pieces" in plan.stdout
    done = run_tipqual("import", str(study_path), str(path), "--replace", "--json")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "ann.csv"
    assert run_tipqual("code", "export", str(study_path), "--coder", "ann", "--out",
                       str(out)).returncode == 0
    import csv

    with open(out, newline="", encoding="utf-8-sig") as fh:  # with a BOM, for Excel
        rows = list(csv.DictReader(fh))
    assert sorted((r["segment"], r["code"]) for r in rows) == [("farm:2", "delays"),
                                                               ("farm:3", "delays")]


@pytest.mark.slow
def test_a_file_imported_again_under_another_name_is_pointed_out(study_path: Path,
                                                                 tmp_path: Path) -> None:
    first = tmp_path / "clinic-a.txt"
    first.write_text("Interviewer: The queue?\n\nRespondent: We wait from five.\n")
    assert run_tipqual("import", str(study_path), str(first)).returncode == 0
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(first, batch / "clinic-a-copy.txt")  # renamed, the same bytes
    (batch / "clinic-b.txt").write_text("Interviewer: The queue?\n\nRespondent: Not long.\n")
    shutil.copy(batch / "clinic-b.txt", batch / "clinic-c.txt")  # twins within one run
    done = run_tipqual("import", str(study_path), str(batch))
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("Note: the file")]
    assert notes == [
        "Note: the file of source 'clinic-a-copy' has the same bytes as source 'clinic-a''s "
        "(the same transcript under another name?): both are in the study now and its words "
        "count twice; if one is a mistake, make the study again without it",
        "Note: the file of source 'clinic-c' has the same bytes as source 'clinic-b''s "
        "(the same transcript under another name?): both are in the study now and its words "
        "count twice; if one is a mistake, make the study again without it"]
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(first, again / "clinic-a-third.txt")
    listed = run_tipqual("import", str(study_path), str(again), "--json", "--dry-run")
    assert json.loads(listed.stdout)["same_as"] == [{"source": "clinic-a-third",
                                                     "same_as": "clinic-a"}]
    different = tmp_path / "clinic-d.txt"
    different.write_text("Interviewer: The queue?\n\nRespondent: Two hours.\n")
    plain = run_tipqual("import", str(study_path), str(different), "--json")
    assert json.loads(plain.stdout)["same_as"] == []


@pytest.mark.slow
def test_drop_orphans_deletes_them_and_needs_replace(study_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "cso.txt"
    path.write_text("Interviewer: Why?\n\nRespondent: Delays at court.\n")
    run_tipqual("import", str(study_path), str(path))
    run_tipqual("code", "add", str(study_path), "--coder", "ann", "--code", "delays", "cso:2")
    path.write_text("Interviewer: Why?\n\nRespondent: The police never came.\n")
    alone = run_tipqual("import", str(study_path), str(path), "--drop-orphans")
    assert alone.returncode != 0 and "--drop-orphans goes with --replace" in alone.stderr
    done = run_tipqual("import", str(study_path), str(path), "--replace", "--drop-orphans")
    assert done.returncode == 0, done.stderr
    assert "1 removed" in done.stdout and "remove cso:2 delays by ann" in done.stdout
    assert "No retired codings." in run_tipqual("code", "orphans", str(study_path)).stdout


def test_help_texts_and_light_import(runner) -> None:
    for args in (["import", "--help"], ["segments", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and "Example:" in result.output
    code = ("import sys, tipqual.cli.ingest, tipqual.cli.coding; "
            "heavy = {'spacy', 'docx', 'pandas', 'charset_normalizer', 'sklearn'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_cases_csv_row_without_a_transcript_is_reported(study_path: Path,
                                                         tmp_path: Path) -> None:
    transcript = tmp_path / "ORG-1.txt"
    transcript.write_text("Interviewer: Hello?\n\nRespondent: We work with the police.\n",
                          encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_text("case,source,province\nORG-1,ORG-1.txt,Gauteng\n"
                     "ORG-2,ORG-2.txt,Limpopo\n", encoding="utf-8")
    result = run_tipqual("import", str(study_path), str(transcript), "--cases", str(cases))
    assert result.returncode == 0, result.stderr
    assert "Cases with no transcript yet: ORG-2" in result.stderr


# --- a changed transcript: what the error says, what the summary says, --dry-run ---------------

def _changed_interview(study_path: Path, tmp_path: Path) -> Path:
    """cso.txt imported and coded, then corrected on disk (its second segment changed)."""
    path = tmp_path / "cso.txt"
    path.write_text("Interviewer: Why?\n\nRespondent: Money.\n\nRespondent: And time.\n")
    assert run_tipqual("import", str(study_path), str(path)).returncode == 0
    assert run_tipqual("code", "add", str(study_path), "--coder", "ann", "--code", "funding",
                       "cso:2").returncode == 0
    path.write_text("Interviewer: Why?\n\nRespondent: Money, always money.\n\n"
                    "Respondent: And time.\n")
    return path


@pytest.mark.slow
def test_a_changed_file_says_it_changed_and_suggests_replace_and_dry_run(
        study_path: Path, tmp_path: Path) -> None:
    path = _changed_interview(study_path, tmp_path)
    before = state(study_path)
    result = run_tipqual("import", str(study_path), str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {path}: the file changed since it was imported as "
                               "source 'cso'; nothing was imported")
    assert "rerun with --replace" in lines[0] and "--replace --dry-run" in lines[0]
    assert "--skip-bad" not in lines[0]
    assert state(study_path) == before


@pytest.mark.slow
def test_a_changed_file_beside_a_bad_one_gets_both_pieces_of_advice(
        study_path: Path, tmp_path: Path) -> None:
    path = _changed_interview(study_path, tmp_path)
    result = run_tipqual("import", str(study_path), str(path), str(BAD / "binary.txt"))
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("Error: 2 files cannot be imported, so nothing was: ")
    assert "--skip-bad" in line and "--replace" in line and "\n" not in line


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_changes_nothing(study_path: Path, tmp_path: Path) -> None:
    path = _changed_interview(study_path, tmp_path)
    new = tmp_path / "new.txt"
    new.write_text("Interviewer: Who helps?\n\nRespondent: The clinic.\n")
    before = state(study_path)
    plan = run_tipqual("import", str(study_path), str(path), str(new), "--replace", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines() == [
        "Dry run: nothing was written. The import would do this:",
        "Would import 1 new source (2 segments); 0 unchanged; 1 replaced (now 3 segments); "
        "2 cases in the study.",
        "  new new (2 segments)",
        "  replace cso (now 3 segments): codings 0 kept, 0 moved, 1 re-anchored, 0 orphaned",
        "    ann: 0 kept, 0 moved, 1 re-anchored, 0 orphaned"]
    assert state(study_path) == before
    assert not list(tmp_path.glob("*.bak"))
    done = run_tipqual("import", str(study_path), str(path), str(new), "--replace")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("Imported 1 new source (2 segments); 0 unchanged; 1 replaced (now 3 "
                        "segments); 2 cases in the study.")
    assert lines[1:3] == plan.stdout.splitlines()[3:5]  # the same summary as the plan
    assert lines[3].startswith("Recorded as step 1 ")


def test_reimport_summary_says_nothing_new_and_what_was_already_there(
        study_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "cso.txt"
    path.write_text("Interviewer: Why?\n\nRespondent: Money.\n")
    assert run_tipqual("import", str(study_path), str(path)).returncode == 0
    again = run_tipqual("import", str(study_path), str(path))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Imported 0 new sources; 1 unchanged (2 segments already in "
                                   "the study); 0 replaced; 1 case in the study.")


@pytest.mark.slow
def test_replace_summary_names_each_count_in_its_number(study_path: Path,
                                                        tmp_path: Path) -> None:
    """A corrected transcript whose edited segment had one unreviewed suggestion: "1
    suggestion dropped", not "1 suggestions dropped", in the total and in the suggester's
    line; two dropped read in the plural."""
    book = tmp_path / "funding.yaml"
    book.write_text('name: Funding\nversion: "1"\ncodes:\n'
                    "  - {id: funding, name: Funding, definition: Money., phrases: [money]}\n"
                    "  - {id: delays, name: Delays, definition: Waiting., phrases: [court]}\n",
                    encoding="utf-8")
    db = tmp_path / "funding.db"
    assert run_tipqual("init", str(db), "--codebook", str(book)).returncode == 0
    path = tmp_path / "cso.txt"
    path.write_text("Interviewer: Why?\n\nRespondent: Money is short.\n\n"
                    "Respondent: Delays at court.\n")
    assert run_tipqual("import", str(db), str(path)).returncode == 0
    assert run_tipqual("suggest", str(db)).returncode == 0
    assert run_tipqual("code", "add", str(db), "--coder", "ann", "--code", "delays",
                       "cso:3").returncode == 0
    path.write_text("Interviewer: Why?\n\nRespondent: Money is short, and money is late.\n\n"
                    "Respondent: Delays at court.\n")
    done = run_tipqual("import", str(db), str(path), "--replace")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:4] == [
        "  replace cso (now 3 segments): codings 2 kept, 0 moved, 0 re-anchored, 0 orphaned, "
        "1 suggestion dropped",
        "    ann: 1 kept, 0 moved, 0 re-anchored, 0 orphaned",
        "    tipqual-rules: 1 kept, 0 moved, 0 re-anchored, 0 orphaned, 1 suggestion dropped"]
    assert "suggestions dropped" not in done.stdout
    counts = {"kept": 1, "moved": 0, "reanchored": 0, "orphaned": 1, "dropped": 2}
    assert _fates(counts, drop_orphans=True) == ("1 kept, 0 moved, 0 re-anchored, 1 removed, "
                                                 "2 suggestions dropped")
    assert _fates({**counts, "dropped": 0}, drop_orphans=False) == (
        "1 kept, 0 moved, 0 re-anchored, 1 orphaned")
