"""Tests for ``tipqual refi export`` and ``tipqual refi import`` (real subprocesses)."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from pathlib import Path

import pytest

from tests.helpers import TIP_CODEBOOK, run_tipqual, shared
from tipqual.codebook import model as codebook_mod
from tipqual.records import Coding, Segment, Source
from tipqual.store.project import Project

FIX = Path(__file__).resolve().parent / "fixtures" / "refi"
TEXT = ("Interviewer: How do you work with SAPS?\n\n"
        "Respondent: We trust two detectives 🙂; the rest are slow.\n")


@pytest.fixture
def small_study(tmp_path: Path) -> Path:
    """A one-source study with a whole-segment and a span coding."""
    path = tmp_path / "study.db"
    p = Project.create(path)
    starts = (TEXT.index("How"), TEXT.index("We trust"))
    ends = (TEXT.index("?") + 1, len(TEXT) - 1)
    segments = [Segment(id=f"CSO-01:{n}", source="CSO-01", n=n, speaker=sp, role=role,
                        start=a, end=b, text=TEXT[a:b])
                for n, (a, b, sp, role) in enumerate(
                    [(starts[0], ends[0], "Interviewer", "interviewer"),
                     (starts[1], ends[1], "Respondent", "respondent")], 1)]
    with p.atomic():
        p.set_codebook(codebook_mod.load(TIP_CODEBOOK))
        p.put_case("CSO-01", {"province": "Gauteng"})
        p.add_source(Source(id="CSO-01", case="CSO-01", path="CSO-01.txt", format="txt",
                            sha256=hashlib.sha256(TEXT.encode()).hexdigest(), text=TEXT),
                     segments)
        p.put_coding(Coding(segment="CSO-01:2", code="trust", coder="alice"))
        at = segments[1].text.index("the rest")
        p.put_coding(Coding(segment="CSO-01:2", code="delays", coder="bob", span_start=at,
                            span_end=at + len("the rest are slow")))
    p.close()
    return path


def test_help_lists_both_commands() -> None:
    result = run_tipqual("refi", "--help")
    assert result.returncode == 0
    assert "export" in result.stdout and "import" in result.stdout
    assert "--out" in run_tipqual("refi", "export", "--help").stdout


@pytest.mark.slow
def test_export_then_import(small_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "study.qdpx"
    result = run_tipqual("refi", "export", str(small_study), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"Wrote {out}: 1 source, 21 codes, 2 codings, 2 users, "
                                     "1 case, 0 notes")
    target = tmp_path / "copy.db"
    result = run_tipqual("refi", "import", str(out), str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Created {target} from {out} (tipqual 0.1.0): 1 source, "
                                    "2 segments, 21 codes, 1 case, 2 codings by 2 coders")
    with Project.open(target) as p:
        texts = sorted((c.coder, p.segment(c.segment).text[c.span_start:c.span_end]
                        if c.span_start is not None else p.segment(c.segment).text)
                       for c in p.codings())
    assert texts == [("alice", "We trust two detectives 🙂; the rest are slow."),
                     ("bob", "the rest are slow")]


def test_import_lists_missing_and_non_text_sources(tmp_path: Path) -> None:
    sample = shared("refi", "samples", "atlasti84mac_refi-standard-project_nosources.qdpx")
    result = run_tipqual("refi", "import", str(sample), str(tmp_path / "a.db"), "--allow-missing")
    assert result.returncode == 0, result.stderr
    assert "14 codes" in result.stdout
    assert "Missing from the archive (skipped):\n  1960s Coca Cola commercial - Audio.docx" \
        in result.stdout
    assert "Not text (skipped):\n  cornflakes-n-milk.jpg (picture)" in result.stdout


@pytest.mark.parametrize("fixture", ["zip-slip.qdpx", "entity-bomb.qdpx", "not-a-zip.qdpx"])
def test_hostile_archive_clean_error_no_study(fixture: str, tmp_path: Path) -> None:
    target = tmp_path / "x.db"
    result = run_tipqual("refi", "import", str(FIX / fixture), str(target))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {FIX / fixture}")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_import_refuses_existing_study(small_study: Path) -> None:
    before = small_study.read_bytes()
    result = run_tipqual("refi", "import", str(FIX / "maxqda.qdpx"), str(small_study))
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert small_study.read_bytes() == before


def test_export_errors(tmp_path: Path, small_study: Path) -> None:
    result = run_tipqual("refi", "export", str(tmp_path / "none.db"), "--out",
                         str(tmp_path / "x.qdpx"))
    assert result.returncode == 1 and "no such study file" in result.stderr
    result = run_tipqual("refi", "export", str(small_study), "--out",
                         str(tmp_path / "nofolder" / "x.qdpx"))
    assert result.returncode == 1 and "does not exist" in result.stderr


# --- refi import --redact -----------------------------------------------------------------------

REDACT_ROSTER = "# people to pseudonymise\nThandi Mokoena\nSipho Dlamini\n"
SRC_A = ("Interviewer: Who helped you?\n\n"
         "Thandi Mokoena: The detective helped. I, Thandi Mokoena, waited three weeks.\n"
         "Mail thandi.m@hope.org.za or call 082 555 1234; my ID is 800101 5009 087.\n\n"
         "Interviewer: And the shelter?\n\n"
         "Respondent: Sipho Dlamini drove us to the shelter at night.\n")
SRC_B = "Interviewer: Where?\n\nRespondent: We met at court with Sipho.\n"
# every casing of these is looked for in the study's bytes
REDACT_PLANTED = ["Thandi", "Mokoena", "Sipho", "Dlamini", "thandi.m@hope.org.za",
                  "sipho.d@example.org", "082 555 1234", "0825551234", "+27 82 555 9876",
                  "82 555 9876", "083 555 6543", "0835556543", "800101 5009 087",
                  "8001015009087"]
_U = {"sipho": "55555555-a1b2-4c3d-8e4f-a5b6c7d8e9f1",
      "ann": "66666666-a1b2-4c3d-8e4f-a5b6c7d8e9f2"}
_C = {name: f"11111111-a1b2-4c3d-8e4f-a5b6c7d8e9f{n}"
      for n, name in enumerate(("Trust", "Delays", "Funding", "Referral"), 1)}
# (source text, code, coder, the words selected, what the redacted study must code there)
REDACT_PICKS = [
    (SRC_A, "Trust", "ann", "The detective helped", r"The detective helped"),
    (SRC_A, "Delays", "sipho", "Thandi Mokoena, waited three weeks",
     r"\[PERSON-\d+\], waited three weeks"),
    (SRC_A, "Delays", "ann", "Mokoena, waited", r"\[PERSON-\d+\], waited"),  # starts in a name
    (SRC_A, "Funding", "sipho", "call 082 555 1234", r"call \[PHONE-\d+\]"),
    (SRC_A, "Referral", "ann", "drove us to the shelter", r"drove us to the shelter"),
    (SRC_B, "Trust", "sipho", "We met at court with Sipho", r"We met at court with \[PERSON-\d+\]"),
]


def _redact_qdpx(path: Path) -> Path:
    """A partner's project with PII in texts, names, users, cases, attributes and memos."""
    sels = {SRC_A: [], SRC_B: []}
    for n, (text, code, coder, words, _) in enumerate(REDACT_PICKS, 1):
        at = text.index(words)
        memo = ("<Description>Call Thandi on 082 555 1234</Description>" if n == 2 else "")
        note = "<NoteRef targetGUID='77777777-a1b2-4c3d-8e4f-a5b6c7d8e9f1'/>" if n == 4 else ""
        sels[text].append(
            f"<PlainTextSelection guid='33333333-a1b2-4c3d-8e4f-a5b6c7d8e9f{n}' "
            f"startPosition='{at}' endPosition='{at + len(words)}'>{memo}"
            f"<Coding guid='44444444-a1b2-4c3d-8e4f-a5b6c7d8e9f{n}' creatingUser='{_U[coder]}'>"
            f"<CodeRef targetGUID='{_C[code]}'/>{note}</Coding></PlainTextSelection>")
    qde = ("<?xml version='1.0' encoding='utf-8'?>\n"
           "<Project xmlns='urn:QDA-XML:project:1.0' name='Thandi Mokoena study' "
           "origin='MAXQDA 2022'>\n<Users>\n"
           f"<User guid='{_U['sipho']}' name='Sipho Dlamini'/>\n"
           f"<User guid='{_U['ann']}' name='ann'/>\n</Users>\n<CodeBook><Codes>\n"
           + "".join(f"<Code guid='{g}' name='{c}' isCodable='true'/>\n" for c, g in _C.items())
           + "</Codes></CodeBook>\n<Variables>\n"
           "<Variable guid='88888888-a1b2-4c3d-8e4f-a5b6c7d8e9f1' name='contact' "
           "typeOfVariable='Text'/>\n"
           "<Variable guid='88888888-a1b2-4c3d-8e4f-a5b6c7d8e9f2' name='Dlamini phone' "
           "typeOfVariable='Text'/>\n</Variables>\n<Cases>\n"
           "<Case guid='99999999-a1b2-4c3d-8e4f-a5b6c7d8e9f1' name='Mokoena House'>"
           "<VariableValue><VariableRef targetGUID='88888888-a1b2-4c3d-8e4f-a5b6c7d8e9f1'/>"
           "<TextValue>Sipho Dlamini, sipho.d@example.org</TextValue></VariableValue>"
           "<VariableValue><VariableRef targetGUID='88888888-a1b2-4c3d-8e4f-a5b6c7d8e9f2'/>"
           "<TextValue>+27 82 555 9876</TextValue></VariableValue>"
           "<SourceRef targetGUID='22222222-a1b2-4c3d-8e4f-a5b6c7d8e9f1'/></Case>\n</Cases>\n"
           "<Sources>\n<TextSource guid='22222222-a1b2-4c3d-8e4f-a5b6c7d8e9f1' "
           "name='Thandi Mokoena interview.txt' plainTextPath='internal://a.txt'>"
           + "".join(sels[SRC_A]) + "</TextSource>\n"
           "<TextSource guid='22222222-a1b2-4c3d-8e4f-a5b6c7d8e9f2' name='court.txt' "
           "plainTextPath='internal://b.txt'>" + "".join(sels[SRC_B]) + "</TextSource>\n"
           "</Sources>\n<Notes><Note guid='77777777-a1b2-4c3d-8e4f-a5b6c7d8e9f1' name='n'>"
           "<PlainTextContent>Sipho Dlamini: 083 555 6543</PlainTextContent></Note></Notes>\n"
           "</Project>\n")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr("sources/a.txt", SRC_A)
        zf.writestr("sources/b.txt", SRC_B)
    return path


def _coded(study: Path) -> list[tuple[str, str, str]]:
    """(code name, coder, coded words) of every coding of a study."""
    with Project.open(study, readonly=True) as p:
        names = {c.id: c.name for c in p.codebook().codes}
        out = []
        for c in p.codings():
            text = p.segment(c.segment).text
            out.append((names[c.code], c.coder,
                        text if c.span_start is None else text[c.span_start:c.span_end]))
    return sorted(out)


@pytest.mark.slow
def test_refi_import_redact_leaves_no_planted_pii_and_codings_keep_their_words(
        tmp_path: Path) -> None:
    archive = _redact_qdpx(tmp_path / "partner.qdpx")
    roster = tmp_path / "roster.txt"
    roster.write_text(REDACT_ROSTER, encoding="utf-8")
    study = tmp_path / "study.db"
    result = run_tipqual("refi", "import", str(archive), str(study), "--redact", "--roster",
                         str(roster))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "6 codings by 2 coders" in result.stdout
    # 'refi import' builds the study under another name and publishes it checkpointed: nothing
    # of the import is left in a -wal or temporary file beside it
    assert sorted(f.name for f in tmp_path.glob("study*")) == ["study.db",
                                                               "study.redaction-key.json"]
    key = tmp_path / "study.redaction-key.json"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "Mokoena" in key.read_text(encoding="utf-8")
    # a reader left open while another command writes keeps the study's pages in the -wal
    with Project.open(study, readonly=True) as reader:
        seg = [s.id for s in reader.segments()][1]
        added = run_tipqual("code", "add", str(study), "--coder", "bea", "--code", "trust",
                            seg)
        assert added.returncode == 0, added.stderr
        wal = tmp_path / "study.db-wal"
        assert wal.exists() and wal.stat().st_size > 0
        wal_bytes = wal.read_bytes().lower()
        raw = b"".join(f.read_bytes() for f in sorted(tmp_path.glob("study.db*"))).lower()
    assert b"[person-" in wal_bytes  # the -wal does hold pages the import wrote
    for original in REDACT_PLANTED:
        assert original.lower().encode("utf-8") not in raw, original
    # every coding is on the same words (personal details replaced by their placeholders)
    got = [c for c in _coded(study) if c[1] != "bea"]
    want = sorted((code, "user-55555555" if coder == "sipho" else "ann", pattern)
                  for _, code, coder, _, pattern in REDACT_PICKS)
    assert len(got) == len(want) == 6
    for (code, coder, words), (w_code, w_coder, pattern) in zip(got, sorted(
            want, key=lambda w: (w[0], w[1])), strict=True):
        assert (code, coder) == (w_code, w_coder)
        assert re.fullmatch(pattern, words), (code, coder, words, pattern)
    # the selection that started inside a name is listed; every rename is said
    out = result.stdout
    assert re.search(r"Not placed exactly .*\n(  .*\n)*  Thandi Mokoena interview.txt: selection "
                     r"33333333-A1B2-4C3D-8E4F-A5B6C7D8E9F3 .*starts inside personal "
                     r"information", out), out
    assert "Renamed (the study keeps the new names):" in out
    for line in ("  user 'Sipho Dlamini' (line 4) is stored as coder 'user-55555555': "
                 "pseudonymised",
                 "  source 'Thandi Mokoena interview.txt' (line 21) is stored as "
                 "'[PERSON-1] interview': pseudonymised",
                 "  case 'Mokoena House' (line 18) is stored as '[PERSON-1] House': "
                 "pseudonymised",
                 "  attribute 'Dlamini phone' (line 15) is stored as '[PERSON-2] phone': "
                 "pseudonymised",
                 "  project 'Thandi Mokoena study' is stored as '[PERSON-1] study': "
                 "pseudonymised"):
        assert line in out.splitlines(), (line, out)
    assert f"Redaction key: {key} (keep it apart from the study)" in out
    # the residual check finds nothing either
    check = run_tipqual("redact", "check", str(study), "--roster", str(roster))
    assert (check.returncode, check.stdout) == (0, "no residual PII found\n"), check.stderr

    # again with --json and the same key: the same placeholders, the renames as data
    again = run_tipqual("refi", "import", str(archive), str(tmp_path / "again.db"), "--key",
                        str(key), "--roster", str(roster), "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["redacted"] is True and data["key"] == str(key)
    assert data["name"] == "[PERSON-1] study"
    assert {"what": "user", "given": "Sipho Dlamini", "stored": "user-55555555",
            "reason": "pseudonymised", "line": 4} in data["renamed"]
    assert {r["what"] for r in data["renamed"]} == {"project", "user", "source", "case",
                                                    "attribute"}
    assert _coded(tmp_path / "again.db") == got
    # and what the study exports carries none of it either
    out = tmp_path / "out.qdpx"
    assert run_tipqual("refi", "export", str(study), "--out", str(out)).returncode == 0
    with zipfile.ZipFile(out) as zf:
        exported = b"".join(zf.read(n) for n in zf.namelist()).lower()
    assert b"[person-1] interview" in exported
    for original in REDACT_PLANTED:
        assert original.lower().encode("utf-8") not in exported, original


def test_a_failed_refi_import_redact_writes_neither_study_nor_key(tmp_path: Path) -> None:
    archive = _redact_qdpx(tmp_path / "partner.qdpx")
    with zipfile.ZipFile(archive) as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(broken, "w") as zf:
        for name, data in members:  # the second source takes the first one's GUID
            zf.writestr(name, data.replace(b"22222222-a1b2-4c3d-8e4f-a5b6c7d8e9f2",
                                           b"22222222-a1b2-4c3d-8e4f-a5b6c7d8e9f1"))
    roster = tmp_path / "roster.txt"
    roster.write_text(REDACT_ROSTER, encoding="utf-8")
    result = run_tipqual("refi", "import", str(broken), str(tmp_path / "study.db"),
                         "--roster", str(roster))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "two sources" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.qdpx", "partner.qdpx",
                                                          "roster.txt"]
    missing = run_tipqual("refi", "import", str(archive), str(tmp_path / "study.db"),
                          "--roster", str(tmp_path / "nobody.txt"))
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert "nobody.txt" in missing.stderr and not (tmp_path / "study.db").exists()


# --- projects in the shapes other tools write (tests/fixtures/refi/tools.py) ----------------------

TOOLS = FIX / "tools"
TOOL_EXPECTED = json.loads((TOOLS / "expected.json").read_text(encoding="utf-8"))
TOOL_PROJECTS = sorted(n for n, e in TOOL_EXPECTED.items() if "sources" in e)
TOOL_CODEBOOKS = sorted(n for n, e in TOOL_EXPECTED.items() if n.endswith(".qdc")
                        and "codes" in e)
BAD_TOOL_FILES = sorted(n for n, e in TOOL_EXPECTED.items() if "error" in e)


def test_tool_fixtures_are_what_their_builder_writes() -> None:
    from tests.fixtures.refi.tools import build_all

    built = build_all()
    assert sorted(built) == sorted(p.name for p in TOOLS.iterdir())
    for name, data in built.items():
        assert (TOOLS / name).read_bytes() == data, f"rebuild {name}: python -m " \
            "tests.fixtures.refi.tools"


def _import_tool_project(name: str, target: Path) -> dict:
    """``refi import --json`` of a tool-shaped fixture (``--allow-missing`` when it needs it,
    after checking that without it the import stops with one Error line and no study)."""
    expected = TOOL_EXPECTED[name]
    args = ["refi", "import", str(TOOLS / name), str(target), "--json"]
    if "needs_allow_missing" in expected:
        stopped = run_tipqual(*args)
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
        assert len(stopped.stderr.strip().splitlines()) == 1
        assert stopped.stderr.startswith(f"Error: {TOOLS / name}: the plain text of the text "
                                         f"source {expected['needs_allow_missing']!r}")
        assert "--allow-missing" in stopped.stderr and not target.exists()
        args.append("--allow-missing")
    result = run_tipqual(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _coded_characters(p: Project) -> dict[tuple[str, str, str], tuple[set[int], set]]:
    """For each (source name as the tool gave it, code name, coder): the stored-text offsets
    the codings cover, and their memos."""
    names = {c.id: c.name for c in p.codebook().codes}
    sources = {s.id: s.meta["refi"]["name"] for s in p.sources()}
    segments = {s.id: s for s in p.segments()}
    out: dict[tuple[str, str, str], tuple[set[int], set]] = {}
    for c in p.codings():
        seg = segments[c.segment]
        start = seg.start + (c.span_start or 0)
        end = seg.start + c.span_end if c.span_end is not None else seg.end
        chars, memos = out.setdefault((sources[seg.source], names[c.code], c.coder),
                                      (set(), set()))
        chars.update(range(start, end))
        memos.add(c.memo)
    return out


def _study_contents(path: Path) -> dict:
    """Everything a study holds that an exchange must keep, in comparable form."""
    import dataclasses

    with Project.open(path, readonly=True) as p:
        return {
            "sources": sorted((s.id, s.path, s.case, s.text) for s in p.sources()),
            "segments": sorted((s.id, s.start, s.end, s.speaker, s.role, s.text)
                               for s in p.segments()),
            "codings": sorted((c.segment, c.code, c.coder, c.status, c.span_start or -1,
                               c.span_end or -1, c.memo or "", c.created_at or "")
                              for c in p.codings()),
            "cases": sorted((c.id, sorted(c.attributes.items())) for c in p.cases()),
            "codes": [dataclasses.asdict(c) for c in p.codebook().codes],
            "name": p.meta("name")}


@pytest.mark.slow
@pytest.mark.parametrize("name", TOOL_PROJECTS)
def test_tool_project_arrives_whole_on_the_exact_characters(name: str, tmp_path: Path) -> None:
    expected = TOOL_EXPECTED[name]
    target = tmp_path / "study.db"
    report = _import_tool_project(name, target)
    assert report["coders"] == expected["coders"]
    # what was not imported, and why, is in the report: the non-text sources' codings, sets,
    # links, graphs, notes that are no coding's memo, document variables a case overrides,
    # missing texts
    dropped = "\n".join(report["dropped"])
    for piece in expected["not_imported"]:
        assert piece in dropped, (piece, report["dropped"])
    assert [m.split(" (")[0] for m in report["missing"]] == expected["missing"]
    assert len(report["refused"]) == len(expected["refused"])
    for (source, start, end), line in zip(expected["refused"], report["refused"], strict=True):
        assert line.startswith(f"{source}: selection ") and f"(from {start} to {end})" in line
    with Project.open(target, readonly=True) as p:
        texts = {s.meta["refi"]["name"]: s.text for s in p.sources()}
        assert texts == expected["sources"]  # every text source, with its exact text
        segments: dict[str, list[tuple[int, int]]] = {}
        ids = {s.id: s.meta["refi"]["name"] for s in p.sources()}
        for seg in p.segments():
            segments.setdefault(ids[seg.source], []).append((seg.start, seg.end))
        got = _coded_characters(p)
        assert {c.id: c.attributes for c in p.cases()} == expected["cases"]
        book = p.codebook()
        names = {c.id: c.name for c in book.codes}
        assert [[c.name, names.get(c.parent) if c.parent else None, c.color, c.definition]
                for c in book.codes] == expected["codes"]
    want: dict[tuple[str, str, str], tuple[set[int], set]] = {}
    for source, code, coder, start, end, memo in expected["codings"]:
        chars, memos = want.setdefault((source, code, coder), (set(), set()))
        for a, b in segments[source]:  # speaker labels and blank lines are in no segment
            chars.update(range(max(start, a), min(end, b)))
        memos.add(memo)
    assert got.keys() == want.keys()
    for key, (chars, memos) in want.items():
        text = expected["sources"][key[0]]
        assert "".join(text[k] for k in sorted(got[key][0])) == \
            "".join(text[k] for k in sorted(chars)), key
        assert got[key] == (chars, memos), key


@pytest.mark.slow
@pytest.mark.parametrize("name", TOOL_PROJECTS)
def test_tool_project_round_trip_through_tipqual_keeps_everything(name: str,
                                                                   tmp_path: Path) -> None:
    first = tmp_path / "first.db"
    _import_tool_project(name, first)
    out = tmp_path / "again.qdpx"
    result = run_tipqual("refi", "export", str(first), "--out", str(out))
    assert result.returncode == 0, result.stderr
    again = tmp_path / "again.db"
    result = run_tipqual("refi", "import", str(out), str(again), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["missing"], report["dropped"], report["refused"], report["inexact"]) == \
        ([], [], [], [])
    assert _study_contents(again) == _study_contents(first)


@pytest.mark.slow
@pytest.mark.parametrize("name", TOOL_CODEBOOKS + ["nvivo-windows.qdpx", "utf-16.qde"])
def test_tool_codebook_import_keeps_names_nesting_colours(name: str, tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "book.yaml"
    result = run_tipqual("codebook", "import", str(TOOLS / name), "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(out.read_text(encoding="utf-8"))  # (some definitions are empty)
    names = {c["id"]: c["name"] for c in data["codes"]}
    assert [[c["name"], names.get(c.get("parent")) if c.get("parent") else None,
             c.get("color"), c.get("definition") or ""] for c in data["codes"]] == \
        TOOL_EXPECTED[name]["codes"]
    if name.endswith((".qdpx", ".qde")):  # the project's name, not its file's ("project")
        project = {"nvivo-windows.qdpx": "Ward water committees",
                   "utf-16.qde": "Flood recovery — Ŋwana"}[name]
        assert data["name"] == project


@pytest.mark.slow
@pytest.mark.parametrize("name", BAD_TOOL_FILES)
def test_bad_tool_files_give_one_error_line(name: str, tmp_path: Path) -> None:
    piece = TOOL_EXPECTED[name]["error"]
    commands = [("codebook", "import", str(TOOLS / name), "--out", str(tmp_path / "b.yaml"))]
    if not name.endswith(".qdc"):
        commands.append(("refi", "import", str(TOOLS / name), str(tmp_path / "s.db")))
    for args in commands:
        result = run_tipqual(*args)
        assert result.returncode == 1, (args, result.stdout)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"Error: {TOOLS / name}") and piece in result.stderr
        assert list(tmp_path.iterdir()) == []
