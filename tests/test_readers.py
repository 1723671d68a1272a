"""Readers: encodings, Word, WebVTT and SubRip files, and the errors for unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipqual.errors import IngestError
from tipqual.ingest import readers

INGEST = Path(__file__).resolve().parent / "fixtures" / "ingest"
GOOD = INGEST / "good"
BAD = INGEST / "bad"


def test_utf16_with_bom_is_decoded_and_crlf_normalised() -> None:
    raw = readers.read_document(GOOD / "utf16-interview.txt")
    assert raw.format == "txt"
    assert raw.text.startswith("Interviewer: Where does the shelter")
    assert "FCS unit in Durban — and" in raw.text
    assert "\r" not in raw.text and "\ufeff" not in raw.text


def test_windows_1252_curly_quotes_and_accents() -> None:
    raw = readers.read_document(GOOD / "cp1252-interview.txt")
    assert "\u201cwe cannot proceed without the victim\u2019s statement\u201d" in raw.text
    assert "café meetings" in raw.text and "Résumé" in raw.text
    assert "help – a bit" in raw.text


def test_utf8_bom_is_dropped() -> None:
    raw = readers.read_document(GOOD / "utf8bom-interview.txt")
    assert raw.text.startswith("Recorded at the organisation's office.")


def test_utf16_without_bom_is_recognised() -> None:
    data = "Q: Who pays?\n\nA: The donor.\n".encode("utf-16-le")
    assert readers.decode_bytes(data, "x.txt") == "Q: Who pays?\n\nA: The donor.\n"


def test_longer_windows_1252_text_prefers_cp1252() -> None:
    text = ("The social worker\u2019s report was \u201clate\u201d again; the caf\u00e9 owner "
            "said na\u00efve officials \u2013 not all \u2013 ignore it. ") * 5
    assert readers.decode_bytes(text.encode("cp1252"), "x.txt") == text


def test_docx_paragraphs_in_order_with_table_rows() -> None:
    raw = readers.read_document(GOOD / "word-interview.docx")
    assert raw.format == "docx"
    assert raw.paragraphs == (
        "Interviewer: How long do survivors wait for documents?",
        "Respondent: Home Affairs can take six months.",
        "In one case the girl waited almost a year.",
        "Interviewer: What happens meanwhile?",
        "Respondent: She stays at the shelter, and the R3 500 grant is delayed.",
    )


def test_vtt_voice_tags_times_and_markup() -> None:
    cues = readers.read_document(GOOD / "teams-call.vtt").cues
    assert [(c.voice, c.start, c.end) for c in cues] == [
        ("Interviewer", "00:00:01.000", "00:00:04.500"),
        ("Zanele Khumalo", "00:00:05.000", "00:00:09.000"),
        ("Zanele Khumalo", "00:00:09.200", "00:00:12.000"),
        ("Interviewer", "00:01:02.000", "00:01:05.250"),
    ]
    assert cues[2].text == "Then the social worker & the shelter."


def test_vtt_several_voices_in_one_cue() -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\n<v A>Hello.</v>\n<v B>Hi there.</v>\n"
    cues = readers.parse_vtt(text, "x.vtt")
    assert [(c.voice, c.text, c.start) for c in cues] == [
        ("A", "Hello.", "00:00:01.000"), ("B", "Hi there.", "00:00:01.000")]


def test_srt_cues_keep_name_prefix_in_text() -> None:
    cues = readers.read_document(GOOD / "court-visit.srt").cues
    assert [c.text for c in cues] == [
        "INTERVIEWER: Who supports the witness at court?",
        "THABO: Our volunteer sits with her in the waiting room.",
        "The prosecutor meets her once before the trial.",
        "INTERVIEWER: Thank you.",
    ]
    assert (cues[1].start, cues[1].end) == ("00:00:03.500", "00:00:07.000")


def test_vtt_without_header_is_an_error() -> None:
    with pytest.raises(IngestError) as err:
        readers.parse_vtt("1\n00:00:01.000 --> 00:00:02.000\nhi\n", "talk.vtt")
    assert err.value.format() == ("talk.vtt:1: not a WebVTT file (its first line must be "
                                  "'WEBVTT')")


def test_malformed_timing_names_the_line() -> None:
    with pytest.raises(IngestError) as err:
        readers.parse_srt("1\n00:00:01,000 --> soon\nhi\n\n", "talk.srt")
    assert err.value.path == "talk.srt" and err.value.line == 2
    assert "malformed cue timing" in err.value.message


@pytest.mark.parametrize(("name", "message"), [
    ("binary.txt", "is a binary file (NUL bytes), not a transcript"),
    ("empty.txt", "the file is empty"),
    ("corrupt.docx", "is not a valid .docx"),
])
def test_bad_files_name_the_file(name: str, message: str) -> None:
    with pytest.raises(IngestError) as err:
        readers.read_document(BAD / name)
    assert err.value.path == str(BAD / name)
    assert message in err.value.message


def test_missing_file_and_whitespace_only_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        readers.read_document(tmp_path / "gone.txt")
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n \t\n")
    with pytest.raises(IngestError, match="holds no text"):
        readers.read_document(blank)


def test_control_characters_without_nul_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16]) * 20)
    with pytest.raises(IngestError, match="binary"):
        readers.read_document(path)


def test_zip_that_is_not_word_is_a_corrupt_docx(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "fake.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "not a document")
    with pytest.raises(IngestError, match="is not a valid .docx") as err:
        readers.read_document(path)
    assert err.value.path == str(path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(IngestError, match="unsupported file type '.pdf'"):
        readers.read_document(path)


def test_sha256_is_of_the_file_bytes() -> None:
    import hashlib

    data = (GOOD / "teams-call.vtt").read_bytes()
    assert readers.read_document(GOOD / "teams-call.vtt").sha256 == hashlib.sha256(
        data).hexdigest()


def test_docx_with_entity_expansion_is_refused(tmp_path: Path) -> None:
    import zipfile

    source = GOOD / "word-interview.docx"
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"?>", b'?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]>', 1)
            zout.writestr(item, data)
    with pytest.raises(IngestError, match="word/document.xml is unsafe or malformed XML"):
        readers.read_document(path)
