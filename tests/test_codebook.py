"""The codebook model, the loader, and the shipped TIP codebook and stakeholder registry."""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, TIP_CODEBOOK
from tipqual.codebook import model as codebook
from tipqual.codebook.model import Code, Codebook
from tipqual.errors import CodebookError

BAD = FIXTURES / "codebooks"
REGISTRY = REPO / "codebooks" / "sa-stakeholders.yaml"

# SPEC_SHARED: ids, order and parents of the shipped codebook
SPEC_CODES = [
    ("partnership", None), ("partnership-vertical", "partnership"),
    ("partnership-horizontal", "partnership"), ("committed-individual", "partnership"),
    ("trust", None), ("corruption", None), ("capacity", None), ("funding", None),
    ("funding-sustainability", "funding"), ("delays", None), ("awareness", None),
    ("identification", None), ("victim-services", None), ("referral", "victim-services"),
    ("response", None), ("prevention", "response"), ("protection", "response"),
    ("prosecution", "response"), ("capacity-building", None), ("policy-implementation", None),
    ("coordination", None),
]

SPEC_ALIASES = {
    "SAPS": ["South African Police Service", "SAPS", "police", "the police", "police station",
             "police officers", "police officer", "cops", "FCS unit"],
    "DPCI": ["Directorate for Priority Crime Investigation",
             "Directorate for Priority Crime Investigations", "DPCI", "the Hawks", "Hawks"],
    "DJCD": ["Department of Justice and Constitutional Development", "Department of Justice",
             "DoJ", "DOJ&CD", "justice department"],  # courts are not the department
    "NPA": ["National Prosecuting Authority", "National Prosecution Authority", "NPA",
            "prosecutor", "prosecutors", "the prosecutor", "state prosecutor"],
    "DSD": ["Department of Social Development", "Social Development", "DSD", "social worker",
            "social workers"],
    "DHA": ["Department of Home Affairs", "Home Affairs", "DHA"],
    "DOH": ["Department of Health", "health department", "DoH"],
    "DOL": ["Department of Employment and Labour", "Department of Labour", "DoL",
            "labour inspector", "labour inspectors"],
    "DBE": ["Department of Basic Education", "Basic Education", "DBE"],
    "TIP-TT": ["TIP task team", "provincial task team", "task team", "provincial TIP task team",
               "NPF task team"],
    "NFN": ["National Freedom Network", "NFN", "Freedom Network"],
    "A2I": ["A2I", "A21"],
}


@pytest.fixture(scope="module")
def tip() -> Codebook:
    return codebook.load(TIP_CODEBOOK)


def test_shipped_codebook_has_the_agreed_codes_in_order(tip: Codebook) -> None:
    assert [(c.id, c.parent) for c in tip.codes] == SPEC_CODES
    assert tip.version == "1.0"
    assert len(tip.codes) >= 15


def test_every_shipped_code_is_fully_documented(tip: Codebook) -> None:
    for code in tip.codes:
        assert code.name.strip() and len(code.definition) > 40, code.id
        assert code.include and code.exclude, code.id
        assert len(code.examples) >= 2, code.id
        assert len(code.phrases) >= 10, code.id
        assert code.patterns, code.id
        assert code.color and code.color.startswith("#"), code.id
        assert all(p == p.lower() for p in code.phrases), code.id


def test_shipped_registry_resolves_every_agreed_alias(tip: Codebook) -> None:
    by_id = {s.id: s for s in tip.stakeholders}
    for sid, aliases in SPEC_ALIASES.items():
        have = {a.lower() for a in by_id[sid].aliases}
        assert {a.lower() for a in aliases} <= have, sid
    assert by_id["SAPS"].sector == "government" and by_id["SAPS"].level == "national"
    assert by_id["DOH"].level == "provincial" and by_id["TIP-TT"].level == "provincial"
    assert by_id["NFN"].sector == "civil_society"
    assert by_id["A2I"].level == "international"
    assert all(s.description for s in tip.stakeholders)


def test_no_alias_names_two_actors(tip: Codebook) -> None:
    owner: dict[str, str] = {}
    for s in tip.stakeholders:
        for alias in s.aliases:
            assert owner.setdefault(alias.lower(), s.id) == s.id, alias


@pytest.fixture(scope="module")
def nlp():
    import spacy

    pipeline = spacy.blank("en")
    pipeline.add_pipe("lemmatizer", config={"mode": "lookup"})
    pipeline.initialize()
    return pipeline


@pytest.mark.slow
@pytest.mark.parametrize("sentence, expected", [
    ("We waited eight months for Home Affairs, and the trial was postponed twice.", "delays"),
    ("Somebody at the station was paid off and tipped off the owner before the raid.",
     "corruption"),
    ("The girls are afraid to go to the police because they were arrested before.", "trust"),
    ("There is one social worker for the district and no vehicle for rescues.", "capacity"),
    ("Our donor funding ended and the subsidy has not been paid.", "funding"),
    ("It depends on who is on duty; one dedicated captain answers our calls.",
     "committed-individual"),
    ("The clerk did not know what to do and turned her away.", "awareness"),
    ("The nurse missed the signs of trafficking completely.", "identification"),
    ("We referred her to the shelter for counselling.", "referral"),
    ("The provincial task team shares information at the quarterly meeting.", "coordination"),
    ("We trained the detectives together with the prosecutors.", "capacity-building"),
    ("The PACOTIP Act looks good on paper but is not implemented.", "policy-implementation"),
])
def test_phrases_and_patterns_find_the_code(tip: Codebook, nlp, sentence: str,
                                            expected: str) -> None:
    from spacy.matcher import Matcher, PhraseMatcher

    phrases, patterns = PhraseMatcher(nlp.vocab, attr="LOWER"), Matcher(nlp.vocab)
    for code in tip.codes:
        phrases.add(code.id, list(nlp.pipe(code.phrases)))
        patterns.add(code.id, code.patterns)
    doc = nlp(sentence)
    found = {nlp.vocab.strings[m] for m, _, _ in [*phrases(doc), *patterns(doc)]}
    assert expected in found


def test_load_reads_an_inline_registry_and_keeps_every_field() -> None:
    book = codebook.load(BAD / "valid-minimal.yaml")
    assert book.name == "Minimal" and book.version == "2"
    assert book.ids == ["trust", "trust-police"]
    assert book.code("trust-police").parent == "trust"
    assert book.stakeholder("SAPS").aliases == ["police", "SAPS"]
    assert book.subtree("trust") == ["trust", "trust-police"]
    assert book.depth("trust-police") == 1


def test_load_error_names_file_line_and_code() -> None:
    with pytest.raises(CodebookError) as info:
        codebook.load(BAD / "unknown-key.yaml")
    err = info.value
    assert err.path == str(BAD / "unknown-key.yaml") and err.line == 6
    assert "code 'capacity'" in err.message and "did you mean 'definition'" in err.message


def test_load_counts_the_further_problems() -> None:
    with pytest.raises(CodebookError) as info:
        codebook.load(BAD / "cycle.yaml")
    assert info.value.line == 6
    assert "and 2 more problems" in info.value.message
    assert "codebook validate" in info.value.message


def test_load_refuses_a_registry_given_as_codebook() -> None:
    with pytest.raises(CodebookError, match="stakeholder registry, not a codebook"):
        codebook.load(REGISTRY)


def test_load_finds_the_registry_next_to_the_codebook(tmp_path: Path) -> None:
    shutil.copy(TIP_CODEBOOK, tmp_path / "tip.yaml")
    with pytest.raises(CodebookError, match="sa-stakeholders.yaml does not exist"):
        codebook.load(tmp_path / "tip.yaml")
    shutil.copy(REGISTRY, tmp_path / "sa-stakeholders.yaml")
    assert len(codebook.load(tmp_path / "tip.yaml").stakeholders) >= 12


def test_hash_identifies_content(tip: Codebook) -> None:
    again = codebook.load(TIP_CODEBOOK)
    assert again.sha256 == tip.sha256 and len(tip.sha256) == 64
    changed = dataclasses.replace(tip, codes=[dataclasses.replace(tip.codes[0], name="Other"),
                                              *tip.codes[1:]])
    assert changed.sha256 != tip.sha256


def test_dict_round_trip_keeps_categories(tip: Codebook) -> None:
    book = dataclasses.replace(tip, codes=[Code(id="group", name="Group", definition="G.",
                                                codable=False), *tip.codes])
    back = Codebook.from_dict(book.to_dict())
    assert back == book and back.codes[0].codable is False
    assert Code(id="x", name="X").codable is True


# --- the map section ----------------------------------------------------------------------

MEALS_YAML = """\
name: School meals
version: "1"
stakeholders:
  - {id: DOE, name: Department of Education, aliases: [the department], sector: government}
  - {id: SGB, name: School governing body, aliases: [governing body], sector: civil_society}
codes:
  - {id: food, name: The food served, definition: What children eat.}
  - {id: portions, name: Portions, parent: food, definition: Whether there is enough.}
  - {id: stigma, name: Stigma, definition: Children ashamed to eat the free meal.}
"""
MEALS_MAP = """\
map:
  axis_codes: [food]
  axis_label: food on the plate
  centre_label: child
"""


def meals(tmp_path: Path, section: str = "") -> Codebook:
    path = tmp_path / "meals.yaml"
    path.write_text(MEALS_YAML + section, encoding="utf-8")
    return codebook.load(path)


def test_the_tip_codebook_declares_its_map(tip: Codebook) -> None:
    assert tip.map == codebook.MapAxis(
        axis_codes=["victim-services", "referral", "protection"],
        axis_label="proximity to the victim", passages_label="victim-support",
        centre_label="victim", high_label="nearer the victim",
        low_label="further from the victim")


def test_a_codebook_without_a_map_keeps_its_hash(tmp_path: Path) -> None:
    book = Codebook(name="School meals", version="1",
                    codes=[Code("food", "The food served", definition="What children eat."),
                           Code("portions", "Portions", parent="food")],
                    stakeholders=[codebook.Stakeholder("DOE", "Department of Education",
                                                       sector="government")])
    assert "map" not in book.to_dict()
    # the hash tipqual gave this codebook before codebooks could have a map
    assert book.sha256 == "59f645efe3dc996177a28f7c3ced1d873fa3cb46a7867cecbbabbf10d742fed7"
    mapped = dataclasses.replace(book, map=codebook.MapAxis(axis_codes=["food"]))
    assert mapped.sha256 != book.sha256
    assert meals(tmp_path).map is None


def test_the_map_section_is_loaded_and_round_trips(tmp_path: Path) -> None:
    book = meals(tmp_path, MEALS_MAP)
    assert book.map == codebook.MapAxis(axis_codes=["food"], axis_label="food on the plate",
                                        centre_label="child")
    assert Codebook.from_dict(book.to_dict()) == book
    from tipqual.store.project import Project

    with Project.create(tmp_path / "study.db") as p:
        with p.atomic():
            p.set_codebook(book)
        stored = p.codebook()
    assert stored == book and stored.sha256 == book.sha256


@pytest.mark.parametrize("suffix", [".yaml", ".qdc", ".xlsx"])
def test_the_map_section_survives_export_and_import(tmp_path: Path, suffix: str) -> None:
    from tipqual.codebook import formats

    book = meals(tmp_path, MEALS_MAP)
    out = formats.export(book, tmp_path / f"out{suffix}")
    back = formats.load_any(out)
    assert back.map == book.map
    if suffix == ".yaml":
        assert "map:\n  axis_codes: [food]\n  axis_label: food on the plate\n" in \
            out.read_text(encoding="utf-8")
        assert back == book


def test_a_qdc_whose_map_codes_another_tool_deleted_loses_them(tmp_path: Path) -> None:
    from tipqual.codebook import formats

    book = dataclasses.replace(meals(tmp_path), map=codebook.MapAxis(
        axis_codes=["stigma", "food"], axis_label="meals"))
    # another tool removed the stigma code (the hidden copy still names it)
    root = ET.fromstring(formats.to_qdc(book),
                         parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    guid = formats.qdaxml.stable_guid("code", "stigma")
    for parent in root.iter():
        for code in [c for c in parent if c.get("guid") == guid]:
            parent.remove(code)
    data = ET.tostring(root, encoding="utf-8")
    back = formats.from_qdc(data, tmp_path / "x.qdc")
    assert "stigma" not in back.ids and back.map is not None
    assert back.map.axis_codes == ["food"]


def test_diff_reports_a_changed_map(tmp_path: Path) -> None:
    plain, mapped = meals(tmp_path), meals(tmp_path, MEALS_MAP)
    change = codebook.diff(plain, mapped)
    assert not change.empty and change.map == list(codebook.MAP_KEYS)
    relabelled = dataclasses.replace(mapped, map=dataclasses.replace(mapped.map,
                                                                     axis_label="the plate"))
    assert codebook.diff(mapped, relabelled).map == ["axis_label"]
    assert "map        axis_label" in codebook.diff(mapped, relabelled).lines()
    assert codebook.diff(mapped, mapped).empty
