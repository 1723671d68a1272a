"""Tests for the REFI-QDA project exchange: export, import, leniency, offsets and safety."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import xmlschema

from tests.helpers import SAMPLE, TIP_CODEBOOK, shared
from tipqual.codebook import model as codebook_mod
from tipqual.errors import ExchangeError, ProjectError
from tipqual.exchange import archive as refi
from tipqual.exchange import qdaxml
from tipqual.exchange.archive import Counting, TextMap, check_member_name
from tipqual.exchange.export import export_project
from tipqual.exchange.importer import import_project
from tipqual.records import Coding
from tipqual.store.project import Project

FIX = Path(__file__).resolve().parent / "fixtures" / "refi"
EXPECTED = json.loads((FIX / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared("refi", "Project.xsd")))


@pytest.fixture(scope="module")
def sample_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample study with codings of several kinds, built once for the module."""
    from tipqual.ingest.importer import import_paths

    path = tmp_path_factory.mktemp("sample") / "study.db"
    p = Project.create(path)
    with p.atomic():
        p.set_codebook(codebook_mod.load(TIP_CODEBOOK))
    import_paths(p, [SAMPLE / "transcripts"], cases_csv=SAMPLE / "cases.csv")
    segments = [s for s in p.segments() if s.role == "respondent"]
    codes = p.code_ids()
    with p.atomic():
        for i, seg in enumerate(segments[::3]):
            p.put_coding(Coding(segment=seg.id, code=codes[i % len(codes)], coder="alice",
                                memo="strong example" if i % 5 == 0 else None))
            if len(seg.text) > 40:
                p.put_coding(Coding(segment=seg.id, code="trust", coder="bob",
                                    span_start=5, span_end=35))
        p.put_coding(Coding(segment=segments[1].id, code="funding", coder="carol",
                            status="accepted", provenance="suggest"))
        p.put_coding(Coding(segment=segments[2].id, code="delays", coder="tipqual",
                            status="suggested"))
        p.put_coding(Coding(segment=segments[4].id, code="delays", coder="dave",
                            status="rejected"))
    p.close()
    return path


def _coded_texts(p: Project) -> list[tuple[str, str, str, str]]:
    """(source, code name, coder, coded text) of every coding, sorted."""
    names = {c.id: c.name for c in p.codebook().codes}
    out = []
    for c in p.codings():
        seg = p.segment(c.segment)
        text = seg.text if c.span_start is None else seg.text[c.span_start:c.span_end]
        out.append((seg.source, names.get(c.code, c.code), c.coder, text))
    return sorted(out)


def test_export_is_deterministic_and_complete(sample_study: Path, tmp_path: Path) -> None:
    with Project.open(sample_study, readonly=True) as p:
        counts = export_project(p, tmp_path / "a.qdpx")
        export_project(p, tmp_path / "b.qdpx")
        n_sources = len(p.sources())
    assert (tmp_path / "a.qdpx").read_bytes() == (tmp_path / "b.qdpx").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.qdpx") as zf:
        names = zf.namelist()
        qde = zf.read("project.qde")
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    assert names == sorted(names) and names[0] == "project.qde"
    assert len([n for n in names if n.startswith("sources/") and n.endswith(".txt")]) == n_sources
    assert counts["sources"] == n_sources == 10 and counts["cases"] == 10
    root = ET.fromstring(qde)
    ns = {"p": qdaxml.PROJECT_NS}
    users = [u.get("name") for u in root.findall("p:Users/p:User", ns)]
    assert users == ["alice", "bob", "carol"]  # no suggester, no rejecter
    assert counts["notes"] == len(root.findall("p:Notes/p:Note", ns)) > 0
    nested = root.findall("p:CodeBook/p:Codes/p:Code/p:Code", ns)
    assert nested and all(c.get("guid") for c in nested)


def test_export_validates_against_the_refi_project_schema(
        sample_study: Path, tmp_path: Path, project_schema: xmlschema.XMLSchema) -> None:
    # Only this needs ../shared (the REFI-QDA XSD); what the export holds is checked above.
    with Project.open(sample_study, readonly=True) as p:
        export_project(p, tmp_path / "a.qdpx")
    with zipfile.ZipFile(tmp_path / "a.qdpx") as zf:
        project_schema.validate(ET.fromstring(zf.read("project.qde")))


@pytest.mark.slow
def test_export_holds_one_source_text_at_a_time(sample_study: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import weakref

    class Text(str):
        """A source text that can be watched (a str subclass takes weak references)."""

    with Project.open(sample_study, readonly=True) as p:
        export_project(p, tmp_path / "before.qdpx")
        alive: list[weakref.ref] = []
        most = [0]
        stored_texts = Project.source_texts

        def watched(self: Project, ids=None):
            for sid, text in stored_texts(self, ids):
                gc.collect()
                # the caller may still hold the text it had last; none of the earlier ones
                most[0] = max(most[0], sum(r() is not None for r in alive))
                watched_text = Text(text)
                alive.append(weakref.ref(watched_text))
                yield sid, watched_text
                del watched_text

        def refused(*args, **kwargs):
            raise AssertionError("the export read every segment or source text at once")

        monkeypatch.setattr(Project, "source_texts", watched)
        monkeypatch.setattr(Project, "sources", refused)
        monkeypatch.setattr(Project, "segments", refused)
        export_project(p, tmp_path / "after.qdpx")
    assert len(alive) == 20  # every source's text read twice: for the selections, the archive
    assert most[0] <= 1
    assert (tmp_path / "after.qdpx").read_bytes() == (tmp_path / "before.qdpx").read_bytes()


def test_export_offsets_are_code_points_of_stored_text(sample_study: Path, tmp_path: Path) -> None:
    with Project.open(sample_study, readonly=True) as p:
        export_project(p, tmp_path / "s.qdpx")
        expected = {(c.code, c.coder, c.segment, c.span_start) for c in p.codings(
            statuses=("human", "accepted"))}
        spans = []
        for c in p.codings(statuses=("human", "accepted")):
            seg = p.segment(c.segment)
            text = seg.text if c.span_start is None else seg.text[c.span_start:c.span_end]
            spans.append((seg.source, text))
        sources = {s.id: s.text for s in p.sources()}
    with zipfile.ZipFile(tmp_path / "s.qdpx") as zf:
        root = ET.fromstring(zf.read("project.qde"))
        files = {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.startswith("sources/")}
    ns = {"p": qdaxml.PROJECT_NS}
    exported = []
    for src in root.findall("p:Sources/p:TextSource", ns):
        text = files["sources/" + src.get("plainTextPath").removeprefix("internal://")]
        assert text == sources[Path(src.get("name")).stem]
        for sel in src.findall("p:PlainTextSelection", ns):
            piece = text[int(sel.get("startPosition")):int(sel.get("endPosition"))]
            exported += [(Path(src.get("name")).stem, piece)] * len(sel.findall("p:Coding", ns))
    assert sorted(exported) == sorted(spans) and len(exported) == len(expected)


def test_round_trip_keeps_sources_codes_cases_and_coded_text(sample_study: Path,
                                                              tmp_path: Path) -> None:
    with Project.open(sample_study, readonly=True) as p:
        export_project(p, tmp_path / "s.qdpx")
        before_sources = {s.id: (s.text, s.case) for s in p.sources()}
        before_cases = {c.id: c.attributes for c in p.cases()}
        before_codes = [(c.name, c.color, c.definition.strip()) for c in p.codebook().codes]
        before = [t for t in _coded_texts(p)
                  if t[2] in ("alice", "bob", "carol")]
        old = p.codebook()
        parents = {c.name: old.code(c.parent).name if c.parent else None for c in old.codes}
        memos = sorted(c.memo for c in p.codings() if c.memo)
    report = import_project(tmp_path / "s.qdpx", tmp_path / "back.db")
    assert report["missing"] == [] and report["skipped"] == [] and report["dropped"] == []
    with Project.open(tmp_path / "back.db") as q:
        assert {s.id: (s.text, s.case) for s in q.sources()} == before_sources
        assert {c.id: c.attributes for c in q.cases()} == before_cases
        book = q.codebook()
        assert [(c.name, c.color, c.definition) for c in book.codes] == before_codes
        assert {c.name: book.code(c.parent).name if c.parent else None
                for c in book.codes} == parents
        assert book.ids == old.ids  # every code id recovered from tipqual's own export
        assert book.sha256 == old.sha256  # with phrases, patterns and the registry
        assert _coded_texts(q) == before
        assert sorted(c.memo for c in q.codings() if c.memo) == memos
        assert {c.status for c in q.codings()} == {"human"}


def test_atlas_sample_qdpx_imports_codes_and_reports_sources(tmp_path: Path) -> None:
    sample = shared("refi", "samples", "atlasti84mac_refi-standard-project_nosources.qdpx")
    report = import_project(sample, tmp_path / "atlas.db", allow_missing=True)
    assert report["codes"] == 14 and report["sources"] == 0
    assert len(report["missing"]) == 6
    assert any(m.startswith("Mabêl 2ième.txt (internal://") for m in report["missing"])
    assert sorted(report["skipped"]) == sorted([
        "cornflakes-n-milk.jpg (picture)", "Kellogg's Passion for Nutrition.pdf (PDF)",
        "Pay de Limón con Base de Granola | Kellogg's ®.pdf (PDF)",
        "Jeanine's Breakfast.m4a (audio)", "1960s Coca Cola commercial.mp4 (video)",
        "1994 Diet Coke-Diet Coke Break.mp4 (video)"])
    assert "Simon.docx: 3 codings skipped with the source" in report["dropped"]
    assert "1994 Diet Coke-Diet Coke Break.docx: 1 coding skipped with the source" \
        in report["dropped"]
    # the codings of the picture, the PDF (each quotation once, though its text
    # representation repeats it) and the video are listed, with sets, links, graph and notes
    for line in ("cornflakes-n-milk.jpg: 2 codings not imported (a picture source: tipqual "
                 "codes text only)",
                 "Pay de Limón con Base de Granola | Kellogg's ®.pdf: 4 codings not imported "
                 "(a PDF source: tipqual codes text only)",
                 "1994 Diet Coke-Diet Coke Break.mp4: 1 coding not imported (a video source: "
                 "tipqual codes text only)",
                 "Mabêl 2ième.txt: 1 selection without codings, with its memo (tipqual keeps "
                 "coded passages only)",
                 "1 graph ('Netzwerk'): tipqual draws no code networks",
                 "note 'Research Plan' (on nothing): tipqual keeps memos on codings only"):
        assert line in report["dropped"], line
    assert any(d.startswith("16 sets ('Mabel', ") for d in report["dropped"])
    with Project.open(tmp_path / "atlas.db") as p:
        book = p.codebook()
        assert len(book.codes) == 14
        assert book.code("coke-diet-coke").definition == "non sucré"
        assert book.code("bacon-and-eggs").color == "#463CC8"


def test_atlas_sample_bare_qde_imports(tmp_path: Path) -> None:
    sample = shared("refi", "samples", "atlasti84mac_refi-standard-project.qde")
    report = import_project(sample, tmp_path / "a.db", allow_missing=True)
    assert report["codes"] == 14 and len(report["missing"]) == 6


@pytest.mark.parametrize("kind", ["nvivo", "atlas", "maxqda"])
def test_tool_shaped_projects_land_on_the_text_the_tool_showed(kind: str, tmp_path: Path) -> None:
    report = import_project(FIX / f"{kind}.qdpx", tmp_path / f"{kind}.db")
    assert report["producer"] == ("nvivo" if kind == "nvivo" else "cp")
    assert report["sources"] == 2 and report["codes"] == 5 and report["cases"] == 2
    assert report["dropped"] == []
    with Project.open(tmp_path / f"{kind}.db") as p:
        got = _coded_texts(p)
        assert {c.id: c.attributes for c in p.cases()} == {
            "CSO-11": {"province": "Limpopo", "staff": "12"}, "CSO-12": {"province": "Gauteng"}}
        assert {s.id: s.case for s in p.sources()} == {"CSO-11 interview": "CSO-11",
                                                       "CSO-12 interview": "CSO-12"}
        assert all("\r" not in s.text for s in p.sources())
        assert [c.parent for c in p.codebook().codes] == [None, "partnership", "partnership",
                                                          None, None]
    for source, code, coder, selected in EXPECTED[kind]:
        pieces = [t for s, c, u, t in got if (s, c, u) == (source, code, coder)]
        if "\n\n" in selected:  # crosses segments: split at them, speaker label left out
            assert pieces == ["And funding?", "Sometimes the DSD social worker comes a week "
                                              "late."]
        else:
            assert pieces == [selected], (kind, code, coder)
    assert len(got) == 7


def test_maxqda_category_and_relative_paths(tmp_path: Path) -> None:
    import_project(FIX / "maxqda.qdpx", tmp_path / "m.db")
    with Project.open(tmp_path / "m.db") as p:
        codings = p.codings()
        assert {c.coder for c in codings} == {"Ayesha", "Bongani"}
        assert all(c.provenance == "refi:MAXQDA 2022 (Release 22.7.0)" for c in codings)
        assert p.codebook().code("partnership").name == "Partnership"


def test_atlas_shape_reports_missing_and_non_text(tmp_path: Path) -> None:
    report = import_project(FIX / "atlas.qdpx", tmp_path / "a.db")
    assert report["missing"] == [
        "Lost memo.docx (internal://000000FB-1111-4222-8333-0000000000FB.txt)"]
    assert report["skipped"] == ["Annual report.pdf (PDF)", "Interview.m4a (audio)"]


def test_nvivo_whole_segment_selection_is_whole_segment_coding(tmp_path: Path) -> None:
    import_project(FIX / "nvivo.qdpx", tmp_path / "n.db")
    with Project.open(tmp_path / "n.db") as p:
        funding = [c for c in p.codings(codes=["funding"]) if c.coder == "Bongani"]
        assert [(c.span_start, c.span_end) for c in funding] == [(None, None), (25, 74)]
        assert [c.created_at for c in funding] == ["2024-05-02T10:00:00Z"] * 2


def test_text_map_nvivo_units_crlf_bom_emoji() -> None:
    raw = "a😀b\r\nc é\nd"
    m = TextMap(raw, Counting("utf16", "two"))  # NVivo's units, in text whose CRLF became LF
    assert m.text == "a😀b\nc é\nd"
    assert m.to_stored(0, end=False) == 0
    assert m.to_stored(3, end=False) == 2  # after a + surrogate pair
    assert m.to_stored(2, end=True) == 2 and m.to_stored(2, end=False) == 1  # inside the pair
    assert m.to_stored(6, end=False) == 4  # CRLF counted as two units
    assert m.to_stored(11, end=False) == 8  # lone LF counted as two as well
    assert m.to_stored(10, end=False) == 7 and m.to_stored(10, end=True) == 8
    nvivo = TextMap(raw, refi.default_counting("NVivo 12 for Windows"))
    assert nvivo.to_stored(10, end=False) == 8  # a lone LF in the file is one unit
    cp = TextMap(raw, Counting())
    assert cp.to_stored(5, end=False) == 4 and cp.to_stored(99, end=True) == len(cp.text)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_counting_rule_chosen_by_selection_names() -> None:
    raw = "Intro 😀😀 line\nWe trust the detectives 🙂 here.\nDelays everywhere in Musina."
    at = raw.index("Delays")
    end = at + len("Delays everywhere")
    utf16 = [(_units(raw[:at]), _units(raw[:end]), "Delays everywhere")]
    lf = raw.count("\n", 0, at)  # each LF before counted twice by NVivo for Windows
    nvivo = [(a + lf, b + lf, n) for a, b, n in utf16]
    cp = [(at, end, "Delays everywhere")]
    nvivo_rule, cp_rule = Counting("utf16", "two"), Counting()
    assert refi.choose_countings([(raw, False, utf16)], nvivo_rule) == [Counting("utf16")]
    assert refi.choose_countings([(raw, False, nvivo)], cp_rule) == [nvivo_rule]
    assert refi.choose_countings([(raw, False, cp)], nvivo_rule) == [cp_rule]
    assert refi.choose_countings([(raw, False, [(0, 5, "Quotation 6:1")])],
                                 nvivo_rule) == [nvivo_rule]
    assert refi.choose_countings([(raw, False, [(0, 3, "")])], cp_rule) == [cp_rule]


def test_nvivo_for_mac_lf_positions(tmp_path: Path) -> None:
    text = "Respondent: Funding 💰 ended.\n\nRespondent: The detective helps us every week.\n"
    at = text.index("The detective")
    start, end = _units(text[:at]), _units(text[:at]) + len("The detective helps")
    qde = ("<Project xmlns='urn:QDA-XML:project:1.0' name='Mac' origin='NVivo 14 (Mac)'>"
           "<CodeBook><Codes><Code guid='AAAAAAAA-1111-4222-8333-000000000001' name='Trust'"
           " isCodable='true'/></Codes></CodeBook><Sources>"
           "<TextSource guid='BBBBBBBB-1111-4222-8333-000000000001' name='mac.txt'"
           " plainTextPath='internal://one.txt'>"
           f"<PlainTextSelection guid='CCCCCCCC-1111-4222-8333-000000000001' name='The detective"
           f" helps' startPosition='{start}' endPosition='{end}'>"
           "<Coding guid='DDDDDDDD-1111-4222-8333-000000000001'>"
           "<CodeRef targetGUID='AAAAAAAA-1111-4222-8333-000000000001'/></Coding>"
           "</PlainTextSelection></TextSource></Sources></Project>").encode()
    path = _qdpx(tmp_path, {"project.qde": qde, "sources/one.txt": text.encode("utf-8")})
    report = import_project(path, tmp_path / "m.db")
    assert report["counting"] == {"mac.txt": "UTF-16 code units"}
    assert report["notes"] == [] and report["inexact"] == []
    with Project.open(tmp_path / "m.db") as p:
        assert [t[3] for t in _coded_texts(p)] == ["The detective helps"]


def test_producer_detection() -> None:
    assert refi.producer_of("NVivo 12 for Windows") == "nvivo"
    assert refi.producer_of("MAXQDA 2022") == "cp" and refi.producer_of(None) == "cp"


@pytest.mark.parametrize("name", ["../../evil.txt", "/tmp/evil.txt", "C:/evil.txt",
                                  "sources\\..\\..\\evil.txt"])
def test_unsafe_member_names_refused(name: str) -> None:
    with pytest.raises(ExchangeError, match="unsafe member name"):
        check_member_name(name, "x.qdpx")


@pytest.mark.parametrize("fixture", ["zip-slip.qdpx", "absolute-member.qdpx",
                                     "drive-letter.qdpx"])
def test_hostile_archives_refused_and_leave_no_study(fixture: str, tmp_path: Path) -> None:
    target = tmp_path / "x.db"
    with pytest.raises(ExchangeError, match=f"{fixture}: refused: .*unsafe member name"):
        import_project(FIX / fixture, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_entity_bomb_in_archive_refused(tmp_path: Path) -> None:
    with pytest.raises(ExchangeError, match=r"entity-bomb.qdpx/project.qde: refused"):
        import_project(FIX / "entity-bomb.qdpx", tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_not_a_zip_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ExchangeError, match=r"not-a-zip.qdpx: not a .qdpx archive"):
        import_project(FIX / "not-a-zip.qdpx", tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_zip_bomb_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refi, "MAX_MEMBER_BYTES", 100_000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", b"<Project name='x'>" + b" " * 1_000_000 + b"</Project>")
    (tmp_path / "bomb.qdpx").write_bytes(buf.getvalue())
    assert (tmp_path / "bomb.qdpx").stat().st_size < 10_000
    with pytest.raises(ExchangeError, match="possible zip bomb"):
        import_project(tmp_path / "bomb.qdpx", tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_existing_target_refused(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"keep")
    with pytest.raises(ProjectError, match="already exists"):
        import_project(FIX / "atlas.qdpx", tmp_path / "s.db")
    assert (tmp_path / "s.db").read_bytes() == b"keep"


def test_failed_write_leaves_no_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tipqual.exchange import importer as refi_import
    def broken(*args: object) -> None:
        raise ExchangeError("disk trouble")

    monkeypatch.setattr(refi_import, "_pieces", broken)
    with pytest.raises(ExchangeError, match="disk trouble"):
        import_project(FIX / "nvivo.qdpx", tmp_path / "x.db")
    assert list(tmp_path.iterdir()) == []


def _qdpx(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "in.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_leniency_bom_crlf_braced_guids_inline_text_missing_dates(tmp_path: Path) -> None:
    qde = ("\ufeff<?xml version='1.0' encoding='utf-8'?>\r\n"
           "<Project xmlns='urn:QDA-XML:project:1.0' name='Lenient' origin='QualCoder 3.5'>\r\n"
           "<CodeBook><Codes><Code guid='{aaaaaaaa-1111-4222-8333-000000000001}' name='Trust'"
           " isCodable='true'/></Codes></CodeBook>\r\n<Sources>\r\n"
           "<TextSource guid='BBBBBBBB-1111-4222-8333-000000000001' name='inline.txt'>"
           "<PlainTextContent>Respondent: We trust them.</PlainTextContent>"
           "<PlainTextSelection guid='cccccccc-1111-4222-8333-000000000001' startPosition='15'"
           " endPosition='25'><Coding guid='dddddddd-1111-4222-8333-000000000001'>"
           "<CodeRef targetGUID='AAAAAAAA-1111-4222-8333-000000000001'/></Coding>"
           "</PlainTextSelection></TextSource>\r\n"
           "<TextSource guid='BBBBBBBB-1111-4222-8333-000000000002' name='in folder.txt'"
           " plainTextPath='internal://file.txt'/>\r\n"
           "</Sources></Project>\r\n").encode("utf-8")
    path = _qdpx(tmp_path, {"Lenient.qde": qde,
                            "Sources/FILE.TXT": b"Second source text."})
    report = import_project(path, tmp_path / "l.db")
    assert report["sources"] == 2 and report["missing"] == []
    with Project.open(tmp_path / "l.db") as p:
        (c,) = p.codings()
        seg = p.segment(c.segment)
        assert seg.text[c.span_start:c.span_end] == "trust them"
        assert c.coder == "unknown"
        assert p.source("in folder").text == "Second source text."


def test_whole_source_coding_user_fallback_and_decomposed_names(tmp_path: Path) -> None:
    name = "Mabe\u0302l 2ie\u0300me.txt"  # decomposed accents, as macOS tools write them
    qde = ("<Project xmlns='urn:QDA-XML:project:1.0' name='Whole' "
           "creatingUserGUID='EEEEEEEE-1111-4222-8333-000000000001'>"
           "<Users><User guid='eeeeeeee-1111-4222-8333-000000000001' name='Zanele'/></Users>"
           "<CodeBook><Codes><Code guid='AAAAAAAA-1111-4222-8333-000000000001' name='Trust'"
           " isCodable='true'/></Codes></CodeBook><Sources>"
           f"<TextSource guid='BBBBBBBB-1111-4222-8333-000000000001' name='{name}'"
           " plainTextPath='relative://texts/one.txt'>"
           "<Coding guid='DDDDDDDD-1111-4222-8333-000000000001'>"
           "<CodeRef targetGUID='AAAAAAAA-1111-4222-8333-000000000001'/></Coding>"
           "</TextSource></Sources></Project>").encode()
    path = _qdpx(tmp_path, {"export/project.qde": qde,
                            "export/sources/texts/one.txt": b"First para.\n\nSecond para.\n"})
    report = import_project(path, tmp_path / "w.db")
    assert report["coders"] == ["Zanele"] and report["codings"] == 2
    with Project.open(tmp_path / "w.db") as p:
        assert [s.id for s in p.sources()] == ["Mabêl 2ième"]
        assert [(c.segment, c.span_start) for c in p.codings()] == [
            ("Mabêl 2ième:1", None), ("Mabêl 2ième:2", None)]


def test_not_a_project_root(tmp_path: Path) -> None:
    path = _qdpx(tmp_path, {"project.qde": b"<CodeBook xmlns='urn:QDA-XML:codebook:1.0'/>"})
    with pytest.raises(ExchangeError, match="expected <Project>"):
        import_project(path, tmp_path / "x.db")
    path = _qdpx(tmp_path, {"readme.txt": b"hi"})
    with pytest.raises(ExchangeError, match="no .qde project file"):
        import_project(path, tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_decode_text_boms_and_legacy() -> None:
    assert refi.decode_text("\ufeffcafé".encode("utf-8")) == "café"
    assert refi.decode_text(b"\xff\xfe" + "café 🙂".encode("utf-16-le")) == "café 🙂"
    assert refi.decode_text("café".encode("cp1252")) == "café"
    # UTF-16 without a BOM is valid UTF-8 (NULs between the letters): told apart, both orders
    text = "R: The café opens at 6 — 🙂\r\nR: ok"
    assert refi.decode_text(text.encode("utf-16-le")) == text
    assert refi.decode_text(text.encode("utf-16-be")) == text
    assert refi.decode_text(b"a\x00b") == "a\x00b"  # one NUL in UTF-8 text stays text


def test_resolve_never_leaves_the_archive(tmp_path: Path) -> None:
    path = _qdpx(tmp_path, {"project.qde": b"<Project name='x'/>", "Sources/A.txt": b"a"})
    archive = refi.Archive(path)
    try:
        assert archive.resolve("internal://a.TXT") == "Sources/A.txt"
        assert archive.resolve("relative:///A.txt") == "Sources/A.txt"
        assert archive.resolve("absolute:///etc/passwd") is None
        assert archive.resolve("relative://../project.qde") is None
        assert archive.resolve("/etc/passwd") is None
    finally:
        archive.close()


# --- what other tools' projects hold that tipqual has no place for (fixtures/refi/tools) ------

TOOLS = FIX / "tools"
TOOL_EXPECTED = json.loads((TOOLS / "expected.json").read_text(encoding="utf-8"))


def test_everything_not_imported_is_listed_with_why(tmp_path: Path) -> None:
    report = import_project(TOOLS / "nvivo-windows.qdpx", tmp_path / "n.db")
    dropped = report["dropped"]
    for line in (
            "Water by-law.pdf: 1 coding not imported (a PDF source: tipqual codes text only)",
            "Pump photo.jpg: 2 codings not imported (a picture source: tipqual codes text only)",
            # one on the recording, one on its transcript
            "Ward 7 meeting.m4a: 2 codings not imported (an audio source: tipqual codes text "
            "only)",
            "Site visit.mp4: 1 coding not imported (a video source: tipqual codes text only)",
            "2 sets ('Interviews', 'Service codes'): tipqual groups sources by case and codes "
            "by parent",
            "1 link ('see also'): tipqual keeps no links between codes, notes and passages",
            "note 'Source memo' (on the source 'Ward 7 committee.docx'): tipqual keeps memos "
            "on codings only",
            "note 'Code memo' (on the code 'Municipality'): tipqual keeps memos on codings only",
            "note 'Project memo' (on the project): tipqual keeps memos on codings only",
            "note 'Project memo': 1 coding of passages in the note not imported (tipqual codes "
            "the text of sources only)",
            "case 'Ward 9': its description (tipqual keeps attributes of cases, not memos)",
            "case 'Nomsa Dube': 1 selection given to it (tipqual gives a case whole sources: "
            "give it the source in the other tool)",
            "case 'Vhembe district': the source 'Ward 7 committee.docx' is already in the case "
            "'Ward 7' and stays there (a tipqual source belongs to one case)"):
        assert line in dropped, line
    # a selection of a speaker label alone is listed by its GUID and positions
    label = [d for d in dropped if "covers only a speaker label" in d]
    assert len(label) == 1 and label[0].startswith("Ward 9 notes.txt: selection ")
    # the notes linked from the imported selection and coding became the codings' memo
    assert not any("Second complaint" in d or "Compare with" in d for d in dropped)
    with Project.open(tmp_path / "n.db") as p:
        memos = {c.memo for c in p.codings()} - {None}
    assert memos == {"Compare with ward 9.\n\nSecond complaint this year."}


def test_a_pdf_quotation_repeated_in_its_text_representation_counts_once(
        tmp_path: Path) -> None:
    report = import_project(TOOLS / "atlas-mac.qdpx", tmp_path / "a.db")
    assert "By-law 2019.pdf: 1 coding not imported (a PDF source: tipqual codes text only)" \
        in report["dropped"]
    assert "Trader 1.docx: 1 selection without codings, with its memo (tipqual keeps coded " \
        "passages only)" in report["dropped"]
    assert [m.split(" (")[0] for m in report["missing"]] == ["Trader 2.docx"]
    assert "(no plainTextPath, only the rich text internal://" in report["missing"][0]
    with Project.open(tmp_path / "a.db") as p:  # no creationDateTime: the modified date
        assert {c.created_at for c in p.codings()} == {"2024-03-05T09:30:00Z"}


def test_document_variables_become_case_attributes(tmp_path: Path) -> None:
    report = import_project(TOOLS / "maxqda.qdpx", tmp_path / "m.db", allow_missing=True)
    assert TOOL_EXPECTED["maxqda.qdpx"]["notes"][0] in report["notes"]
    assert "Clinic B: its document variable 'District' = 'Vhembe' not kept (its case 'Night " \
        "clinics' already has 'District' = 'Capricorn')" in report["dropped"]
    assert not any("document variable" in line and "Clinic A" in line
                   for line in report["dropped"])
    with Project.open(tmp_path / "m.db", readonly=True) as p:
        assert {c.id: c.attributes for c in p.cases()} == {
            "Clinic A": {"District": "Sekhukhune"},
            "Night clinics": {"Beds": "40", "District": "Capricorn"}}
        assert {s.id: s.case for s in p.sources()} == {
            "Clinic A": "Clinic A", "Clinic B": "Night clinics"}


def test_document_variables_are_pseudonymised_with_their_case(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("Sekhukhune\nClinic A\n", encoding="utf-8")
    report = import_project(TOOLS / "maxqda.qdpx", tmp_path / "m.db", allow_missing=True,
                            redact=True, roster=roster)
    with Project.open(tmp_path / "m.db", readonly=True) as p:
        stored = json.dumps([(c.id, c.attributes) for c in p.cases()]
                            + [(s.id, s.case) for s in p.sources()])
    assert "Sekhukhune" not in stored and "Clinic A" not in stored
    assert "Sekhukhune" not in json.dumps(report)


def test_source_memo_is_listed(tmp_path: Path) -> None:
    report = import_project(TOOLS / "qualcoder.qdpx", tmp_path / "q.db")
    assert report["dropped"] == ["School 4.txt: the source's memo (its description; tipqual "
                                 "keeps memos on codings)"]


def test_a_coded_source_with_only_rich_text_stops_the_import_unless_allowed(
        tmp_path: Path) -> None:
    from tests.fixtures.refi.tools import Builder, Passage, Shape, TextDoc, X

    b = Builder(Shape(origin="ATLAS.ti 23"), "Rich only")
    b.add_users("Ann")
    b.add_codes([("Waiting", "#112233", "", True, [])])
    sources = X("Sources")
    b.project.add(sources)
    b.text_source(TextDoc("Notes.docx", "A: We waited for hours.\n", store="docx-only",
                          passages=[Passage("Waiting", "Ann", "waited for hours")]), sources)
    archive = tmp_path / "rich.qdpx"
    archive.write_bytes(b.qdpx())
    with pytest.raises(ExchangeError) as info:
        import_project(archive, tmp_path / "r.db")
    message = info.value.format()
    assert "the plain text of the text source 'Notes.docx' (no plainTextPath, only the rich " \
        "text internal://" in message and "so its 1 coding would be lost" in message
    assert not (tmp_path / "r.db").exists()
    report = import_project(archive, tmp_path / "r.db", allow_missing=True)
    assert report["dropped"] == ["Notes.docx: 1 coding skipped with the source"]


@pytest.mark.parametrize(("values", "kind"), [
    (["true", "false"], "Boolean"), (["412", "-3", "007"], "Integer"),
    (["20.5", "3", ".5"], "Float"), (["2009-07-01", "2024-02-29"], "Date"),
    (["2024-02-14T08:15:00Z", "2024-02-14T08:15:00.5+02:00"], "DateTime"),
    (["2023-02-29"], "Text"), (["2024-02-14T25:00:00Z"], "Text"), (["1e5"], "Text"),
    (["12", "twelve"], "Text"), (["True"], "Text"), (["", "3"], "Text"), ([], "Text"),
])
def test_an_attribute_is_exported_with_the_type_all_its_values_have(values, kind) -> None:
    from tipqual.exchange.export import variable_type

    assert variable_type(values) == kind


def test_typed_variables_survive_a_round_trip_as_written(tmp_path: Path) -> None:
    from tipqual.ingest.importer import import_paths

    src = tmp_path / "ward.txt"
    src.write_text("Interviewer: Pumps?\n\nRespondent: Broken again.\n", encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_text("case,source,households,formal,founded,rate\n"
                     "W7,ward.txt,412,true,2009-07-01,20.5\n", encoding="utf-8")
    with Project.create(tmp_path / "a.db") as p:
        import_paths(p, [src], cases_csv=cases)
        export_project(p, tmp_path / "a.qdpx")
    with zipfile.ZipFile(tmp_path / "a.qdpx") as zf:
        qde = zf.read("project.qde").decode("utf-8")
    for name, kind in (("households", "Integer"), ("formal", "Boolean"), ("founded", "Date"),
                       ("rate", "Float")):
        assert f'name="{name}" typeOfVariable="{kind}"' in qde
    assert "<IntegerValue>412</IntegerValue>" in qde
    import_project(tmp_path / "a.qdpx", tmp_path / "b.db")
    with Project.open(tmp_path / "b.db", readonly=True) as p:
        assert p.cases()[0].attributes == {"households": "412", "formal": "true",
                                           "founded": "2009-07-01", "rate": "20.5"}
