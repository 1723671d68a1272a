"""The report of a study the sample does not resemble: village water committees, 1 to 10 cases.

Each study is built with the library (codebook, transcripts, cases, two coders' codings) so the
number of villages raising each theme and the new codes each village brings are known in
advance. The report must say them in words that fit the numbers, whatever their size: the
prevalence of each theme, the saturation item of COREQ, counts with their nouns in agreement;
warn (never print library noise) when it leaves something out or shows it empty; prefer
quotations that stand alone; and attribute every reviewed suggestion to its suggester and its
reviewer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tipqual.records import Coding
from tipqual.report import context as report_context
from tipqual.report import coreq
from tipqual.report import render as report_render
from tipqual.report.writer import write_report, write_reports

NOUN = {"one": "village", "many": "villages"}
CODEBOOK = """\
name: Village water committees
version: "1.0"
stakeholders:
  - {id: MUNI, name: District municipality, aliases: [the municipality], sector: government}
  - {id: TRUST, name: Clean Water Trust, aliases: [the water trust], sector: civil_society}
codes:
  - id: supply
    name: Water supply
    definition: Whether water reaches the village at all.
  - id: breakdowns
    name: Broken pumps
    parent: supply
    definition: Pumps and taps that stop working, and the wait for repairs.
    phrases: [borehole, spare parts, pump broke]
  - id: quality
    name: {quality}
    definition: Whether the water is safe to drink.
    phrases: [boil the water, dirty water]
  - id: tariffs
    name: Paying for water
    definition: Fees, tariffs and who pays them.
    phrases: [tariff, pay for water]
  - id: women
    name: Women on the committee
    definition: The part women play in running the committee.
    phrases: [women, chairwoman]
"""
# One answer per code, each found again by its first words when the codings are made.
ANSWERS = {
    "breakdowns": "The borehole pump broke in March and we waited six weeks for spare parts "
                  "to come from town, so the families walked to the river every morning.",
    "quality": "After the rains the water comes out brown and smells, so every family has to "
               "boil the water before the children drink it, which costs us firewood.",
    "tariffs": "The committee set a tariff of ten rand a month per household, and the families "
               "who cannot pay for water fetch it from the river instead of the tap.",
    "women": "Two women sit on the committee now, and the chairwoman keeps the book of payments "
             "so that everyone can see where the money for repairs goes.",
}
MUNICIPALITY = ("The municipality sends a technician only when we write to the councillor, and "
                "the letter takes weeks to reach the right office in town.")
MEETINGS = ("We meet on the first Sunday of every month in the church hall to plan the work "
            "and to hear what the families need.")

# villages and the codes each raises: what the report must count
STUDIES = {
    1: [{"breakdowns", "quality", "tariffs"}],
    2: [{"breakdowns", "quality"}, {"breakdowns", "tariffs"}],
    3: [{"breakdowns", "quality", "tariffs"}, {"breakdowns", "tariffs"}, {"tariffs"}],
    4: [{"breakdowns"}, {"breakdowns"}, {"breakdowns", "tariffs"}, {"tariffs", "women"}],
    10: [{"breakdowns", "tariffs"}, {"breakdowns", "quality"}, {"tariffs"}, {"tariffs"},
         {"tariffs", "women"}, {"tariffs"}, {"tariffs"}, {"tariffs"}, {"breakdowns"},
         {"breakdowns"}],
}
# the sentence of each theme (its prevalence, in words), per study
PREVALENCE = {
    1: {"supply": "The only village", "quality": "The only village",
        "tariffs": "The only village", "women": "No village"},
    2: {"supply": "Both villages", "quality": "One of the two villages",
        "tariffs": "One of the two villages", "women": "No village"},
    3: {"supply": "Two of the three villages", "quality": "One of the three villages",
        "tariffs": "All 3 villages", "women": "No village"},
    4: {"supply": "Three of the four villages", "quality": "No village",
        "tariffs": "Two of the four villages", "women": "One of the four villages"},
    10: {"supply": "About half (4 of 10)", "quality": "One village", "tariffs": "Most (7 of 10)",
         "women": "One village"},
}
# COREQ item 22, per study
SATURATION = {
    1: "New codes per village, villages in the order of their ids: V01 3; with one village "
       "coded, nothing can be said about saturation.",
    2: "New codes per village, villages in the order of their ids: V01 2, V02 1; new codes "
       "still appeared in the last village (V02).",
    3: "New codes per village, villages in the order of their ids: V01 3, V02 0, V03 0; no new "
       "code appeared after the first village (V01): the other 2 villages added none.",
    4: "New codes per village, villages in the order of their ids: V01 1, V02 0, V03 1, V04 1; "
       "new codes still appeared in the last 2 villages.",
    10: "New codes per village, villages in the order of their ids: V01 2, V02 1, V03 0, V04 0, "
        "V05 1, V06 0, V07 0, V08 0, V09 0, V10 0; no new code appeared in the last 5 villages "
        "(V06, V07, V08, V09 and V10); the last new codes came from V05.",
}


def _transcript(codes: set[str], first: bool) -> str:
    turns = ["Interviewer: Good morning, and thank you for meeting us.",
             "Chair: Hello, thank you for coming all this way to see us.",
             "Interviewer: How does the committee work?", f"Chair: {MEETINGS}"]
    for code in sorted(codes):
        turns += [f"Interviewer: Tell us about {code}.", f"Chair: {ANSWERS[code]}"]
    if first:
        turns += ["Interviewer: Who helps you?", f"Chair: {MUNICIPALITY}"]
    return "\n\n".join(turns) + "\n"


def build_study(root: Path, villages: list[set[str]], *, coded: bool = True,
                quality_name: str = "Water quality", name: str = "Water committees"):
    """A water-committee study of ``len(villages)`` villages, each raising its codes."""
    from tipqual.codebook import model as codebook
    from tipqual.ingest import importer as ingest
    from tipqual.store.project import Project

    folder = root / "transcripts"
    folder.mkdir(parents=True)
    rows = ["case,source,district"]
    for i, codes in enumerate(villages, start=1):
        case = f"V{i:02d}"
        (folder / f"{case.lower()}.txt").write_text(_transcript(codes, i == 1), encoding="utf-8")
        rows.append(f"{case},{case.lower()}.txt,{'north' if i % 2 else 'south'}")
    (root / "cases.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "water.yaml").write_text(CODEBOOK.replace("{quality}", quality_name),
                                     encoding="utf-8")
    project = Project.create(root / "study.db", name=name)
    with project.atomic():
        project.set_codebook(codebook.load(root / "water.yaml"))
    ingest.import_paths(project, [folder], root / "cases.csv")
    if coded:
        with project.atomic():
            for seg in project.segments(role="respondent"):
                for code, text in ANSWERS.items():
                    if seg.text.startswith(text[:30]):
                        for coder in ("ana", "ben"):
                            project.put_coding(Coding(segment=seg.id, code=code, coder=coder))
    return project


def municipality_mention(project) -> list:
    """The first village's mention of the municipality (its answer to "Who helps you?")."""
    from tipqual.records import Mention

    seg = next(s for s in project.segments(role="respondent")
               if s.text.startswith("The municipality"))
    return [Mention(seg.id, "MUNI", 4, 16, "municipality")]


@pytest.fixture(scope="module", params=sorted(STUDIES))
def study(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Each study, open, with its report in the three formats (with notes); the first village
    cites the municipality, so the report draws its stakeholder map."""
    n = request.param
    root = tmp_path_factory.mktemp(f"water-{n}")
    notes = root / "notes.md"
    notes.write_text("# Recommendations\n\nTrain two technicians per district.\n",
                     encoding="utf-8")
    project = build_study(root, STUDIES[n])
    mentions = municipality_mention(project)
    paths = [root / f"findings.{ext}" for ext in ("html", "md", "docx")]
    found: list[str] = []
    write_reports(project, paths, notes=notes, case_noun="village", mentions=mentions,
                  warn=found.append)
    ctx = report_context.build_context(project, noun=("village", "villages"),
                                       mentions=mentions)
    yield {"n": n, "project": project, "ctx": ctx, "warnings": found,
           **{p.suffix[1:]: p for p in paths}}
    project.close()


def _docx_text(path: Path, captions: bool = False) -> str:
    import docx

    doc = docx.Document(str(path))
    parts = [p.text for p in doc.paragraphs if captions or p.style.name != "Caption"]
    parts += [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join(parts)


def _svg_words(svg: str) -> list[str]:
    """The words an SVG figure draws: matplotlib writes each text (drawn as glyph paths) in
    a comment before it."""
    return [" ".join(m.split()) for m in re.findall(r"<!-- (.*?) -->", svg, flags=re.S)]


def _visible_html(html: str) -> str:
    """The page's words, figure captions and the words its SVG figures draw included."""
    drawn = [w for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S) for w in _svg_words(svg)]
    html = re.sub(r"<svg.*?</svg>|<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)) + "\n" + "\n".join(drawn)


# --- prevalence and saturation for 1, 2, 3, 4 and 10 cases --------------------------------------

@pytest.mark.slow
def test_each_theme_is_said_to_be_raised_in_words_that_fit_the_numbers(study) -> None:
    html = study["html"].read_text(encoding="utf-8")
    md = study["md"].read_text(encoding="utf-8")
    word = _docx_text(study["docx"])
    for theme, words in PREVALENCE[study["n"]].items():
        assert f'<span class="prevalence">{words}</span> raised this theme' in html, theme
        assert f"**{words}** raised this theme" in md, theme
        assert f"{words} raised this theme" in word, theme
    counts = {f["id"]: f["n_cases"] for f in study["ctx"]["findings"]}
    for theme, words in PREVALENCE[study["n"]].items():
        shown = report_render.capfirst(report_render.prevalence(counts[theme], study["n"], NOUN))
        assert shown == words


@pytest.mark.slow
def test_the_saturation_item_says_what_the_numbers_show(study) -> None:
    items = {i["number"]: i["answer"] for i in study["ctx"]["coreq"]}
    assert items["22"] == SATURATION[study["n"]]
    html = study["html"].read_text(encoding="utf-8")
    assert f"<td>{SATURATION[study['n']]}</td>" in html


def test_key_findings_bands_name_small_studies_exactly(study) -> None:
    labels = {1: ["The only village"], 2: ["Both villages", "One of the two villages"],
              3: ["All 3 villages", "Two of the three villages", "One of the three villages"],
              4: ["Three of the four villages", "Two of the four villages",
                  "One of the four villages"],
              10: ["Most villages", "About half of the villages", "A few villages"]}
    got = [report_render.band_label(b["band"], study["n"], NOUN)
           for b in study["ctx"]["key_findings"]]
    assert got == labels[study["n"]]
    html = study["html"].read_text(encoding="utf-8")
    for label in got:
        assert f"<tr><th>{label}</th>" in html


# an English count of one followed by a plural noun, in any of the report's sentences
ONE_PLURAL = re.compile(r"\b1 (?:coded |interview |transcript |top-level )?(?:villages|interviews|"
                        r"transcripts|words|segments|codes|themes|sub-themes|stakeholders|"
                        r"mentions|ties|coders)\b")


def test_counts_agree_with_their_nouns(study) -> None:
    """In every sentence, caption and figure of the three formats, for 1, 2, 3, 4 and 10
    villages: no "1 villages", and the figures' titles and captions agree with the count."""
    n = study["n"]
    html = _visible_html(study["html"].read_text(encoding="utf-8"))
    md = study["md"].read_text(encoding="utf-8")
    figures = {key: "\n".join(_svg_words(study["md"].with_name(f"findings-{key}.svg").read_text(
        encoding="utf-8"))) for key in ("presence", "stakeholder-map")}
    word = _docx_text(study["docx"], captions=True)
    texts = {"html": html, "md": md, "docx": word, **figures}
    for name, text in texts.items():
        assert not ONE_PLURAL.search(text), (name, ONE_PLURAL.search(text))
    if n == 1:
        title = "Stakeholder map: who the village cites, by sector and presence in coded passages"
        heat = "Cross-case matrix: which themes the village raises (coloured: raised; number: "
        circles = "circle area and the number beside each name: 1, the village citing it."
    else:
        title = (f"Stakeholder map: who the {n} villages cite, by sector and presence in coded "
                 "passages")
        heat = f"Cross-case matrix: which of the {n} villages raise each theme (coloured: "
        circles = f"circle area and the number beside each name: how many of the {n} villages"
    assert title in figures["stakeholder-map"] and title in html
    assert "1 village\n" in figures["stakeholder-map"] + "\n"  # the legend's smallest circle
    for name in ("html", "md", "docx"):
        assert heat in texts[name] and circles in texts[name], name
    items = {i["number"]: i["answer"] for i in study["ctx"]["coreq"]}
    assert items["32"] == "1 sub-theme, reported under its theme in the same way."
    assert items["31"].startswith("4 themes, each with its prevalence across villages")
    assert items["12"].startswith(f"{n} village{'s' if n > 1 else ''}, "
                                  f"{n} interview transcript{'s' if n > 1 else ''} (")
    if n == 1:
        assert "A case study of 1 village." in html and "1 village took part" in html
        assert ("The village cites 1 stakeholder of the registry (1 mention in respondents' "
                "answers); the network links 1 village to it by 1 tie.") in html


def test_one_cited_stakeholder_reads_in_the_singular(tmp_path: Path) -> None:
    from tipqual.records import Mention

    project = build_study(tmp_path, STUDIES[1])
    try:
        seg = next(s for s in project.segments(role="respondent")
                   if s.text.startswith("The municipality"))
        out = tmp_path / "r.md"
        write_report(project, out, case_noun="village",
                     mentions=[Mention(seg.id, "MUNI", 4, 16, "municipality")])
        md = out.read_text(encoding="utf-8")
    finally:
        project.close()
    assert ("The village cites 1 stakeholder (1 mention in respondents' answers); the network "
            "links 1 village to it by 1 tie.") in md


@pytest.mark.parametrize(("new", "uncoded", "expected"), [
    ([], ["A"], "Not assessable: no site is coded yet. A is not coded yet and not counted."),
    ([("A", 4)], [], "New codes per site, sites in the order of their ids: A 4; with one site "
     "coded, nothing can be said about saturation."),
    ([("A", 4), ("B", 0)], [], "New codes per site, sites in the order of their ids: A 4, B 0; "
     "no new code appeared after the first site (A): the other site added none."),
    ([("A", 4), ("B", 2)], ["C", "D"], "New codes per site, sites in the order of their ids: "
     "A 4, B 2; new codes still appeared in the last site (B). C and D are not coded yet and "
     "not counted."),
    ([("A", 4), ("B", 2), ("C", 1)], [], "New codes per site, sites in the order of their ids: "
     "A 4, B 2, C 1; new codes still appeared in the last 2 sites (every site after the "
     "first)."),
    ([("A", 4), ("B", 2), ("C", 0), ("D", 0)], [], "New codes per site, sites in the order of "
     "their ids: A 4, B 2, C 0, D 0; no new code appeared in the last 2 sites (C and D); the "
     "last new codes came from B."),
    ([("A", 4), ("B", 1), ("C", 0), ("D", 1)], [], "New codes per site, sites in the order of "
     "their ids: A 4, B 1, C 0, D 1; new codes still appeared in the last site (D)."),
    ([("A", 0), ("B", 0)], [], "New codes per site, sites in the order of their ids: A 0, B 0; "
     "no site brought a code of the codebook."),
])
def test_saturation_sentence(new: list, uncoded: list, expected: str) -> None:
    assert coreq.saturation(new, {"one": "site", "many": "sites"}, uncoded) == expected


def test_counted() -> None:
    assert coreq.counted(1, "code") == "1 code"
    assert coreq.counted(0, "code") == "0 codes"
    assert coreq.counted(2, "person", "people") == "2 people"
    assert coreq.counted(15372, "word") == "15,372 words"


@pytest.mark.parametrize("values, expected", [
    # numbers in numeric order, not as text ("105" after "53", not before it)
    ({"53": 2, "105": 1, "7": 1}, "7 (1); 53 (2); 105 (1)"),
    # many distinct numbers: a range with the median, the missing ones counted apart
    ({str(n): 1 for n in range(10, 130, 10)} | {"": 3},
     "12 values from 10 to 120 (median 65); (missing) (3)"),
    ({"1,200": 2, "950": 1}, "950 (1); 1,200 (2)"),
    # words alphabetically, a missing value last
    ({"rural": 2, "": 1, "peri-urban": 1}, "peri-urban (1); rural (2); (missing) (1)"),
    ({"12": 1, "twelve": 2}, "12 (1); twelve (2)"),
    ({"nan": 1, "4": 1}, "4 (1); nan (1)"),
])
def test_an_attribute_is_described_in_the_order_its_values_take(values, expected) -> None:
    from collections import Counter

    assert coreq._described(Counter(values)) == expected


@pytest.mark.parametrize(("values", "described"), [
    ({"Vhembe": 1, "Capricorn": 1}, True),          # a few cases: every attribute
    ({f"name {i}": 1 for i in range(8)}, False),   # a word of its own for each of many cases
    ({str(i): 1 for i in range(8)}, True),         # numbers: listed or given as a range
    ({"rural": 6, "urban": 2}, True),              # shared values
    ({"Gauteng": 8}, True),                        # one value for all
    ({"": 8}, False),                              # nothing given
    ({**{f"n{i}": 1 for i in range(7)}, "": 1}, False),
])
def test_an_attribute_describes_the_sample_by_its_values_not_its_name(values,
                                                                      described) -> None:
    from collections import Counter

    assert coreq.describes_sample(Counter(values)) is described


def test_the_checklist_names_formats_in_words_and_leaves_none_out() -> None:
    ctx = {"study": {"noun": {"one": "clinic", "many": "clinics"}, "cases": 0,
                     "interviews": 0, "words": 0, "formats": {}},
           "attribute_names": [], "cases": [], "coders": [],
           "codebook": {"name": "Clinics", "version": "1", "versions": 1,
                        "codes": [{"id": "queue", "depth": 0}]}}
    items = coreq.coreq_items(ctx, interviewers=[], questions={}, codes_by_case={})
    assert "19" not in {i["number"] for i in items}  # no transcripts: no "formats: ."
    ctx["study"]["formats"] = {"refi": 2, "txt": 1}
    items = coreq.coreq_items(ctx, interviewers=[], questions={}, codes_by_case={})
    assert {i["number"]: i["answer"] for i in items}["19"] == (
        "Transcript formats: from a REFI-QDA project (2), txt (1).")


# --- warnings instead of silently empty reports -------------------------------------------------

# straight after import there is nothing to review either: suggest comes first
NO_CODINGS = ("the study has no codings yet: every theme is empty; run 'tipqual suggest' then "
              "'tipqual review', or code with 'tipqual code add' or 'tipqual code import', "
              "first")
NO_NOTES = ("the challenges and recommendations section is left out: no notes were given; "
            "write them in a Markdown file and add it with --notes FILE.md")


@pytest.mark.slow
def test_a_study_without_codings_or_notes_warns_and_leaves_the_section_out(
        tmp_path: Path) -> None:
    import docx

    project = build_study(tmp_path, STUDIES[3], coded=False)
    found: list[str] = []
    paths = [tmp_path / f"r.{ext}" for ext in ("html", "md", "docx")]
    try:
        write_reports(project, paths, case_noun="village", mentions=[], warn=found.append)
    finally:
        project.close()
    assert found == [NO_CODINGS, NO_NOTES]
    html, md = (p.read_text(encoding="utf-8") for p in paths[:2])
    for text in (html, md):
        assert "Challenges and recommendations" not in text and "none was given" not in text
    assert 'id="challenges"' not in html
    headings = [p.text for p in docx.Document(str(paths[2])).paragraphs
                if p.style.name == "Heading 1"]
    assert "Challenges and recommendations" not in headings
    assert headings[-1] == "Appendix"


def test_notes_bring_the_section_back_and_silence_their_warning(study) -> None:
    assert study["warnings"] == []
    assert "<h2>Challenges and recommendations</h2>" in study["html"].read_text(encoding="utf-8")
    assert "## Challenges and recommendations" in study["md"].read_text(encoding="utf-8")
    assert "Train two technicians per district." in _docx_text(study["docx"])


def test_a_village_nobody_coded_is_named(tmp_path: Path) -> None:
    from tipqual.records import Coding as C

    project = build_study(tmp_path, STUDIES[3], coded=False)
    found: list[str] = []
    try:
        seg = next(s for s in project.segments(role="respondent") if s.case == "V01"
                   and s.text.startswith(ANSWERS["tariffs"][:20]))
        with project.atomic():
            project.put_coding(C(segment=seg.id, code="tariffs", coder="ana"))
        write_report(project, tmp_path / "r.html", notes=None, case_noun="village",
                     mentions=[], warn=found.append)
        ctx = report_context.build_context(project, noun=("village", "villages"), mentions=[])
    finally:
        project.close()
    assert found[0] == ("2 of the 3 villages have no codings yet (V02, V03): the findings count "
                        "them as raising no theme; code them first")
    assert found[1:] == [NO_NOTES]
    items = {i["number"]: i["answer"] for i in ctx["coreq"]}
    assert items["22"].endswith("V02 and V03 are not coded yet and not counted.")


def test_a_study_without_transcripts_says_so(tmp_path: Path) -> None:
    from tipqual.codebook import model as codebook
    from tipqual.store.project import Project

    (tmp_path / "water.yaml").write_text(CODEBOOK.replace("{quality}", "Quality"),
                                         encoding="utf-8")
    found: list[str] = []
    with Project.create(tmp_path / "study.db") as project:
        with project.atomic():
            project.set_codebook(codebook.load(tmp_path / "water.yaml"))
        write_report(project, tmp_path / "r.md", mentions=[], warn=found.append)
    assert found[0].startswith("the study has no transcripts yet: ")
    assert "'tipqual import'" in found[0]


def test_library_warnings_become_one_tipqual_line(tmp_path: Path) -> None:
    # a theme named in a script the figures' font lacks makes matplotlib warn on every glyph
    project = build_study(tmp_path, STUDIES[2], quality_name="Water quality 水质")
    found: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            write_reports(project, [tmp_path / "r.html", tmp_path / "r.docx"],
                          case_noun="village", mentions=[], warn=found.append)
    finally:
        project.close()
    assert [str(w.message) for w in caught] == []
    assert found == [NO_NOTES, "the figures' font has no glyph for 水, 质: those characters "
                     "show as empty boxes in the figures"]


@pytest.mark.slow
def test_the_report_command_prints_only_tipqual_lines_on_stderr(tmp_path: Path) -> None:
    """Straight after import: no codings, no notes, a matplotlib that cannot write its cache
    (it logs, and builds its font cache anew) and a font without the glyphs of a theme's name
    (it warns). A real process, as a user runs it; conftest's run_tipqual takes no
    environment, so the call is its own here."""
    build_study(tmp_path, STUDIES[2], coded=False, quality_name="Water quality 水质").close()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x", encoding="utf-8")
    out = tmp_path / "findings.html"
    done = subprocess.run(
        [sys.executable, "-m", "tipqual", "report", str(tmp_path / "study.db"), "--out",
         str(out)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONHASHSEED": "0", "MPLCONFIGDIR": str(blocked / "mpl")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Wrote {out}"
    assert done.stderr.splitlines() == [
        f"Warning: {NO_CODINGS}", f"Warning: {NO_NOTES}",
        "Warning: the figures' font has no glyph for 水, 质: those characters show as empty "
        "boxes in the figures"]
    assert out.stat().st_size > 0


def test_the_cli_prints_warnings_after_writing(runner, tmp_path: Path) -> None:
    from tipqual.cli import cli

    build_study(tmp_path, STUDIES[1], coded=False).close()
    out = tmp_path / "r.md"
    result = runner.invoke(cli, ["report", str(tmp_path / "study.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {out}")
    assert result.stderr.splitlines() == [f"Warning: {NO_CODINGS}", f"Warning: {NO_NOTES}"]


# --- quotations that stand alone ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "weak"), [
    ("Many don't.", ["short", "needs context"]),
    ("Hello, thank you for coming all this way to see us.", ["greeting"]),
    ("Thanks so much for having us here today, it was a pleasure.", ["greeting"]),
    ("Why does the municipality never answer our letters about the broken pump?",
     ["question"]),
    ("And that is why the pump stayed broken for the whole of the winter.", ["needs context"]),
    ("Yes, the pump broke again in March and nobody came to fix it.", ["needs context"]),
    ("They never come when the pump breaks, even when we write to the office.",
     ["needs context"]),
    ("That is what happens when the spare parts are ordered from town.", ["needs context"]),
    ("Many families walk to the river every morning when the pump is broken.", []),
    ("No child should have to walk to the river for water before school.", []),
    ("This village has one borehole for four hundred families and no spare pump.", []),
    ("We wait.", ["short"]),
    ("Ja, sure. We are an aftercare programme here in the Western Cape.", ["needs context"]),
])
def test_quote_weaknesses(text: str, weak: list[str]) -> None:
    assert report_context.quote_weaknesses(text) == weak


def test_code_words_and_carries() -> None:
    from tipqual.codebook.model import Code

    code = Code(id="x", name="X", phrases=["Spare parts", "borehole"],
                patterns=[[{"LEMMA": {"IN": ["repair", "fix"]}}, {"LOWER": "the"},
                           {"LOWER": "pump"}]])
    words = report_context.code_words([code])
    assert words == ["borehole", "fix", "pump", "repair", "spare parts"]
    assert report_context.carries("They repaired the PUMP.", ["repair"])
    assert report_context.carries("no spare  parts in town", words)
    assert not report_context.carries("a sparerib", ["spare parts"])
    assert not report_context.carries("we waited", words)


def _cand(seg: str, case: str, text: str, matched: bool = False, coders: int = 2) -> dict:
    source, n = seg.split(":")
    return {"segment": seg, "case": case, "coders": coders, "text": text, "role": "respondent",
            "order": (source, int(n)), "matched": matched}


LONG = ("The borehole pump broke in March and we waited six weeks for spare parts to come "
        "from town, so the families walked to the river every morning. ")


def test_weak_quotes_give_way_to_ones_that_stand_alone_even_from_a_quoted_case() -> None:
    cands = [_cand("a:2", "A", LONG + "It was hard.", matched=True),
             _cand("a:4", "A", "The committee paid for a new pump seal out of the tariff money "
                               "this year, and it has held since the winter."),
             _cand("b:2", "B", "Many don't."),
             _cand("c:2", "C", "Hello, thank you for coming all this way to see us today.")]
    # the two standalone quotes of A, and nothing weak beside them
    assert [c["segment"] for c in report_context.choose_quotes(cands, 3)] == ["a:2", "a:4"]
    # with nothing standalone, the least weak (the greeting is longer) rather than nothing
    weak = [c for c in cands if c["case"] != "A"]
    assert [c["segment"] for c in report_context.choose_quotes(weak, 1)] == ["c:2"]
    assert [c["segment"] for c in report_context.choose_quotes(weak, 3)] == ["c:2", "b:2"]


def test_quotes_carrying_the_codes_words_come_first() -> None:
    plain = ("We meet on the first Sunday of every month in the church hall to plan the work "
             "and to hear what the families need from the committee.")
    cands = [_cand("a:2", "A", plain), _cand("b:2", "B", LONG, matched=True),
             _cand("c:2", "C", plain.replace("Sunday", "Monday"))]
    assert [c["segment"] for c in report_context.choose_quotes(cands, 1)] == ["b:2"]
    # the matched quote wins over more coders' agreement only at equal weakness
    cands[0]["coders"] = 3
    assert [c["segment"] for c in report_context.choose_quotes(cands, 1)] == ["b:2"]


def test_a_greeting_is_never_the_evidence_of_a_theme(tmp_path: Path) -> None:
    """In the study, a coder coded a greeting and a bare "Many don't." with a theme that other
    villages state plainly: the report quotes the plain statements."""
    from tipqual.codebook import model as codebook
    from tipqual.ingest import importer as ingest
    from tipqual.store.project import Project

    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "v01.txt").write_text(
        f"Interviewer: Hello.\n\nChair: Hello, thank you for coming to see us.\n\n"
        f"Interviewer: Do families pay?\n\nChair: Many don't.\n\n"
        f"Interviewer: Why?\n\nChair: {ANSWERS['tariffs']}\n", encoding="utf-8")
    (folder / "v02.txt").write_text(
        "Interviewer: Do families pay?\n\nChair: Every household pays the tariff at the "
        "church on the first Sunday, and the treasurer writes it in the book.\n",
        encoding="utf-8")
    (tmp_path / "water.yaml").write_text(CODEBOOK.replace("{quality}", "Quality"),
                                         encoding="utf-8")
    with Project.create(tmp_path / "study.db") as project:
        with project.atomic():
            project.set_codebook(codebook.load(tmp_path / "water.yaml"))
        ingest.import_paths(project, [folder])
        with project.atomic():
            for seg in project.segments(role="respondent"):
                for coder in ("ana", "ben"):
                    project.put_coding(Coding(segment=seg.id, code="tariffs", coder=coder))
        ctx = report_context.build_context(project, mentions=[])
    tariffs = next(f for f in ctx["findings"] if f["id"] == "tariffs")
    assert [q["text"] for q in tariffs["quotes"]] == [
        ANSWERS["tariffs"], "Every household pays the tariff at the church on the first "
        "Sunday, and the treasurer writes it in the book."]


# --- suggestions: every decision under its suggester and its reviewer ----------------------------

def _suggest(project, codes: dict[str, str]) -> list[str]:
    """Store rule suggestions (as ``tipqual suggest`` records them) for the segments whose
    text starts like each code's answer; returns the segments suggested."""
    found = []
    for seg in project.segments(role="respondent"):
        for code, text in codes.items():
            if seg.text.startswith(text[:30]):
                found.append(Coding(segment=seg.id, code=code, coder="tipqual-rules",
                                    status="suggested", score=0.6,
                                    provenance=json.dumps({"suggester": "tipqual-rules",
                                                           "rules": ["phrase"]})))
    with project.atomic():
        project.replace_suggestions(["tipqual-rules"], None, found)
    return [c.segment for c in found]


def test_reviewed_suggestions_are_attributed_and_no_longer_await_review(tmp_path: Path) -> None:
    from tipqual.coding.review import ReviewSession

    project = build_study(tmp_path, STUDIES[10], coded=False)
    try:
        suggested = _suggest(project, ANSWERS)
        session = ReviewSession(project, "ana")
        for key in "aaar":
            session.handle(key)
        other = ReviewSession(project, "ben")  # ben sees ana's four again: he passes them
        for key in "ssssr":
            other.handle(key)
        ctx = report_context.build_context(project, mentions=[])
        out = tmp_path / "r.html"
        write_report(project, out, mentions=[])
        html = out.read_text(encoding="utf-8")
    finally:
        project.close()
    table = ctx["suggestions"]
    assert table["rows"] == [
        {"suggester": "tipqual-rules", "suggested": len(suggested) - 5, "accepted": 3,
         "rejected": 2, "total": len(suggested),
         "reviewers": [{"name": "ana", "accepted": 3, "rejected": 1},
                       {"name": "ben", "accepted": 0, "rejected": 1}]}]
    assert table["totals"]["suggested"] == len(suggested) - 5
    assert "unknown" not in html and report_context.NOT_RECORDED not in html
    assert (f'<tr><td>tipqual-rules</td><td class="num">{len(suggested) - 5}</td>'
            '<td class="num">3</td><td class="num">2</td>'
            f'<td class="num">{len(suggested)}</td><td>ana (3 accepted, 1 rejected); '
            "ben (0 accepted, 1 rejected)</td></tr>") in html


def test_decisions_name_their_suggester_however_it_was_recorded(tmp_path: Path) -> None:
    project = build_study(tmp_path, STUDIES[4], coded=False)
    try:
        segments = _suggest(project, {"breakdowns": ANSWERS["breakdowns"]})
        with project.atomic():
            # the review's own record, one naming both suggesters, a JSON record, and two
            # with none: one decides a stored suggestion, one was made elsewhere
            project.put_coding(Coding(segments[0], "breakdowns", "ana", "accepted", 0.6,
                                      "review of tipqual-rules 0.60"))
            project.put_coding(Coding(segments[1], "breakdowns", "ana", "rejected", 0.6,
                                      "review of tipqual-model+tipqual-rules 0.55"))
            project.put_coding(Coding(segments[2], "breakdowns", "ben", "accepted", 0.6,
                                      json.dumps({"suggester": "tipqual-model"})))
            project.put_coding(Coding(segments[0], "breakdowns", "ben", "rejected", None,
                                      "imported"))
            project.put_coding(Coding(segments[1], "tariffs", "ben", "accepted", None, None))
        rows = {r["suggester"]: r for r in
                report_context.build_context(project, mentions=[])["suggestions"]["rows"]}
    finally:
        project.close()
    assert list(rows) == ["tipqual-model", "tipqual-model+tipqual-rules", "tipqual-rules",
                          report_context.NOT_RECORDED]
    assert (rows["tipqual-rules"]["accepted"], rows["tipqual-rules"]["rejected"]) == (1, 1)
    assert rows["tipqual-rules"]["suggested"] == 0  # each of the three was decided
    assert rows["tipqual-rules"]["reviewers"] == [{"name": "ana", "accepted": 1, "rejected": 0},
                                                  {"name": "ben", "accepted": 0, "rejected": 1}]
    assert rows["tipqual-model+tipqual-rules"]["rejected"] == 1
    assert rows["tipqual-model"]["accepted"] == 1
    assert rows[report_context.NOT_RECORDED]["reviewers"] == [
        {"name": "ben", "accepted": 1, "rejected": 0}]


@pytest.mark.slow
def test_a_suggestion_two_reviewers_decided_counts_once_in_the_total(tmp_path: Path) -> None:
    """Blind double coding: ana decides four suggestions, ben three of the same four. The
    decisions are 7, the suggestions decided 4: the total counts suggestions, and a sentence
    says why accepted and rejected add up to more."""
    import docx

    from tipqual.coding.review import ReviewSession

    project = build_study(tmp_path, STUDIES[4], coded=False)
    paths = [tmp_path / f"r.{ext}" for ext in ("html", "md", "docx")]
    try:
        suggested = _suggest(project, ANSWERS)
        for coder, keys in (("ana", "aaar"), ("ben", "arr")):
            session = ReviewSession(project, coder, refit_every=0)
            for key in keys:
                session.handle(key)
        table = report_context.build_context(project, mentions=[])["suggestions"]
        write_reports(project, paths, mentions=[])
    finally:
        project.close()
    n = len(suggested)
    assert n > 4
    assert table["rows"] == [
        {"suggester": "tipqual-rules", "suggested": n - 4, "accepted": 4, "rejected": 3,
         "total": n, "reviewers": [{"name": "ana", "accepted": 3, "rejected": 1},
                                   {"name": "ben", "accepted": 1, "rejected": 2}]}]
    assert (table["double"], table["decisions"]) == (3, 7)
    note = ("3 suggestions were decided by more than one reviewer (blind double coding): "
            "accepted and rejected count every reviewer's decision (7 in all), the total counts "
            "each suggestion once.")
    assert table["note"] == note
    html, md = (p.read_text(encoding="utf-8") for p in paths[:2])
    assert "<p>" + note.replace("'", "&#39;") + "</p>" in html  # escaped as HTML
    assert (f'<tr><td>tipqual-rules</td><td class="num">{n - 4}</td><td class="num">4</td>'
            f'<td class="num">3</td><td class="num">{n}</td>') in html
    assert f"| tipqual-rules | {n - 4} | 4 | 3 | {n} | " in md and f"\n{note}\n" in md
    assert note in [p.text for p in docx.Document(str(paths[2])).paragraphs]


def test_one_reviewer_alone_gets_no_double_coding_sentence(tmp_path: Path) -> None:
    from tipqual.coding.review import ReviewSession

    project = build_study(tmp_path, STUDIES[2], coded=False)
    try:
        _suggest(project, ANSWERS)
        session = ReviewSession(project, "ana", refit_every=0)
        session.handle("a")
        table = report_context.build_context(project, mentions=[])["suggestions"]
    finally:
        project.close()
    assert (table["double"], table["note"]) == (0, "")
    assert table["rows"][0]["total"] == table["rows"][0]["suggested"] + 1


# --- partners of every sector are named -----------------------------------------------------

CLINICS = """\
name: Rural clinics
version: "1"
stakeholders:
  - {id: PHD, name: Provincial health department, aliases: [the province], sector: government}
  - {id: CHW, name: Community health workers, aliases: [health workers], sector: community}
  - {id: CHURCH, name: Local church, aliases: [the church], sector: community}
  - {id: PHARM, name: Corner pharmacy, aliases: [the pharmacy], sector: private}
  - {id: GAVI, name: Vaccine alliance, aliases: [the alliance], sector: donor}
  - {id: UNICEF, name: UNICEF, aliases: [the agency], sector: international}
codes:
  - {id: access, name: Getting to care, definition: Reaching the clinic., phrases: [walk]}
"""
# clinic -> the stakeholders its answer names, in the order they appear
CITES = {"C1": ["PHD", "CHW", "PHARM"], "C2": ["PHD", "CHW", "CHURCH", "GAVI"],
         "C3": ["CHW", "UNICEF"]}
ALIASES = {"PHD": "the province", "CHW": "health workers", "CHURCH": "the church",
           "PHARM": "the pharmacy", "GAVI": "the alliance", "UNICEF": "the agency"}


@pytest.mark.slow
def test_partners_of_every_sector_are_named(tmp_path: Path) -> None:
    """A registry whose stakeholders are community, private, donor and international actors,
    beside one government department: each sector's partners are named in the summary's sentence
    and listed under Partnerships, in all three formats; none is left out."""
    import docx

    from tipqual.codebook import model as codebook
    from tipqual.ingest import importer as ingest
    from tipqual.records import Mention
    from tipqual.store.project import Project

    folder = tmp_path / "transcripts"
    folder.mkdir()
    for case, cited in CITES.items():
        answer = "We walk to the clinic; " + ", ".join(ALIASES[s] for s in cited) + " help us."
        (folder / f"{case.lower()}.txt").write_text(
            f"Interviewer: Who helps you?\n\nNurse: {answer}\n", encoding="utf-8")
    (tmp_path / "clinics.yaml").write_text(CLINICS, encoding="utf-8")
    paths = [tmp_path / f"r.{ext}" for ext in ("html", "md", "docx")]
    with Project.create(tmp_path / "study.db", name="Clinics") as project:
        with project.atomic():
            project.set_codebook(codebook.load(tmp_path / "clinics.yaml"))
        ingest.import_paths(project, [folder])
        mentions = []
        for seg in project.segments(role="respondent"):
            for stakeholder in CITES[seg.source.upper()]:
                at = seg.text.index(ALIASES[stakeholder])
                mentions.append(Mention(seg.id, stakeholder, at,
                                        at + len(ALIASES[stakeholder]), ALIASES[stakeholder]))
        ctx = report_context.build_context(project, mentions=mentions, noun=("clinic", "clinics"))
        write_reports(project, paths, mentions=mentions, case_noun="clinic")
    groups = [(g["sector"], [r["id"] for r in g["partners"]])
              for g in ctx["partnerships"]["sectors"]]
    assert groups == [("community", ["CHW", "CHURCH"]), ("donor", ["GAVI"]),
                      ("international", ["UNICEF"]), ("private", ["PHARM"])]
    sentence = ("The government partners cited by at least half of the clinics, most cited "
                "first: PHD (2); the community partners: CHW (3) and CHURCH (1); the donor "
                "partners: GAVI (1); the international partners: UNICEF (1); the private "
                "partners: "
                "PHARM (1) (number of clinics citing each, of 3).")
    html, md = (p.read_text(encoding="utf-8") for p in paths[:2])
    word = [p.text for p in docx.Document(str(paths[2])).paragraphs]
    assert f"<p><strong>Partners.</strong> {sentence}</p>" in html
    assert f"**Partners.** {sentence}" in md
    assert f"Partners. {sentence}" in word
    for label, stakeholder in (("Community", "CHW"), ("Donor", "GAVI"),
                               ("International", "UNICEF"), ("Private", "PHARM")):
        assert f"<p>{label} partners cited:</p>" in html
        assert f"{label} partners cited:\n\n- **{stakeholder}**" in md
        assert f"{label} partners cited:" in word
    for stakeholder in CITES["C2"] + ["UNICEF", "PHARM"]:
        assert f"<li><strong>{stakeholder}</strong>" in html


def test_without_a_leading_government_partner_the_other_sectors_still_are_named() -> None:
    import networkx as nx
    import pandas as pd

    ranking = pd.DataFrame(
        [{"name": "Local church", "sector": "community", "cases": 1, "mentions": 2,
          "centrality": 0.0},
         {"name": "Province", "sector": "government", "cases": 1, "mentions": 1,
          "centrality": 0.0}], index=["CHURCH", "PHD"])
    got = report_context._partnerships(ranking, nx.Graph(), n_cases=4)
    assert got["leading_government"] == [] and got["civil_society"] == []
    assert [(g["label"], [r["id"] for r in g["partners"]]) for g in got["sectors"]] == [
        ("community", ["CHURCH"])]
    assert report_context.sector_label("civil_society") == "civil-society"
