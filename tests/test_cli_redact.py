"""``tipqual import --redact`` leaves no PII in the study file; ``tipqual redact check``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_tipqual

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
