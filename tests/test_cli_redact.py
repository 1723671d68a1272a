"""``tipqual import --redact`` leaves no PII in the study file; ``tipqual redact check``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fixtures.pii import ID_FORMS, PHONE_FORMS
from tests.helpers import run_tipqual
from tipqual.records import Coding
from tipqual.store.project import Project

# Every casing of every planted string is looked for (the bytes are compared lower-cased).
PLANTED = ["Thandi", "THANDI", "thandi", "Mokoena", "MOKOENA", "mokoena", "O'Brien", "O’Brien",
           "Brien", "Pieter", "van der Berg", "thandi.m@hope.org.za", "PIETER@Church.org.za",
           "082 555 1234", "082-555-1234", "0825551234", "27825551234", "800101-5009-087",
           "800101 5009 087", "8001015009087", "Mokoena files"]


def plant(tmp_path: Path) -> tuple[Path, Path, Path]:
    """PII in the text, a folder and a file name, speaker labels and cases.csv attributes."""
    folder = tmp_path / "Mokoena files"
    folder.mkdir()
    (folder / "Thandi Mokoena interview.md").write_text(
        "# Interview with MOKOENA, 082-555-1234\n\n"
        "Interviewer: Who helps you?\n\n"
        "SEAN O’BRIEN: thandi and Mokoena’s sister. Mail thandi.m@hope.org.za, call "
        "+27 82 555 1234, her ID is 800101-5009-087.\n\n"
        "**Thandi:** O'Brien's van drives us.\n", encoding="utf-8")
    (folder / "cso-02.txt").write_text(
        "Interviewer: And you?\n\nRespondent: Pieter's church; ID 800101 5009 087.\n",
        encoding="utf-8")
    (folder / "court.srt").write_text(
        "1\n00:00:01,000 --> 00:00:04,000\nPIETER VAN DER BERG: We met at court.\n",
        encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_text("case,source,contact,email,phone\n"
                     "CSO-01,Thandi Mokoena interview.md,Pieter van der Berg,"
                     "PIETER@Church.org.za,0825551234\n"
                     "Mokoena House,cso-02.txt,THANDI,,800101-5009-087\n"
                     "CSO-03,court.srt,\"O’Brien, Sean\",,\n", encoding="utf-8")
    roster = tmp_path / "staff.txt"
    roster.write_text("# people to pseudonymise\nThandi Mokoena\nSean O'Brien\n"
                      "Pieter van der Berg\n", encoding="utf-8")
    return folder, cases, roster


def test_redacted_import_leaves_no_planted_pii_in_any_byte_of_the_study(tmp_path: Path) -> None:
    folder, cases, roster = plant(tmp_path)
    study = tmp_path / "study.db"
    assert run_tipqual("init", str(study)).returncode == 0
    # a second connection left open keeps the import's pages in the -wal file to be read too
    with Project.open(study, readonly=True):
        result = run_tipqual("import", str(study), str(folder), "--cases", str(cases),
                             "--redact", "--roster", str(roster))
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        wal = tmp_path / "study.db-wal"
        assert wal.exists() and wal.stat().st_size > 0
        raw = b"".join(f.read_bytes() for f in sorted(tmp_path.glob("study.db*"))).lower()
    assert b"[person-3] interview" in raw  # the import is in what was read
    for original in PLANTED:
        assert original.lower().encode("utf-8") not in raw, original
    # the ids that had to change are named in the summary
    assert "Source id pseudonymised:" in result.stdout
    assert "is stored as '[PERSON-3] interview'" in result.stdout
    assert "Case id pseudonymised: 'Mokoena House' (cases.csv) is stored as '[PERSON-3] House'" \
        in result.stdout
    # and the residual check agrees
    check = run_tipqual("redact", "check", str(study), "--roster", str(roster))
    assert (check.returncode, check.stdout, check.stderr) == (0, "no residual PII found\n", "")


@pytest.mark.slow
def test_redact_check_lists_residual_pii_and_exits_1(tmp_path: Path) -> None:
    folder, cases, roster = plant(tmp_path)
    study = tmp_path / "study.db"
    assert run_tipqual("init", str(study)).returncode == 0
    assert run_tipqual("import", str(study), str(folder), "--cases", str(cases)).returncode == 0
    with Project.open(study) as p:
        p.put_coding(Coding("cso-02:2", "funding", "ann", memo="ring +27 82 555 1234"))
    result = run_tipqual("redact", "check", str(study), "--roster", str(roster))
    assert result.returncode == 1, result.stderr
    lines = [re.sub(r" \(\d+ times\)$", "", line) for line in result.stdout.splitlines()]
    sid = "Thandi Mokoena interview"
    for line in (f"source '{sid}' id: roster name", f"source '{sid}' path: roster name",
                 f"source '{sid}' text: phone", f"source '{sid}' text: roster name",
                 f"segment '{sid}:2' text: e-mail", f"segment '{sid}:2' text: ID number",
                 f"segment '{sid}:2' text: phone", f"segment '{sid}:2' speaker: roster name",
                 "segment 'court:1' speaker: roster name",
                 "case 'CSO-01' attribute email: e-mail", "case 'CSO-01' attribute phone: phone",
                 "case 'Mokoena House' id: roster name",
                 "case 'Mokoena House' attribute phone: ID number",
                 "coding 'cso-02:2 funding ann' memo: phone"):
        assert line in lines, (line, lines)
    # one line per place and kind, the value itself never echoed
    assert len(lines) == len(set(lines))
    assert "thandi.m@" not in result.stdout and "5009" not in result.stdout
    assert "Residual PII" in result.stderr and "Traceback" not in result.stderr

    as_json = run_tipqual("redact", "check", str(study), "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["clean"] is False and data["count"] == len(data["findings"])
    assert {"where": "case", "id": "CSO-01", "field": "attribute email", "kind": "e-mail",
            "count": 1} in data["findings"]
    assert not any(f["kind"] == "roster name" for f in data["findings"])  # no --roster


def test_redact_check_json_on_a_clean_study(tmp_path: Path) -> None:
    study = tmp_path / "study.db"
    assert run_tipqual("init", str(study)).returncode == 0
    (tmp_path / "cso.txt").write_text("Respondent: we met in 2019, 45 cases, R2.5 million.\n")
    assert run_tipqual("import", str(study), str(tmp_path / "cso.txt")).returncode == 0
    result = run_tipqual("redact", "check", str(study), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"clean": True, "count": 0, "findings": []}


def test_redact_check_bad_input_is_one_line(tmp_path: Path) -> None:
    missing = run_tipqual("redact", "check", str(tmp_path / "nope.db"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    study = tmp_path / "study.db"
    assert run_tipqual("init", str(study)).returncode == 0
    bad_roster = tmp_path / "roster.txt"
    bad_roster.write_bytes(b"\x00\x01binary")
    result = run_tipqual("redact", "check", str(study), "--roster", str(bad_roster))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1


# --- every written form of an ID and phone number, through real processes -------------------

def _form_files(folder: Path) -> dict[str, str]:
    """One transcript per written form of an ID or phone number: source id -> kind."""
    folder.mkdir()
    kinds = {}
    for kind, forms in (("ID number", ID_FORMS), ("phone", PHONE_FORMS)):
        for n, form in enumerate(forms, start=1):
            sid = f"{'id' if kind == 'ID number' else 'phone'}-{n:02d}"
            (folder / f"{sid}.txt").write_text(
                f"Interviewer: How can we reach you?\n\nRespondent: It is {form}, thanks.\n",
                encoding="utf-8")
            kinds[sid] = kind
    return kinds


@pytest.mark.slow
def test_redact_check_finds_every_form_and_a_redacted_import_is_clean(tmp_path: Path) -> None:
    kinds = _form_files(tmp_path / "forms")
    plain, safe = tmp_path / "plain.db", tmp_path / "safe.db"
    for study in (plain, safe):
        assert run_tipqual("init", str(study)).returncode == 0
    assert run_tipqual("import", str(plain), str(tmp_path / "forms")).returncode == 0
    result = run_tipqual("redact", "check", str(plain))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = set(result.stdout.splitlines())
    for sid, kind in kinds.items():
        assert f"segment '{sid}:2' text: {kind}" in lines, (sid, kind)
    assert len(lines) == len(kinds)  # and nothing else: no false positives

    imported = run_tipqual("import", str(safe), str(tmp_path / "forms"), "--redact")
    assert imported.returncode == 0, imported.stderr
    check = run_tipqual("redact", "check", str(safe))
    assert (check.returncode, check.stdout, check.stderr) == (0, "no residual PII found\n", "")
    key = json.loads((tmp_path / "safe.redaction-key.json").read_text(encoding="utf-8"))
    assert sorted(key) == ["[ID-1]", "[PHONE-1]"]  # one number, however it was written


# Planted in a Word file, a WebVTT file, case ids and column names of cases.csv.
PLANTED_ELSEWHERE = ["Thandi", "Mokoena", "O'Brien", "O’Brien", "Nomsa", "Dlamini",
                     "nomsa.d@shelter.org.za", "082.555.0199", "082 5550 199", "27825550199",
                     "0825550199", "+27 82 555 0199", "800101/5009/087", "800101 5009 08 7",
                     "800101\u20145009\u2014087", "8001015009087"]


def _plant_everywhere(tmp_path: Path) -> tuple[Path, Path, Path]:
    import docx

    folder = tmp_path / "in"
    folder.mkdir()
    document = docx.Document()
    document.add_paragraph("Interviewer: Who helps you?")
    document.add_paragraph("Respondent: Nomsa Dlamini, on 082.555.0199 or 082 5550 199; "
                           "her ID is 800101/5009/087.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Sean O’Brien"
    table.rows[0].cells[1].text = "Mail nomsa.d@shelter.org.za, or 27825550199."
    document.save(folder / "cso-04.docx")
    (folder / "court.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Thandi Mokoena>I am THANDI; ID "
        "800101 5009 08 7.\n\n00:00:04.000 --> 00:00:08.000\n<v Interviewer>Call +27 82 555 "
        "0199?\n\n00:00:08.000 --> 00:00:09.000\nNOMSA: Or 800101\u20145009\u2014087.\n",
        encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_text("case,source,Nomsa contact,notes\n"
                     "Dlamini House,cso-04.docx,0825550199,O'Brien knows\n"
                     "CSO-05,court.vtt,,8001015009087\n", encoding="utf-8")
    roster = tmp_path / "roster.txt"
    roster.write_text("Thandi Mokoena\nSean O'Brien\nNomsa Dlamini\n", encoding="utf-8")
    return folder, cases, roster


@pytest.mark.slow
def test_no_planted_pii_in_any_byte_of_the_study_wal_and_shm(tmp_path: Path) -> None:
    folder, cases, roster = _plant_everywhere(tmp_path)
    study = tmp_path / "study.db"
    assert run_tipqual("init", str(study)).returncode == 0
    with Project.open(study, readonly=True) as reader:  # holds the WAL: the pages stay there
        list(reader.cases())
        result = run_tipqual("import", str(study), str(folder), "--cases", str(cases),
                             "--redact", "--roster", str(roster))
        assert result.returncode == 0, result.stderr
        files = {f.name: f.read_bytes() for f in sorted(tmp_path.glob("study.db*"))}
    assert set(files) == {"study.db", "study.db-wal", "study.db-shm"}
    assert len(files["study.db-wal"]) > 0 and len(files["study.db-shm"]) > 0
    raw = b"".join(files.values())
    assert b"[PERSON-" in raw and b"[PHONE-" in raw and b"[ID-" in raw  # the import is there
    lowered = raw.lower()
    for original in PLANTED_ELSEWHERE:
        for spelling in {original, original.lower(), original.upper()}:
            assert spelling.lower().encode("utf-8") not in lowered, original
            assert spelling.encode("utf-16-le") not in raw, original
    assert "Case id pseudonymised: 'Dlamini House' (cases.csv) is stored as '[PERSON-" \
        in result.stdout
    with Project.open(study, readonly=True) as p:
        assert {c.id: sorted(c.attributes) for c in p.cases()} == {
            "CSO-05": ["notes"], "[PERSON-1] House": ["[PERSON-1] contact", "notes"]}
    check = run_tipqual("redact", "check", str(study), "--roster", str(roster))
    assert (check.returncode, check.stdout) == (0, "no residual PII found\n"), check.stdout


def test_a_failed_redacted_import_leaves_no_key_file(tmp_path: Path) -> None:
    """The commit is refused by the operating system (RLIMIT_FSIZE, as a full disk): the study
    is as it was, and no key file (nor a part of one) is left beside it."""
    import resource
    import subprocess
    import sys

    study = tmp_path / "study.db"
    assert run_tipqual("init", str(study)).returncode == 0
    big = tmp_path / "cso-09.txt"
    paragraph = "Thandi said we work with the police and the shelter every day. " * 20
    big.write_text("Interviewer: Tell me.\n\n" + "\n\n".join(
        f"Respondent: {paragraph}{n}" for n in range(300)), encoding="utf-8")
    roster = tmp_path / "roster.txt"
    roster.write_text("Thandi Mokoena\n", encoding="utf-8")
    limit = study.stat().st_size + 64 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "tipqual", "import", str(study), str(big),
                             "--redact", "--roster", str(roster)], capture_output=True,
                            text=True, timeout=300, preexec_fn=cap)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "nothing was written" in result.stderr
    assert [f.name for f in tmp_path.iterdir() if "key" in f.name] == []
    with Project.open(study, readonly=True) as p:
        assert p.sources() == []


@pytest.mark.slow
def test_redact_check_names_the_copies_it_does_not_look_into(tmp_path: Path) -> None:
    study = tmp_path / "study.db"
    (tmp_path / "cso.txt").write_text("Respondent: Thandi helps us.\n", encoding="utf-8")
    roster = tmp_path / "roster.txt"
    roster.write_text("Thandi Mokoena\n", encoding="utf-8")
    assert run_tipqual("init", str(study)).returncode == 0
    assert run_tipqual("import", str(study), str(tmp_path / "cso.txt")).returncode == 0
    redone = run_tipqual("import", str(study), str(tmp_path / "cso.txt"), "--redact",
                         "--roster", str(roster), "--replace")
    assert redone.returncode == 0, redone.stderr  # the copy kept before it holds the name
    check = run_tipqual("redact", "check", str(study), "--roster", str(roster))
    assert (check.returncode, check.stdout) == (0, "no residual PII found\n")
    assert check.stderr == ("Note: not looked at: 1 copy of the study beside it "
                            "(study.db.step1.bak); check each with 'tipqual redact check COPY' "
                            "or delete them\n")
    copy = run_tipqual("redact", "check", str(tmp_path / "study.db.step1.bak"), "--roster",
                       str(roster))
    assert copy.returncode == 1 and "segment 'cso:1' text: roster name" in copy.stdout


@pytest.mark.slow
def test_a_column_name_that_is_pseudonymised_is_named_in_the_summary(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "a.txt").write_text("Interviewer: Who?\n\nRespondent: The clinic.\n",
                                  encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_text("case,source,Mokoena contact\nC1,a.txt,yes\n", encoding="utf-8")
    roster = tmp_path / "roster.txt"
    roster.write_text("Thandi Mokoena\n", encoding="utf-8")
    study = tmp_path / "s.db"
    assert run_tipqual("init", str(study)).returncode == 0
    done = run_tipqual("import", str(study), str(folder), "--cases", str(cases), "--redact",
                       "--roster", str(roster), "--json")
    assert done.returncode == 0, done.stderr
    renamed = json.loads(done.stdout)["renamed_columns"]
    assert [r["column"] for r in renamed] == ["Mokoena contact"]
    assert "Mokoena" not in renamed[0]["stored"]
    assert run_tipqual("init", str(tmp_path / "s2.db")).returncode == 0
    text = run_tipqual("import", str(tmp_path / "s2.db"), str(folder), "--cases", str(cases),
                       "--redact", "--roster", str(roster))
    assert text.returncode == 0, text.stderr
    assert "Column pseudonymised: 'Mokoena contact' (cases.csv) is stored as '" in text.stdout
