"""Studies that are not the sample, through the real command line, checked against DESIGN.md.

The studies (``tests/fixtures/analysis/odd_studies.py``): four clinics whose codebook is three
levels deep without definitions or stakeholders; one code and one case; 150 codes and 60 cases
with attributes of every kind and transcripts in every format; two coders with overlapping
spans and a third who coded nothing. Each is created, imported, coded and suggested once per
module; the tests then run every analysis command over it and read what it wrote: nothing
crashes, an empty section says so in words, every code and case is where it belongs, no cell
becomes a formula, HTML is escaped, and the same study gives byte-identical files twice.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.fixtures.analysis import odd_studies
from tests.helpers import run_tipqual

pytestmark = pytest.mark.slow

MATRIX_SHEETS = ("counts", "presence", "coverage", "framework", "cooccurrence")


def ok(*args: str | Path) -> str:
    done = run_tipqual(*map(str, args), timeout=600)
    assert done.returncode == 0, (args, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def refused(*args: str | Path) -> str:
    """A command that must fail cleanly: non-zero, one ``Error:`` line, no traceback."""
    done = run_tipqual(*map(str, args), timeout=600)
    assert done.returncode != 0, args
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def strict_json(text: str):
    """JSON as the contract means it: NaN or Infinity are not JSON."""
    def bad(name: str):
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=bad)


def create(study: odd_studies.Study, db: Path) -> None:
    if study.qdpx:
        ok("refi", "import", study.qdpx, db)
        ok("set", db, "--name", study.name)
    else:
        ok("codebook", "validate", study.codebook)
        ok("init", db, "--codebook", study.codebook, "--name", study.name)
    if study.transcripts:
        ok("import", db, study.transcripts, "--cases", study.cases_csv)
    for codings in study.codings:
        ok("code", "import", db, codings)
    for coder, code, segment in study.adds:
        ok("code", "add", db, "--coder", coder, "--code", code, segment)
    ok("suggest", db)


def outputs(study: odd_studies.Study, db: Path, out: Path) -> dict[str, Path]:
    """Every analysis output of the study, written into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"xlsx": out / "matrices.xlsx", "bycoder": out / "by-coder.xlsx"}
    ok("matrix", db, "--out", files["xlsx"])
    ok("matrix", db, "--out", files["bycoder"], "--by-coder")
    for sheet in MATRIX_SHEETS:
        files[sheet] = out / f"{sheet}.csv"
        ok("matrix", db, "--out", files[sheet], "--sheet", sheet)
    files["graphml"], files["ranking"] = out / "network.graphml", out / "ranking.csv"
    files["gexf"], files["map"] = out / "network.gexf", out / "map.svg"
    network = ("network", db, "--out", files["graphml"], "--table", files["ranking"],
               "--figure", files["map"])
    if study.key in ("clinic", "single", "overlap"):   # no stakeholder cited: no map
        assert "no map to draw" in refused(*network)
        assert files["graphml"].exists() and files["ranking"].exists()
    else:
        ok(*network)
    ok("network", db, "--out", files["gexf"])
    for suffix in ("html", "md", "docx"):
        files[suffix] = out / f"findings.{suffix}"
        done = run_tipqual("report", str(db), "--out", str(files[suffix]), "--case-noun",
                           study.case_noun, timeout=600)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        files[f"{suffix}-warnings"] = out / f"findings-{suffix}-warnings.txt"
        files[f"{suffix}-warnings"].write_text(done.stderr, encoding="utf-8")
    for figure in sorted(out.glob("findings-*.svg")):   # the Markdown report's figures
        files[figure.name] = figure
    files["qdpx"] = out / "study.qdpx"
    ok("refi", "export", db, "--out", files["qdpx"])
    return files


@pytest.fixture(scope="module", params=odd_studies.STUDIES)
def odd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp(request.param)
    study = odd_studies.build(request.param, root / "input")
    db = root / "study.db"
    create(study, db)
    return {"study": study, "db": db, "root": root,
            "files": outputs(study, db, root / "out")}


def docx_text(path: Path) -> str:
    """A Word file's paragraphs and table cells, one a line."""
    import docx

    document = docx.Document(str(path))
    lines = [p.text for p in document.paragraphs]
    lines += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join(lines)


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.reader(fh))


def test_status_and_history_answer_in_their_contracted_shapes(odd):
    study, db = odd["study"], odd["db"]
    status = strict_json(ok("status", db, "--json"))
    assert set(status) == {"cases", "sources", "segments", "codes", "coders", "codings"}
    assert status["cases"] == len(study.cases) and status["codes"] == len(study.codes)
    assert status["coders"] == sorted(study.coders)
    assert set(status["codings"]) == {"human", "suggested", "accepted", "rejected"}
    text = ok("status", db)
    assert f"cases     {len(study.cases)}" in text
    assert strict_json(ok("history", db, "--json")) == []
    assert "No steps yet" in ok("history", db)


def test_agree_gives_every_json_shape_without_nan(odd):
    study, db = odd["study"], odd["db"]
    if len(study.coders) < 2:
        assert "two or more" in refused("agree", db, "--coders", study.coders[0], "--json")
        return
    pairs = [study.coders[:2]] + ([study.coders] if len(study.coders) > 2 else [])
    for coders in pairs:
        for extra in ([], ["--codes", study.codes[0]], ["--cases", study.cases[0]],
                      ["--status", "human,accepted,suggested"]):
            table = strict_json(ok("agree", db, "--coders", ",".join(coders), "--json", *extra))
            assert table["coders"] == coders
            assert {"n_units", "percent_agreement", "kappa", "alpha"} <= set(table["overall"])
            for code, row in table["codes"].items():
                assert set(row) == {"n_units", "percent_agreement", "kappa", "alpha"}, code
            if not extra:
                assert list(table["codes"]) == study.codes   # codebook order, every code
    for silent in study.silent:   # a coder with no codings is named, not a crash
        assert f"unknown coder {silent!r}" in refused(
            "agree", db, "--coders", f"{study.coders[0]},{silent}", "--json")


def test_every_matrix_has_every_case_and_code_and_no_formula(odd):
    from openpyxl import load_workbook

    study, files = odd["study"], odd["files"]
    for key in ("xlsx", "bycoder"):
        book = load_workbook(files[key])
        assert set(MATRIX_SHEETS) <= set(book.sheetnames)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (key, sheet.title, cell.coordinate)
        header = [c.value for c in next(book["counts"].iter_rows(max_row=1))]
        header = header[2:] if key == "bycoder" else header[1:]   # case[, coder]
        assert [h for h in header if not str(h).endswith(" (all)")] == study.codes
    columns = _rows(files["counts"])[0][1:]
    for sheet in MATRIX_SHEETS:
        rows = _rows(files[sheet])
        assert rows[0][1:] == columns, sheet
        first = [r[0] for r in rows[1:]]
        assert first == (columns if sheet == "cooccurrence" else study.cases), sheet
        for row in rows:
            for cell in row:
                assert cell[:1] not in ("=", "+", "-", "@"), (sheet, cell)


def test_the_reports_name_every_case_and_code_and_say_what_is_empty(odd):
    import docx

    study, files = odd["study"], odd["files"]
    md = files["md"].read_text(encoding="utf-8")
    html = files["html"].read_text(encoding="utf-8")
    word = docx_text(files["docx"])
    for case in study.cases:
        assert f"| {case} |" in md, case
        assert f"<td>{case}</td>" in html or f"<th>{case}</th>" in html, case
    for code in study.codes:
        assert re.search(rf"\| (— )*{re.escape(code)}( \(all\))? \|", md), code
    # no emphasis left empty (a code without a definition), no "1 of the 1"
    assert not re.search(r"^\*\*?$", md, flags=re.M), "empty emphasis"
    assert "<p class=\"scope\"></p>" not in html and "<p class=\"definition\"></p>" not in html
    assert not re.search(r"\b1 of the 1\b", md + html + word)
    assert not re.search(r"\b1 (segments|codes|interviews|themes|sub-themes|mentions)\b",
                         md + word)
    if study.key == "clinic":   # no stakeholder registry: no partnerships section, and why
        assert "Partnerships" not in md + html + word
        for suffix in ("html", "md", "docx"):
            assert "the partnerships section is left out: the codebook has no stakeholder " \
                "registry" in files[f"{suffix}-warnings"].read_text(encoding="utf-8")
        assert md.count("(no definition)") == len(study.codes)
        # the third level of the codebook is a level below the second in every format
        assert "\n#### Cost\n" in md and "\n##### Transport fares\n" in md
        assert '<h4 id="theme-cost">' in html and '<h5 id="theme-transport-fares">' in html
        headings = {p.text: p.style.name for p in docx.Document(str(files["docx"])).paragraphs}
        assert (headings["Cost"], headings["Transport fares"]) == ("Heading 3", "Heading 4")
    if study.key == "single":
        assert "the only transcript segment is a respondent's answer" in md
    if study.key in ("single", "clinic", "overlap"):   # suggest proposed nothing here
        said = "tipqual made no suggestions in this study"
        assert said in md and said in html and said in word
    if study.key == "big":   # 150 codes: each band of the key findings names at most 12
        bands = re.findall(r"^- \*\*(.+?):\*\* (.*)$", md, flags=re.M)
        assert bands and all(len(themes.split("; ")) <= 13 for _, themes in bands), bands
        more = [int(m) for m in re.findall(r"; and (\d+) more themes \(see the findings\)$",
                                          md, flags=re.M)]
        assert more and sum(more) > 0
        assert "more themes (see the findings)" in word and "more themes (see the" in html
        reliability = re.search(r"^\*\*Reliability\.\*\* .*$", md, flags=re.M)
        assert reliability and re.search(r"and \d+ more codes falls below", reliability[0])


def test_html_is_escaped_everywhere(odd):
    study, files = odd["study"], odd["files"]
    html = files["html"].read_text(encoding="utf-8")
    assert "<voices>" not in html and "<access>" not in html and "<b>bold" not in html
    if "<" in study.name:
        escaped = study.name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert f"<title>Findings: {escaped}</title>" in html


def test_the_framework_quotes_overlapping_spans_once(odd):
    if odd["study"].key != "overlap":
        pytest.skip("only the overlap study has spans of two coders over the same words")
    rows = {r[0]: r for r in _rows(odd["files"]["framework"])}
    header = _rows(odd["files"]["framework"])[0]
    late = rows["ward-1"][header.index("late-response")]
    assert late == '[flood-a:2] "The army came on the third day, but the boats"'
    little = rows["ward-1"][header.index("too-little")]
    assert little == '[flood-a:2] "the boats were too few and the shelter ran out of blankets"'
    helped = rows["ward-1"][header.index("self-help")]
    assert '[flood-a:3] "Neighbours did most of the rescuing"' in helped


def test_the_same_study_gives_byte_identical_files_twice(odd):
    study, db = odd["study"], odd["db"]
    again = outputs(study, db, odd["root"] / "again")
    for key, path in odd["files"].items():
        assert path.exists() == again[key].exists(), key
        if path.exists():
            assert path.read_bytes() == again[key].read_bytes(), key
    shutil.rmtree(odd["root"] / "again")


def test_a_study_without_transcripts_reports_in_words(tmp_path):
    """A codebook and nothing else: every format is written, each empty part said so."""
    study = odd_studies.build("single", tmp_path / "input")
    db = tmp_path / "empty.db"
    ok("init", db, "--codebook", study.codebook)
    for suffix in ("html", "md", "docx"):
        ok("report", db, "--out", tmp_path / f"r.{suffix}")
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    word = docx_text(tmp_path / "r.docx")
    for said in ("so there are no key findings", "No transcripts have been imported yet",
                 "the cross-case matrix is empty"):
        assert said in md and said in html and said in word, said
    assert "0 of the 0" not in md + html + word
    assert "| organisation | words |" not in md
