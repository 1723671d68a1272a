"""Hostile input to ``tipqual import`` (and ``suggest`` after it), end to end in subprocesses.

Each test builds its input in tmp_path: a paragraph over spaCy's million-character limit, a
binary file renamed ``.txt``, texts in other scripts and encodings, a cases.csv with a column
named twice or an id with a line break in it. What is checked is what a user sees: the exit
code, one ``Error:`` line naming the file (and line), no traceback, an unchanged study.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from tests.fixtures.suggest.build import CODEBOOK, segments_of
from tests.helpers import run_tipqual
from tipqual.ingest.importer import collect_paths

PNG = b"\x89PNG\r\n\x1a\n"
ADVICE = "nothing was imported (fix or remove the file, or rerun with --skip-bad)"


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    path = tmp_path / "study.db"
    result = run_tipqual("init", str(path), "--codebook", str(CODEBOOK))
    assert result.returncode == 0, result.stderr
    return path


def state(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


def segments_json(path: Path) -> list[dict]:
    result = run_tipqual("segments", str(path), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_error_line(result) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def fake_png(path: Path, seed: int = 1) -> Path:
    """PNG magic bytes and random printable bytes: no NUL, read as Windows-1252 before."""
    rng = random.Random(seed)
    path.write_bytes(PNG + bytes(rng.randrange(0x20, 0x7f) for _ in range(64)))
    return path


# --- point 4: a paragraph over a million characters ---------------------------------------------

def _long_paragraph(chars: int) -> str:
    """Short sentences that no code's rules match, then one that the corruption code does."""
    sentence = "The officer at the border post waited with us before the papers came. "
    return (sentence * (chars // len(sentence) + 1)).strip() + " Then he asked for a bribe."


@pytest.mark.slow
def test_paragraph_over_a_million_characters_imports_and_suggest_finishes(
        study_path: Path, tmp_path: Path) -> None:
    text = "Respondent: " + _long_paragraph(1_200_000) + "\n"
    path = tmp_path / "auto-transcript.txt"
    path.write_text(text, encoding="utf-8")
    result = run_tipqual("import", str(study_path), str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = segments_json(study_path)
    assert len(rows) > 300 and all(len(r["text"]) <= 4000 for r in rows)
    assert all(r["text"].endswith(("came.", "bribe.")) for r in rows)  # cut at sentence ends
    assert "".join(r["text"] for r in rows).replace(" ", "") == text[12:].replace(" ", "").strip()
    suggested = run_tipqual("suggest", str(study_path))
    assert suggested.returncode == 0, suggested.stderr[-2000:]
    assert suggested.stdout.startswith(f"{len(rows)} respondent segments looked at for codes, "
                                       "0 skipped as unchanged")


@pytest.mark.slow
def test_suggest_on_a_segment_over_a_million_characters_finishes(tmp_path: Path) -> None:
    from tipqual.codebook import model as codebook
    from tipqual.records import Source
    from tipqual.store.project import Project

    path = tmp_path / "study.db"
    text = "I: What happened at the border?\n\nR: " + _long_paragraph(1_100_000) + "\n"
    with Project.create(path) as project, project.atomic():
        project.set_codebook(codebook.load(CODEBOOK))
        project.add_source(Source(id="long", case="CSO-01", path="long.txt", format="txt",
                                  sha256="0" * 64, text=text),
                           segments_of("long", text, "CSO-01"))
    result = run_tipqual("suggest", str(path))
    assert result.returncode == 0, result.stderr[-2000:]  # was spaCy's E088 traceback
    assert result.stdout.startswith("1 respondent segment looked at for codes, 0 skipped as "
                                    "unchanged; 1 interviewer segment read for stakeholder "
                                    "mentions only")
    with Project.open(path) as project:
        assert {c.code for c in project.codings(statuses=["suggested"])} == {"corruption"}


# --- point 7: a binary file renamed .txt ---------------------------------------------------------

@pytest.mark.slow
def test_png_renamed_txt_is_refused_naming_the_file(study_path: Path, tmp_path: Path) -> None:
    png = fake_png(tmp_path / "interview.txt")
    before = state(study_path)
    line = one_error_line(run_tipqual("import", str(study_path), str(png)))
    assert line == (f"Error: {png}: is a binary file (a PNG image), not a transcript; export "
                    f"it as .txt, .docx, .vtt or .srt; {ADVICE}")
    assert state(study_path) == before


@pytest.mark.slow
def test_png_renamed_txt_in_a_folder_is_a_bad_file(study_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "cso.txt").write_text("Interviewer: Who pays?\n\nRespondent: The donor.\n",
                                    encoding="utf-8")
    png = fake_png(folder / "photo.txt", seed=2)
    before = state(study_path)
    line = one_error_line(run_tipqual("import", str(study_path), str(folder)))
    assert line.startswith(f"Error: {png}: is a binary file (a PNG image), not a transcript")
    assert line.endswith(ADVICE)
    assert state(study_path) == before

    result = run_tipqual("import", str(study_path), str(folder), "--skip-bad")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Imported 1 new source (2 segments)")
    assert f"Skipped {png}: is a binary file (a PNG image)" in result.stderr
    assert [r["id"] for r in segments_json(study_path)] == ["cso:1", "cso:2"]


@pytest.mark.slow
@pytest.mark.parametrize("name, problem, shown", [
    ("cso\n01.txt", "a line break", "cso\\n01.txt"),
    ("\x1b[31mcso-01.txt", "the control character U+001B", "\\x1b[31mcso-01.txt"),
    ("cso\u202etxt.exe.txt", "the invisible character U+202E", "cso\\u202etxt.exe.txt"),
    ("cso\u200b01.txt", "the invisible character U+200B", "cso\\u200b01.txt"),
])
def test_a_file_name_with_a_control_or_invisible_character_is_refused(
        study_path: Path, tmp_path: Path, name: str, problem: str, shown: str) -> None:
    """The name becomes the source id that status, reports and exports print: it is refused,
    and the one error line shows the character as an escape, never raw."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name).write_text("Interviewer: Who?\n\nRespondent: The clinic.\n",
                               encoding="utf-8")
    (folder / "plain.txt").write_text("Interviewer: Who?\n\nRespondent: Us.\n",
                                      encoding="utf-8")
    before = state(study_path)
    line = one_error_line(run_tipqual("import", str(study_path), str(folder)))
    assert line == (f"Error: {folder}/{shown}: the file name holds {problem}; rename the file "
                    f"(its name becomes the source id); {ADVICE}")
    assert state(study_path) == before
    kept = run_tipqual("import", str(study_path), str(folder), "--skip-bad")
    assert kept.returncode == 0, kept.stderr
    assert [r["id"] for r in segments_json(study_path)] == ["plain:1", "plain:2"]


SCRIPTS = {
    "zulu.txt": ("Umphenduli: Yebo, amaphoyisa ayasisiza, kodwa kuthatha isikhathi eside.\n",
                 "utf-8"),
    "xhosa.txt": ("Impendulo: Ewe, amapolisa ayanceda, kodwa kuthatha ixesha elide.\n", "utf-8"),
    "arabic.txt": ("المجيب: نعم، لكن ذلك يستغرق وقتاً طويلاً.\n", "utf-8"),
    "arabic-1256.txt": ("المجيب: نحن نعمل مع وزارة التنمية الاجتماعية.\n", "cp1256"),
    "chinese.txt": ("受访者：会的，但是需要很长时间。\n", "utf-8"),
    "chinese-utf16.txt": ("受访者：我们与社会发展部合作。\n", "utf-16"),  # little-endian, BOM
}


@pytest.mark.slow
def test_texts_in_other_scripts_and_encodings_import(study_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "transcripts"
    folder.mkdir()
    for name, (text, encoding) in SCRIPTS.items():
        (folder / name).write_bytes(text.encode(encoding))
    assert (folder / "chinese-utf16.txt").read_bytes()[:2] == b"\xff\xfe"
    result = run_tipqual("import", str(study_path), str(folder))
    assert result.returncode == 0, result.stderr
    texts = {r["source"]: r["text"] for r in segments_json(study_path)}
    assert texts == {
        "zulu": "Yebo, amaphoyisa ayasisiza, kodwa kuthatha isikhathi eside.",
        "xhosa": "Ewe, amapolisa ayanceda, kodwa kuthatha ixesha elide.",
        "arabic": SCRIPTS["arabic.txt"][0].strip(),
        "arabic-1256": SCRIPTS["arabic-1256.txt"][0].strip(),
        "chinese": SCRIPTS["chinese.txt"][0].strip(),
        "chinese-utf16": SCRIPTS["chinese-utf16.txt"][0].strip(),
    }


# --- point 16: cases.csv with a column named twice or an id with a line break -------------------

@pytest.mark.slow
@pytest.mark.parametrize(("content", "message"), [
    ("case,source,type,type\nCSO-01,cso.txt,shelter,advocacy\n",
     "1: the header names the column 'type' twice; give each column its own name"),
    ('case,source\nCSO-01,cso.txt\n"CSO\n02",other.txt\n',
     "3: the case 'CSO\\n02' holds a line break; write each id on one line in visible "
     "characters"),
    ("case,source\nCSO-01,cso.txt\ncso-01,other.txt\n",
     "3: case 'cso-01' is case 'CSO-01' of line 2 written another way"),
])
def test_ambiguous_cases_csv_is_refused_with_its_line(study_path: Path, tmp_path: Path,
                                                      content: str, message: str) -> None:
    transcript = tmp_path / "cso.txt"
    transcript.write_text("Respondent: The donor pays.\n", encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_bytes(content.encode("utf-8"))
    before = state(study_path)
    line = one_error_line(run_tipqual("import", str(study_path), str(transcript),
                                      "--cases", str(cases)))
    assert line.startswith(f"Error: {cases}:{message}")
    assert state(study_path) == before


# --- special and huge files; a file and a symlink to it ------------------------------------------

def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.txt"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if not Path("/dev/zero").exists():
            pytest.skip("needs /dev/zero")
        path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as f:
            f.truncate(3 * 2**30)  # sparse: nothing near 3 GB is written
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "message"), [
    ("fifo", "is a named pipe (FIFO), not a file; give the transcript as an ordinary file"),
    ("device", "is a device, not a file; give the transcript as an ordinary file"),
    ("huge", "the file is 3,072 MB, over the 64 MB limit for a transcript; split the "
     "transcript into smaller files and import those"),
], ids=["fifo", "device", "huge"])
def test_a_special_or_huge_file_given_is_refused_unread(study_path: Path, tmp_path: Path,
                                                       kind: str, message: str) -> None:
    path = _special(tmp_path, kind)
    before = state(study_path)
    # the timeout guards against a hang (a pipe that blocks, /dev/zero read for ever)
    result = run_tipqual("import", str(study_path), str(path), timeout=120)
    assert one_error_line(result) == f"Error: {path}: {message}; {ADVICE}"
    assert state(study_path) == before


def _top_and_link(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    top = folder / "top.txt"
    top.write_text("I: hi\n\nR: top\n", encoding="utf-8")
    link = folder / "sub" / "link.txt"
    link.symlink_to("../top.txt")
    return folder, top, link


def test_a_file_and_a_symlink_to_it_are_collected_once_by_the_file(tmp_path: Path) -> None:
    folder, top, link = _top_and_link(tmp_path)
    os.mkfifo(folder / "pipe.txt")  # a pipe in a folder is left alone
    files, passed_over, bad = collect_paths([folder])
    assert (files, passed_over, bad) == ([top], [f"{link} (the same file as {top})"], [])
    files, passed_over, bad = collect_paths([link, top, top])
    assert (files, passed_over, bad) == ([top], [f"{link} (the same file as {top})"], [])


def test_two_symlinks_to_one_file_keep_the_first_in_sorted_order(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "cso.txt"
    target.parent.mkdir()
    target.write_text("R: words\n", encoding="utf-8")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.symlink_to(target)
    b.symlink_to(target)
    files, passed_over, bad = collect_paths([b, a])
    assert (files, passed_over, bad) == ([a], [f"{b} (the same file as {a})"], [])


@pytest.mark.slow
def test_a_file_and_a_symlink_to_it_import_as_one_source_named_for_the_file(
        study_path: Path, tmp_path: Path) -> None:
    folder, top, link = _top_and_link(tmp_path)
    result = run_tipqual("import", str(study_path), str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Imported 1 new source (2 segments)")
    assert f"Passed over: {link} (the same file as {top})" in result.stderr
    assert [r["id"] for r in segments_json(study_path)] == ["top:1", "top:2"]
