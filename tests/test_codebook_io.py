"""Codebook exchange: YAML, .qdc, .xlsx and Markdown out; .qdc, .qde, .qdpx and .xlsx in; diff."""

from __future__ import annotations

import dataclasses
import json
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, TIP_CODEBOOK, shared
from tipqual.codebook import formats as codebook_io
from tipqual.codebook import model as codebook
from tipqual.codebook.model import Code, Codebook
from tipqual.errors import CodebookError, ExchangeError
from tipqual.exchange import qdaxml

BAD = FIXTURES / "codebooks"


@pytest.fixture(scope="module")
def tip() -> Codebook:
    return codebook.load(TIP_CODEBOOK)


@pytest.fixture(scope="module")
def schema():
    import xmlschema

    return xmlschema.XMLSchema(str(shared("refi", "Codebook.xsd")))


def tricky() -> Codebook:
    """A codebook whose texts look like formulas, markup and YAML booleans."""
    return Codebook(name="Tricky", version="0.3", description="=HYPERLINK(\"x\")", codes=[
        Code(id="group", name="Group", definition="A category.", codable=False,
             color="#abc"),
        Code(id="risk", name="Risk <b>bold</b>", definition="-2 dollars @home\nsecond line",
             include=["=1+1", "+ sign"], exclude=["on"], examples=["line one\nline two"],
             parent="group", color="#1f77b4", phrases=["yes", "off"],
             patterns=[[{"LOWER": "on"}, {"LENGTH": {">=": 2}}]]),
        Code(id="dashes", name="Dashes -- here--", definition="a -- b --- c"),
    ])


@pytest.mark.slow
def test_yaml_round_trip(tmp_path: Path, tip: Codebook) -> None:
    for book in (tip, tricky()):
        out = codebook_io.export(book, tmp_path / "out.yaml")
        assert codebook.load(out) == book
        assert codebook_io.to_yaml(book) == out.read_text(encoding="utf-8")


def test_yaml_key_order_is_stable(tip: Codebook) -> None:
    text = codebook_io.to_yaml(tip)
    assert text.startswith("name: TIP partnerships South Africa\nversion: '1.0'\n")
    first = text[text.index("codes:"):]
    assert first.index("id: partnership") < first.index("name: Partnership and")
    assert "- [{LEMMA: partner}, {LOWER: with}]" in text


def test_qdc_export_validates_against_the_refi_codebook_schema(tmp_path: Path, tip: Codebook,
                                                               schema) -> None:
    # Only this needs ../shared (the REFI-QDA XSD); the round trip is checked in the next test.
    for book in (tip, tricky()):
        schema.validate(str(codebook_io.export(book, tmp_path / "out.qdc")))


def test_qdc_round_trip_keeps_every_field(tmp_path: Path, tip: Codebook) -> None:
    for book in (tip, tricky()):
        out = codebook_io.export(book, tmp_path / "out.qdc")
        assert codebook_io.import_file(out) == book
        back = tmp_path / "back.yaml"
        codebook_io.export(codebook_io.import_file(out), back)
        assert codebook.load(back) == book


def test_qdc_guids_come_from_the_code_ids(tmp_path: Path, tip: Codebook) -> None:
    first = codebook_io.to_qdc(tip)
    assert codebook_io.to_qdc(codebook.load(TIP_CODEBOOK)) == first
    root = qdaxml.parse_xml(first, "x.qdc")
    guids = {qdaxml.attr(el, "name"): qdaxml.attr(el, "guid")
             for el in qdaxml.descendants(root, "Code")}
    expected = str(uuid.uuid5(qdaxml.TIPQUAL_NAMESPACE, "code:trust")).upper()
    assert guids["Trust and distrust"] == expected
    nested = [qdaxml.attr(el, "name") for el in qdaxml.children(
        next(e for e in qdaxml.descendants(root, "Code")
             if qdaxml.attr(e, "name") == "Partnership and collaboration"), "Code")]
    assert nested == ["Partnership with government", "Partnership with civil society",
                      "Reliance on a committed individual"]


def test_qdc_description_is_readable_in_other_tools(tip: Codebook) -> None:
    root = qdaxml.parse_xml(codebook_io.to_qdc(tip), "x.qdc")
    trust = next(e for e in qdaxml.descendants(root, "Code")
                 if qdaxml.attr(e, "name") == "Trust and distrust")
    text = qdaxml.child_text(trust, "Description")
    assert text.startswith(tip.code("trust").definition)
    assert "\n\nInclude:\n- victims' fear of police" in text
    assert "\n\nExamples:\n- " in text


def test_qdc_edited_by_another_tool_still_imports(tmp_path: Path, tip: Codebook) -> None:
    data = codebook_io.to_qdc(tip).decode("utf-8")
    start, end = data.index("<!--"), data.index("-->") + 3
    stripped = data[:start] + data[end:]  # other tools drop comments
    stripped = stripped.replace('name="Trust and distrust"', 'name="Trust in officials"')
    book = codebook_io.from_qdc(stripped.encode("utf-8"), "edited.qdc")
    trust = book.code("trust")
    assert trust.name == "Trust in officials"
    assert trust.definition == tip.code("trust").definition
    assert trust.include == tip.code("trust").include
    assert trust.examples == tip.code("trust").examples
    assert book.code("referral").parent == "victim-services"


@pytest.mark.parametrize("name, n_codes", [
    ("taguette_tests_expected_reconstructed.qdc", 3),
    ("atlasti84mac_refi-standard-project.qde", 14),
    ("atlasti84mac_refi-standard-project_nosources.qdpx", 14),
])
def test_sample_files_import(tmp_path: Path, name: str, n_codes: int) -> None:
    book = codebook_io.import_file(shared("refi", "samples", name))
    assert len(book.codes) == n_codes
    assert len(set(book.ids)) == n_codes
    out = codebook_io.export(book, tmp_path / "sample.yaml")
    again = codebook_io.export(book, tmp_path / "sample.qdc")
    assert codebook_io.import_file(again).ids == book.ids
    assert out.read_text(encoding="utf-8").count("- id: ") == n_codes


def test_atlas_codes_keep_descriptions_and_colours() -> None:
    qde = shared("refi", "samples", "atlasti84mac_refi-standard-project.qde")
    book = codebook_io.import_file(qde)
    feelings = next(c for c in book.codes if c.name == "Feelings")
    assert feelings.definition == "thoughts about breakfast foods"
    assert feelings.color == "#F00082"


def test_lenient_qdc_import() -> None:
    book = codebook_io.import_file(BAD / "lenient.qdc")
    assert book.ids == ["barriers", "lack-of-trust", "delays"]
    barriers, trust, delays = book.codes
    assert barriers.codable is False and barriers.color == "#AA00CC"
    assert trust.parent == "barriers" and delays.parent == "barriers"
    assert trust.definition == "Victims do not trust officials."
    assert trust.include == ["fear of reporting"]
    assert trust.examples == ["She would not go near the station."]


def test_malformed_qdc_names_file_and_line() -> None:
    with pytest.raises(ExchangeError) as info:
        codebook_io.import_file(BAD / "malformed.qdc")
    assert info.value.line == 3 and "malformed XML" in info.value.message


def test_qdpx_without_project_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Sources/readme.txt", "nothing")
    with pytest.raises(ExchangeError, match="no .qde project file"):
        codebook_io.import_file(path)


# A .qdpx read by 'codebook import' gets the checks 'refi import' makes (one archive reader).
_PROJECT = ("<?xml version='1.0' encoding='utf-8'?><Project xmlns='urn:QDA-XML:project:1.0' "
            "name='p'><CodeBook><Codes><Code guid='11111111-2222-4333-8444-5555555555%s' "
            "name='%s' isCodable='true'/></Codes></CodeBook></Project>")
_GOOD, _EVIL = (_PROJECT % ("01", "Trust")).encode(), (_PROJECT % ("02", "Evil")).encode()


def _special(name: str, kind: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode in the high bits says link, device …
    info.external_attr = (kind | 0o644) << 16
    return info


def _qdpx(path: Path, members: list) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


@pytest.mark.parametrize(("members", "why"), [
    ([("project.qde", _GOOD), ("project.qde", _EVIL)], "two members named 'project.qde'"),
    ([("Project.qde", _EVIL), ("project.qde", _GOOD)], "two members named 'Project.qde'"),
    ([("project.qde", _GOOD), ("./project.qde", _EVIL)], "two members named"),
    ([(_special("project.qde", 0o120000), b"../../etc/passwd")], "is a symbolic link"),
    ([("project.qde", _GOOD), (_special("sources/a.txt", 0o120000), b"/etc")],
     "is a symbolic link"),
    ([(_special("project.qde", 0o020000), b"")], "device or other special file"),
    ([("../project.qde", _EVIL)], "unsafe member name '../project.qde'"),
    ([("project.qde", _GOOD), ("sources/../../../x.txt", b"x")], "unsafe member name"),
    ([("project.qde", _GOOD), ("/etc/cron.d/x", b"x")], "unsafe member name"),
    ([("a.qde", _GOOD), ("b.qde", _EVIL)], "two project files ('a.qde', 'b.qde')"),
])
def test_qdpx_codebook_import_uses_the_refi_archive_checks(members: list, why: str,
                                                           tmp_path: Path) -> None:
    from tests.helpers import run_tipqual

    path = _qdpx(tmp_path / "partner.qdpx", members)
    with pytest.raises(ExchangeError, match="refused: ") as info:
        codebook_io.import_file(path)
    assert why in info.value.message and info.value.path == str(path)
    out = tmp_path / "book.yaml"
    result = run_tipqual("codebook", "import", str(path), "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {path}: refused: ") and why in line
    assert not out.exists()


def test_qdpx_codebook_import_finds_the_project_file_as_refi_import_does(tmp_path: Path) -> None:
    # the shallowest .qde, project.qde before another name beside it
    path = _qdpx(tmp_path / "nested.qdpx", [("Export/project.qde", _GOOD),
                                            ("Export/Sources/x.qde", _EVIL)])
    assert [c.name for c in codebook_io.import_file(path).codes] == ["Trust"]
    path = _qdpx(tmp_path / "two.qdpx", [("partner.qde", _EVIL), ("project.qde", _GOOD)])
    assert [c.name for c in codebook_io.import_file(path).codes] == ["Trust"]


def test_xlsx_round_trip_and_layout(tmp_path: Path, tip: Codebook) -> None:
    from openpyxl import load_workbook

    for book in (tip, tricky()):
        out = codebook_io.export(book, tmp_path / "out.xlsx")
        assert codebook_io.import_file(out) == book
    ws = load_workbook(tmp_path / "out.xlsx")["codes"]
    header = [c.value for c in ws[1]]
    assert header == list(codebook_io.CODE_COLUMNS)
    risk = {h: c for h, c in zip(header, ws[3], strict=False)}
    assert risk["include"].value == "=1+1\n+ sign" and risk["include"].data_type == "s"
    assert risk["definition"].value.startswith("-2 dollars") and \
        risk["definition"].data_type == "s"
    assert json.loads(risk["examples"].value) == ["line one\nline two"]
    assert json.loads(risk["patterns"].value) == [[{"LOWER": "on"}, {"LENGTH": {">=": 2}}]]


def test_xlsx_is_byte_identical_across_exports(tmp_path: Path, tip: Codebook) -> None:
    a = codebook_io.export(tip, tmp_path / "a.xlsx").read_bytes()
    assert codebook_io.export(tip, tmp_path / "b.xlsx").read_bytes() == a


def test_xlsx_with_bad_patterns_names_the_row(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "codes"
    ws.append(["id", "name", "definition", "patterns"])
    ws.append(["trust", "Trust", "Trust.", None])
    ws.append(["delays", "Delays", "Waiting.", "[{LOWER: wait}]"])
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(CodebookError) as info:
        codebook_io.import_file(tmp_path / "bad.xlsx")
    assert info.value.line == 3 and "code 'delays'" in info.value.message
    assert "not valid JSON" in info.value.message


def test_xlsx_with_a_misspelt_column(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "codes"
    wb.active.append(["id", "name", "defintion"])
    wb.save(tmp_path / "typo.xlsx")
    with pytest.raises(CodebookError, match="unknown column 'defintion'; did you mean "
                                            "'definition'"):
        codebook_io.import_file(tmp_path / "typo.xlsx")


def test_markdown_appendix(tip: Codebook) -> None:
    text = codebook_io.to_markdown(tip)
    assert text.startswith("# TIP partnerships South Africa\n\nVersion 1.0 · 21 codes")
    assert "  - **Partnership with government** (`partnership-vertical`)" in text
    for code in tip.codes:
        assert f"### {code.name} (`{code.id}`)" in text
    assert "| SAPS | South African Police Service | government | national |" in text
    assert codebook_io.to_markdown(tip) == text


def test_markdown_escapes_markup() -> None:
    text = codebook_io.to_markdown(tricky())
    assert "Risk &lt;b&gt;bold&lt;/b&gt;" in text and "<b>" not in text
    assert "A category: it groups other codes" in text


def test_unknown_formats_are_refused(tmp_path: Path, tip: Codebook) -> None:
    with pytest.raises(CodebookError, match="cannot export to '.pdf'"):
        codebook_io.export(tip, tmp_path / "x.pdf")
    (tmp_path / "x.csv").write_text("id\n")
    with pytest.raises(CodebookError, match="cannot import '.csv'"):
        codebook_io.import_file(tmp_path / "x.csv")


def test_diff_reports_every_kind_of_change(tip: Codebook) -> None:
    codes = {c.id: c for c in tip.codes}
    new_codes = [c for c in tip.codes if c.id != "coordination"]
    new_codes = [dataclasses.replace(c, name="Trust") if c.id == "trust" else c
                 for c in new_codes]
    new_codes = [dataclasses.replace(c, definition="Changed.", exclude=[])
                 if c.id == "delays" else c for c in new_codes]
    new_codes = [dataclasses.replace(c, parent="capacity")
                 if c.id == "capacity-building" else c for c in new_codes]
    new_codes = [dataclasses.replace(c, phrases=[*c.phrases, "kickbacks galore"])
                 if c.id == "corruption" else c for c in new_codes]
    new_codes.append(Code(id="racism", name="Racism", definition="Racism by officials."))
    people = [dataclasses.replace(s, aliases=[*s.aliases, "Saps officers"]) if s.id == "SAPS"
              else s for s in tip.stakeholders if s.id != "EMBASSY"]
    new = dataclasses.replace(tip, version="1.1", codes=new_codes, stakeholders=people)
    result = codebook_io.diff(tip, new)
    assert result.added == ["racism"] and result.removed == ["coordination"]
    assert result.renamed == [("trust", codes["trust"].name, "Trust")]
    assert result.redefined == [("delays", ["definition", "exclude"])]
    assert result.moved == [("capacity-building", None, "capacity")]
    assert result.changed == [("corruption", ["phrases"])]
    assert result.lines()[0] == "TIP partnerships South Africa v1.0 -> " \
                                "TIP partnerships South Africa v1.1"
    data = result.to_dict()
    assert data["renamed"] == [{"id": "trust", "old": "Trust and distrust", "new": "Trust"}]
    assert data["stakeholders"] == {"added": [], "removed": ["EMBASSY"], "changed": ["SAPS"]}
    assert result.lines()[-2:] == ["stakeholder removed EMBASSY", "stakeholder changed SAPS"]
    assert codebook_io.diff(tip, tip).empty
    assert codebook_io.diff(tip, tip).lines()[-1] == "no changes to the codes or stakeholders"


def test_markdown_keeps_multiline_examples_quoted() -> None:
    text = codebook_io.to_markdown(tricky())
    assert "> line one\n> line two\n" in text


HOSTILE = [[{"LOWER": {"REGEX": "^(a+)+$"}}]]


def test_a_qdc_carrying_a_catastrophic_regex_is_refused(tmp_path: Path, tip: Codebook) -> None:
    codes = [dataclasses.replace(c, patterns=HOSTILE) if c.id == "trust" else c
             for c in tip.codes]
    path = tmp_path / "partner.qdc"
    path.write_bytes(codebook_io.to_qdc(dataclasses.replace(tip, codes=codes)))
    with pytest.raises(CodebookError) as info:
        codebook_io.import_file(path)
    assert info.value.path == str(path)
    assert info.value.message.startswith("code 'trust': pattern 1 is refused: the REGEX "
                                         '"^(a+)+$" repeats a part')
    path.write_bytes(codebook_io.to_qdc(tip))  # the same file without it imports
    assert codebook_io.import_file(path) == tip


def test_xlsx_with_a_catastrophic_regex_names_the_row(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "codes"
    ws.append(["id", "name", "definition", "patterns"])
    ws.append(["trust", "Trust", "Trust.", None])
    ws.append(["delays", "Delays", "Waiting.", json.dumps(HOSTILE)])
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(CodebookError) as info:
        codebook_io.import_file(tmp_path / "bad.xlsx")
    assert info.value.line == 3 and info.value.message.startswith(
        "code 'delays': pattern 1 is refused: the REGEX")


def test_a_deeply_nested_hidden_copy_is_ignored_not_a_crash(tmp_path: Path,
                                                            tip: Codebook) -> None:
    data = codebook_io.to_qdc(tip).decode("utf-8")
    start = data.index(codebook_io.COMMENT_TAG) + len(codebook_io.COMMENT_TAG)
    end = data.index(" -->", start)
    path = tmp_path / "odd.qdc"
    path.write_text(data[:start] + " " + "[" * 100_000 + "]" * 100_000 + data[end:],
                    encoding="utf-8")
    book = codebook_io.import_file(path)  # read as another tool's codebook
    assert len(book.codes) == len(tip.codes)
    assert all(not c.patterns for c in book.codes)


def test_xlsx_import_refuses_a_repeated_group_with_an_optional_part(tmp_path: Path,
                                                                    runner) -> None:
    """'tipqual codebook import X.xlsx' runs the same REGEX check as a YAML codebook."""
    from openpyxl import Workbook

    from tipqual.cli import cli

    wb = Workbook()
    ws = wb.active
    ws.title = "codes"
    ws.append(["id", "name", "patterns"])
    ws.append(["trust", "Trust", json.dumps([[{"LOWER": {"REGEX": "(a(b?)?)+c"}}]])])
    wb.save(tmp_path / "partner.xlsx")
    out = tmp_path / "partner.yaml"
    result = runner.invoke(cli, ["codebook", "import", str(tmp_path / "partner.xlsx"),
                                 "--out", str(out)])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {tmp_path / 'partner.xlsx'}:2: code 'trust': pattern 1 is "
                           'refused: the REGEX "(a(b?)?)+c" repeats a part')
    assert not out.exists()


def _workbook(path: Path) -> Path:
    codebook_io.export(Codebook(name="w", version="1", codes=[Code("trust", "Trust")]), path)
    return path


def test_an_xlsx_that_unpacks_too_far_is_refused_before_openpyxl(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "bomb.xlsx")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet9.xml", b" " * (4 * 1024 * 1024))  # packs ~1000:1
    with pytest.raises(CodebookError) as info:
        codebook_io.import_file(path)
    assert info.value.path == str(path)
    assert info.value.message.startswith("refused: the workbook part 'xl/worksheets/sheet9.xml' "
                                         "is packed")
    assert "possibly a zip bomb" in info.value.message


def test_an_xlsx_over_the_size_cap_is_refused(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _workbook(tmp_path / "big.xlsx")
    assert codebook_io.import_file(path).ids == ["trust"]
    monkeypatch.setattr(codebook_io, "MAX_XLSX_UNZIPPED", 1024)  # (64 MB) far below this one
    with pytest.raises(CodebookError) as info:
        codebook_io.import_file(path)
    assert info.value.format().startswith(f"{path}: refused: the workbook unpacks to 0 MB, "
                                          "more than the 0 MB a codebook may take")
    (tmp_path / "not.xlsx").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(CodebookError, match=r"cannot read the workbook \(BadZipFile\)"):
        codebook_io.import_file(tmp_path / "not.xlsx")


def test_codes_without_definitions_move_through_export_validate_and_apply(
        tmp_path: Path) -> None:
    """A study from another tool's project, whose codes have no descriptions, can be exported
    and moved to a new codebook version; so can another tool's .qdc without them."""
    from tipqual.codebook.check import check
    from tipqual.coding.evolve import apply_codebook
    from tipqual.store.project import Project

    book = Codebook(name="partner", version="1", codes=[
        Code("places", "Places"), Code("people", "People", parent="places")])
    study = tmp_path / "study.db"
    with Project.create(study) as project, project.atomic():
        project.set_codebook(book)
    out = codebook_io.export(codebook_io.load_source(study), tmp_path / "p.yaml")
    assert check(out) == []
    loaded = codebook.load(out)  # what 'codebook apply' reads
    assert loaded == book
    assert "**Definition.**" not in codebook_io.to_markdown(loaded)
    v2 = dataclasses.replace(loaded, version="2", codes=[*loaded.codes, Code("time", "Time")])
    codebook_io.export(v2, tmp_path / "p2.yaml")
    with Project.open(study) as project:
        plan, step, _ = apply_codebook(project, codebook.load(tmp_path / "p2.yaml"))
        assert step is not None and project.codebook() == v2
    qdc = tmp_path / "other.qdc"
    qdc.write_text('<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns="urn:QDA-XML:'
                   f'codebook:1.0" origin="Other"><Codes><Code guid="{uuid.uuid4()}" '
                   'name="Places" isCodable="true"/></Codes></CodeBook>\n', encoding="utf-8")
    codebook_io.export(codebook_io.import_file(qdc), tmp_path / "other.yaml")
    assert check(tmp_path / "other.yaml") == []
