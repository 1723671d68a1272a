"""REFI-QDA import against hostile and odd archives: positions, paths, members and GUIDs.

Every archive is built here with :mod:`zipfile`; positions are computed in the tests the way each
tool counts them, independently of tipqual's own translation.
"""

from __future__ import annotations

import stat
import warnings
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from tests.helpers import TIP_CODEBOOK, run_tipqual
from tipqual.errors import ExchangeError
from tipqual.exchange import archive as refi
from tipqual.exchange.archive import Counting, TextMap, choose_countings
from tipqual.exchange.importer import import_project
from tipqual.store.project import Project

BOM = b"\xef\xbb\xbf"
CODES = {"Trust": "AAAAAAAA-1111-4222-8333-000000000001",
         "Delays": "AAAAAAAA-1111-4222-8333-000000000002",
         "Funding": "AAAAAAAA-1111-4222-8333-000000000003"}


def guid(kind: str, n: int) -> str:
    return f"{kind * 8}-1111-4222-8333-{n:012X}"


class Sel:
    """A selection as a tool writes it: positions (as strings, they may be junk) and a code."""

    counter = 0

    def __init__(self, start: object, end: object, code: str = "Trust", name: str = "",
                 sel_guid: str | None = None):
        Sel.counter += 1
        self.start, self.end, self.code, self.name = str(start), str(end), code, name
        self.guid = sel_guid or guid("C", Sel.counter)

    def xml(self) -> str:
        name = f" name={quoteattr(self.name)}" if self.name else ""
        return (f"<PlainTextSelection guid='{self.guid}'{name} startPosition='{self.start}'"
                f" endPosition='{self.end}'><Coding guid='{guid('D', Sel.counter + 500)}'>"
                f"<CodeRef targetGUID='{CODES[self.code]}'/></Coding></PlainTextSelection>")


def source_xml(name: str, path: str | None, sels: list[Sel], n: int = 1,
               src_guid: str | None = None) -> str:
    path_attr = f" plainTextPath={quoteattr(path)}" if path is not None else ""
    return (f"<TextSource guid='{src_guid or guid('B', n)}' name={quoteattr(name)}{path_attr}>"
            + "".join(s.xml() for s in sels) + "</TextSource>")


def project_xml(sources: list[str], origin: str = "NVivo 12 for Windows",
                codes: str | None = None) -> bytes:
    if codes is None:
        codes = "".join(f"<Code guid='{g}' name='{n}' isCodable='true'/>"
                        for n, g in CODES.items())
    return ("<?xml version='1.0' encoding='utf-8'?>\n"
            f"<Project xmlns='urn:QDA-XML:project:1.0' name='Hostile' origin={quoteattr(origin)}>\n"
            f"<CodeBook><Codes>\n{codes}\n</Codes></CodeBook>\n<Sources>\n"
            + "\n".join(sources) + "\n</Sources></Project>\n").encode("utf-8")


def write_qdpx(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def member(name: str, kind: int) -> zipfile.ZipInfo:
    """A member whose Unix mode marks it as a symlink, a device, a folder …"""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | 0o644) << 16
    return info


def coded(db: Path) -> list[tuple[str, str, str]]:
    """(source, code name, coded text) of every coding, sorted."""
    with Project.open(db) as p:
        names = {c.id: c.name for c in p.codebook().codes}
        out = []
        for c in p.codings():
            seg = p.segment(c.segment)
            text = seg.text if c.span_start is None else seg.text[c.span_start:c.span_end]
            out.append((seg.source, names[c.code], text))
    return sorted(out)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 8: selections out of range ------------------------------------------------------------

TURNS = "".join(f"Interviewer: Question {n}?\n\nRespondent: Answer number {n} is here.\n\n"
                for n in range(1, 40))


def test_out_of_range_and_junk_positions_are_refused_and_listed(tmp_path: Path) -> None:
    good_at = TURNS.index("Answer number 2")
    sels = [Sel(good_at, good_at + len("Answer number 2"), "Trust"),
            Sel(TURNS.index("Answer number 5"), len(TURNS) + 500, "Delays"),  # end past text
            Sel(-3, 10, "Funding"),  # negative start: would code the first interviewer turn
            Sel(40, 40, "Funding"), Sel(90, 60, "Funding"),  # empty, reversed
            Sel("12.5", 30), Sel("", 30), Sel(10, "x1")]  # not integers
    qde = project_xml([source_xml("turns.txt", "internal://turns.txt", sels)], origin="MAXQDA")
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/turns.txt", TURNS.encode())])
    report = import_project(path, tmp_path / "s.db")
    assert coded(tmp_path / "s.db") == [("turns", "Trust", "Answer number 2")]
    assert report["codings"] == 1
    refused = report["refused"]
    assert len(refused) == 7, refused
    assert all(r.startswith("turns.txt: selection ") for r in refused)
    assert any("ends past the end of the text" in r for r in refused)
    assert any("-3" in r and "before the start of the text" in r for r in refused)
    assert sum("is empty or reversed" in r for r in refused) == 2
    assert sum("not a whole number" in r for r in refused) == 3
    assert report["dropped"] == []


def test_cli_lists_refused_selections(tmp_path: Path) -> None:
    text = "Respondent: We trust them.\n"
    qde = project_xml([source_xml("a.txt", "internal://a.txt",
                                  [Sel(12, 20), Sel(12, 999, "Delays")])], origin="MAXQDA")
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/a.txt", text.encode())])
    result = run_tipqual("refi", "import", str(path), str(tmp_path / "s.db"))
    assert result.returncode == 0, result.stderr
    assert "1 coding by 1 coder" in result.stdout
    assert "Refused selections (positions outside the text):\n  a.txt: selection " \
        in result.stdout


# --- 9: bare relative paths, missing sources ----------------------------------------------

@pytest.mark.parametrize(("ref", "stored"), [
    ("one.txt", "sources/one.txt"), ("./one.txt", "sources/one.txt"),
    ("sources/one.txt", "sources/one.txt"), ("./sources/one.txt", "sources/one.txt"),
    ("sources\\one.txt", "sources/one.txt"), ("ONE.TXT", "Sources/one.txt"),
    ("My%20Interview.txt", "sources/My Interview.txt"),
    ("internal://My%20Interview.txt", "sources/My Interview.txt"),
    ("one.txt", "one.txt"), ("relative://./one.txt", "sources/one.txt")])
def test_bare_relative_plain_text_paths_resolve_inside_the_archive(ref: str, stored: str,
                                                                   tmp_path: Path) -> None:
    text = "Respondent: We trust them.\n"
    qde = project_xml([source_xml("one.txt", ref, [Sel(12, 20)])], origin="MAXQDA")
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), (stored, text.encode())])
    report = import_project(path, tmp_path / "s.db")
    assert report["sources"] == 1 and report["missing"] == [] and report["dropped"] == []
    assert coded(tmp_path / "s.db") == [("one", "Trust", "We trust")]


@pytest.mark.parametrize("ref", ["../one.txt", "sources/../../one.txt", "%2E%2E/one.txt",
                                 "/etc/passwd", "\\\\server\\share\\one.txt", "C:\\one.txt",
                                 "absolute:///etc/passwd", "file:///etc/passwd",
                                 "relative://../one.txt"])
def test_paths_never_leave_the_archive(ref: str, tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("Respondent: outside the archive.\n")
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", b"<Project name='x'/>"),
                                             ("sources/x.txt", b"x")])
    archive = refi.Archive(path)
    try:
        assert archive.resolve(ref) is None
    finally:
        archive.close()
    qde = project_xml([source_xml("one.txt", ref, [Sel(12, 20)])], origin="MAXQDA")
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde)])
    report = import_project(path, tmp_path / "s.db", allow_missing=True)
    assert report["sources"] == 0 and report["missing"] == [f"one.txt ({ref})"]
    assert report["dropped"] == ["one.txt: 1 coding skipped with the source"]


def test_missing_source_with_codings_fails_unless_allowed(tmp_path: Path) -> None:
    qde = project_xml([source_xml("Interview 7.txt", "internal://gone.txt", [Sel(1, 5)]),
                       source_xml("empty.txt", "internal://also-gone.txt", [], n=2)])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde)])
    with pytest.raises(ExchangeError, match=r"'Interview 7.txt'.*--allow-missing"):
        import_project(path, tmp_path / "s.db")
    assert list(tmp_path.iterdir()) == [path]
    result = run_tipqual("refi", "import", str(path), str(tmp_path / "s.db"))
    line = one_line_error(result)
    assert line.startswith(f"Error: {path}: ") and "'Interview 7.txt'" in line
    assert "--allow-missing" in line and not (tmp_path / "s.db").exists()
    result = run_tipqual("refi", "import", str(path), str(tmp_path / "s.db"), "--allow-missing")
    assert result.returncode == 0, result.stderr
    assert ("Missing from the archive (skipped):\n  Interview 7.txt (internal://gone.txt)\n"
            "  empty.txt (internal://also-gone.txt)") in result.stdout
    assert "Not imported:\n  Interview 7.txt: 1 coding skipped with the source" in result.stdout


def test_missing_source_without_codings_is_only_listed(tmp_path: Path) -> None:
    qde = project_xml([source_xml("empty.txt", "internal://gone.txt", [])])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde)])
    report = import_project(path, tmp_path / "s.db")
    assert report["missing"] == ["empty.txt (internal://gone.txt)"]


# --- 13: ambiguous archives, links, devices, folders ----------------------------------------

OK_QDE = project_xml([source_xml("one.txt", "internal://one.txt", [Sel(12, 20)])],
                     origin="MAXQDA")
TEXT = b"Respondent: We trust them.\n"


@pytest.mark.parametrize("members", [
    [("project.qde", OK_QDE), ("project.qde", b"<Project name='evil'/>")],
    [("project.qde", OK_QDE), ("./Project.qde", b"<Project name='evil'/>")],
    [("project.qde", OK_QDE), ("sources/one.txt", TEXT), ("Sources/ONE.txt", b"other")],
    [("project.qde", OK_QDE), ("sources/one.txt", TEXT), ("sources/./one.txt", b"other")],
])
def test_duplicate_member_names_are_refused(members: list, tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", members)
    with pytest.raises(ExchangeError, match=r"refused: the archive holds two members .*same "
                                            r"name"):
        import_project(path, tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()


def test_dot_slash_member_names_are_found(tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", [("./project.qde", OK_QDE),
                                             ("./sources/one.txt", TEXT)])
    import_project(path, tmp_path / "s.db")
    assert coded(tmp_path / "s.db") == [("one", "Trust", "We trust")]


@pytest.mark.parametrize(("kind", "what"), [(stat.S_IFLNK, "symbolic link"),
                                            (stat.S_IFCHR, "device"), (stat.S_IFBLK, "device"),
                                            (stat.S_IFIFO, "device")])
def test_links_and_devices_are_refused(kind: int, what: str, tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", OK_QDE),
                                             (member("sources/one.txt", kind), b"/etc/passwd")])
    with pytest.raises(ExchangeError, match=f"refused: the archive member 'sources/one.txt' "
                                            f"is a {what}"):
        import_project(path, tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()


def test_symlink_source_one_line_on_the_command_line(tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", OK_QDE),
                                             (member("sources/one.txt", stat.S_IFLNK),
                                              b"../../../etc/passwd")])
    line = one_line_error(run_tipqual("refi", "import", str(path), str(tmp_path / "s.db")))
    assert "symbolic link" in line and not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("members", [
    [("project.qde", OK_QDE), (member("sources/one.txt", stat.S_IFDIR), b"")],
    [("project.qde", OK_QDE), ("sources/one.txt/", b""), ("sources/one.txt/x.txt", TEXT)],
    [("project.qde", OK_QDE), ("sources/one.txt/x.txt", TEXT)],
])
def test_a_folder_given_as_a_source_is_refused(members: list, tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", members)
    with pytest.raises(ExchangeError, match=r"one.txt.* is a folder of the archive, not a file"):
        import_project(path, tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()


def test_two_project_files_at_the_top_are_ambiguous(tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", [("a.qde", OK_QDE), ("b.qde", OK_QDE)])
    with pytest.raises(ExchangeError, match=r"two project files \('a.qde', 'b.qde'\)"):
        import_project(path, tmp_path / "s.db")


def test_a_second_project_file_beside_project_qde_is_listed_not_silently_ignored(
        tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", OK_QDE), ("other.qde", OK_QDE),
                                            ("old/backup.qde", OK_QDE),
                                            ("sources/one.txt", TEXT)])
    report = import_project(path, tmp_path / "s.db")
    assert [line for line in report["dropped"] if "project file" in line] == [
        "old/backup.qde: another project file in the archive, not read (the project is "
        "project.qde)",
        "other.qde: another project file in the archive, not read (the project is "
        "project.qde)"]


# --- 14: GUID collisions --------------------------------------------------------------------

def test_duplicate_code_guid_names_the_guid(tmp_path: Path) -> None:
    codes = (f"<Code guid='{CODES['Trust']}' name='Trust' isCodable='true'/>\n"
             f"<Code guid='{CODES['Trust'].lower()}' name='Funding' isCodable='true'/>")
    qde = project_xml([source_xml("one.txt", "internal://one.txt", [Sel(12, 20)])],
                      codes=codes)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    with pytest.raises(ExchangeError) as info:
        import_project(path, tmp_path / "s.db")
    err = info.value
    assert err.path == f"{path}/project.qde" and err.line == 5
    assert f"two codes ('Trust' and 'Funding') have the GUID {CODES['Trust']}" in err.message
    assert "new GUID" in err.message
    assert not (tmp_path / "s.db").exists()


def test_duplicate_code_guid_in_a_tipqual_export_is_not_a_disk_error(tmp_path: Path) -> None:
    """tipqual's own export keeps code ids by GUID: a collision used to reach sqlite."""
    from tipqual.codebook import model as codebook_mod
    from tipqual.exchange import qdaxml
    from tipqual.exchange.export import export_project

    study = tmp_path / "study.db"
    with Project.create(study) as p, p.atomic():
        p.set_codebook(codebook_mod.load(TIP_CODEBOOK))
    with Project.open(study, readonly=True) as p:
        export_project(p, tmp_path / "out.qdpx")
        first, second = p.code_ids()[:2]
    with zipfile.ZipFile(tmp_path / "out.qdpx") as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
    dup = qdaxml.stable_guid("code", first)
    members = [(n, d.replace(qdaxml.stable_guid("code", second).encode(), dup.encode()))
               for n, d in members]
    path = write_qdpx(tmp_path / "dup.qdpx", members)
    line = one_line_error(run_tipqual("refi", "import", str(path), str(tmp_path / "s.db")))
    assert "writable" not in line and dup in line and "project.qde:" in line


def test_duplicate_source_and_selection_guids_are_refused(tmp_path: Path) -> None:
    shared_guid = guid("B", 7)
    qde = project_xml([source_xml("one.txt", "internal://one.txt", [Sel(12, 20)],
                                  src_guid=shared_guid),
                       source_xml("two.txt", "internal://one.txt", [Sel(12, 20)],
                                  src_guid="{" + shared_guid.lower() + "}")])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    with pytest.raises(ExchangeError, match=f"two sources \\('one.txt' and 'two.txt'\\) have "
                                            f"the GUID {shared_guid}"):
        import_project(path, tmp_path / "s.db")
    sel_guid = guid("C", 999)
    qde = project_xml([source_xml("one.txt", "internal://one.txt",
                                  [Sel(12, 20, sel_guid=sel_guid),
                                   Sel(0, 10, "Delays", sel_guid=sel_guid)])])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    with pytest.raises(ExchangeError, match=f"two selections have the GUID {sel_guid}"):
        import_project(path, tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()


# --- 10: how each tool counts positions --------------------------------------------------------

# CRLF paragraphs, lone LF line breaks inside turns, emoji and other astral characters (the
# bold letters are letters: a boundary between two of them is inside a word).
NVIVO_TEXT = ("Interviewer: How did the referral work 🙂?\r\n\r\n"
              "Respondent: The detective 👮🏽 phoned us at night.\n"
              "She stayed until the shelter opened. 𝐓𝐫𝐮𝐬𝐭 matters to us.\r\n\r\n"
              "Interviewer: And funding 💰?\r\n\r\n"
              "Respondent: The grant ended\nin March, so volunteers cover the gaps 🤝 now.\r\n"
              "Respondent: Funding 💰 is short; the 𝐃𝐒𝐃 grant was late.\r\n")
NVIVO_PICKS = [("Trust", "phoned us at night"), ("Trust", "She stayed until the shelter opened"),
               ("Trust", "𝐓𝐫𝐮𝐬𝐭 matters"), ("Delays", "grant ended\nin March"),
               ("Funding", "volunteers cover the gaps 🤝"), ("Funding", "funding 💰"),
               ("Delays", "𝐃𝐒𝐃 grant was late")]


def nvivo_selections(text: str, picks: list[tuple[str, str]], *, newline_units: int = 0,
                     named: bool = False) -> list[Sel]:
    """Selections at UTF-16 positions of ``text`` (+ extra units per line break before)."""
    out = []
    for code, picked in picks:
        at = text.index(picked)
        extra_a = newline_units * text.count("\n", 0, at)
        extra_b = newline_units * text.count("\n", 0, at + len(picked))
        out.append(Sel(units(text[:at]) + extra_a, units(text[:at + len(picked)]) + extra_b,
                       code, name=picked[:40] if named else ""))
    return out


def expected(source: str, picks: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    return sorted((source, code, picked) for code, picked in picks)


def test_nvivo_utf16_crlf_bom_astral_every_selection_exact(tmp_path: Path) -> None:
    plain = NVIVO_TEXT.replace("\r\n", "\n")
    sources = [source_xml("Interview 1.txt", "internal://one.txt",
                          nvivo_selections(NVIVO_TEXT, NVIVO_PICKS)),
               source_xml("Interview 2.txt", "internal://two.txt",
                          nvivo_selections(NVIVO_TEXT, NVIVO_PICKS[:3]), n=2)]
    path = write_qdpx(tmp_path / "in.qdpx", [
        ("project.qde", BOM + project_xml(sources).replace(b"\n", b"\r\n")),
        ("sources/one.txt", BOM + NVIVO_TEXT.encode()),
        ("sources/two.txt", b"\xff\xfe" + NVIVO_TEXT.encode("utf-16-le"))])
    report = import_project(path, tmp_path / "s.db")
    assert report["inexact"] == [] and report["refused"] == [] and report["dropped"] == []
    described = "UTF-16 code units, CRLF as two, a lone line break as one"
    assert report["counting"] == {"Interview 1.txt": described, "Interview 2.txt": described}
    got = coded(tmp_path / "s.db")
    assert got == sorted(expected("Interview 1", NVIVO_PICKS)
                         + expected("Interview 2", NVIVO_PICKS[:3]))
    with Project.open(tmp_path / "s.db") as p:
        assert p.source("Interview 1").text == plain


def test_line_breaks_counted_twice_in_an_lf_file_detected_by_word_boundaries(
        tmp_path: Path) -> None:
    text = NVIVO_TEXT.replace("\r\n", "\n")
    sels = nvivo_selections(text, NVIVO_PICKS, newline_units=1)
    qde = project_xml([source_xml("mac.txt", "internal://one.txt", sels)])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/one.txt", text.encode())])
    report = import_project(path, tmp_path / "s.db")
    assert report["counting"] == {"mac.txt": "UTF-16 code units, every line break as two"}
    assert report["inexact"] == []
    assert coded(tmp_path / "s.db") == expected("mac", NVIVO_PICKS)


def cp_selections(text: str, picks: list[tuple[str, str]], *, crlf_as_one: bool = False,
                  shift: int = 0, names: str = "") -> list[Sel]:
    """Selections at code-point positions (CRLF as one if asked, plus a constant shift)."""
    out = []
    for code, picked in picks:
        at = text.index(picked)
        a, b = at, at + len(picked)
        if crlf_as_one:
            a, b = a - text.count("\r\n", 0, a), b - text.count("\r\n", 0, b)
        name = {"": "", "first": picked[:12] + "…", "full": picked}[names]
        out.append(Sel(a + shift, b + shift, code, name=name))
    return out


@pytest.mark.parametrize(("origin", "names", "bom"), [
    ("ATLAS.ti 9.1 (Windows)", "first", b""),  # names by first words, CRLF counted as one
    ("QualCoder 3.5", "full", BOM),  # the whole text as the name, a BOM it does not count
    ("Unknown QDA 1.0", "full", b""),  # no known habit: the names decide
])
def test_crlf_counted_as_one(origin: str, names: str, bom: bytes, tmp_path: Path) -> None:
    sels = cp_selections(NVIVO_TEXT, NVIVO_PICKS, crlf_as_one=True, names=names)
    qde = project_xml([source_xml("win.txt", "internal://one.txt", sels)], origin=origin)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/one.txt", bom + NVIVO_TEXT.encode())])
    report = import_project(path, tmp_path / "s.db")
    assert report["counting"] == {"win.txt": "code points, every line break as one"}
    assert report["inexact"] == []
    assert coded(tmp_path / "s.db") == expected("win", NVIVO_PICKS)


def test_a_counted_bom_is_detected_by_word_boundaries(tmp_path: Path) -> None:
    text = NVIVO_TEXT.replace("\r\n", "\n")
    sels = cp_selections(text, NVIVO_PICKS, shift=1)
    qde = project_xml([source_xml("bom.txt", "internal://one.txt", sels)], origin="Some tool")
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/one.txt", BOM + text.encode())])
    report = import_project(path, tmp_path / "s.db")
    assert report["counting"] == {"bom.txt": "code points, the BOM counted"}
    assert coded(tmp_path / "s.db") == expected("bom", NVIVO_PICKS)
    assert report["notes"] == ["bom.txt: positions read as code points, the BOM counted (the "
                               "counting under which the selections fall on word boundaries "
                               "and match their names)"]


def test_selections_not_placed_exactly_are_listed(tmp_path: Path) -> None:
    sels = nvivo_selections(NVIVO_TEXT, NVIVO_PICKS)
    at = NVIVO_TEXT.index("💰 is short")
    sels.append(Sel(units(NVIVO_TEXT[:at]) - 8, units(NVIVO_TEXT[:at]) + 1, "Funding"))
    at = NVIVO_TEXT.index("referral")
    sels.append(Sel(units(NVIVO_TEXT[:at]) + 3, units(NVIVO_TEXT[:at]) + 6, "Trust"))
    at = NVIVO_TEXT.index("volunteers")
    sels.append(Sel(units(NVIVO_TEXT[:at]), units(NVIVO_TEXT[:at]) + 10, "Trust",
                    name="grant ended in March"))
    sels.append(Sel(units(NVIVO_TEXT[:at]), units(NVIVO_TEXT[:at]) + 10, "Delays",
                    name="volunteers"))
    qde = project_xml([source_xml("odd.txt", "internal://one.txt", sels)])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/one.txt", BOM + NVIVO_TEXT.encode())])
    report = import_project(path, tmp_path / "s.db")
    inexact = report["inexact"]
    assert len(inexact) == 3, inexact
    assert any("ends inside a character" in i for i in inexact)
    assert any("starts inside a word" in i and "ends inside a word" in i for i in inexact)
    assert any("its name does not match" in i for i in inexact)
    assert all(i.startswith("odd.txt: selection ") for i in inexact)
    got = coded(tmp_path / "s.db")
    assert ("odd", "Funding", "Funding 💰") in got  # rounded outward, whole character kept
    assert ("odd", "Trust", "err") in got and ("odd", "Delays", "volunteers") in got


def test_cli_lists_selections_not_placed_exactly(tmp_path: Path) -> None:
    text = "Respondent: We trusted them 🙂 a lot.\n"
    at = text.index("🙂")
    qde = project_xml([source_xml("a.txt", "internal://a.txt",
                                  [Sel(text.index("We"), units(text[:at]) + 1)])])
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde),
                                             ("sources/a.txt", text.encode())])
    result = run_tipqual("refi", "import", str(path), str(tmp_path / "s.db"))
    assert result.returncode == 0, result.stderr
    assert "Not placed exactly (check these in the other tool):\n  a.txt: selection " \
        in result.stdout


# --- the position translation itself ------------------------------------------------------------

def test_text_map_conventions() -> None:
    raw = "a😀b\r\nc é\nd"
    m = TextMap(raw, Counting("utf16", "two"))
    assert m.text == "a😀b\nc é\nd" and m.length == 12
    assert m.to_stored(3, end=False) == 2 and m.to_stored(6, end=False) == 4
    assert m.to_stored(2, end=True) == 2 and m.to_stored(2, end=False) == 1
    assert m.to_stored(11, end=False) == 8
    one = TextMap(raw, Counting("cp", "one", bom=True), bom=True)
    assert TextMap(raw, Counting("cp", "one"), bom=True).length == 9
    assert one.length == 10
    assert one.to_stored(1, end=False) == 0 and one.to_stored(5, end=False) == 4
    raw_cp = TextMap(raw, Counting())
    assert raw_cp.length == 10 and raw_cp.to_stored(5, end=False) == 4
    assert raw_cp.place(0, 12) is None and raw_cp.place(-1, 3) is None
    assert raw_cp.place(3, 3) is None


def test_choose_countings_pools_evidence_and_keeps_the_default_on_weak_evidence() -> None:
    text = NVIVO_TEXT.replace("\r\n", "\n")
    default = Counting("utf16", "raw")
    strong = [(s.start, s.end, s.name) for s in nvivo_selections(text, NVIVO_PICKS,
                                                                   newline_units=1)]
    probes = [(int(a), int(b), n) for a, b, n in strong]
    (chosen,) = choose_countings([(text, False, probes)], default)
    assert chosen == Counting("utf16", "two")
    # one boundary inside a word is no reason to change the counting: (4, 5) is "b" of "ab"
    # in UTF-16 units and the space after it in code points
    assert choose_countings([("😀 ab cd\n", False, [(4, 5, "")])], default) == [default]
    # a source without evidence of its own follows the project
    assert choose_countings([(text, False, probes), (text, False, [])], default) == [
        Counting("utf16", "two"), Counting("utf16", "two")]


# --- 15 / 16: names held to the rules of plain import ------------------------------------------

USER_GUID = "5A1C3E9B-7D24-4F6A-9B1E-2C8D4F6A0B13"


def with_parts(qde: bytes, *, users: str = "", cases: str = "", variables: str = "",
               coder: str | None = None) -> bytes:
    """A project with <Users>, <Variables> and <Cases> added (each on lines of its own), and
    every coding made by the user ``coder``."""
    text = qde.decode("utf-8")
    if users:
        text = text.replace("\n<CodeBook>", f"\n<Users>\n{users}\n</Users>\n<CodeBook>", 1)
    if variables or cases:
        text = text.replace("\n<Sources>", f"\n<Variables>\n{variables}\n</Variables>\n"
                                           f"<Cases>\n{cases}\n</Cases>\n<Sources>", 1)
    if coder is not None:
        text = text.replace("<Coding ", f"<Coding creatingUser='{coder}' ")
    return text.encode("utf-8")


def line_of(data: bytes, needle: str) -> int:
    text = data.decode("utf-8")
    return text.count("\n", 0, text.index(needle)) + 1


@pytest.mark.parametrize("name", [
    "eve&#10;mallory",  # a line break (written as a character reference, legal XML)
    "eve&#13;mallory", "tab&#9;name", "bob\u202egnp",  # carriage return, tab, RTL override
    "ann\u200b", "x&#x2028;y", "tipqual-rules", "tipqual-model", "TIPQUAL-Anything",
    "a" * 300, "=HYPERLINK(\"x\")", "-rm", "", "   ", "ann&#x85;",  # NEL, a line break
])
def test_user_names_not_allowed_as_coders_are_mapped_and_listed(name: str,
                                                                tmp_path: Path) -> None:
    from tipqual.coding.csvio import check_coder_name

    users = f"<User guid='{{{USER_GUID.lower()}}}' name={quoteattr(name).replace('&amp;', '&')}/>"
    qde = with_parts(OK_QDE, users=users, coder=USER_GUID)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    report = import_project(path, tmp_path / "s.db")
    with Project.open(tmp_path / "s.db") as p:
        coders = {c.coder for c in p.codings()}
    assert coders == {"user-5a1c3e9b"}
    check_coder_name("user-5a1c3e9b")
    (entry,) = report["renamed"]
    assert entry["what"] == "user" and entry["stored"] == "user-5a1c3e9b"
    assert entry["line"] == line_of(qde, "<User ")
    assert entry["reason"]  # what is wrong with it, in words
    assert report["coders"] == ["user-5a1c3e9b"]


def test_a_good_user_name_is_kept_and_two_users_of_one_name_kept_apart(tmp_path: Path) -> None:
    other = "0F1E2D3C-4B5A-4968-8776-655443322110"
    users = (f"<User guid='{USER_GUID}' name='T. Mokoena'/>\n"
             f"<User guid='{other}' name='T. Mokoena'/>")
    qde = with_parts(OK_QDE, users=users, coder=other)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    report = import_project(path, tmp_path / "s.db")
    assert report["coders"] == ["user-0f1e2d3c"]
    assert report["renamed"] == [{"what": "user", "given": "T. Mokoena",
                                  "stored": "user-0f1e2d3c", "line": 5,
                                  "reason": "another user of the project has this name"}]
    qde = with_parts(OK_QDE, users=f"<User guid='{USER_GUID}' name=' Ann Ngũgĩ '/>",
                     coder=USER_GUID)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    report = import_project(path, tmp_path / "t.db")
    assert report["coders"] == ["Ann Ngũgĩ"]
    assert report["renamed"] == [{"what": "user", "given": " Ann Ngũgĩ ", "stored": "Ann Ngũgĩ",
                                  "line": 4, "reason": "the spaces around it were dropped"}]


def test_cli_names_each_renamed_user_on_one_line(tmp_path: Path) -> None:
    users = f"<User guid='{USER_GUID}' name='eve&#10;mallory'/>"
    qde = with_parts(OK_QDE, users=users, coder=USER_GUID)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    result = run_tipqual("refi", "import", str(path), str(tmp_path / "s.db"))
    assert result.returncode == 0, result.stderr
    assert ("Renamed (the study keeps the new names):\n  user 'eve\\nmallory' (line 4) is "
            "stored as coder 'user-5a1c3e9b': it holds a control or formatting character "
            "(U+000A)\n") in result.stdout
    status = run_tipqual("status", str(tmp_path / "s.db"))
    assert "mallory" not in status.stdout


BAD_NAMES = ["two&#10;lines", "cr&#13;here", "tab&#9;here", "rtl\u202eeman", "zw\u200bsp",
             "sep&#x2028;x", "bell&#x85;x"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_source_names_with_line_breaks_or_invisible_characters_are_mapped(
        bad: str, tmp_path: Path) -> None:
    source = source_xml(f"{bad}.txt", "internal://one.txt", [Sel(12, 20)])
    qde = project_xml([source.replace("&amp;", "&")], origin="MAXQDA")  # a character reference
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    report = import_project(path, tmp_path / "s.db")
    with Project.open(tmp_path / "s.db") as p:
        (source,) = p.sources()
        assert source.id == "source-bbbbbbbb" and source.path == "source-bbbbbbbb.txt"
        assert source.meta["refi"]["name"] == "source-bbbbbbbb.txt"
        assert {p.segment(c.segment).source for c in p.codings()} == {"source-bbbbbbbb"}
    (entry,) = report["renamed"]
    assert entry["what"] == "source" and entry["stored"] == "source-bbbbbbbb"
    assert entry["line"] == line_of(qde, "<TextSource ") and entry["reason"].startswith("it holds")


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_case_and_attribute_names_with_line_breaks_or_invisible_characters_are_mapped(
        bad: str, tmp_path: Path) -> None:
    case_guid = "C0FFEE00-1234-4567-89AB-CDEF01234567"
    var_guid = "DA7A0000-1234-4567-89AB-CDEF01234567"
    variables = f"<Variable guid='{var_guid}' name='{bad} kind' typeOfVariable='Text'/>"
    cases = (f"<Case guid='{case_guid}' name='{bad}'><VariableValue><VariableRef "
             f"targetGUID='{var_guid}'/><TextValue>shelter</TextValue></VariableValue>"
             f"<SourceRef targetGUID='{guid('B', 1)}'/></Case>\n"
             "<Case guid='C0FFEE00-0000-4567-89AB-CDEF01234567' name='CSO-01'/>")
    qde = with_parts(OK_QDE, variables=variables, cases=cases)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    report = import_project(path, tmp_path / "s.db")
    with Project.open(tmp_path / "s.db") as p:
        cases_by_id = {c.id: c.attributes for c in p.cases()}
        (source,) = p.sources()
    attribute = f"attribute-{var_guid[:8].lower()}"
    assert cases_by_id == {"case-c0ffee00": {attribute: "shelter"}, "CSO-01": {}}
    assert source.case == "case-c0ffee00"
    assert sorted((r["what"], r["stored"], r["line"]) for r in report["renamed"]) == [
        ("attribute", attribute, line_of(qde, "<Variable ")),
        ("case", "case-c0ffee00", line_of(qde, "<Case "))]


def test_duplicate_user_guids_are_refused_naming_the_guid_and_line(tmp_path: Path) -> None:
    users = (f"<User guid='{USER_GUID}' name='ann'/>\n"
             f"<User guid='{{{USER_GUID.lower()}}}' name='bob'/>")
    qde = with_parts(OK_QDE, users=users, coder=USER_GUID)
    path = write_qdpx(tmp_path / "in.qdpx", [("project.qde", qde), ("sources/one.txt", TEXT)])
    with pytest.raises(ExchangeError) as info:
        import_project(path, tmp_path / "s.db")
    err = info.value
    assert err.path == f"{path}/project.qde" and err.line == 5
    assert f"two users ('ann' and 'bob') have the GUID {USER_GUID}" in err.message
    assert not (tmp_path / "s.db").exists()
    line = one_line_error(run_tipqual("refi", "import", str(path), str(tmp_path / "s.db")))
    assert line.startswith(f"Error: {path}/project.qde:5: two users") and USER_GUID in line
    assert not (tmp_path / "s.db").exists()
