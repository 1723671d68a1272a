"""Pseudonymisation: each kind of personal information, stable placeholders, the key file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tipqual.errors import IngestError
from tipqual.ingest import redact
from tipqual.ingest.importer import import_paths
from tipqual.ingest.redact import OffsetMap, Redactor, is_sa_id, luhn_ok
from tipqual.store.project import Project

INGEST = Path(__file__).resolve().parent / "fixtures" / "ingest"
PII = INGEST / "pii-interview.txt"
ROSTER = INGEST / "roster.txt"
ORIGINALS = ["Mokoena", "Thandi", "THANDI", "Pieter", "van der Berg", "Nomsa", "011 234 5678",
             "+27 82 555 1234", "082-555-1234", "+44 20 7946 0958",
             "thandi.mokoena@hope-shelter.org.za", "hope-shelter.org.za", "www.example.org",
             "8001015009087", "920220 4720 083"]
KEPT = ["In 2019 we had 45 cases", "R2.5 million (R 1 200 000 from donors)",
        "from 12/03/2021 to 2021-06-15", "CSO-01 and CSO-02 met at 10:30",
        "Reference 1234567890123 is a docket", "SAPS case number", "from DSD"]


def redacted(text: str, roster: list[str] = (), **kw) -> str:
    return Redactor(roster, **kw).redact(text)[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("write to a.b-c@ngo.org.za today", "write to [EMAIL-1] today"),
    ("see https://x.org/a?b=1, or www.y.co.za.", "see [URL-1], or [URL-2]."),
    ("call 011 234 5678", "call [PHONE-1]"),
    ("call (011) 234-5678", "call [PHONE-1]"),
    ("call 0825551234", "call [PHONE-1]"),
    ("call 082-555-1234", "call [PHONE-1]"),
    ("call 0800 123 456", "call [PHONE-1]"),
    ("call +27 82 555 1234", "call [PHONE-1]"),
    ("call +27 (0)82 555 1234", "call [PHONE-1]"),
    ("call 0027 82 555 1234", "call [PHONE-1]"),
    ("call +1 (202) 555-0143", "call [PHONE-1]"),
    ("ID 8001015009087.", "ID [ID-1]."),
    ("ID 800101 5009 087.", "ID [ID-1]."),
])
def test_each_kind_is_replaced(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("text", [
    "In 2019 and 2020 we had 45 cases.", "R2.5 million", "R 1 200 000", "R120 000",
    "12/03/2021", "2021-06-15", "CSO-01", "at 10:30", "1234567890123",
    "8001015009088",  # bad Luhn digit
    "0102290800089",  # 29 February 2001 / 1901 does not exist
    "8013015009086",  # month 13
    "docket 12345/2021", "TIP-TT", "section 7(1)", "+ 5 more",
])
def test_nothing_else_is_mangled(text: str) -> None:
    assert redacted(text) == text


def test_luhn_and_id_rules() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert is_sa_id("8001015009087") and is_sa_id("920220 4720 083")
    assert not is_sa_id("8001015039087")  # eleventh digit must be 0, 1 or 2


def test_same_number_written_two_ways_gets_one_placeholder() -> None:
    assert redacted("082 555 1234 / +27 82 555 1234 / 0825551234") == (
        "[PHONE-1] / [PHONE-1] / [PHONE-1]")


def test_roster_full_and_part_names_whole_words_case_insensitive() -> None:
    text = ("Thandi Mokoena met THANDI and mokoena; Thandiwe stays. Pieter van der Berg, "
            "Pieter and Berg's notes. Nomsa.")
    out = redacted(text, ["Thandi Mokoena", "Pieter van der Berg", "Nomsa"])
    assert out == ("[PERSON-1] met [PERSON-1] and [PERSON-1]; Thandiwe stays. [PERSON-2], "
                   "[PERSON-2] and [PERSON-2]'s notes. [PERSON-3].")


def test_shared_first_name_gets_its_own_placeholder() -> None:
    r = Redactor(["Thandi Mokoena", "Thandi Dlamini"])
    out = r.redact("Thandi Dlamini, Thandi Mokoena and Thandi.")[0]
    assert out == "[PERSON-1], [PERSON-2] and [PERSON-3]."
    assert r.key == {"[PERSON-1]": "Thandi Dlamini", "[PERSON-2]": "Thandi Mokoena",
                     "[PERSON-3]": "Thandi"}


def test_existing_key_keeps_placeholders_and_names_without_roster() -> None:
    key = {"[PERSON-4]": "Thandi Mokoena", "[PHONE-2]": "082 555 1234"}
    r = Redactor([], key=key)
    out = r.redact("Mokoena phoned +27 82 555 1234 and 011 234 5678; Zola too.")[0]
    assert out == "[PERSON-4] phoned [PHONE-2] and [PHONE-3]; Zola too."
    assert r.changed and r.key["[PHONE-3]"] == "011 234 5678"


def test_offset_map_moves_offsets_outside_placeholders() -> None:
    # "abc 082 555 1234 xyz" -> "abc [PHONE-1] xyz": 12 chars became 9
    m = OffsetMap([(4, 16, 9)])
    assert (m.start(0), m.end(3), m.start(4), m.end(16), m.start(17), m.end(20)) == (
        0, 3, 4, 13, 14, 17)
    assert (m.start(8), m.end(8)) == (4, 13)


def test_import_with_roster_leaves_no_pii_in_the_study(tmp_path: Path) -> None:
    study = tmp_path / "study.db"
    with Project.create(study) as p:
        report = import_paths(p, [PII], redact=True, roster=ROSTER)
        segments = list(p.segments())
        source = p.source("pii-interview")
    assert report.key_path == str(tmp_path / "study.redaction-key.json")
    texts = " ".join(s.text for s in segments) + source.text
    speakers = {s.speaker for s in segments}
    for original in ORIGINALS:
        assert original.lower() not in texts.lower(), original
        assert all(original.lower() not in (sp or "").lower() for sp in speakers)
    for kept in KEPT:
        assert kept in texts
    assert speakers == {"Interviewer", "[PERSON-1]"}
    for s in segments:
        assert s.text == source.text[s.start:s.end]
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("study.db*"))
    for original in ("Mokoena", "thandi.mokoena", "8001015009087", "555 1234"):
        assert original.encode() not in raw
    key_file = tmp_path / "study.redaction-key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = json.loads(key_file.read_text())
    assert key["[PERSON-1]"] == "Thandi Mokoena" and key["[ID-1]"] == "8001015009087"


def test_placeholders_stable_across_imports(tmp_path: Path) -> None:
    second = tmp_path / "second.txt"
    second.write_text("Interviewer: Who helped?\n\nRespondent: Nomsa and Pieter, and "
                      "Zanele Khumalo. Call 082 555 1234.\n")
    key = tmp_path / "k.json"
    with Project.create(tmp_path / "s.db") as p:
        import_paths(p, [PII], roster=ROSTER, key=key)
        first = json.loads(key.read_text())
        import_paths(p, [second], roster=ROSTER, key=key)
        text = p.segment("second:2").text
    assert text == "[PERSON-3] and [PERSON-2], and Zanele Khumalo. Call [PHONE-2]."
    assert json.loads(key.read_text()) == first


def test_reimport_same_file_with_same_key_is_unchanged(tmp_path: Path) -> None:
    with Project.create(tmp_path / "s.db") as p:
        import_paths(p, [PII], roster=ROSTER)
        report = import_paths(p, [PII], roster=ROSTER)
    assert report.unchanged == ["pii-interview"]


def test_unredacted_then_redacted_is_a_change(tmp_path: Path) -> None:
    with Project.create(tmp_path / "s.db") as p:
        import_paths(p, [PII])
        with pytest.raises(IngestError, match="--replace"):
            import_paths(p, [PII], roster=ROSTER)
        import_paths(p, [PII], roster=ROSTER, replace=True)
        assert "Mokoena" not in p.source("pii-interview").text


def test_failed_import_writes_no_key(tmp_path: Path) -> None:
    with Project.create(tmp_path / "s.db") as p, pytest.raises(IngestError):
        import_paths(p, [PII, INGEST / "bad" / "empty.txt"], roster=ROSTER)
    assert not (tmp_path / "s.redaction-key.json").exists()


def test_person_entities_from_a_named_pipeline(tmp_path: Path) -> None:
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Zanele Khumalo"},
                        {"label": "ORG", "pattern": "Hope Shelter"}])
    nlp.to_disk(tmp_path / "pipeline")
    model = redact.load_model(str(tmp_path / "pipeline"))
    r = Redactor(["Nomsa"], nlp=model)
    out = r.redact("Zanele Khumalo of Hope Shelter met Nomsa.\n\nLater Zanele Khumalo left.")[0]
    assert out == "[PERSON-1] of Hope Shelter met [PERSON-2].\n\nLater [PERSON-1] left."


def test_model_errors(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no spaCy pipeline 'xx_no_such_model' is installed"):
        redact.load_model("xx_no_such_model")
    import spacy

    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(IngestError, match="does not recognise PERSON"):
        redact.load_model(str(tmp_path / "blank"))


def test_roster_ignores_comments_and_blank_lines() -> None:
    assert redact.read_roster(ROSTER) == ["Thandi Mokoena", "Pieter van der Berg", "Nomsa"]


def test_broken_key_file_is_an_error(tmp_path: Path) -> None:
    key = tmp_path / "k.json"
    key.write_text("{not json")
    with pytest.raises(IngestError) as err:
        redact.read_key(key)
    assert err.value.path == str(key)


def test_redacted_source_is_not_reimported_without_redact(tmp_path: Path) -> None:
    with Project.create(tmp_path / "s.db") as p:
        import_paths(p, [PII], roster=ROSTER)
        before = p.source("pii-interview")
        with pytest.raises(IngestError, match="was imported with --redact; import it again"):
            import_paths(p, [PII])
        assert p.source("pii-interview") == before
