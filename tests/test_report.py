"""The findings report: context, filters, escaping, determinism, templates, Word document."""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.report.report_study import build, build_sample
from tests.helpers import FIXTURES
from tipqual.analysis import agreement
from tipqual.errors import ReportError  # noqa: E402
from tipqual.nlp.mentions import study_mentions  # noqa: E402
from tipqual.report import context as report_context
from tipqual.report import render as report_render  # noqa: E402
from tipqual.report.writer import write_report, write_reports  # noqa: E402
from tipqual.store.project import Project

NOTES = FIXTURES / "report" / "notes.md"
TOP_LEVEL = ["partnership", "trust", "corruption", "capacity", "funding", "delays", "awareness",
             "identification", "victim-services", "response", "capacity-building",
             "policy-implementation", "coordination"]
SECTIONS = ["Study summary", "Method", "Findings", "Cross-case matrix", "Partnerships",
            "Challenges and recommendations", "Appendix"]
SCRIPT = '<script>alert("pwned")</script>'
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """The small fixture study, open for the whole module."""
    project = build(tmp_path_factory.mktemp("small") / "study.db")
    yield project
    project.close()


@pytest.fixture(scope="module")
def small_ctx(small) -> dict:
    return report_context.build_context(small, mentions=study_mentions(small))


@pytest.fixture(scope="module")
def small_files(small, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three formats of the small study's report, written once with the notes."""
    out = tmp_path_factory.mktemp("small-report")
    paths = [out / f"findings.{ext}" for ext in ("html", "md", "docx")]
    write_reports(small, paths, notes=NOTES, mentions=study_mentions(small))
    return {p.suffix[1:]: p for p in paths}


@pytest.fixture(scope="module")
def sample_ctx(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The context of the sample study with both coders."""
    with build_sample(tmp_path_factory.mktemp("sample") / "sample.db") as project:
        return report_context.build_context(project, mentions=study_mentions(project))


# --- filters ----------------------------------------------------------------------------------

ORG = ("organisation", "organisations")

# every count of a study of 1, 2, 3, 4 and 10 cases, and a larger one
PREVALENCE = {
    1: ["no organisation", "the only organisation"],
    2: ["no organisation", "one of the two organisations", "Both organisations"],
    3: ["no organisation", "one of the three organisations", "two of the three organisations",
        "All 3 organisations"],
    4: ["no organisation", "one of the four organisations", "two of the four organisations",
        "three of the four organisations", "All 4 organisations"],
    10: ["no organisation", "one organisation", "a few (2 of 10)", "a few (3 of 10)",
         "about half (4 of 10)", "half (5 of 10)", "about half (6 of 10)", "most (7 of 10)",
         "most (8 of 10)", "most (9 of 10)", "All 10 organisations"],
}


@pytest.mark.parametrize(("n", "total", "expected"), [
    *((n, total, words) for total, row in PREVALENCE.items() for n, words in enumerate(row)),
    (5, 20, "some (5 of 20)"), (3, 20, "a few (3 of 20)"), (10, 20, "half (10 of 20)"),
])
def test_prevalence_in_words(n: int, total: int, expected: str) -> None:
    assert report_render.prevalence(n, total, ORG) == expected


# the key findings' band headings for the same studies: each band that can occur
BANDS = {
    1: {"all": "The only organisation"},
    2: {"all": "Both organisations", "half": "One of the two organisations"},
    3: {"all": "All 3 organisations", "most": "Two of the three organisations",
        "few": "One of the three organisations"},
    4: {"all": "All 4 organisations", "most": "Three of the four organisations",
        "half": "Two of the four organisations", "few": "One of the four organisations"},
    10: {"all": "All 10 organisations", "most": "Most organisations",
         "half": "About half of the organisations", "few": "A few organisations"},
}


@pytest.mark.parametrize("total", sorted(BANDS))
def test_band_labels_for_small_and_larger_studies(total: int) -> None:
    bands = {report_render.prevalence_band(n, total) for n in range(1, total + 1)}
    assert bands == set(BANDS[total])
    for band, label in BANDS[total].items():
        assert report_render.band_label(band, total, ORG) == label
    assert report_context._band(total, total) == "all"


def test_prevalence_uses_the_case_noun() -> None:
    noun = {"one": "site", "many": "sites"}
    assert report_render.prevalence(4, 4, noun) == "All 4 sites"
    assert report_render.prevalence(1, 10, ("person", "people")) == "one person"
    assert report_render.prevalence(1, 4, ("person", "people")) == "one of the four people"
    assert report_render.prevalence(2, 2, noun) == "Both sites"
    assert report_context.case_noun("person/people") == ("person", "people")
    assert report_context.case_noun("site") == ("site", "sites")
    assert report_context.case_noun(None) == ("case", "cases")


def test_the_word_for_a_case_is_the_studys_own_unless_asked(small, tmp_path: Path) -> None:
    assert report_context.case_noun(None, small) == ("organisation", "organisations")
    assert report_context.case_noun("site", small) == ("site", "sites")
    other = Project.create(tmp_path / "other.db")
    try:
        assert report_context.case_noun(None, other) == ("case", "cases")
        with other.atomic():
            other.set_meta("case_noun", "person/people")
        assert report_context.case_noun(None, other) == ("person", "people")
    finally:
        other.close()


def test_quote_names_case_and_role() -> None:
    q = {"text": "We wait two years for a court date.", "case": "CSO-01",
         "role": "respondent"}
    assert report_render.quote(q) == "“We wait two years for a court date.” (CSO-01, respondent)"


@pytest.mark.parametrize(("args", "expected"), [
    ((87.5,), "88%"), ((87.5, None, 1), "87.5%"), ((7, 10), "70%"), ((2, 3, 1), "66.7%"),
    ((None,), "n/a"), ((3, 0), "n/a"), ((100.0, None, 1), "100.0%"),
])
def test_percent(args: tuple, expected: str) -> None:
    assert report_render.percent(*args) == expected


def test_stat_and_capfirst() -> None:
    assert report_render.stat(0.714285) == "0.71"
    assert report_render.stat(0.125, 2) == "0.13"
    assert report_render.stat(None) == "n/a"
    assert report_render.capfirst("most (7 of 10)") == "Most (7 of 10)"
    assert report_render.capfirst("") == ""


def test_md_escape_disarms_markup() -> None:
    assert report_render.md_escape(SCRIPT) == '&lt;script&gt;alert("pwned")&lt;/script&gt;'
    assert report_render.md_escape("*a* | [b](c) `d`") == r"\*a\* \| \[b\](c) \`d\`"
    assert report_render.md_escape("one\n\ntwo") == "one two"
    assert report_render.md_escape(report_render.md_raw("*kept*")) == "*kept*"


def test_quote_names_the_case_type_when_known() -> None:
    q = {"text": "We phone the captain directly.", "case": "CSO-03", "role": "respondent",
         "case_type": "helpline"}
    assert report_render.quote(q) == \
        "“We phone the captain directly.” (CSO-03, helpline, respondent)"
    assert report_render.quote({**q, "case_type": ""}) == \
        "“We phone the captain directly.” (CSO-03, respondent)"


def test_band_label_and_listing() -> None:
    assert report_render.band_label("all", 10, ORG) == "All 10 organisations"
    assert report_render.band_label("most", 10) == "Most cases"  # the default word
    assert report_render.band_label("half", 4, {"one": "site", "many": "sites"}) == \
        "Two of the four sites"
    assert report_render.band_label("half", 10, {"one": "site", "many": "sites"}) == \
        "About half of the sites"
    assert report_render.band_label("few", 10, ORG) == "A few organisations"
    assert report_render.listing(["SAPS"]) == "SAPS"
    assert report_render.listing(["SAPS", "NPA"]) == "SAPS and NPA"
    assert report_render.listing(["SAPS", "NPA", "DSD"]) == "SAPS, NPA and DSD"
    assert report_render.listing([]) == ""


def test_scope_is_the_definitions_first_sentence() -> None:
    assert report_context.scope("How it works: who, how. Parent theme; prefer a child code.") \
        == "How it works: who, how."
    assert report_context.scope("The 3 Ps (e.g. prevention) as a whole.") == \
        "The 3 Ps (e.g. prevention) as a whole."
    assert report_context.scope("") == ""


# --- quotes -----------------------------------------------------------------------------------

def _cand(seg: str, case: str, coders: int, length: int) -> dict:
    source, n = seg.split(":")
    return {"segment": seg, "case": case, "coders": coders, "text": "x" * length,
            "role": "respondent", "order": (source, int(n))}


def test_quotes_prefer_more_coders_then_longest_in_band_then_other_cases() -> None:
    cands = [_cand("A:1", "A", 1, 400), _cand("A:2", "A", 2, 300), _cand("A:3", "A", 2, 350),
             _cand("B:1", "B", 2, 200), _cand("C:1", "C", 2, 60), _cand("C:2", "C", 2, 900)]
    chosen = [c["segment"] for c in report_context.choose_quotes(cands, 3)]
    # A:3 beats A:2 (longer), B:1 is the next case; C:2 (too long) beats A:2 only by case
    assert chosen == ["A:3", "B:1", "C:2"]
    assert [c["segment"] for c in report_context.choose_quotes(cands, 3, used={"A:3"})] == \
        ["A:2", "B:1", "C:2"]


# --- the context ------------------------------------------------------------------------------

def test_small_context_values(small_ctx: dict) -> None:
    study = small_ctx["study"]
    assert (study["name"], study["cases"], study["interviews"]) == ("Report fixture study", 3, 3)
    assert study["period"] == "2025-03-04 to 2025-04-02"
    assert study["formats"] == {"txt": 3}
    assert [c["id"] for c in small_ctx["cases"]] == ["ORG-1", "ORG-2", "ORG-3"]
    assert small_ctx["cases"][1]["attributes"]["province"] == "Limpopo"
    assert [c["name"] for c in small_ctx["coders"]] == ["ann", "ben"]
    assert small_ctx["coders"][0] == {"name": "ann", "human": 11, "accepted": 1,
                                      "rejected": 0, "segments": 8}
    assert small_ctx["suggestions"]["rows"] == [
        {"suggester": "tipqual-model", "suggested": 1, "accepted": 1, "rejected": 0,
         "total": 2, "reviewers": [{"name": "ann", "accepted": 1, "rejected": 0}]},
        {"suggester": "tipqual-rules", "suggested": 1, "accepted": 0, "rejected": 1,
         "total": 2, "reviewers": [{"name": "ben", "accepted": 0, "rejected": 1}]}]
    assert [f["id"] for f in small_ctx["findings"]] == TOP_LEVEL
    assert small_ctx["codebook"]["version"] == "1.0"
    assert len(small_ctx["provenance"]["study_sha256"]) == 64


def test_small_agreement_by_hand(small_ctx: dict) -> None:
    ag = small_ctx["agreement"]
    assert ag["coders"] == ["ann", "ben"] and ag["n_units"] == 8
    rows = {r["id"]: r for r in ag["codes"]}
    # committed-individual: ann 2 of 8 segments, ben the same 2 and one more
    assert rows["committed-individual"]["kappa"] == pytest.approx(0.3125 / 0.4375)
    assert rows["committed-individual"]["percent"] == pytest.approx(87.5)
    assert rows["trust"]["kappa"] == pytest.approx(1.0)
    assert rows["trust"]["kappa_reading"] == "almost perfect"
    assert rows["trust"]["alpha_reading"] == "reliable"


def test_small_findings_prevalence_and_quotes(small_ctx: dict) -> None:
    partnership = small_ctx["findings"][0]
    committed = next(s for s in partnership["subthemes"] if s["id"] == "committed-individual")
    assert committed["cases"] == ["ORG-1", "ORG-2", "ORG-3"] and committed["n_cases"] == 3
    trust = small_ctx["findings"][1]
    assert trust["cases"] == ["ORG-2"]
    assert trust["quotes"][0]["segment"] == "ORG-2:2"
    assert SCRIPT in trust["quotes"][0]["text"]
    assert trust["quotes"][0]["role"] == "respondent"


def test_coreq_items_answered_by_the_data(small_ctx: dict) -> None:
    items = {i["number"]: i for i in small_ctx["coreq"]}
    assert items["12"]["answer"].startswith("3 organisations, 3 interview transcripts")
    assert items["24"]["answer"] == "2: ann, ben."
    assert "Interviewer" in items["1"]["answer"]
    assert "ORG-1 5, ORG-2 3, ORG-3 3;" in items["22"]["answer"]
    assert items["18"]["answer"] == "No: one interview per organisation."
    assert items["26"]["answer"] == ("Themes are the codebook's codes; the codebook did not "
                                     "change during coding (one version).")
    assert items["31"]["answer"] == ("13 themes, each with its prevalence across "
                                     "organisations, the organisations concerned and "
                                     "quotations.")
    assert items["32"]["answer"] == "8 sub-themes, reported under their themes in the same way."
    assert [i["number"] for i in small_ctx["coreq"]] == sorted(
        (i["number"] for i in small_ctx["coreq"]), key=int)


def test_study_hash_ignores_storage_but_follows_content(small, tmp_path: Path) -> None:
    from tipqual.records import Coding

    before = report_context.study_hash(small)
    other = build(tmp_path / "again.db")
    try:
        assert report_context.study_hash(other) == before
        with other.atomic():
            other.put_coding(Coding(segment="ORG-3:2", code="delays", coder="ann"))
        assert report_context.study_hash(other) != before
    finally:
        other.close()


@pytest.mark.slow
def test_sample_context(sample_ctx: dict) -> None:
    assert sample_ctx["study"]["cases"] == 10 and sample_ctx["study"]["interviews"] == 10
    assert sample_ctx["study"]["formats"] == {"docx": 1, "txt": 8, "vtt": 1}
    themes = {f["id"]: f for f in sample_ctx["findings"]}
    committed = next(s for s in themes["partnership"]["subthemes"]
                     if s["id"] == "committed-individual")
    assert committed["n_cases"] == 10
    assert report_render.prevalence(committed["n_cases"], 10,
                                    sample_ctx["study"]["noun"]) == "All 10 organisations"
    for core in ("trust", "corruption", "capacity", "funding", "delays"):
        quotes = themes[core]["quotes"]
        assert len(quotes) == 3 and len({q["case"] for q in quotes}) == 3
        assert all(q["role"] == "respondent" and len(q["text"]) >= 120 for q in quotes)
    assert sample_ctx["agreement"]["coders"] == ["coder-a", "coder-b"]
    assert sample_ctx["partnerships"]["ranking"][0]["id"] == "SAPS"
    assert sample_ctx["partnerships"]["ranking"][0]["cases"] == 10


@pytest.mark.slow
def test_sample_key_findings_bands(sample_ctx: dict) -> None:
    bands = {b["band"]: [(t["id"], t["n_cases"]) for t in b["themes"]]
             for b in sample_ctx["key_findings"]}
    assert list(bands) == ["all", "most", "half"]
    # partnership and response are left out: a sub-theme of each is raised by all ten too
    assert bands["all"] == [("partnership-vertical", 10), ("committed-individual", 10),
                            ("victim-services", 10), ("prosecution", 10),
                            ("capacity-building", 10)]
    assert bands["most"] == [("partnership-horizontal", 9), ("trust", 9), ("funding", 9),
                             ("referral", 9), ("capacity", 8), ("awareness", 8),
                             ("protection", 8), ("delays", 7)]
    assert bands["half"] == [("corruption", 6), ("funding-sustainability", 6),
                             ("prevention", 6), ("policy-implementation", 6),
                             ("coordination", 6), ("identification", 5)]


def test_sample_matrix_agrees_with_the_findings(sample_ctx: dict) -> None:
    m = sample_ctx["matrix"]
    prevalence = {t["id"]: t["n_cases"] for f in sample_ctx["findings"]
                  for t in (f, *f["subthemes"])}
    assert {r["id"]: r["n_cases"] for r in m["by_code"]} == prevalence
    assert m["grouped"] == ["partnership", "funding", "victim-services", "response"]
    rows = {r["id"]: r for r in m["by_code"]}
    # a theme counts each segment once, whether coded with it or with a sub-theme
    assert rows["partnership"]["counts"] == [8, 9, 8, 10, 8, 9, 11, 8, 8, 8]
    assert rows["committed-individual"]["counts"] == [4, 5, 5, 5, 5, 6, 6, 6, 6, 5]
    assert m["cases"] == [f"CSO-{i:02d}" for i in range(1, 11)]
    assert [r["counts"][m["codes"].index("trust")] for r in m["rows"]] == \
        rows["trust"]["counts"]


def test_sample_partners_as_the_brief_reports(sample_ctx: dict) -> None:
    p = sample_ctx["partnerships"]
    assert [(r["id"], r["cases"]) for r in p["leading_government"]] == \
        [("SAPS", 10), ("NPA", 9), ("DPCI", 9), ("DJCD", 8), ("DSD", 7)]
    assert [(r["id"], r["cases"]) for r in p["civil_society"]] == \
        [("NFN", 5), ("A2I", 4), ("FBO", 1)]


def test_sample_agreement_readings(sample_ctx: dict) -> None:
    ag = sample_ctx["agreement"]
    assert ag["readings"]["kappa"] == [{"reading": "almost perfect", "codes": 10},
                                       {"reading": "substantial", "codes": 11}]
    assert ag["readings"]["alpha"] == [{"reading": "reliable", "codes": 10},
                                       {"reading": "tentative only", "codes": 10},
                                       {"reading": "unreliable", "codes": 1}]
    assert [(r["id"], report_render.stat(r["alpha"])) for r in ag["unreliable"]] == \
        [("protection", "0.65")]


def test_sample_quotes_name_the_case_type(sample_ctx: dict) -> None:
    kinds = {"CSO-01": "shelter", "CSO-02": "faith-based", "CSO-03": "helpline",
             "CSO-04": "legal aid", "CSO-05": "community organisation",
             "CSO-06": "aftercare programme", "CSO-07": "community organisation",
             "CSO-08": "shelter", "CSO-09": "faith-based", "CSO-10": "child protection"}
    quotes = [q for f in sample_ctx["findings"] for t in (f, *f["subthemes"])
              for q in t["quotes"]]
    assert len(quotes) == 13 * 3 + 8 * 2
    assert all(q["case_type"] == kinds[q["case"]] for q in quotes)


@pytest.mark.slow
def test_quotes_are_labelled_with_the_attribute_the_study_names_or_none(tmp_path: Path) -> None:
    from tests.fixtures.report.report_study import build

    study = build(tmp_path / "labels.db")
    try:
        provinces = {c.id: c.attributes["province"] for c in study.cases()}
        for setting, label in (("province", provinces.get), ("", lambda case: "")):
            with study.atomic():
                study.set_meta("quote_attribute", setting)
            ctx = report_context.build_context(study, mentions=study_mentions(study))
            quotes = [q for f in ctx["findings"] for t in (f, *f["subthemes"])
                      for q in t["quotes"]]
            assert quotes and all(q["case_type"] == label(q["case"]) for q in quotes)
    finally:
        study.close()


def test_sample_agreement_matches_cohen_by_hand(sample_ctx: dict) -> None:
    import csv

    from tests.helpers import SAMPLE

    sets: dict[str, dict[str, set[str]]] = {}
    for coder in ("coder-a", "coder-b"):
        with open(SAMPLE / "codings" / f"{coder}.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                sets.setdefault(coder, {}).setdefault(row["segment"], set()).add(row["code"])
    units = sorted(set(sets["coder-a"]) & set(sets["coder-b"]))
    a = ["trust" in sets["coder-a"][u] for u in units]
    b = ["trust" in sets["coder-b"][u] for u in units]
    row = next(r for r in sample_ctx["agreement"]["codes"] if r["id"] == "trust")
    assert row["n_units"] == len(units)
    assert row["kappa"] == pytest.approx(agreement.cohen_kappa(a, b))
    assert row["alpha"] is not None


# --- rendering and escaping -------------------------------------------------------------------

@pytest.mark.slow
def test_html_is_self_contained_and_escapes_transcripts(small_files: dict) -> None:
    html = small_files["html"].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "onerror=alert(1)>" not in html
    # nothing is loaded from outside the file
    assert not re.search(r'\ssrc\s*=\s*["\']|<link|url\((?!#)|@import', html)
    assert html.count("<svg") == 2
    assert "All 3 organisations" in html
    assert "<h3>Challenges</h3>" in html and "<h4>Recommendations</h4>" in html
    assert "&lt;script&gt;alert(&quot;notes&quot;)&lt;/script&gt;" in html


@pytest.mark.slow
def test_markdown_escapes_transcripts_and_writes_figures(small_files: dict) -> None:
    md = small_files["md"].read_text(encoding="utf-8")
    assert '&lt;script&gt;alert("pwned")&lt;/script&gt;' in md
    assert "&lt;img src=x onerror=alert(1)&gt; \\*not bold\\* \\| pipe" in md
    assert "<script" not in md and "<img" not in md
    assert "![Heat map of themes against cases](findings-presence.svg)" in md
    for name in ("findings-presence.svg", "findings-stakeholder-map.svg"):
        assert (small_files["md"].parent / name).read_text(encoding="utf-8").count("<svg") == 1
    assert "**All 3 organisations** raised it" in md


def test_docx_keeps_markup_as_text(small_files: dict) -> None:
    import docx

    doc = docx.Document(str(small_files["docx"]))
    texts = [p.text for p in doc.paragraphs]
    assert any(SCRIPT in t for t in texts) and any(IMG in t for t in texts)
    with zipfile.ZipFile(small_files["docx"]) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "&lt;script&gt;" in xml and "<script" not in xml


def test_docx_headings_tables_figures_properties(small_files: dict) -> None:
    import docx

    doc = docx.Document(str(small_files["docx"]))
    level1 = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert level1 == SECTIONS
    assert [p.text for p in doc.paragraphs if p.style.name == "Title"] == \
        ["Findings: Report fixture study"]
    level2 = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    assert level2[:5] == ["Key findings", "Sampling and the cases", "Codebook",
                          "Coders and suggestions", "Agreement between coders"]
    assert "Trust and distrust" in level2 and "Challenges" in level2
    headers = [[c.text for c in t.rows[0].cells] for t in doc.tables]
    assert ["code", "segments", "agreement", "kappa", "reading", "alpha", "reading"] in headers
    agree = doc.tables[headers.index(["code", "segments", "agreement", "kappa", "reading",
                                      "alpha", "reading"])]
    trust = next(r for r in agree.rows if r.cells[0].text == "trust")
    assert [c.text for c in trust.cells] == ["trust", "8", "100.0%", "1.00", "almost perfect",
                                            "1.00", "reliable"]
    assert len(doc.inline_shapes) == 2
    props = doc.core_properties
    assert props.created == datetime(2000, 1, 1, tzinfo=UTC) or \
        props.created == datetime(2000, 1, 1)
    assert props.revision == 1
    numbered = [p.text for p in doc.paragraphs if p.style.name == "List Number"]
    assert numbered == ["Formalise referral agreements with each department.",
                        "Fund shelters on time."]


@pytest.mark.slow
def test_regeneration_is_byte_identical(small, small_files: dict, tmp_path: Path) -> None:
    again = [tmp_path / f"findings.{ext}" for ext in ("html", "md", "docx")]
    write_reports(small, again, notes=NOTES, mentions=study_mentions(small))
    for path in again:
        assert path.read_bytes() == small_files[path.suffix[1:]].read_bytes(), path.name
    for name in ("findings-presence.svg", "findings-stakeholder-map.svg"):
        assert (tmp_path / name).read_bytes() == \
            (small_files["md"].parent / name).read_bytes()


class StreamingOnly:
    """A study that refuses the queries reading every segment, coding or source text, and
    counts the segment rows the report fetches with their text."""

    def __init__(self, study) -> None:
        self._study = study
        self.fetched = 0

    def __getattr__(self, name: str):
        return getattr(self._study, name)

    def segments(self, **filters):
        if filters.get("ids") is None:
            raise AssertionError(f"segments({filters}) reads every segment")
        for seg in self._study.segments(**filters):
            self.fetched += 1
            yield seg

    def codings(self, **filters):
        if filters.get("segments") is None and filters.get("coders") is None and \
                (filters.get("statuses") is None or "suggested" in filters["statuses"]):
            raise AssertionError(f"codings({filters}) reads every coding or suggestion")
        return self._study.codings(**filters)

    def sources(self):
        raise AssertionError("sources() reads every source's text at once")


@pytest.mark.slow
def test_the_report_streams_the_study(small, small_files: dict, tmp_path: Path) -> None:
    guarded = StreamingOnly(small)
    again = [tmp_path / f"findings.{ext}" for ext in ("html", "md", "docx")]
    write_reports(guarded, again, notes=NOTES, mentions=study_mentions(small))
    for path in again:
        assert path.read_bytes() == small_files[path.suffix[1:]].read_bytes(), path.name
    # texts read: each applied coding's segment once, and again for the quotes chosen
    coded = {c.segment for c in small.codings(statuses=("human", "accepted"))}
    quoted = sum(len(t["quotes"]) + sum(len(s["quotes"]) for s in t["subthemes"])
                 for t in report_context.build_context(small)["findings"])
    assert 0 < guarded.fetched <= len(coded) + quoted < len(list(small.segments())) + quoted


# --- templates --------------------------------------------------------------------------------

@pytest.mark.slow
def test_template_override_extends_the_package_template(small, tmp_path: Path) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "report.html.j2").write_text(
        '{% extends "tipqual/report.html.j2" %}{% block notes %}<section id="own">'
        "Our own words on {{ study.cases }} {{ study.noun.many }}: {{ title }}</section>"
        "{% endblock %}", encoding="utf-8")
    (folder / "report.md.j2").write_text("Cases: {{ study.cases }}; {{ findings[1].name }}\n",
                                         encoding="utf-8")
    write_report(small, tmp_path / "r.html", templates=folder, mentions=study_mentions(small))
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Our own words on 3 organisations: Findings: Report fixture study" in html
    assert "Trust and distrust" in html and "Challenges and recommendations" not in html
    write_report(small, tmp_path / "r.md", templates=folder, mentions=study_mentions(small))
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == "Cases: 3; Trust and distrust\n"


@pytest.mark.slow
def test_template_errors_name_the_file(small, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "report.html.j2").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(ReportError) as err:
        write_report(small, tmp_path / "r.html", templates=folder)
    assert err.value.line == 2 and err.value.path.endswith("report.html.j2")
    (folder / "report.html.j2").write_text("{{ no_such_name }}", encoding="utf-8")
    with pytest.raises(ReportError, match="no_such_name"):
        write_report(small, tmp_path / "r.html", templates=folder)
    assert not (tmp_path / "r.html").exists()


def test_bad_requests_are_refused(small, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="unknown report format '.pdf'"):
        write_report(small, tmp_path / "r.pdf")
    with pytest.raises(ReportError, match="does not exist"):
        write_report(small, tmp_path / "missing" / "r.html")
    with pytest.raises(ReportError, match="no such notes file"):
        write_report(small, tmp_path / "r.html", notes=tmp_path / "nope.md")
    with pytest.raises(ReportError, match="no such templates folder"):
        write_report(small, tmp_path / "r.html", templates=tmp_path / "nope")
    with pytest.raises(ReportError, match="a .docx is built without templates"):
        write_report(small, tmp_path / "r.docx", templates=tmp_path)


def test_docx_page_and_tables_print_well(small_files: dict) -> None:
    import docx
    from docx.oxml.ns import qn

    doc = docx.Document(str(small_files["docx"]))
    section = doc.sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    assert round(section.left_margin.cm, 2) == round(section.right_margin.cm, 2) == 2.0
    headers = [[c.text for c in t.rows[0].cells] for t in doc.tables]
    assert headers[0] == ["raised by", "themes"]
    for table in doc.tables:  # every header row repeats on a new page
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    matrix = doc.tables[headers.index(["code", "ORG-1", "ORG-2", "ORG-3", "of 3"])]
    assert len(matrix.rows) == 1 + 21
    trust = next(r for r in matrix.rows if r.cells[0].text == "trust")
    assert [c.text for c in trust.cells] == ["trust", "", "1", "", "1"]
    fills = [c._tc.tcPr.find(qn("w:shd")) for c in trust.cells[1:4]]
    assert [f is not None and f.get(qn("w:fill")) for f in fills] == [False, "2F6F9F", False]
    styles = {p.style.name for t in doc.tables for r in t.rows for c in r.cells
              for p in c.paragraphs}
    assert styles == {"Table Text"}
    assert doc.styles["Table Text"].font.size.pt == 8.5
    margins = matrix._tbl.tblPr.find(qn("w:tblCellMar"))
    assert [(e.tag.split("}")[1], e.get(qn("w:w"))) for e in margins] == \
        [("top", "30"), ("left", "28"), ("bottom", "30"), ("right", "28")]
    ranking = doc.tables[next(i for i, h in enumerate(headers) if h[:2] == ["rank",
                                                                          "stakeholder"])]
    widths = [round(c.width.cm, 2) for c in ranking.rows[0].cells]
    assert round(sum(widths), 1) == 17.0 and widths[2] == max(widths)


def test_a_theme_nobody_raised_reads_as_words(small_files: dict) -> None:
    html = small_files["html"].read_text(encoding="utf-8")
    md = small_files["md"].read_text(encoding="utf-8")
    assert '<span class="prevalence">No organisation</span> raised this theme.' in html
    assert "**No organisation** raised this theme." in md
    assert not re.search(r"\bNone\b", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))


# --- links in the lead's notes ------------------------------------------------------------------

def _links(markdown: str) -> list[str]:
    """Every link and image target a Markdown viewer would find (no target refused)."""
    from markdown_it import MarkdownIt

    class Permissive(MarkdownIt):
        def validateLink(self, url: str) -> bool:
            return True

    found = []
    for tok in Permissive("commonmark").enable("table").parse(markdown):
        for child in tok.children or []:
            if child.type in ("link_open", "image"):
                found.append(child.attrs.get("href") or child.attrs.get("src"))
    return found


UNSAFE_LINKS = [
    "[click](javascript:alert(1))",
    "[click](JavaScript:alert(1))",
    "[click](   javascript:alert(1))",
    "[click](<\x01javascript:alert(1)>)",
    "[click](<javascript:alert(1)>)",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;avascript:alert(1))",
    "[click](java&#x09;script:alert(1))",
    "[click](java%73cript:alert(1))",
    "[click](%6A%61%76%61%73%63%72%69%70%74:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](data:image/png;base64,iVBORw0KGgo=)",
    "[click](file:///etc/passwd)",
    "[click](//evil.example/x)",
    "[click](C:/Windows/win.ini)",
    "[click][r]\n\n[r]: javascript:alert(1)",
    "[click][R]\n\n[r]: JAVASCRIPT:alert(1) \"a title\"",
    "[click]\n\n[click]: <data:text/html,hi>",
    "![click](javascript:alert(1))",
    "![click](file:///etc/passwd)",
    "**[click](javascript:alert(1))** and more",
]
_SCHEMES = re.compile(r"javascript|vbscript|data:|file:|evil|win\.ini|%6a", re.I)


@pytest.mark.parametrize("notes", UNSAFE_LINKS, ids=range(len(UNSAFE_LINKS)))
def test_notes_links_to_unsafe_targets_keep_only_their_text(notes: str) -> None:
    html = report_render.notes_html(notes)
    md = report_render.notes_markdown(notes)
    assert "<a " not in html and "<img" not in html, html
    assert not _SCHEMES.search(html), html
    assert "click" in html and "click" in md
    assert _links(md) == [], md
    assert not _SCHEMES.search(md), md


@pytest.mark.parametrize("notes", ["<javascript:alert(1)>", "<vbscript:msgbox(1)>",
                                   "<JAVASCRIPT:alert(1)>", "<file:///etc/passwd>"])
def test_notes_autolinks_to_unsafe_targets_are_plain_text(notes: str) -> None:
    html = report_render.notes_html(notes)
    md = report_render.notes_markdown(notes)
    assert "<a " not in html and "href" not in html, html
    assert _links(md) == [], md


def test_notes_keep_links_to_the_web_mail_and_relative_places() -> None:
    notes = ("See [the act](https://example.org/act_(2013) \"The act\"), "
             "[old](http://example.org/a?b=1&c=2), [us](mailto:team@example.org), "
             "[annex](annex.md#table-2), [above](#challenges), <https://example.org/x>, "
             "[ref][r], <team@example.org> and ![logo](https://example.org/logo.png).\n\n"
             "[r]: https://example.org/ref\n")
    html = report_render.notes_html(notes)
    hrefs = re.findall(r'<a href="([^"]*)"', html)
    assert hrefs == ["https://example.org/act_(2013)", "http://example.org/a?b=1&amp;c=2",
                     "mailto:team@example.org", "annex.md#table-2", "#challenges",
                     "https://example.org/x", "https://example.org/ref",
                     "mailto:team@example.org", "https://example.org/logo.png"]
    assert 'title="The act"' in html and "<img" not in html
    md = report_render.notes_markdown(notes)
    assert _links(md) == ["https://example.org/act_(2013)", "http://example.org/a?b=1&c=2",
                          "mailto:team@example.org", "annex.md#table-2", "#challenges",
                          "https://example.org/x", "https://example.org/ref",
                          "mailto:team@example.org", "https://example.org/logo.png"]
    assert report_render.notes_html(md) == html  # the same links, in Markdown again


def test_notes_markdown_is_rebuilt_from_what_was_parsed() -> None:
    notes = ("# Challenges\n\nPartnerships rest on **single officials** and *luck*; "
             "`a <b>` code.\nA second line.\n\n<script>alert(1)</script>\n\n"
             "## Recommendations\n\n1. Formalise *each* agreement.\n2. Fund shelters:\n"
             "   - on time\n   - in full\n\n> A quote\n> on two lines\n\n"
             "```python\nprint('<b>')\n```\n\n| a | b |\n|:--|--:|\n| 1 \\| 2 | x |\n\n"
             "2\\. not a list, \\# not a heading, \\*not em\\*\n")
    md = report_render.notes_markdown(notes)
    assert md.startswith("### Challenges\n\n")
    assert "#### Recommendations" in md and "<script" not in md
    html = report_render.notes_html(notes)
    assert report_render.notes_html(md) == html  # the same document, in Markdown again
    assert "<ol>" in html and "<blockquote>" in html and "<table>" in html
    assert "<p>2. not a list, # not a heading, *not em*</p>" in html


@pytest.mark.slow
def test_notes_links_are_disarmed_in_every_format(small, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\n" + "\n\n".join(UNSAFE_LINKS) + "\n\n<javascript:alert(2)>"
                     "\n\n[safe](https://example.org/safe)\n", encoding="utf-8")
    paths = [tmp_path / f"r.{ext}" for ext in ("html", "md", "docx")]
    write_reports(small, paths, notes=notes, mentions=study_mentions(small))
    html = paths[0].read_text(encoding="utf-8")
    notes_html = html.split('<section id="challenges">')[1].split("</section>")[0]
    assert re.findall(r'href="([^"]*)"', notes_html) == ["https://example.org/safe"]
    assert "javascript:alert(1)" not in html.lower() and "vbscript" not in html.lower()
    md = paths[1].read_text(encoding="utf-8")
    notes_md = md.split("## Challenges and recommendations")[1].split("\n## ")[0]
    assert _links(notes_md) == ["https://example.org/safe"]
    assert "javascript:alert(1)" not in md.lower() and "vbscript" not in md.lower()
    with zipfile.ZipFile(paths[2]) as z:
        xml = z.read("word/document.xml").decode("utf-8")
        rels = z.read("word/_rels/document.xml.rels").decode("utf-8")
    assert "javascript:alert(1)" not in xml.lower() and "vbscript" not in xml.lower()
    assert "javascript" not in rels.lower() and "click" in xml


# --- user templates run in a sandbox -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("expression", [
    "''.__class__.__mro__",
    "title.__class__.__base__.__subclasses__()",
    "cycler.__init__.__globals__",
    "lipsum.__globals__['os']",
    "'{0.__class__}'.format(title)",
    "findings.append(1)",
    "study.update({'cases': 0})",
    "study.noun.pop('one')",
])
@pytest.mark.parametrize("fmt", ["html", "md"])
def test_user_templates_cannot_reach_python(small, tmp_path: Path, fmt: str,
                                            expression: str) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    template = folder / f"report.{fmt}.j2"
    template.write_text(f"A report\n{{{{ {expression} }}}}\n", encoding="utf-8")
    with pytest.raises(ReportError) as err:
        write_report(small, tmp_path / f"r.{fmt}", templates=folder)
    assert err.value.path == str(template) and err.value.line == 2
    assert "unsafe" in str(err.value)
    message = err.value.format()
    assert message.startswith(f"{template}:2: ") and "\n" not in message
    assert not (tmp_path / f"r.{fmt}").exists()


@pytest.mark.slow
def test_a_sandboxed_block_of_an_extending_template_names_its_line(small, tmp_path: Path):
    folder = tmp_path / "tpl"
    folder.mkdir()
    template = folder / "report.html.j2"
    template.write_text('{% extends "tipqual/report.html.j2" %}\n{% block notes %}\n'
                        "<p>{{ title }}</p>\n<p>{{ title.__class__ }}</p>\n{% endblock %}\n",
                        encoding="utf-8")
    with pytest.raises(ReportError, match="unsafe") as err:
        write_report(small, tmp_path / "r.html", templates=folder)
    assert (err.value.path, err.value.line) == (str(template), 4)


@pytest.mark.parametrize("expression, words", [
    ("1 // 0", "by zero"),
    ("range(10 ** 6) | length", "range too big"),
    ("no_such_name", "'no_such_name' is undefined"),
])
def test_other_template_failures_name_the_file_and_line(small, tmp_path: Path,
                                                       expression: str, words: str) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    template = folder / "report.md.j2"
    template.write_text(f"One\nTwo\n{{{{ {expression} }}}}\n", encoding="utf-8")
    with pytest.raises(ReportError) as err:
        write_report(small, tmp_path / "r.md", templates=folder)
    assert (err.value.path, err.value.line) == (str(template), 3)
    assert words in str(err.value).lower()


@pytest.mark.parametrize("body, words", [
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
     "more than 10,000 steps"),
    ("{% for a in findings %}{% for b in range(100000) %}{{ b.real }}{% endfor %}{% endfor %}",
     "more than 10,000 steps"),
    ("{% macro again(n) %}{% for i in range(10) %}{{ i }}{% endfor %}{{ again(n) }}"
     "{% endmacro %}{{ again(0) }}", "recursion"),
    ("{{ 'x' * 10 ** 9 }}", "a repeated string or list would be 1,000,000,000 long"),
    ("{{ [1, 2] * 10 ** 8 }}", "a repeated string or list would be 200,000,000 long"),
    ("{{ 10 ** 100000000 }}", "a power would be 100,000,000 long"),
    ("{{ title.ljust(10 ** 9) }}", "a padded string would be 1,000,000,000 long"),
    ("{{ title.center(width=10 ** 9) }}", "a padded string would be 1,000,000,000 long"),
    ("{% for i in range(90000) %}{{ 'y' * 300 }}{% endfor %}", "more than 500,000 characters"),
])
def test_a_template_cannot_run_for_ever_or_fill_the_memory(small_ctx, tmp_path: Path,
                                                          monkeypatch, body: str, words: str):
    """Nested loops stop at the step budget, big values before they are made, a long report
    before it is written; each with the file and line (budgets lowered here, so the tests
    are quick; the real ones are 10 million steps and 50 million characters)."""
    from tests.helpers import hang_guard

    monkeypatch.setattr(report_render, "MAX_TEMPLATE_STEPS", 10_000)
    monkeypatch.setattr(report_render, "MAX_REPORT_CHARS", 500_000)
    folder = tmp_path / "tpl"
    folder.mkdir()
    template = folder / "report.md.j2"
    template.write_text(f"One\n{body}\n", encoding="utf-8")
    with hang_guard(60, "a hostile template"), pytest.raises(ReportError) as err:
        report_render.render("md", small_ctx, templates=folder)
    assert err.value.path == str(template) and words in str(err.value)
    assert err.value.line in (2, None)  # None: the whole report's length, no one line
    assert "\n" not in err.value.format()


def test_ranges_and_arithmetic_still_work_in_a_template(small_ctx, tmp_path: Path):
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "report.html.j2").write_text(
        "{{ range(5) | length }} {{ range(3) | list }} {{ range(10)[2:4] | list }} "
        "{{ range(4) | reverse | list }} {{ 3 in range(5) }} {{ range(9)[-1] }} "
        "{{ 2 * 3 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 1.5 ** 2 }} {{ 'x'.ljust(3) }}|\n",
        encoding="utf-8")
    assert report_render.render("html", small_ctx, templates=folder) == (
        "5 [0, 1, 2] [2, 3] [3, 2, 1, 0] True 8 6 1024 ababab 2.25 x  |\n")


@pytest.mark.slow
def test_the_package_templates_use_a_sliver_of_the_budget(small, tmp_path: Path, monkeypatch):
    """The real report takes about 1,500 steps on the sample-sized study: the budget is not
    near (a template's steps grow with the cases and codes, not the words)."""
    envs = []
    make = report_render._bounded_environment_class

    def spy():
        cls = make()

        class Counted(cls):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                envs.append(self)
        return Counted

    monkeypatch.setattr(report_render, "_bounded_environment_class", spy)
    for fmt in ("html", "md"):
        write_report(small, tmp_path / f"r.{fmt}")
    assert len(envs) == 2 and all(0 < e.steps < report_render.MAX_TEMPLATE_STEPS / 1000
                                  for e in envs)


def test_the_package_templates_render_in_the_sandbox(small_files: dict) -> None:
    from jinja2.sandbox import SandboxedEnvironment

    assert isinstance(report_render.environment("html"), SandboxedEnvironment)
    assert isinstance(report_render.environment("md"), SandboxedEnvironment)
    assert "Challenges and recommendations" in small_files["html"].read_text(encoding="utf-8")


@pytest.mark.slow
def test_user_templates_are_still_escaped(small, tmp_path: Path) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "report.html.j2").write_text("{{ '<b>' }} {{ title }}|{{ study.cases }}\n",
                                           encoding="utf-8")
    (folder / "report.md.j2").write_text("{{ '*x* <b>' }} {{ findings | length }}\n",
                                         encoding="utf-8")
    write_report(small, tmp_path / "r.html", templates=folder, mentions=study_mentions(small))
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == \
        "&lt;b&gt; Findings: Report fixture study|3\n"
    write_report(small, tmp_path / "r.md", templates=folder, mentions=study_mentions(small))
    assert (tmp_path / "r.md").read_text(encoding="utf-8").startswith("\\*x\\* &lt;b&gt; ")
