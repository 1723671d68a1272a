"""Tests for tipqual.exchange.qdaxml: GUIDs, safe parsing, codes in and out of QDA-XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from tests.helpers import shared
from tipqual.codebook.model import Code, Codebook
from tipqual.errors import ExchangeError
from tipqual.exchange import qdaxml

FIX = Path(__file__).resolve().parent / "fixtures" / "refi"


@pytest.fixture(scope="module")
def codebook_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared("refi", "Codebook.xsd")))


def _book() -> Codebook:
    return Codebook(name="tip", version="2", codes=[
        Code(id="partnership", name="Partnership", definition="Work with others."),
        Code(id="trust", name="Trust", parent="partnership", color="#0a0",
             definition="Confidence in a partner."),
        Code(id="corruption", name="Corruption & bribes", parent="partnership", color="red"),
        Code(id="funding", name="Funding"),
        Code(id="loop-a", name="Loop A", parent="loop-b"),
        Code(id="loop-b", name="Loop B", parent="loop-a"),
    ])


def test_stable_guid_is_repeatable_and_distinct() -> None:
    a = qdaxml.stable_guid("code", "trust")
    assert a == qdaxml.stable_guid("code", "trust")
    assert a != qdaxml.stable_guid("source", "trust")
    assert qdaxml.is_guid(a) and a == a.upper()


@pytest.mark.parametrize("raw", ["{ad68fbe7-e1ee-4a82-a279-23cc698c89eb}",
                                 " AD68FBE7-E1EE-4A82-A279-23CC698C89EB ",
                                 "ad68fbe7-e1ee-4a82-a279-23cc698c89eb"])
def test_normalize_guid(raw: str) -> None:
    assert qdaxml.normalize_guid(raw) == "AD68FBE7-E1EE-4A82-A279-23CC698C89EB"


def test_slugify() -> None:
    assert qdaxml.slugify("Coke::full-fat Coke") == "coke-full-fat-coke"
    assert qdaxml.slugify("Arándano été") == "arandano-ete"
    assert qdaxml.slugify('"rushed"') == "rushed"
    assert qdaxml.slugify("2nd wave") == "c-2nd-wave"
    assert qdaxml.slugify("???") == "code"


def test_qdc_export_validates_against_the_refi_codebook_schema(
        codebook_schema: xmlschema.XMLSchema) -> None:
    # Only this needs ../shared (the REFI-QDA XSD); the nesting is checked in the next test.
    codebook_schema.validate(ET.fromstring(qdaxml.codebook_to_qdc(_book(),
                                                                  categories={"partnership"})))


def test_qdc_export_nests() -> None:
    data = qdaxml.codebook_to_qdc(_book(), categories={"partnership"})
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(data)
    ns = {"c": qdaxml.CODEBOOK_NS}
    top = root.findall("c:Codes/c:Code", ns)
    assert [c.get("name") for c in top] == ["Partnership", "Funding", "Loop A"]
    assert top[0].get("isCodable") == "false"
    kids = top[0].findall("c:Code", ns)
    assert [k.get("name") for k in kids] == ["Trust", "Corruption & bribes"]
    assert kids[0].get("color") == "#00AA00" and kids[1].get("color") is None
    assert kids[0].findtext("c:Description", namespaces=ns) == "Confidence in a partner."
    assert kids[0].get("guid") == qdaxml.stable_guid("code", "trust")
    assert qdaxml.codebook_to_qdc(_book()) == qdaxml.codebook_to_qdc(_book())


def test_qdc_round_trip_keeps_names_tree_colours() -> None:
    cats: set[str] = set()
    back = qdaxml.codebook_from_qdc(qdaxml.codebook_to_qdc(_book(), categories={"partnership"}),
                                    "tip.qdc", categories=cats)
    assert back.name == "tip"
    assert [(c.id, c.parent) for c in back.codes] == [
        ("partnership", None), ("trust", "partnership"), ("corruption", "partnership"),
        ("funding", None), ("loop-a", None), ("loop-b", "loop-a")]
    assert back.code("trust").color == "#00AA00"
    assert back.code("trust").definition == "Confidence in a partner."
    assert cats == {"partnership"}


def test_tipqual_ids_recovered_from_guid_when_name_starts_with_id() -> None:
    book = Codebook(name="b", version="1", codes=[
        Code(id="trust", name="Trust and distrust"),
        Code(id="gov", name="Partnership with government"),
        Code(id="partnership", name="Partnership")])
    back = qdaxml.codebook_from_qdc(qdaxml.codebook_to_qdc(book), "b.qdc")
    assert back.ids == ["trust", "partnership-with-government", "partnership"]


def test_empty_codebook_refused() -> None:
    with pytest.raises(ExchangeError, match="no codes"):
        qdaxml.codebook_to_qdc(Codebook(name="empty", version="1"))


def test_taguette_qdc_with_invalid_sets_still_reads() -> None:
    path = shared("refi", "samples", "taguette_tests_expected_reconstructed.qdc")
    book = qdaxml.codebook_from_qdc(path.read_bytes(), path)
    assert [c.id for c in book.codes] == ["interesting", "people", "interesting-places"]
    assert book.codes[2].name == "interesting\\places"


def test_atlas_codebook_from_project_has_14_unique_codes() -> None:
    path = shared("refi", "samples", "atlasti84mac_refi-standard-project.qde")
    book = qdaxml.codebook_from_qdc(path.read_bytes(), path)
    assert len(book.codes) == 14
    assert len(set(book.ids)) == 14
    assert book.code("cornflakes").definition == "breakfast cereal made by Kellogg’s"
    assert book.code("rushed").name == '"rushed"'


def test_namespace_variants_braced_guids_bom_and_duplicate_names() -> None:
    data = ("\ufeff<?xml version='1.0' encoding='utf-8'?>\n"
            "<CodeBook xmlns='urn:QDA-XML:codebook:0:4'><Codes>"
            "<Code guid='{0d62985d-b147-5d01-a9b5-cae5dcd98342}' name='Trust' isCodable='false'>"
            "<Code guid='DFE5C38E-9449-5959-A1F7-E3D895CFA87F' name='trust' isCodable='true'"
            " color='#abc'/></Code></Codes></CodeBook>").encode("utf-8")
    cats: set[str] = set()
    codes = qdaxml.read_codes(qdaxml.child(qdaxml.parse_xml(data, "x.qdc"), "Codes"))
    assert [q.guid for q in codes] == ["0D62985D-B147-5D01-A9B5-CAE5DCD98342",
                                       "DFE5C38E-9449-5959-A1F7-E3D895CFA87F"]
    book = qdaxml.codebook_from_qdc(data, "x.qdc", categories=cats)
    assert [(c.id, c.parent, c.color) for c in book.codes] == [
        ("trust", None, None), ("trust-2", "trust", "#AABBCC")]
    assert cats == {"trust"}


def test_entity_bomb_refused_fast() -> None:
    path = FIX / "entity-bomb.qde"
    with pytest.raises(ExchangeError, match="entity-bomb.qde: refused"):
        qdaxml.parse_xml(path.read_bytes(), path)


def test_external_entity_refused() -> None:
    path = FIX / "external-entity.qde"
    with pytest.raises(ExchangeError, match="external-entity.qde: refused") as info:
        qdaxml.parse_xml(path.read_bytes(), path)
    assert "passwd" not in str(info.value)


def test_malformed_xml_names_file_and_line() -> None:
    with pytest.raises(ExchangeError) as info:
        qdaxml.parse_xml(b"<Project>\n<Users>\n</Project>", "bad.qde")
    assert info.value.path == "bad.qde" and info.value.line == 3
    assert info.value.format().startswith("bad.qde:3: malformed XML")


def test_not_a_codebook() -> None:
    with pytest.raises(ExchangeError, match="expected <CodeBook>"):
        qdaxml.codebook_from_qdc(b"<Other/>", "o.qdc")
    with pytest.raises(ExchangeError, match="no <Codes>"):
        qdaxml.codebook_from_qdc(b"<CodeBook xmlns='urn:QDA-XML:codebook:1.0'/>", "o.qdc")


def test_localname_and_attr_helpers() -> None:
    el = ET.fromstring("<a xmlns='urn:x' xmlns:p='urn:p' p:Name='v'><b>t</b><!--c--></a>")
    assert qdaxml.localname(el.tag) == "a" and qdaxml.namespace(el.tag) == "urn:x"
    assert qdaxml.child_text(el, "b") == "t" and qdaxml.child(el, "z") is None
    assert qdaxml.attr(el, "name") == "v" and qdaxml.attr(el, "none", "d") == "d"


def _nested_codes(n: int) -> bytes:
    codes = "".join(f'<Code guid="{qdaxml.stable_guid("code", f"c{i}")}" name="c{i}">\n'
                    for i in range(n)) + "</Code>" * n
    return (f'<?xml version="1.0"?>\n<CodeBook xmlns="{qdaxml.CODEBOOK_NS}"><Codes>{codes}'
            "</Codes></CodeBook>\n").encode()


def test_codes_nested_50_levels_read_and_3000_are_refused_with_the_line() -> None:
    book = qdaxml.codebook_from_qdc(_nested_codes(50), "ok.qdc")
    assert [c.parent for c in book.codes[:3]] == [None, "c0", "c1"] and len(book.codes) == 50
    with pytest.raises(ExchangeError) as caught:
        qdaxml.codebook_from_qdc(_nested_codes(3000), "deep.qdc")
    assert caught.value.format() == (
        "deep.qdc:52: the code 'c50' is nested more than 50 levels deep; codes may nest at "
        "most 50 levels, so move it higher up in the tool that wrote the file")
    codes_el = qdaxml.child(qdaxml.parse_xml(_nested_codes(3000), "deep.qdc"), "Codes")
    with pytest.raises(ExchangeError, match="nested more than 50 levels"):  # no bytes, no line
        qdaxml.read_codes(codes_el, "deep.qdc")


def test_export_writes_50_levels_and_refuses_a_deeper_stored_codebook() -> None:
    def chain(n: int) -> Codebook:
        return Codebook(name="deep", version="1", codes=[
            Code(id=f"c{i}", name=f"C{i}", parent=f"c{i - 1}" if i else None)
            for i in range(n)])

    back = qdaxml.codebook_from_qdc(qdaxml.codebook_to_qdc(chain(50)), "x.qdc")
    assert [c.parent for c in back.codes] == [c.parent for c in chain(50).codes]
    for book in (chain(3000), Codebook(name="loop", version="1", codes=[  # a long cycle too
            Code(id=f"c{i}", name=f"C{i}", parent=f"c{(i + 1) % 3000}") for i in range(3000)])):
        with pytest.raises(ExchangeError, match="nests codes more than 50 levels deep"):
            qdaxml.codebook_to_qdc(book)


_DOC = '<?xml version="1.0" encoding="{0}"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0" ' \
       'origin="{1}">\n<Codes><Code guid="1" name="{1}" isCodable="true"/></Codes></CodeBook>\n'


@pytest.mark.parametrize(("declared", "codec", "bom", "name"), [
    ("Shift_JIS", "shift_jis", b"", "市場の調査"),  # multi-byte: expat cannot read it itself
    ("Big5", "big5", b"", "市場調查"),
    ("GB18030", "gb18030", b"", "市场调查 ü"),
    ("UTF-32", "utf-32-le", b"\xff\xfe\x00\x00", "Flood 𝟒"),
    ("UTF-32", "utf-32-be", b"", "Flood 𝟒"),  # no BOM: told by the first characters
    ("UTF-16", "utf-16-le", b"", "Flood 𝟒"),
    ("UTF-16", "utf-16-be", b"\xfe\xff", "Flood 𝟒"),
    ("windows-1252", "cp1252", b"", "“Café” – 10%"),
    ("ISO-8859-1", "latin-1", b"", "Sécurité"),
    ("utf-8", "utf-8", b"\xef\xbb\xbf", "Flood 𝟒"),
])
def test_xml_in_any_declared_encoding_reads(declared: str, codec: str, bom: bytes,
                                            name: str) -> None:
    data = bom + _DOC.format(declared, name).encode(codec)
    root = qdaxml.parse_xml(data, "x.qdc")
    assert root.get("origin") == name
    book = qdaxml.codebook_from_qdc(data, "x.qdc")
    assert [c.name for c in book.codes] == [name]
    converted = qdaxml.as_utf8(data, "x.qdc")
    assert converted.decode("utf-8").count("\n") == _DOC.count("\n")  # lines stay put
    assert qdaxml.looks_like_xml(data)


@pytest.mark.parametrize(("data", "message", "line"), [
    (_DOC.format("x-martian", "a").encode(), "names the encoding 'x-martian'", 1),
    # codecs that are not character sets: byte transforms, and UTF-7 / IDNA / punycode,
    # which can spell markup in plain letters
    *[(_DOC.format(name, "a").encode(), f"names the encoding '{name}', which is not a "
       "known character set", 1)
      for name in ("rot13", "base64", "zlib", "hex", "bz2", "uu", "utf-7", "idna",
                   "punycode", "unicode_escape", "raw_unicode_escape", "undefined")],
    (_DOC.format("Shift_JIS", "a").encode() + b"<!-- \x81 -->\n", "not shift_jis text", 4),
    (_DOC.format("utf-8", "caf\u00e9").encode("cp1252"), "malformed XML", 2),
])
def test_xml_in_a_wrong_or_unknown_encoding_is_one_error(data: bytes, message: str,
                                                         line: int) -> None:
    with pytest.raises(ExchangeError) as info:
        qdaxml.parse_xml(data, "x.qdc")
    assert message in info.value.format() and info.value.line == line
    assert info.value.format().startswith(f"x.qdc:{line}: ")


def test_codebook_of_a_project_is_named_after_the_project() -> None:
    data = (b'<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="urn:QDA-XML:project:1.0" '
            b'name="Ward water committees"><CodeBook><Codes><Code guid="1" name="Access" '
            b'isCodable="true"/></Codes></CodeBook></Project>\n')
    assert qdaxml.codebook_from_qdc(data, "a.qdpx/project.qde").name == "Ward water committees"
    unnamed = data.replace(b' name="Ward water committees"', b"")
    assert qdaxml.codebook_from_qdc(unnamed, "a.qdpx/project.qde").name == "project"
    two_lines = data.replace(b"water committees", b"water&#10; committees")
    assert qdaxml.codebook_from_qdc(two_lines, "a.qdpx/p.qde").name == "Ward water committees"
    hidden = data.replace(b"water committees", b"water\xe2\x80\x8bcommittees")  # a ZWSP
    assert qdaxml.codebook_from_qdc(hidden, "a.qdpx/p.qde").name == "p"
