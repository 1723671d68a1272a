"""Bad input at the command line: one ``Error:`` line, non-zero exit, no traceback, nothing changed.

Each case here was found by feeding a real tipqual the kind of mistake users make (a folder where a
file belongs, another program's database, a damaged study, an output folder that cannot be
written) and failed before its fix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SAMPLE, TIP_CODEBOOK, run_tipqual, wait_until


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_clean_error(result, *names: str) -> None:
    """One ``Error:`` line naming every string in ``names``; non-zero exit; no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]


@pytest.fixture(scope="module")
def sample_study(tmp_path_factory) -> Path:
    """A study with the sample transcripts, checkpointed so the .db file alone holds it all."""
    folder = tmp_path_factory.mktemp("sample")
    db = folder / "study.db"
    assert run_tipqual("init", str(db), "--codebook", str(TIP_CODEBOOK)).returncode == 0
    done = run_tipqual("import", str(db), str(SAMPLE / "transcripts"),
                       "--cases", str(SAMPLE / "cases.csv"))
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db


def _other_program_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()


# --- a file that is not a study is never changed --------------------------------------------

@pytest.mark.parametrize("kind", ["empty", "other-program"])
@pytest.mark.parametrize("args", [
    ["status", "{db}"],
    ["import", "{db}", str(SAMPLE / "transcripts" / "CSO-01.txt")],
    ["code", "add", "{db}", "--coder", "ann", "--code", "trust", "CSO-01:2"],
], ids=["status", "import", "code-add"])
def test_a_file_that_is_not_a_study_is_left_unchanged(tmp_path, kind, args):
    db = tmp_path / "notes.db"
    if kind == "empty":
        db.write_bytes(b"")
    else:
        _other_program_db(db)
    before = _digest(db)
    result = run_tipqual(*[a.replace("{db}", str(db)) for a in args])
    _assert_clean_error(result, str(db), "not a tipqual study")
    assert _digest(db) == before
    assert not Path(f"{db}-wal").exists()


def _run_without_write_rights(*args: str) -> subprocess.CompletedProcess:
    """Run tipqual so that file permissions bind even when the tests run as root."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([*prefix, sys.executable, "-m", "tipqual", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def readonly_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_init_in_a_read_only_folder_is_a_clean_error(readonly_folder):
    result = _run_without_write_rights("init", str(readonly_folder / "study.db"))
    _assert_clean_error(result, "study.db", "cannot create the study")
    assert list(readonly_folder.iterdir()) == []


def test_init_under_a_file_is_a_clean_error(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file, not a folder\n", encoding="utf-8")
    result = run_tipqual("init", str(not_a_folder / "study.db"))
    _assert_clean_error(result, "study.db", "cannot create the study")


# --- the command line turns file-system trouble into one line -----------------------------

@pytest.mark.parametrize("args", [
    ["status", "{dir}"],
    ["code", "import", "{db}", "{dir}"],
    ["code", "export", "{db}", "--out", "{dir}"],
    ["report", "{db}", "--out", "{dir}"],
], ids=["study", "csv", "code-export-out", "report-out"])
@pytest.mark.slow
def test_a_folder_where_a_file_belongs_is_one_line(tmp_path, sample_study, args):
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    db = tmp_path / "study.db"
    shutil.copy(sample_study, db)
    result = run_tipqual(*[a.replace("{dir}", str(folder)).replace("{db}", str(db))
                           for a in args])
    _assert_clean_error(result, str(folder), "is a directory")
    assert "Usage:" not in result.stderr


def test_an_output_folder_under_a_file_is_a_clean_error(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should go\n", encoding="utf-8")
    result = run_tipqual("demo", "--out", str(blocker / "demo"))
    _assert_clean_error(result, str(blocker / "demo"), "Not a directory")


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["segments", "{db}"],
    ["code", "add", "{db}", "--coder", "ann", "--code", "trust", "CSO-01:2"],
    ["code", "export", "{db}", "--out", "{out}"],
], ids=["segments", "code-add", "code-export"])
def test_a_damaged_study_is_a_clean_error_and_stays_as_it_was(tmp_path, sample_study, args):
    data = bytearray(sample_study.read_bytes())
    for i in range(len(data) // 4, len(data) * 9 // 10):  # page 1 (the schema) stays intact
        data[i] = 0x5A
    db = tmp_path / "study.db"
    db.write_bytes(bytes(data))
    result = run_tipqual(*[a.replace("{db}", str(db)).replace("{out}", str(tmp_path / "o.csv"))
                           for a in args])
    _assert_clean_error(result, str(db), "damaged", "backup")
    assert db.read_bytes() == bytes(data)


def test_debug_still_shows_the_traceback_of_a_damaged_study(tmp_path, sample_study):
    data = bytearray(sample_study.read_bytes())
    for i in range(len(data) // 4, len(data) * 9 // 10):
        data[i] = 0x5A
    db = tmp_path / "study.db"
    db.write_bytes(bytes(data))
    result = run_tipqual("--debug", "segments", str(db))
    assert result.returncode != 0 and "Traceback" in result.stderr


# --- a wrong file given as a CSV or roster is named for what it should have been --------------

@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\x03" * 64], ids=["empty", "binary"])
@pytest.mark.parametrize("args, what", [
    (["code", "import", "{db}", "{bad}"], "codings CSV"),
    (["import", "{db}", str(SAMPLE / "transcripts" / "CSO-01.txt"), "--cases", "{bad}"],
     "cases CSV"),
    (["import", "{db}", str(SAMPLE / "transcripts" / "CSO-01.txt"), "--roster", "{bad}"],
     "roster"),
], ids=["codings", "cases", "roster"])
def test_a_bad_csv_or_roster_is_not_called_a_transcript(tmp_path, sample_study, content,
                                                       args, what):
    db = tmp_path / "study.db"
    shutil.copy(sample_study, db)
    bad = tmp_path / "given.csv"
    bad.write_bytes(content)
    before = _digest(db)
    result = run_tipqual(*[a.replace("{db}", str(db)).replace("{bad}", str(bad)) for a in args])
    _assert_clean_error(result, str(bad), what)
    assert "transcript" not in result.stderr
    assert _digest(db) == before


# --- an output with the wrong extension is refused before anything is written -----------------

@pytest.mark.parametrize("name", ["study.txt", "study.zip", "study"])
def test_refi_export_refuses_a_name_other_than_qdpx(tmp_path, sample_study, name):
    kept = tmp_path / name
    kept.write_text("someone's notes\n", encoding="utf-8")
    result = run_tipqual("refi", "export", str(sample_study), "--out", str(kept))
    _assert_clean_error(result, str(kept), ".qdpx")
    assert kept.read_text(encoding="utf-8") == "someone's notes\n"


# --- an empty study says what to do first, and that advice can be followed ---------------------

@pytest.fixture(scope="module")
def bare_study(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("bare") / "bare.db"
    assert run_tipqual("init", str(db)).returncode == 0
    return db


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["report", "{db}", "--out", "{tmp}/r.html"],
    ["matrix", "{db}", "--out", "{tmp}/m.xlsx"],
    ["network", "{db}", "--out", "{tmp}/n.graphml"],
    ["suggest", "{db}"],
    ["codebook", "export", "{db}", "--out", "{tmp}/c.yaml"],
], ids=["report", "matrix", "network", "suggest", "codebook-export"])
def test_a_study_without_codebook_points_to_a_new_study(tmp_path, bare_study, args):
    before = _digest(bare_study)
    result = run_tipqual(*[a.replace("{db}", str(bare_study)).replace("{tmp}", str(tmp_path))
                           for a in args])
    _assert_clean_error(result, str(bare_study), "no codebook",
                        "tipqual init NEW.db --codebook")
    assert _digest(bare_study) == before


def test_a_file_where_a_folder_belongs_asks_for_a_folder(tmp_path):
    blocker = tmp_path / "out.txt"
    blocker.write_text("not a folder\n", encoding="utf-8")
    result = run_tipqual("demo", "--out", str(blocker))
    _assert_clean_error(result, str(blocker), "is a file", "path of a folder")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["codebook.xlsx", "codebook.yaml", "codebook.qdc"])
def test_codebook_export_into_a_read_only_folder_names_the_file_once(readonly_folder, name):
    out = readonly_folder / name
    result = _run_without_write_rights("codebook", "export", str(TIP_CODEBOOK), "--out",
                                       str(out))
    _assert_clean_error(result, str(out), "cannot write")
    assert result.stderr.count(str(out)) == 1
    assert list(readonly_folder.iterdir()) == []


@pytest.mark.parametrize("content", [{}, {"notes.pdf": b"%PDF-1.4", "README.txt": b"about"}],
                         ids=["empty", "no-transcripts"])
def test_import_of_a_folder_without_transcripts_is_an_error(tmp_path, bare_study, content):
    folder = tmp_path / "interviews"
    folder.mkdir()
    for name, data in content.items():
        (folder / name).write_bytes(data)
    before = _digest(bare_study)
    result = run_tipqual("import", str(bare_study), str(folder))
    _assert_clean_error(result, str(folder), "no transcripts")
    assert _digest(bare_study) == before


def test_code_export_of_an_unknown_coder_is_an_error_not_an_empty_file(tmp_path, sample_study):
    out = tmp_path / "codings.csv"
    result = run_tipqual("code", "export", str(sample_study), "--out", str(out),
                         "--coder", "coder-z")
    _assert_clean_error(result, str(sample_study), "unknown coder 'coder-z'")
    assert not out.exists()


# --- Ctrl-C says truthfully what was kept --------------------------------------------------

def _status(db: Path) -> dict:
    import json

    result = run_tipqual("status", str(db), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_ctrl_c_in_review_says_the_decisions_so_far_are_saved(tmp_path):
    import signal
    import time

    db = tmp_path / "one.db"
    assert run_tipqual("init", str(db), "--codebook", str(TIP_CODEBOOK)).returncode == 0
    assert run_tipqual("import", str(db), str(SAMPLE / "transcripts" / "CSO-01.txt")
                       ).returncode == 0
    assert run_tipqual("suggest", str(db)).returncode == 0
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen([sys.executable, "-m", "tipqual", "review", str(db), "--coder",
                             "ann"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    proc.stdin.write("a\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while _status(db)["codings"]["accepted"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "decision made so far is saved" in err
    assert _status(db)["codings"]["accepted"] == 1


def test_ctrl_c_during_import_leaves_the_study_unchanged(tmp_path, bare_study):
    import signal

    db = tmp_path / "study.db"
    shutil.copy(bare_study, db)
    many = tmp_path / "many"
    many.mkdir()
    for source in sorted((SAMPLE / "transcripts").glob("*.txt")):
        shutil.copy(source, many / source.name)
    # The last transcript stalls its reading (the real command, with the reader patched to
    # wait on that one file): the import reaches it with its transaction open and the
    # transcripts before it written, and Ctrl-C lands in the middle of the import however
    # loaded the machine (it cannot finish first); the marker file says when.
    last = tmp_path / "zz-last.txt"
    last.write_text("Interviewer: And then?\n\nRespondent: Then nothing.\n", encoding="utf-8")
    marker = tmp_path / "reading-the-last-file"
    stall = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "import tipqual.ingest.readers as readers\n"
        "real = readers.read_bytes\n"
        "def read_bytes(path, *args, **kwargs):\n"
        f"    if Path(path).name == {last.name!r}:\n"
        f"        Path({str(marker)!r}).touch()\n"
        "        time.sleep(600)\n"
        "    return real(path, *args, **kwargs)\n"
        "readers.read_bytes = read_bytes\n"
        "from tipqual.cli import main\n"
        "sys.argv = ['tipqual', *sys.argv[1:]]\n"
        "main()\n")
    before = _status(db)
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen([sys.executable, "-c", stall, "import", str(db), str(many),
                             str(last)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        wait_until(lambda: marker.exists() or proc.poll() is not None, 120,
                   "the import reaching the last file")
        assert proc.poll() is None, f"the import ended first: {proc.communicate()}"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "the study is as it was before this command" in err
    assert _status(db) == before


# --- the study's own file name and place ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["study #2.db", "étude 100%41.db", "what?.db", "مطالعه 😀.db"])
def test_a_study_name_with_uri_characters_is_used_as_given(tmp_path, name):
    db = tmp_path / name
    assert run_tipqual("init", str(db), "--codebook", str(TIP_CODEBOOK)).returncode == 0
    assert run_tipqual("import", str(db), str(SAMPLE / "transcripts" / "CSO-01.txt")
                       ).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert _status(db)["segments"] > 0


def test_a_read_only_study_in_a_read_only_folder_can_be_read_not_written(tmp_path, bare_study):
    shared = tmp_path / "share"
    shared.mkdir()
    db = shared / "study.db"
    shutil.copy(bare_study, db)
    db.chmod(0o444)
    shared.chmod(0o555)
    try:
        before = _digest(db)
        status = _run_without_write_rights("status", str(db), "--json")
        assert status.returncode == 0, status.stderr
        added = _run_without_write_rights("import", str(db),
                                          str(SAMPLE / "transcripts" / "CSO-01.txt"))
        _assert_clean_error(added, str(db), "cannot write to the study", "writable")
        assert _digest(db) == before
        assert sorted(p.name for p in shared.iterdir()) == ["study.db"]
    finally:
        shared.chmod(0o755)


# --- an output never lands on the study ------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["code", "export", "{db}", "--out", "{out}"],
    ["agree", "{db}", "--coders", "coder-a,coder-b", "--disagreements", "{out}"],
], ids=["code-export", "agree-disagreements"])
@pytest.mark.parametrize("target", ["study", "other.txt", "noext"])
def test_a_csv_output_is_never_written_over_the_study_or_a_non_csv(tmp_path, sample_study,
                                                                    args, target):
    db = tmp_path / "study.db"
    shutil.copy(sample_study, db)
    out = db if target == "study" else tmp_path / target
    if target != "study":
        out.write_text("keep\n", encoding="utf-8")
    before = _digest(db)
    result = run_tipqual(*[a.replace("{db}", str(db)).replace("{out}", str(out)) for a in args])
    _assert_clean_error(result, str(out), ".csv")
    assert _digest(db) == before
    if target != "study":
        assert out.read_text(encoding="utf-8") == "keep\n"


def test_an_existing_study_named_csv_is_not_overwritten(tmp_path, sample_study):
    disguised = tmp_path / "codings.csv"
    shutil.copy(sample_study, disguised)
    before = _digest(disguised)
    result = run_tipqual("code", "export", str(sample_study), "--out", str(disguised))
    _assert_clean_error(result, str(disguised), "is a study")
    assert _digest(disguised) == before


# --- cases.csv: errors name the physical line; a huge field is a clean error ------------------

@pytest.mark.parametrize("content, line, words", [
    ('case,source,type\nCSO-01,CSO-01.txt,"multi\nline"\nCSO-01,CSO-01.txt,other\n', 4,
     "'multi\\nline'"),
    ("case,source,type\nCSO-01,CSO-01.txt," + "x" * 200_000 + "\n", 2, "malformed CSV"),
    # read leniently, the open quote would swallow the next row into this attribute
    ('case,source,type\nCSO-01,CSO-01.txt,"shelter\nCSO-02,CSO-02.txt,faith\n', 2,
     "never closed"),
    ('case,source,type\nCSO-01,CSO-01.txt,"shelter" house\n', 2, "text follows a closing"),
], ids=["quoted-newline", "huge-field", "unclosed-quote", "text-after-quote"])
def test_cases_csv_errors_name_the_line(tmp_path, bare_study, content, line, words):
    cases = tmp_path / "cases.csv"
    cases.write_text(content, encoding="utf-8")
    before = _digest(bare_study)
    result = run_tipqual("import", str(bare_study), str(SAMPLE / "transcripts" / "CSO-01.txt"),
                         "--cases", str(cases))
    _assert_clean_error(result, f"{cases}:{line}:", words)
    assert _digest(bare_study) == before


def test_codings_csv_with_an_unclosed_quote_is_refused_not_merged_into_a_memo(tmp_path,
                                                                           bare_study):
    seg = "CSO-01:2"  # the file is refused as it is read, before any row is looked up
    rows = tmp_path / "codings.csv"
    rows.write_text(f'segment,code,coder,memo\n{seg},trust,ann,"a memo\n{seg},trust,bob,\n',
                    encoding="utf-8")
    before = _digest(bare_study)
    result = run_tipqual("code", "import", str(bare_study), str(rows))
    _assert_clean_error(result, f"{rows}:2:", "never closed")
    assert _digest(bare_study) == before


# --- usage errors: one line, what is wrong and where the help is, exit status 2 ----------------

def _usage_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ") and "Usage:" not in output, output
    return lines[0]


@pytest.mark.parametrize("args, expected", [
    (["report", "study.db", "--outt", "r.html"],
     "Error: no such option: --outt (did you mean --notes or --out?); "
     "see 'tipqual report --help'"),
    (["--outt"], "Error: no such option: --outt; see 'tipqual --help'"),
    (["reprot", "study.db"],
     "Error: no such command: reprot (did you mean report?); see 'tipqual --help'"),
    (["code", "ad", "study.db"],
     "Error: no such command: ad (did you mean add?); see 'tipqual code --help'"),
    (["code", "add"], "Error: missing argument PROJECT; see 'tipqual code add --help'"),
], ids=["option", "top-level-option", "command", "subcommand", "missing-argument"])
def test_usage_errors_are_one_line_in_a_real_process(tmp_path, args, expected):
    result = run_tipqual(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _usage_line(result.stderr) == expected


@pytest.mark.parametrize("args, words", [
    (["report"], ["missing argument PROJECT", "see 'tipqual report --help'"]),
    (["report", "s.db"], ["missing option --out", "see 'tipqual report --help'"]),
    (["status", "a.db", "b.db"], ["unexpected extra argument (b.db)",
                                  "see 'tipqual status --help'"]),
    (["suggest", "s.db", "--jobs", "0"], ["invalid value for --jobs: 0 is not in the range x>=1",
                                          "see 'tipqual suggest --help'"]),
    (["suggest", "s.db", "--jobs", "many"], ["invalid value for --jobs: 'many' is not a valid "
                                             "integer", "see 'tipqual suggest --help'"]),
    (["suggest", "s.db", "--min-score", "2"], ["--min-score", "see 'tipqual suggest --help'"]),
    (["suggest", "s.db", "--jobs"], ["option --jobs requires an argument",
                                     "see 'tipqual suggest --help'"]),
    (["codebook", "nope"], ["no such command: nope", "see 'tipqual codebook --help'"]),
    (["codebook", "validate"], ["missing argument", "see 'tipqual codebook validate --help'"]),
    (["refi", "export", "s.db"], ["missing option --out", "see 'tipqual refi export --help'"]),
    (["refi", "imprt"], ["no such command: imprt (did you mean import?)",
                         "see 'tipqual refi --help'"]),
    (["code", "export", "s.db", "--bogus"], ["no such option: --bogus",
                                             "see 'tipqual code export --help'"]),
    (["--debug", "report", "--outt"], ["no such option: --outt",
                                       "see 'tipqual report --help'"]),
    (["status", "--json=yes", "s.db"], ["option --json does not take a value",
                                        "see 'tipqual status --help'"]),
], ids=["report-no-project", "report-no-out", "extra-argument", "out-of-range", "not-a-number",
        "float-range", "no-value", "codebook-command", "codebook-validate-no-file",
        "refi-export-no-out", "refi-command", "code-export-option", "debug", "flag-value"])
def test_usage_errors_of_every_command_are_one_line(runner, tmp_path, monkeypatch, args,
                                                    words):
    monkeypatch.chdir(tmp_path)  # relative names such as s.db land in the test's folder
    result = runner.invoke(cli_group(), args)
    assert result.exit_code == 2, result.output
    line = _usage_line(result.output)
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("args, words", [
    (["status", "{dir}"], ["{dir}", "is a directory", "give the path of a file"]),
    (["demo", "--out", "{file}"], ["{file}", "is a file", "give the path of a folder"]),
    (["report", "{dir}", "--out", "r.html"], ["{dir}", "is a directory"]),
], ids=["file-wanted", "folder-wanted", "report-study"])
def test_a_bad_path_is_a_usage_error_of_one_line(runner, tmp_path, args, words):
    folder = tmp_path / "a folder"
    folder.mkdir()
    blocker = tmp_path / "a file"
    blocker.write_text("x\n", encoding="utf-8")

    def fill(text: str) -> str:
        return text.replace("{dir}", str(folder)).replace("{file}", str(blocker))

    result = runner.invoke(cli_group(), [fill(a) for a in args])
    assert result.exit_code == 2, result.output
    line = _usage_line(result.output)
    for word in words:
        assert fill(word) in line, line


def test_no_command_and_help_still_show_the_help(runner):
    cli = cli_group()
    bare = runner.invoke(cli, [])
    assert "Usage: tipqual [OPTIONS] COMMAND" in bare.output and "Commands:" in bare.output
    group = runner.invoke(cli, ["code"])
    assert "Usage: tipqual code [OPTIONS] COMMAND" in group.output and "add" in group.output
    for args in (["--help"], ["-h"], ["report", "--help"], ["code", "add", "--help"],
                 ["refi", "-h"]):
        shown = runner.invoke(cli, args)
        assert shown.exit_code == 0 and shown.output.startswith("Usage: tipqual"), args
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0 and "tipqual" in version.output


def cli_group():
    from tipqual.cli import cli

    return cli


@pytest.mark.slow
@pytest.mark.parametrize(("version", "words"), [
    (-1, "schema version is -1 but the migrations it records end at"),
    (0, "schema version is 0 but the migrations it records end at"),
    (1, "schema version is 1 but the migrations it records end at"),
])
def test_a_study_whose_schema_version_was_tampered_with_is_called_damaged(
        tmp_path, bare_study, version, words):
    study = tmp_path / "tampered.db"
    shutil.copy(bare_study, study)
    conn = sqlite3.connect(study)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.execute("PRAGMA journal_mode = DELETE")  # the change in the file itself, no WAL left
    conn.close()
    before = _digest(study)
    for args in (["status", str(study)], ["set", str(study), "--name", "x"]):
        result = run_tipqual(*args)
        _assert_clean_error(result, str(study), words, "damaged")
    assert _digest(study) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tampered.db"]  # no backup made
