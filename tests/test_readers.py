"""Readers: encodings, Word, WebVTT and SubRip files, and the errors for unreadable files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import hang_guard
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


# --- binary files posing as text (hardening point 7) --------------------------------------------

# Printable bytes after a signature: without a NUL or many control characters the file used to
# be read as Windows-1252 text and imported as garbage segments.
_TAIL = bytes(range(0x20, 0x7f)) * 3


@pytest.mark.parametrize(("head", "kind"), [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff\xe0", "a JPEG image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-1.7\n", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file"),
    (b"\x1f\x8b\x08", "a gzip archive"),
    (b"RIFF\x24\x08\x01\x01WAVEfmt ", "a WAV recording"),
    (b"\x01\x01\x01\x18ftypmp42", "an MP4, M4A or MOV recording"),
    (b"ID3\x03", "an MP3 recording"),
])
def test_file_with_a_binary_signature_is_refused_naming_the_format(tmp_path: Path, head: bytes,
                                                                   kind: str) -> None:
    path = tmp_path / "interview.txt"
    path.write_bytes(head + _TAIL)
    with pytest.raises(IngestError) as err:
        readers.read_document(path)
    assert err.value.path == str(path)
    assert err.value.message.startswith(f"is a binary file ({kind}")
    assert err.value.message.endswith("not a transcript; export it as .txt, .docx, .vtt or .srt")


def test_png_with_random_bytes_is_refused_whatever_the_bytes(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    path = tmp_path / "photo.txt"
    for size in (4, 16, 64, 300, 3000):
        for tail in (bytes(rng.randrange(256) for _ in range(size)),
                     bytes(rng.randrange(1, 256) for _ in range(size)),
                     bytes(rng.randrange(0x20, 0x7f) for _ in range(size))):
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + tail)
            with pytest.raises(IngestError, match=r"binary file \(a PNG image\)"):
                readers.read_document(path)


def test_binary_signature_in_a_cases_csv_gives_its_own_advice(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(b"PK\x03\x04" + _TAIL)
    with pytest.raises(IngestError, match=r"zip archive .*not a cases CSV; give the cases CSV "
                                          r"as a text file"):
        readers.read_cases(path)


def test_rtf_renamed_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(r"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}} \f0 Interviewer: Hello.\par }")
    with pytest.raises(IngestError, match=r"is an RTF document \(markup\), not a plain-text "
                                          r"transcript; save it as .txt or .docx"):
        readers.read_document(path)


def test_tiny_file_of_control_characters_is_binary(tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_bytes(b"ab\x01cd\x02ef\n")  # two control characters in nine
    with pytest.raises(IngestError, match=r"looks like a binary file \(control characters\)"):
        readers.read_document(path)


def test_a_few_stray_control_characters_and_a_dos_end_mark_are_text(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes(b"Q: Who helped?\r\nA: The shelter.\x1a")
    assert readers.read_document(path).text == "Q: Who helped?\nA: The shelter.\x1a"
    text = "Respondent: we waited at the clinic for the results. " * 10 + "\x07 done\x1b"
    assert readers.decode_bytes(text.encode(), "x.txt") == text


ZULU = ("Umxoxi: Ngabe amaphoyisa ayanisiza uma kukhona umuntu oshushumbisiwe?\n\n"
        "Umphenduli: Yebo, kodwa kuthatha isikhathi eside. Sisebenzisana noMnyango "
        "Wezenhlalakahle.\n")
XHOSA = ("Umdlan'ndlebe: Ingaba amapolisa ayanceda xa kukho ixhoba lokurhweba ngabantu?\n\n"
         "Impendulo: Ewe, kodwa kuthatha ixesha elide. Sisebenzisana neSebe loPhuhliso "
         "lweNtlalo.\n")
ARABIC = ("المحاور: هل تساعدكم الشرطة عندما تكون هناك ضحية للاتجار بالبشر؟\n\n"
          "المجيب: نعم، لكن ذلك يستغرق وقتاً طويلاً. نحن نعمل مع وزارة التنمية الاجتماعية.\n")
CHINESE = ("采访者：当有人口贩卖受害者时，警察会帮助你们吗？\n\n"
           "受访者：会的，但是需要很长时间。我们与社会发展部合作。\n")


@pytest.mark.parametrize(("text", "data"), [
    (ZULU, ZULU.encode("utf-8")),
    (XHOSA, XHOSA.encode("utf-8")),
    (ARABIC, ARABIC.encode("utf-8")),
    (CHINESE, CHINESE.encode("utf-8")),
    (CHINESE, b"\xff\xfe" + CHINESE.encode("utf-16-le")),
    (ARABIC, b"\xff\xfe" + ARABIC.encode("utf-16-le")),
    (ZULU, b"\xff\xfe" + ZULU.encode("utf-16-le")),
    (ARABIC, b"\xfe\xff" + ARABIC.encode("utf-16-be")),
], ids=["zulu", "xhosa", "arabic", "chinese", "chinese-utf16le-bom", "arabic-utf16le-bom",
        "zulu-utf16le-bom", "arabic-utf16be-bom"])
def test_texts_in_other_scripts_and_utf16_are_read(tmp_path: Path, text: str,
                                                    data: bytes) -> None:
    path = tmp_path / "interview.txt"
    path.write_bytes(data)
    assert readers.read_document(path).text == text


@pytest.mark.parametrize(("text", "encoding"), [
    (ARABIC, "cp1256"), (CHINESE, "gbk"),
    ("Интервьюер: Помогает ли полиция жертвам торговли людьми?\n\nОтвет: Да, но это занимает "
     "много времени.\n", "cp1251"),
], ids=["arabic-cp1256", "chinese-gbk", "russian-cp1251"])
def test_legacy_encodings_of_other_scripts_are_not_read_as_windows_1252(text: str,
                                                                        encoding: str) -> None:
    # Windows-1252 decodes these bytes too, into mojibake ("ÇáãÍÇæÑ"), and used to win.
    assert readers.decode_bytes(text.encode(encoding), "x.txt") == text


# --- cases.csv: ambiguous headers and ids (hardening point 16) ---------------------------------

def _cases(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "cases.csv"
    path.write_bytes(content.encode("utf-8"))
    return path


@pytest.mark.parametrize(("content", "line", "message"), [
    ("case,source,type,type\nA,a.txt,shelter,advocacy\n", 1,
     "the header names the column 'type' twice; give each column its own name"),
    ("case,source,Type,type\nA,a.txt,shelter,advocacy\n", 1,
     "the header names the column 'Type' twice (as 'Type' and 'type')"),
    ("case,source,case\nA,a.txt,B\n", 1, "names the column 'case' twice"),
    ("\n\ncase,source,type,type\nA,a.txt,x,y\n", 3, "names the column 'type' twice"),
    ('case,source,"prov\nince"\nA,a.txt,x\n', 1, "the column name 'prov\\nince' holds a line "
     "break; write each column name on one line"),
], ids=["same-name", "same-name-other-capitals", "case-twice", "after-blank-lines",
        "multi-line-name"])
def test_cases_csv_header_naming_a_column_twice_is_refused(tmp_path: Path, content: str,
                                                           line: int, message: str) -> None:
    path = _cases(tmp_path, content)
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in err.value.message


@pytest.mark.parametrize(("content", "line", "message"), [
    ('case,source\nA,a.txt\n"ORG\n1",b.txt\n', 3,
     "the case 'ORG\\n1' holds a line break; write each id on one line in visible characters"),
    ('case,source\n"ORG\r\n1",b.txt\n', 2, "the case 'ORG\\n1' holds a line break"),
    ('case,source\nORG-1,"b\n.txt"\n', 2, "the source 'b\\n.txt' holds a line break"),
    ("case,source\nORG\t1,b.txt\n", 2, "the case 'ORG\\t1' holds a tab"),
    ("case,source\nORG\x071,b.txt\n", 2, "holds the control character U+0007"),
    ("case,source\nORG-1\u200b,b.txt\n", 2, "holds the invisible character U+200B"),
    ("case,source\nORG\u20281,b.txt\n", 2, "holds a line break"),
    ("case,source\n ,b.txt\n", 2, "the 'case' and 'source' fields must not be empty; fill them "
     "in or delete the row"),
    ("case,source\nORG-1,\n", 2, "must not be empty"),
    ("case,source\nORG-1,a.txt\n\norg-1,b.txt\n", 4, "case 'org-1' is case 'ORG-1' of line 2 "
     "written another way (capitals or spaces); spell each case id the same way"),
    ("case,source\nORG 1,a.txt\nORG  1,b.txt\n", 3, "case 'ORG  1' is case 'ORG 1' of line 2"),
], ids=["newline-in-case", "crlf-in-case", "newline-in-source", "tab", "bell", "zero-width-space",
        "line-separator", "empty-case", "empty-source", "capitals", "spaces"])
def test_cases_csv_ambiguous_ids_are_refused_with_the_row_line(tmp_path: Path, content: str,
                                                               line: int, message: str) -> None:
    path = _cases(tmp_path, content)
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in err.value.message
    assert "\n" not in err.value.format()


def test_cases_csv_case_with_several_sources_and_repeated_rows_still_read(tmp_path: Path) -> None:
    arabic = "\u0645\u0646\u0638\u0645\u0629"
    persian = "\u0633\u0627\u0632\u0645\u0627\u0646\u200c\u0647\u0627"
    path = _cases(tmp_path, "case,source,type,\nORG-1,a.txt,shelter,\nORG-1,b.docx,,\n"
                            f"ORG-1,a.txt,shelter,\n{arabic},c.txt,,\n{persian},d.txt,,\n")
    table = readers.read_cases(path)  # a Persian id keeps its zero-width non-joiner
    assert table.attributes == {"ORG-1": {"type": "shelter"}, arabic: {}, persian: {}}
    assert table.source_case == {"a": "ORG-1", "b": "ORG-1", "c": arabic, "d": persian}


@pytest.mark.parametrize(("content", "line", "column"), [
    ("case,source,,type\nA,a.txt,lost,shelter\n", 2, 3),
    ("case,source,type,\nA,a.txt,shelter,\nB,b.txt,ngo,lost\n", 3, 4),
    ("case,source,,\nA,a.txt,,\nB,b.txt,,lost\n", 3, 4),
    ("\ncase,source, ,type\nA,a.txt, ,x\nB,b.txt,lost,y\n", 4, 3),
], ids=["middle", "trailing", "two-empty", "blank-name"])
def test_cases_csv_value_under_a_column_without_a_name_is_refused(
        tmp_path: Path, content: str, line: int, column: int) -> None:
    path = _cases(tmp_path, content)
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    header = 2 if content.startswith("\n") else 1
    assert err.value.message == (f"column {column} has no name in the header (line {header}) "
                                 "but holds a value here; name the column in the header or "
                                 "leave its cells empty")
    assert "lost" not in err.value.format()  # the value itself is not echoed


def test_cases_csv_lines_of_cases_and_sources_are_kept(tmp_path: Path) -> None:
    path = _cases(tmp_path, "\ncase,source,type,\nORG-1,a.txt,shelter,\n\nORG-2,b.txt,,\n"
                            "ORG-1,c.txt,,\n")
    table = readers.read_cases(path)
    assert table.header_line == 2
    assert table.case_lines == {"ORG-1": 3, "ORG-2": 5}
    assert table.source_lines == {"a": 3, "b": 5, "c": 6}


# --- special and huge files: refused before they are read -------------------------------------

def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "f.txt"
    os.mkfifo(fifo)
    with hang_guard(20, "reading a named pipe"), pytest.raises(IngestError) as err:
        readers.read_document(fifo)
    assert err.value.format() == (f"{fifo}: is a named pipe (FIFO), not a file; give the "
                                  "transcript as an ordinary file")


def test_a_symlink_to_a_device_is_refused_unread(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("needs /dev/zero")
    link = tmp_path / "z.txt"
    link.symlink_to("/dev/zero")
    with hang_guard(20, "reading /dev/zero"), pytest.raises(IngestError) as err:
        readers.read_document(link)
    assert err.value.message == "is a device, not a file; give the transcript as an ordinary file"
    assert err.value.path == str(link)


@pytest.mark.parametrize(("name", "size", "message"), [
    ("big.txt", readers.MAX_FILE_BYTES + 1,
     "the file is 65 MB, over the 64 MB limit for a transcript; split the transcript into "
     "smaller files and import those"),
    ("big.docx", readers.MAX_DOCX_UNZIPPED + 1,
     "the file is 201 MB, over the 200 MB limit for a .docx transcript; split the transcript"),
    ("huge.txt", 3 * 2**30, "the file is 3,072 MB, over the 64 MB limit for a transcript"),
], ids=["txt", "docx", "3-GB"])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path, name: str,
                                                                 size: int,
                                                                 message: str) -> None:
    path = tmp_path / name
    with path.open("wb") as f:
        f.truncate(size)  # sparse: no gigabytes are written
    with pytest.raises(IngestError) as err:
        readers.read_document(path)
    assert err.value.path == str(path)
    assert err.value.message.startswith(message)


def test_a_cases_csv_over_the_size_limit_gets_its_own_advice(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    with path.open("wb") as f:
        f.truncate(readers.MAX_FILE_BYTES + 1)
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert err.value.message == ("the file is 65 MB, over the 64 MB limit for a cases CSV; "
                                 "check that it is the right file, or split it into smaller "
                                 "files")


def test_an_ordinary_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"R: words\n" * 1000)
    assert readers.read_bytes(path) == b"R: words\n" * 1000


def test_a_large_file_with_a_binary_head_is_refused_before_its_encoding_is_guessed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import charset_normalizer

    def guess(data: bytes) -> None:
        raise AssertionError("the whole file went to the encoding guesser")

    monkeypatch.setattr(charset_normalizer, "from_bytes", guess)
    path = tmp_path / "dump.txt"
    # control bytes first, then Windows-1252 text (not UTF-8: it would go to the guesser)
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 10_000 + "café ".encode("cp1252") * 100)
    with pytest.raises(IngestError, match="looks like a binary file .control characters."):
        readers.read_document(path)


# --- clearer messages for a broken .docx and an odd cases.csv ---------------------------------

def test_docx_without_a_document_body_says_so(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "hollow.docx"
    with zipfile.ZipFile(GOOD / "word-interview.docx") as zin, \
            zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            if item.filename != "word/document.xml":
                zout.writestr(item, zin.read(item))
    with pytest.raises(IngestError) as err:
        readers.read_document(path)
    assert err.value.message == ("is not a valid .docx: it has no document body "
                                 "(word/document.xml); open it in Word and save it again")


def test_cases_csv_field_over_the_csv_limit_names_the_limit_and_the_line(tmp_path: Path) -> None:
    path = _cases(tmp_path, "case,source,type\nA,a.txt," + "x" * 200_000 + "\n")
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert err.value.line == 2
    assert err.value.message == ("malformed CSV: a field is over 131,072 characters; check for "
                                 "a missing closing quote, or split the text")


@pytest.mark.parametrize(("content", "hint"), [
    ("case;source;type\nA;a.txt;x\n", "the file seems to use ';' as separator"),
    ("case\tsource\ttype\nA\ta.txt\tx\n", "the file seems to use tabs as separator"),
], ids=["semicolons", "tabs"])
def test_cases_csv_with_another_separator_says_so(tmp_path: Path, content: str,
                                                  hint: str) -> None:
    path = _cases(tmp_path, content)
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert err.value.line == 1
    assert err.value.message == ("the header lacks the column(s) case, source; cases.csv needs "
                                 f"'case', 'source' and any attribute columns; {hint}: save it "
                                 "as comma-separated CSV")


def test_cases_csv_header_without_case_and_no_other_separator_has_no_hint(
        tmp_path: Path) -> None:
    path = _cases(tmp_path, "organisation,file\nA,a.txt\n")
    with pytest.raises(IngestError) as err:
        readers.read_cases(path)
    assert err.value.message.endswith("'case', 'source' and any attribute columns")
