"""An adversarial run of the command line: hostile and careless input, generated here.

Every case builds its input in a temporary folder (nothing from outside the repository), runs
tipqual in a real process and asserts one of two outcomes:

* a clean refusal: a non-zero exit, exactly one ``Error:`` line on stderr, no traceback, and
  the study byte-for-byte as it was (its logical content: every table dumped in order);
* a correct result: exit 0, no traceback, and the check of that case.

After ``import --redact --roster``, no byte of the study (``-wal`` and ``-shm`` included) holds
any planted personal detail, in UTF-8 or UTF-16.

The study used is not the sample: a housing-advice evaluation with its own small codebook.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import run_tipqual

pytestmark = pytest.mark.slow

CODEBOOK = """\
name: Housing advice evaluation
version: "0.1"
stakeholders:
  - {id: COUNCIL, name: City council, aliases: [the council], sector: government}
  - {id: LAWCLINIC, name: Law clinic, aliases: [the clinic], sector: civil_society}
codes:
  - id: eviction
    name: Eviction threats
    definition: Tenants facing removal from their homes.
    phrases: [eviction, evicted, notice to vacate]
  - id: repairs
    name: Repairs
    definition: Landlords not fixing what is broken.
    phrases: [repairs, leaking roof, broken geyser]
  - id: advice
    name: Advice given
    definition: What the organisation told the tenant to do.
    phrases: [we advised, our advice]
"""
TRANSCRIPT = """\
Interviewer: What brings most tenants to you?

Respondent: Eviction, mostly. The council sends a notice to vacate and people panic.

Interviewer: And repairs?

Respondent: A leaking roof for months. We advised them to go to the clinic, and the clinic helped.
"""

# Personal details planted in every field a study takes in.
PII_NAMES = ("Thandi Mokoena", "Sipho O’Brien")
PII_EMAIL = "thandi.mokoena@example.org"
PII_PHONE = "082 555 0199"
PII_ID = "800101-5009-087"


def one_line_error(done, *, listed: Path | None = None) -> None:
    """A refusal: one ``Error:`` line (``codebook validate`` lists each problem of ``listed``
    above it, one ``FILE:LINE:COL: ...`` line each, as its contract says)."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0, done.stdout
    assert lines and lines[-1].startswith("Error: "), done.stderr
    problems = lines[:-1]
    if listed is None:
        assert problems == [], done.stderr
    else:
        assert all(line.startswith(f"{listed}:") for line in problems), done.stderr


def clean_success(done) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr


def dump(db: Path) -> list[str]:
    """The study's logical content: every table, every row, in a fixed order."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.iterdump())


def new_study(folder: Path, *, imported: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "housing.yaml").write_text(CODEBOOK, encoding="utf-8")
    db = folder / "housing.db"
    clean_success(run_tipqual("init", str(db), "--codebook", str(folder / "housing.yaml")))
    if imported:
        text = folder / "in" / "advice-01.txt"
        text.parent.mkdir()
        text.write_text(TRANSCRIPT, encoding="utf-8")
        clean_success(run_tipqual("import", str(db), str(text)))
    return db


@dataclass
class Case:
    """A hostile input: ``build(folder, db)`` writes it and returns tipqual's arguments."""

    name: str
    build: Callable[[Path, Path], list[str]]
    refused: bool = True
    check: Callable[[Path, Path], None] | None = None
    listed: str | None = None  # a file whose problems are listed one per line before the Error


# --- builders ---------------------------------------------------------------------------------

def binary_as_text(folder: Path, db: Path) -> list[str]:
    path = folder / "scan.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4096))
    return ["import", str(db), str(path)]


def binary_in_a_folder(folder: Path, db: Path) -> list[str]:
    batch = folder / "batch"
    batch.mkdir()
    (batch / "advice-02.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (batch / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    return ["import", str(db), str(batch)]


def huge_paragraph(folder: Path, db: Path) -> list[str]:
    path = folder / "long.txt"
    words = "the tenant waited for repairs and then the council sent an eviction notice "
    path.write_text("Interviewer: Tell me everything.\n\nRespondent: "
                    + words * (1_100_000 // len(words)) + "\n", encoding="utf-8")
    return ["import", str(db), str(path)]


def huge_paragraph_check(folder: Path, db: Path) -> None:
    done = run_tipqual("segments", str(db), "--source", "long", "--json")
    clean_success(done)
    segments = json.loads(done.stdout)
    assert sum(len(s["text"]) for s in segments) > 1_000_000


def cases_duplicate_column(folder: Path, db: Path) -> list[str]:
    (folder / "cases.csv").write_text("case,source,type,type\nA,advice-01.txt,ngo,clinic\n",
                                      encoding="utf-8")
    return ["import", str(db), str(folder.parent / "study" / "in"), "--cases",
            str(folder / "cases.csv")]


def cases_newline_in_id(folder: Path, db: Path) -> list[str]:
    (folder / "cases.csv").write_text('case,source\n"A\nB",advice-01.txt\n', encoding="utf-8")
    return ["import", str(db), str(folder.parent / "study" / "in"), "--cases",
            str(folder / "cases.csv")]


# Regexes that take exponential time on a crafted word (or use features with no time bound).
EVIL_REGEXES = ("^(a+)+$", "(a*)*b", "(a|a)+$", "(a|aa)+$", "(.*a){12}", "^(\\\\w+\\\\s?)*$",
                "(x+x+)+y", "(?=a)*", "(a)\\\\1+")


def evil_codebook(folder: Path, regex: str) -> Path:
    book = folder / "evil.yaml"
    book.write_text(CODEBOOK + f'    patterns:\n      - [{{LOWER: {{REGEX: "{regex}"}}}}]\n',
                    encoding="utf-8")
    return book


def regex_validate(regex: str) -> Callable[[Path, Path], list[str]]:
    def build(folder: Path, db: Path) -> list[str]:
        return ["codebook", "validate", str(evil_codebook(folder, regex))]
    return build


def regex_init(regex: str) -> Callable[[Path, Path], list[str]]:
    def build(folder: Path, db: Path) -> list[str]:
        return ["init", str(folder / "evil.db"), "--codebook", str(evil_codebook(folder, regex))]
    return build


def deep_yaml(folder: Path, db: Path) -> list[str]:
    book = folder / "deep.yaml"
    book.write_text("name: deep\nversion: '1'\ncodes: " + "[" * 5000 + "]" * 5000 + "\n",
                    encoding="utf-8")
    return ["codebook", "validate", str(book)]


def deep_qdc(folder: Path, db: Path) -> list[str]:
    depth = 3000
    opening = "".join(f'<Code guid="{i:08d}-0000-4000-8000-000000000000" name="c{i}" '
                      'isCodable="true">' for i in range(depth))
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n'
           '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
           + opening + "</Code>" * depth + "</Codes></CodeBook>")
    path = folder / "deep.qdc"
    path.write_text(xml, encoding="utf-8")
    return ["codebook", "import", str(path), "--out", str(folder / "deep-out.yaml")]


def _qdpx(folder: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    path = folder / "partner.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def _project(sources: str = "", codes: str = "") -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<Project xmlns="urn:QDA-XML:project:1.0" name="partner">'
            f"<CodeBook><Codes>{codes}</Codes></CodeBook><Sources>{sources}</Sources>"
            "</Project>").encode()


CODE = '<Code guid="11111111-0000-4000-8000-000000000001" name="eviction" isCodable="true"/>'


def _source(start: int, end: int, path: str = "internal://a.txt") -> str:
    return ('<TextSource guid="22222222-0000-4000-8000-000000000001" name="advice-09" '
            f'plainTextPath="{path}"><PlainTextSelection '
            'guid="33333333-0000-4000-8000-000000000001" '
            f'startPosition="{start}" endPosition="{end}"><Coding '
            'guid="44444444-0000-4000-8000-000000000001">'
            '<CodeRef targetGUID="11111111-0000-4000-8000-000000000001"/></Coding>'
            "</PlainTextSelection></TextSource>")


def refi_two_project_files(folder: Path, db: Path) -> list[str]:
    target = folder / "fresh.db"
    archive = zipfile.ZipFile(folder / "partner.qdpx", "w")
    archive.writestr("project.qde", _project(codes=CODE))
    archive.writestr("./project.qde", _project())
    archive.close()
    return ["refi", "import", str(folder / "partner.qdpx"), str(target)]


def refi_symlink_source(folder: Path, db: Path) -> list[str]:
    path = _qdpx(folder, {"project.qde": _project(_source(0, 4), CODE)},
                 symlink="sources/a.txt")
    return ["refi", "import", str(path), str(folder / "fresh.db")]


def refi_offsets_past_the_text(folder: Path, db: Path) -> list[str]:
    text = TRANSCRIPT.encode("utf-8")
    path = _qdpx(folder, {"project.qde": _project(_source(10, len(TRANSCRIPT) + 5000), CODE),
                          "sources/a.txt": text})
    return ["refi", "import", str(path), str(folder / "fresh.db")]


def refi_offsets_check(folder: Path, db: Path) -> None:
    done = run_tipqual("code", "export", str(folder / "fresh.db"), "--out",
                       str(folder / "codings.csv"))
    clean_success(done)
    rows = (folder / "codings.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1  # the header: the impossible selection was not spread over segments


def refi_negative_offset(folder: Path, db: Path) -> list[str]:
    path = _qdpx(folder, {"project.qde": _project(_source(-40, 12), CODE),
                          "sources/a.txt": TRANSCRIPT.encode("utf-8")})
    return ["refi", "import", str(path), str(folder / "fresh.db")]


def refi_guid_collision(folder: Path, db: Path) -> list[str]:
    codes = CODE + CODE.replace('name="eviction"', 'name="repairs"')
    path = _qdpx(folder, {"project.qde": _project(codes=codes)})
    return ["refi", "import", str(path), str(folder / "fresh.db")]


def refi_escape_the_archive(folder: Path, db: Path) -> list[str]:
    path = _qdpx(folder, {"project.qde": _project(_source(0, 4, "internal://../../x.txt"),
                                                  CODE),
                          "../../x.txt": b"outside"})
    return ["refi", "import", str(path), str(folder / "fresh.db")]


# Names a person must not be able to code under: control characters, terminal escapes,
# direction overrides, invisible characters, blank, over-long, or tipqual's own suggesters.
BAD_CODERS = ("eve\nmallory", "\x1b[2Jroot", "bob\u202egnp.exe", "zero\u200bwidth", " ", "",
              "x" * 300, "tipqual-rules", "TIPQUAL-MODEL")


def coder_named(name: str) -> Callable[[Path, Path], list[str]]:
    def build(folder: Path, db: Path) -> list[str]:
        return ["code", "add", str(db), "--coder", name, "--code", "eviction", "advice-01:2"]
    return build


def coder_with_ansi(folder: Path, db: Path) -> list[str]:
    (folder / "codings.csv").write_text("segment,code,coder\nadvice-01:1,eviction,"
                                        "\x1b[31mroot\x1b[0m\n", encoding="utf-8")
    return ["code", "import", str(db), str(folder / "codings.csv")]


def merge_foreign_codebook(folder: Path, db: Path) -> list[str]:
    """A coder's copy whose codebook has a code the target lacks, coded on the same text."""
    copy = folder / "copy"
    copy.mkdir()
    (copy / "other.yaml").write_text(CODEBOOK.replace('version: "0.1"', 'version: "0.2"')
                                     + "  - id: rent-arrears\n    name: Rent arrears\n"
                                     "    definition: Tenants behind with the rent.\n",
                                     encoding="utf-8")
    theirs = copy / "copy.db"
    clean_success(run_tipqual("init", str(theirs), "--codebook", str(copy / "other.yaml")))
    clean_success(run_tipqual("import", str(theirs), str(db.parent / "in" / "advice-01.txt")))
    clean_success(run_tipqual("code", "add", str(theirs), "--coder", "nomsa", "--code",
                              "rent-arrears", "advice-01:2"))
    return ["merge", str(db), str(theirs)]


def unknown_option(folder: Path, db: Path) -> list[str]:
    return ["report", str(db), "--outt", str(folder / "r.html")]


def missing_argument(folder: Path, db: Path) -> list[str]:
    return ["code", "add", str(db)]


def sandbox_escape(folder: Path, db: Path) -> list[str]:
    templates = folder / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    return ["report", str(db), "--out", str(folder / "r.html"), "--templates", str(templates)]


def javascript_notes(folder: Path, db: Path) -> list[str]:
    (folder / "notes.md").write_text(
        "# Recommendations\n\n[click](javascript:alert(1)) [ok](JaVaScRiPt:alert(2)) "
        "<javascript:alert(3)> [d](data:text/html,<script>alert(4)</script>) "
        "[e](&#106;avascript:alert(5))\n", encoding="utf-8")
    return ["report", str(db), "--out", str(folder / "r.md"), "--notes",
            str(folder / "notes.md")]


def javascript_notes_check(folder: Path, db: Path) -> None:
    text = "".join((folder / "r.md").read_text(encoding="utf-8").lower().split())
    for target in ("javascript:", "data:", "&#106;"):
        # a refused target may stay as words, never as a link or an autolink
        assert f"]({target}" not in text and f"<{target}" not in text, target
    assert "alert(1)" not in text  # the target of a refused link is dropped


CASES = [
    Case("binary file named .txt", binary_as_text),
    Case("binary file inside a folder", binary_in_a_folder),
    Case("one paragraph over a million characters", huge_paragraph, refused=False,
         check=huge_paragraph_check),
    Case("cases.csv with a duplicated column", cases_duplicate_column),
    Case("cases.csv with a newline in a case id", cases_newline_in_id),
    *(Case(f"regex {r!r} in a codebook", regex_validate(r), listed="evil.yaml")
      for r in EVIL_REGEXES),
    *(Case(f"regex {r!r} given to init", regex_init(r)) for r in EVIL_REGEXES[:3]),
    Case("codebook nested 5000 levels", deep_yaml, listed="deep.yaml"),
    Case(".qdc nested 3000 levels", deep_qdc),
    Case(".qdpx with two project files", refi_two_project_files),
    Case(".qdpx with a symlink as a source", refi_symlink_source),
    Case(".qdpx selection past the end of its text", refi_offsets_past_the_text, refused=False,
         check=refi_offsets_check),
    Case(".qdpx selection with a negative start", refi_negative_offset, refused=False,
         check=refi_offsets_check),
    Case(".qdpx with two codes of one GUID", refi_guid_collision),
    Case(".qdpx source outside the archive", refi_escape_the_archive),
    *(Case(f"coder name {n[:12]!r}", coder_named(n)) for n in BAD_CODERS),
    Case("coder name with terminal escapes", coder_with_ansi),
    Case("merge of a copy coded with another codebook", merge_foreign_codebook),
    Case("unknown option", unknown_option),
    Case("missing argument", missing_argument),
    Case("template reaching for Python internals", sandbox_escape),
    Case("notes with script links", javascript_notes, refused=False,
         check=javascript_notes_check),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_study(tmp_path_factory.mktemp("adversarial") / "study")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_cleanly_or_handled(case: Case, base: Path,
                                                     tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "in").mkdir()
    (study / "in" / "advice-01.txt").write_text(TRANSCRIPT, encoding="utf-8")
    db = study / "housing.db"
    db.write_bytes(base.read_bytes())  # the base study is checkpointed: one file holds it
    work = tmp_path / "work"
    work.mkdir()
    before = dump(db)
    done = run_tipqual(*case.build(work, db), timeout=120)
    if case.refused:
        one_line_error(done, listed=work / case.listed if case.listed else None)
        assert dump(db) == before
    else:
        clean_success(done)
        if case.check is not None:
            case.check(work, db)


def _variants(secret: str) -> list[bytes]:
    forms = {secret, secret.lower(), secret.upper(), secret.replace("’", "'")}
    return [f.encode(enc) for f in forms for enc in ("utf-8", "utf-16-le")]


def test_no_planted_detail_survives_redaction_anywhere(tmp_path: Path) -> None:
    db = new_study(tmp_path / "study", imported=False)
    folder = tmp_path / "private"
    folder.mkdir()
    name, other = PII_NAMES
    (folder / f"{name} interview.txt").write_text(
        f"Interviewer: Thank you, {name.split()[0]}.\n\n"
        f"{other}: I am {other}; write to {PII_EMAIL} or call {PII_PHONE}. My ID is {PII_ID},"
        f" or {PII_ID.replace('-', ' ')}. {name.upper()}’s landlord sent the eviction.\n",
        encoding="utf-8")
    (folder / "roster.txt").write_text(f"{name}\n{other}\n", encoding="utf-8")
    (folder / "cases.csv").write_text(
        f"case,source,contact,email\nHA-1,{name} interview.txt,{name},{PII_EMAIL}\n",
        encoding="utf-8")
    done = run_tipqual("import", str(db), str(folder / f"{name} interview.txt"), "--cases",
                       str(folder / "cases.csv"), "--redact", "--roster",
                       str(folder / "roster.txt"))
    clean_success(done)
    secrets = [*PII_NAMES, *(n for full in PII_NAMES for n in full.split()), PII_EMAIL,
               PII_PHONE, PII_ID, PII_ID.replace("-", " ")]
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert db in files
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            for form in _variants(secret):
                assert form not in data, (path.name, secret)
    check = run_tipqual("redact", "check", str(db), "--roster", str(folder / "roster.txt"))
    clean_success(check)
