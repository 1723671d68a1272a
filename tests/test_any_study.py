"""A study the sample does not resemble, end to end through the command line.

Three primary schools in a school-meals evaluation (fictional): a codebook of its own, with
parent and child codes, its own stakeholders and no trafficking codes; transcripts as .txt,
.md, .docx and .vtt; two coders; suggestions reviewed. Every command must succeed, the map must
be drawn, the report must carry the study's name, and the numbers a funder reads must agree
between ``status``, the report and the spreadsheet.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.helpers import run_tipqual

pytestmark = pytest.mark.slow

NAME = "School meals pilot, three schools"
CODEBOOK = """\
name: School meals evaluation
version: "1.0"
stakeholders:
  - {id: DOE, name: Department of Education, aliases: [the department, education department],
     sector: government}
  - {id: HEALTH, name: Clinic nurses, aliases: [the clinic, nurse, nurses], sector: government}
  - {id: SGB, name: School governing body, aliases: [governing body, the sgb],
     sector: civil_society}
  - {id: FARMCOOP, name: Farmers' cooperative, aliases: [the cooperative, the co-op],
     sector: civil_society}
codes:
  - id: food
    name: The food served
    definition: What children are given to eat and how it is judged.
  - id: food-quantity
    name: Portions
    parent: food
    definition: Whether there is enough food for every child.
    phrases: [portion, portions, not enough food, run out, ran out, second helping]
  - id: food-quality
    name: Freshness and nutrition
    parent: food
    definition: Whether the food is fresh and nourishing.
    phrases: [fresh vegetables, stale, rotten, nutritious, vegetables]
  - id: stigma
    name: Stigma
    definition: Children feeling ashamed to eat the free meal.
    phrases: [ashamed, teased, embarrassed, shame]
  - id: delivery
    name: Deliveries
    definition: Food arriving late, short or not at all.
    phrases: [delivery, deliveries, arrived late, the truck]
"""
TXT = """\
Interviewer: How are the meals at Hillcrest?

Principal: The portions are small and by the last class we ran out of food twice this term.

Interviewer: Who helps you?

Principal: The department sends maize, and the cooperative brings fresh vegetables on Fridays.

Principal: Some children are teased in the queue, so a few skip the meal; they feel ashamed.
"""
MD = """\
# Interview: Riverside Primary

**Interviewer:** Tell me about deliveries.

**Teacher:** The truck arrived late three times in May, and the bread was stale when it came.

**Interviewer:** And the governing body?

**Teacher:** The governing body raised money for a second helping on Mondays.
The clinic nurses weigh the children each term.
"""
VTT = """\
WEBVTT

1
00:00:01.000 --> 00:00:05.000
<v Interviewer>What changed since the programme started?</v>

2
00:00:06.000 --> 00:00:14.000
<v Cook>Deliveries come on time now, and the vegetables are fresh because the co-op grows them.</v>

3
00:00:15.000 --> 00:00:21.000
<v Cook>But portions are still not enough food for the older children.</v>
"""
CASES = """\
case,source,district,learners,services
HILL,hillcrest.txt,rural,420,meals; garden
RIVER,riverside.md,urban,910,meals
RIVER,riverside-staff.docx,urban,910,meals
VALE,valley.vtt,rural,150,meals; garden; transport
"""


def ok(*args: str | Path, input: str | None = None) -> str:
    done = run_tipqual(*map(str, args), input=input, timeout=300)
    assert done.returncode == 0, (args, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def write_docx(path: Path) -> None:
    from docx import Document

    doc = Document()
    for line in ("Interviewer: Is there enough food?",
                 "Deputy: Portions are fine since the department doubled the order, and no "
                 "child is embarrassed any more because everyone eats together.",
                 "Interviewer: Anything else?",
                 "Deputy: The nurse from the clinic says the meals are nutritious."):
        doc.add_paragraph(line)
    doc.save(path)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("meals")
    folder = root / "transcripts"
    folder.mkdir()
    (folder / "hillcrest.txt").write_text(TXT, encoding="utf-8")
    (folder / "riverside.md").write_text(MD, encoding="utf-8")
    (folder / "valley.vtt").write_text(VTT, encoding="utf-8")
    write_docx(folder / "riverside-staff.docx")
    (root / "cases.csv").write_text(CASES, encoding="utf-8")
    (root / "meals.yaml").write_text(CODEBOOK, encoding="utf-8")
    db = root / "meals.db"
    ok("codebook", "validate", root / "meals.yaml")
    ok("init", db, "--codebook", root / "meals.yaml", "--name", NAME)
    ok("import", db, folder, "--cases", root / "cases.csv")
    segments = json.loads(ok("segments", db, "--json"))
    respondent = [s for s in segments if s["role"] == "respondent"]
    assert {s["case"] for s in respondent} == {"HILL", "RIVER", "VALE"}
    rows = ["segment,code,coder"]
    by_text = {s["id"]: s["text"].lower() for s in respondent}
    for seg, text in by_text.items():
        if "portion" in text or "enough food" in text or "ran out" in text:
            rows += [f"{seg},food-quantity,ana", f"{seg},food-quantity,ben"]
        if "teased" in text or "embarrassed" in text:
            rows += [f"{seg},stigma,ana"]
            rows += [f"{seg},stigma,ben"] if "teased" in text else []
        # deliveries and freshness are left to the suggestions, for review
    (root / "codings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ok("code", "import", db, root / "codings.csv")
    ok("suggest", db)
    review = ok("review", db, "--coder", "ana", input="a\na\na\nr\nr\nq\n")
    assert "3 accepted, 2 rejected" in review.splitlines()[-1], review
    return {"root": root, "db": db}


def test_every_stage_runs_and_the_map_is_drawn(study):
    root, db = study["root"], study["db"]
    agree = json.loads(ok("agree", db, "--coders", "ana,ben", "--json"))
    assert agree["coders"] == ["ana", "ben"]
    assert set(agree["codes"]) >= {"food-quantity", "stigma", "delivery"}
    ok("matrix", db, "--out", root / "matrices.xlsx")
    ok("network", db, "--out", root / "network.graphml", "--table", root / "ranking.csv",
       "--figure", root / "map.svg")
    svg = (root / "map.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg
    ranking = (root / "ranking.csv").read_text(encoding="utf-8")
    for stakeholder in ("DOE", "FARMCOOP", "SGB", "HEALTH"):
        assert stakeholder in ranking
    (root / "notes.md").write_text("Fund the co-op's deliveries for a second year.\n",
                                   encoding="utf-8")
    for suffix in ("html", "md", "docx"):
        ok("report", db, "--out", root / f"findings.{suffix}", "--notes", root / "notes.md")
        assert (root / f"findings.{suffix}").stat().st_size > 0
    html = (root / "findings.html").read_text(encoding="utf-8")
    assert f"<title>Findings: {NAME}</title>" in html
    assert "no stakeholder is cited" not in html.lower()


def test_status_report_and_spreadsheet_agree(study):
    from openpyxl import load_workbook

    root, db = study["root"], study["db"]
    status = json.loads(ok("status", db, "--json"))
    assert status["codings"]["accepted"] == 3 and status["codings"]["rejected"] == 2
    exported = root / "all.csv"
    ok("code", "export", db, "--out", exported, "--status", "suggested")
    with open(exported, newline="", encoding="utf-8-sig") as fh:  # written for Excel
        proposed = {(r["segment"], r["code"]) for r in csv.DictReader(fh)}  # either suggester
    # a decided suggestion is no longer awaiting review
    assert status["codings"]["suggested"] == len(proposed) - 5

    from tipqual.report.context import build_context
    from tipqual.store.project import Project

    with Project.open(db, readonly=True) as project:
        ctx = build_context(project)
    totals = ctx["suggestions"]["totals"]
    assert totals["suggested"] == status["codings"]["suggested"]
    assert (totals["accepted"], totals["rejected"]) == (3, 2)
    assert ctx["study"]["name"] == NAME and ctx["study"]["cases"] == 3

    ok("matrix", db, "--out", root / "counts.xlsx")
    sheet = load_workbook(root / "counts.xlsx", read_only=True)["counts"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    table = {r[0]: dict(zip(header[1:], r[1:], strict=False)) for r in rows[1:]
             if r[0] in ("HILL", "RIVER", "VALE")}
    matrix = ctx["matrix"]
    for row in matrix["rows"]:
        for code, count in zip(matrix["codes"], row["counts"], strict=True):
            column = f"{code} (all)" if code in matrix["grouped"] else code
            assert (table[row["case"]].get(column) or 0) == count, (row["case"], code)


def test_the_report_speaks_of_schools_and_the_words_agree_with_the_numbers(study):
    root, db = study["root"], study["db"]
    ok("report", db, "--out", root / "schools.md", "--case-noun", "school")
    text = (root / "schools.md").read_text(encoding="utf-8")
    assert "organisation" not in text.lower()
    assert not re.search(r"\b1 sub-themes\b|\b1 schools\b", text)


def _md_table(text: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with ``header``, cells stripped."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_written_reports_carry_the_name_and_the_numbers_of_status_and_the_workbook(study):
    """The files a funder reads, not the context they were made from: the md report's
    summary, coder and suggestion tables and matrix agree with ``status --json`` and the
    spreadsheet; md and docx carry the study's name as their title."""
    import docx
    from openpyxl import load_workbook

    root, db = study["root"], study["db"]
    ok("report", db, "--out", root / "numbers.md", "--case-noun", "school")
    ok("report", db, "--out", root / "numbers.docx", "--case-noun", "school")
    ok("matrix", db, "--out", root / "numbers.xlsx")
    status = json.loads(ok("status", db, "--json"))
    md = (root / "numbers.md").read_text(encoding="utf-8")
    assert md.splitlines()[0] == f"# Findings: {NAME}"
    word = docx.Document(str(root / "numbers.docx"))
    assert word.paragraphs[0].style.name == "Title"
    assert word.paragraphs[0].text == f"Findings: {NAME}"
    assert word.core_properties.title == f"Findings: {NAME}"

    summary = re.search(r"^- (\d+) schools?, (\d+) interviews?, [\d,]+ words?, (\d+) segments?$",
                        md, flags=re.M)
    assert summary is not None, md[:600]
    assert [int(g) for g in summary.groups()] == [status["cases"], status["sources"],
                                                 status["segments"]]
    assert f"v1.0, {status['codes']} codes" in md
    coders = {r[0]: [int(v) for v in r[1:]] for r in _md_table(md, "| coder |")}
    assert sorted(coders) == status["coders"]
    assert sum(v[0] for v in coders.values()) == status["codings"]["human"]
    assert sum(v[1] for v in coders.values()) == status["codings"]["accepted"]
    assert sum(v[2] for v in coders.values()) == status["codings"]["rejected"]
    suggested = _md_table(md, "| suggester |")
    awaiting, accepted, rejected = (sum(int(r[i]) for r in suggested) for i in (1, 2, 3))
    assert (awaiting, accepted, rejected) == (status["codings"]["suggested"],
                                              status["codings"]["accepted"],
                                              status["codings"]["rejected"])
    assert all(int(r[4]) == int(r[1]) + int(r[2]) + int(r[3]) for r in suggested)  # one review

    sheet = load_workbook(root / "numbers.xlsx", read_only=True)["counts"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    workbook = {r[0]: dict(zip(rows[0][1:], r[1:], strict=False)) for r in rows[1:]
                if r[0] in ("HILL", "RIVER", "VALE")}
    matrix = _md_table(md, "| code | HILL | RIVER | VALE | schools |")
    assert [r[0] for r in matrix] == ["food (all)", "— food-quantity", "— food-quality",
                                      "stigma", "delivery"]
    for row in matrix:
        column = row[0].removeprefix("— ")
        for case, cell in zip(("HILL", "RIVER", "VALE"), row[1:4], strict=True):
            assert int(cell or 0) == (workbook[case].get(column) or 0), (case, column)
        assert int(row[4]) == sum(1 for cell in row[1:4] if cell), row


def test_the_map_draws_the_studys_own_stakeholders(study):
    """The network's map and the report's: each cited stakeholder of the school-meals
    registry, labelled with the schools citing it as the ranking counts them."""
    root, db = study["root"], study["db"]
    ok("network", db, "--out", root / "drawn.graphml", "--table", root / "drawn.csv",
       "--figure", root / "drawn.svg")
    ok("report", db, "--out", root / "drawn.md", "--case-noun", "school")
    with open(root / "drawn.csv", newline="", encoding="utf-8-sig") as fh:
        cited = {r["stakeholder"]: int(r["cases"]) for r in csv.DictReader(fh)
                 if int(r["cases"])}
    assert set(cited) == {"DOE", "HEALTH", "SGB", "FARMCOOP"}
    for svg, word in ((root / "drawn.svg", "cases"), (root / "drawn-stakeholder-map.svg",
                                                      "schools")):
        drawn = re.findall(r"<!-- (.*?) -->", svg.read_text(encoding="utf-8"), flags=re.S)
        labels = {m.group(1): int(m.group(2)) for text in drawn
                  if (m := re.fullmatch(r"([A-Z][A-Z0-9-]*) \((\d+)\)", text))}
        assert labels == cited, svg
        assert f"Stakeholder map: who the 3 {word} cite, by sector and presence in coded " \
               "passages" in drawn
        assert not any("victim" in text.lower() for text in drawn)


def test_a_second_reviewer_leaves_the_counts_of_status_review_and_report_in_agreement(study):
    """On a copy: ben reviews blind after ana. review says how many no one has decided
    (status's awaiting review), and the report's total still counts each suggestion once."""
    import shutil

    root = study["root"]
    db = root / "double.db"
    shutil.copy(study["db"], db)
    before = json.loads(ok("status", db, "--json"))["codings"]
    exported = root / "double.csv"
    ok("code", "export", db, "--out", exported, "--status", "suggested")
    with open(exported, newline="", encoding="utf-8-sig") as fh:
        pairs = len({(r["segment"], r["code"]) for r in csv.DictReader(fh)})
    review = ok("review", db, "--coder", "ben", input="a\nr\nq\n").splitlines()
    assert review[0].startswith(f"{pairs} suggestions to review: {before['suggested']} awaiting "
                                f"review, {pairs - before['suggested']} already decided by ana;")
    after = json.loads(ok("status", db, "--json"))["codings"]
    ok("report", db, "--out", root / "double.md", "--case-noun", "school")
    md = (root / "double.md").read_text(encoding="utf-8")
    [row] = _md_table(md, "| suggester |")
    assert int(row[1]) == after["suggested"]
    assert (int(row[2]), int(row[3])) == (after["accepted"], after["rejected"])
    assert int(row[4]) == pairs  # each suggestion once, though two reviewers decided some
    assert "decided by more than one reviewer (blind double coding)" in md
