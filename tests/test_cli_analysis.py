"""``tipqual matrix`` and ``tipqual network`` end to end, and the acceptance checks."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fixtures.analysis.minimal_study import build
from tests.helpers import FIXTURES, REPO, SAMPLE, TIP_CODEBOOK, run_tipqual, shared
from tipqual.cli import cli  # noqa: E402

FORMULA_START = ("=", "+", "-", "@")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "study.db"
    build(path).close()
    return path


def invoke(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def xlsx_cells(path: Path):
    import openpyxl

    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            yield from (c for c in row if c.value is not None)


def assert_no_formulas(path: Path) -> None:
    """No cell of any sheet is a formula; every text cell is stored as a string."""
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name)
    for cell in xlsx_cells(path):
        assert cell.data_type in ("s", "n"), (cell.coordinate, cell.value)
        if isinstance(cell.value, str):
            assert cell.data_type == "s"


def assert_csv_guarded(path: Path) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for value in row:
                assert not value.startswith(FORMULA_START), value


def test_matrix_xlsx(runner, study, tmp_path):
    import openpyxl

    out = tmp_path / "m.xlsx"
    result = invoke(runner, "matrix", study, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out} (counts, presence, coverage, framework")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:5] == ["counts", "presence", "coverage", "framework", "cooccurrence"]
    # row 1 the code ids (and roll-ups), row 2 their names, then one row per case
    assert [c.value for c in wb["counts"]["A"]] == ["case", "code name", "CSO-A", "CSO-B",
                                                    "CSO-C"]
    assert wb["counts"]["E1"].value == "trust" and wb["counts"]["E4"].value == 2  # CSO-B
    quote = wb["framework"]["E3"]
    assert '[A1:4] "=HYPERLINK(' in quote.value and quote.data_type == "s"
    assert_no_formulas(out)


def test_formula_like_cells_alone_in_a_cell_stay_text(runner, study, tmp_path):
    risky = tmp_path / "risky.db"
    p = build(risky)
    with p.atomic():
        p.put_case("=cmd|' /C calc'!A0", {"sector": "+27 82 555", "province": "@SUM(1)"})
    p.close()
    out = tmp_path / "r.xlsx"
    assert invoke(runner, "matrix", risky, "--out", out).exit_code == 0
    import openpyxl

    ws = openpyxl.load_workbook(out)["by-sector"]
    assert ws["A3"].value == "+27 82 555" and ws["A3"].data_type == "s"
    assert_no_formulas(out)
    csv_out = tmp_path / "r.csv"
    assert invoke(runner, "matrix", risky, "--out", csv_out, "--sheet", "by-province") \
        .exit_code == 0
    assert csv_out.read_text(encoding="utf-8").splitlines()[1].startswith("'@SUM(1),")
    assert_csv_guarded(csv_out)


def test_matrix_csv_default_counts_and_sheet(runner, study, tmp_path):
    out = tmp_path / "c.csv"
    assert invoke(runner, "matrix", study, "--out", out).output == f"Wrote {out} (counts)\n"
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ("case,partnership,partnership (all),partnership-vertical,trust,"
                        "corruption,funding,victim-services,victim-services (all),referral,"
                        "protection")
    assert lines[1] == "CSO-A,0,1,1,2,0,1,0,1,1,0"
    fw = tmp_path / "f.csv"
    assert invoke(runner, "matrix", study, "--out", fw, "--sheet", "framework").exit_code == 0
    with open(fw, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[2][1].startswith('[B1:3] "-x marks')
    assert_csv_guarded(fw)


def test_matrix_filters(runner, study, tmp_path):
    out = tmp_path / "c.csv"
    invoke(runner, "matrix", study, "--out", out, "--coders", "bob", "--codes", "partnership")
    assert out.read_text(encoding="utf-8").splitlines() == [
        "case,partnership,partnership (all),partnership-vertical", "CSO-A,0,1,1",
        "CSO-B,1,1,0", "CSO-C,0,1,1"]
    invoke(runner, "matrix", study, "--out", out, "--status", "suggested")
    assert out.read_text(encoding="utf-8").splitlines()[1] == "CSO-A,0,0,0,0,1,0,0,0,0,0"
    invoke(runner, "matrix", study, "--out", out, "--by-coder")
    assert out.read_text(encoding="utf-8").splitlines()[:2] == [
        "case,coder,partnership,partnership (all),partnership-vertical,trust,corruption,"
        "funding,victim-services,victim-services (all),referral,protection",
        "CSO-A,alice,0,1,1,1,0,1,0,1,1,0"]


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/m.txt"], "m.txt: unknown matrix format '.txt'; use .xlsx or .csv"),
    (["--out", "{tmp}/m.csv", "--codes", "nope"], "unknown code 'nope'"),
    (["--out", "{tmp}/m.csv", "--coders", "carol"], "unknown coder 'carol'"),
    (["--out", "{tmp}/m.csv", "--status", "maybe"], "unknown status 'maybe'"),
    (["--out", "{tmp}/m.csv", "--sheet", "nope"], "unknown sheet 'nope'; choose one of counts"),
    (["--out", "{tmp}/m.xlsx", "--sheet", "counts"], "--sheet chooses the table of a .csv"),
])
def test_matrix_errors(runner, study, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(cli, ["matrix", str(study), *args])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_errors_in_a_real_process_are_one_line(study, tmp_path):
    result = run_tipqual("matrix", str(study), "--out", str(tmp_path / "m.csv"), "--codes", "x")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: unknown code 'x'")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_network_writes_graph_table_figure_projection(runner, study, tmp_path):
    import networkx as nx

    out, table, fig, proj = (tmp_path / n for n in ("n.graphml", "r.csv", "m.svg", "p.gexf"))
    result = invoke(runner, "network", study, "--out", out, "--table", table, "--figure", fig,
                    "--projection", proj)
    assert result.exit_code == 0, result.output
    assert result.output == (f"Wrote {out}, {proj}, {table}, {fig}: 3 cases, 5 stakeholders "
                             "cited, 9 links\n")
    graph = nx.read_graphml(out)
    assert graph.nodes["SAPS"]["cases"] == 3 and graph.nodes["SAPS"]["kind"] == "stakeholder"
    assert graph.edges["CSO-C", "NPA"]["weight"] == 2
    assert table.read_text(encoding="utf-8").splitlines()[:2] == [
        "stakeholder,name,sector,cases,mentions,centrality",
        "SAPS,South African Police Service,government,3,3,0.412698"]
    assert nx.read_gexf(proj).number_of_edges() == 7
    assert fig.read_text(encoding="utf-8").startswith("<?xml")


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/n.json"], "unknown network format '.json'; use .graphml or .gexf"),
    (["--out", "{tmp}/n.gexf", "--table", "{tmp}/t.xlsx"], "unknown table format '.xlsx'"),
    (["--out", "{tmp}/n.gexf", "--figure", "{tmp}/f.pdf"], "unknown figure format '.pdf'"),
])
def test_network_errors(runner, study, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(cli, ["network", str(study), *args])
    assert result.exit_code == 1 and message in result.stderr
    assert not any(tmp_path.iterdir())


def test_network_figure_of_an_empty_study_still_writes_the_graph(tmp_path):
    from tipqual.store.project import Project

    db = tmp_path / "empty.db"
    Project.create(db).close()
    with Project.open(db) as p, p.atomic():
        from tipqual.codebook import model as codebook
        p.set_codebook(codebook.load(FIXTURES / "analysis" / "codebook.yaml"))
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(cli, ["network", str(db), "--out", str(out / "n.graphml"),
                                      "--figure", str(out / "m.svg")])
    assert result.exit_code == 1 and "no map to draw" in result.stderr
    assert f"({out / 'n.graphml'} was written all the same)" in result.stderr
    assert sorted(f.name for f in out.iterdir()) == ["n.graphml"]


@pytest.mark.slow
def test_outputs_byte_identical_across_processes(study, tmp_path):
    for run in ("a", "b"):
        assert run_tipqual("matrix", str(study), "--out", str(tmp_path / f"{run}.xlsx")) \
            .returncode == 0
        assert run_tipqual("network", str(study), "--out", str(tmp_path / f"{run}.graphml"),
                           "--figure", str(tmp_path / f"{run}.svg")).returncode == 0
    for ext in ("xlsx", "graphml", "svg"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


def test_cli_module_imports_nothing_heavy():
    code = ("import sys, tipqual.cli.analysis; "
            "print(sorted(m for m in ('pandas', 'networkx', 'matplotlib', 'openpyxl', "
            "'spacy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


# --- acceptance: the sample study and the published brief -----------------------------------

def tipqual_ok(*args: object) -> None:
    """Run a tipqual command in this process; it must succeed."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def _init_import(tmp_path: Path, *paths: str, cases: Path | None = None) -> Path:
    db = tmp_path / "study.db"
    tipqual_ok("init", db, "--codebook", TIP_CODEBOOK)
    tipqual_ok("import", db, *paths, *(["--cases", cases] if cases else []))
    return db


def _ranking(db: Path, tmp_path: Path) -> list[list[str]]:
    table = tmp_path / "ranking.csv"
    tipqual_ok("network", db, "--out", tmp_path / "n.graphml", "--table", table)
    with open(table, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))[1:]


@pytest.fixture(scope="module")
def sample_study(tmp_path_factory) -> Path:
    transcripts = SAMPLE / "transcripts"
    # the sample study ships with the repository: a missing part is a failure, not a skip
    assert TIP_CODEBOOK.is_file() and (SAMPLE / "cases.csv").is_file()
    assert len(list(transcripts.glob("CSO-*"))) == 10
    tmp = tmp_path_factory.mktemp("sample")
    db = _init_import(tmp, str(transcripts), cases=SAMPLE / "cases.csv")
    for coder in sorted((SAMPLE / "codings").glob("coder-*.csv")):
        tipqual_ok("code", "import", db, coder)
    return db


@pytest.mark.slow
def test_sample_ranking_matches_the_brief(sample_study, tmp_path):
    rows = _ranking(sample_study, tmp_path)
    order = [r[0] for r in rows]
    assert set(order[:4]) == {"SAPS", "DPCI", "DJCD", "NPA"}
    assert order[4] == "DSD"
    cases = {r[0]: int(r[3]) for r in rows}
    assert cases["DSD"] < min(cases[s] for s in ("SAPS", "DPCI", "DJCD", "NPA"))
    assert cases["NFN"] > 0 and cases["A2I"] > 0


@pytest.mark.slow
def test_sample_outputs_hold_no_formula(sample_study, tmp_path):
    out = tmp_path / "m.xlsx"
    tipqual_ok("matrix", sample_study, "--out", out)
    assert_no_formulas(out)
    for sheet in ("counts", "framework", "coverage"):
        target = tmp_path / f"{sheet}.csv"
        tipqual_ok("matrix", sample_study, "--out", target, "--sheet", sheet)
        assert_csv_guarded(target)
    table = tmp_path / "r.csv"
    tipqual_ok("network", sample_study, "--out", tmp_path / "n.gexf", "--table", table,
               "--figure", tmp_path / "m.png")
    assert_csv_guarded(table)


def test_brief_as_a_transcript_yields_the_brief_stakeholders(tmp_path):
    brief = shared("brief", "tip-partnerships-brief.txt")
    assert TIP_CODEBOOK.is_file()
    db = _init_import(tmp_path, str(brief))
    cited = {r[0] for r in _ranking(db, tmp_path) if int(r[3]) > 0}
    assert {"SAPS", "DPCI", "DJCD", "NPA", "DSD", "NFN", "A2I"} <= cited


# --- any study: a codebook of another domain, with no TIP code ---------------------------------

CLINICS_CODEBOOK = """\
name: Rural clinics
version: "1"
stakeholders:
  - {id: DOH, name: Provincial health department, aliases: [health department, the province],
     sector: government}
  - {id: EMS, name: Emergency medical services, aliases: [the ambulance, ambulances],
     sector: government}
  - {id: CHW, name: Community health workers, aliases: [health workers], sector: community}
  - {id: MSF, name: Medical charity, aliases: [the charity], sector: civil_society}
codes:
  - {id: staffing, name: Staffing, definition: Nurses and doctors on duty or missing.}
  - {id: medicines, name: Medicines, definition: Drugs in stock or out of stock.}
  - {id: stockouts, name: Stock-outs, parent: medicines, definition: Drugs that ran out.}
  - {id: transport, name: Transport, definition: Getting patients to and from the clinic.}
"""
CLINICS = {
    "hill.txt": "Interviewer: What is hardest?\n\nNurse: The health department sends one "
                "doctor a month and the ambulance takes hours.\n\nNurse: The health workers "
                "visit the villages.\n",
    "river.txt": "Interviewer: And medicines?\n\nManager: We ran out of insulin; the charity "
                 "brought some and the health department promised more.\n",
    "ridge.txt": "Interviewer: Transport?\n\nClerk: Patients wait for the ambulance; the health "
                 "workers carry them on foot.\n",
}
CLINICS_CODINGS = ("segment,code,coder\nhill:2,staffing,lee\nhill:2,transport,lee\n"
                   "river:2,stockouts,lee\nridge:2,transport,lee\n")


def clinics_study(root: Path, section: str = "") -> Path:
    """A three-clinic study built through the command line; ``section``: codebook YAML added."""
    (root / "codebook.yaml").write_text(CLINICS_CODEBOOK + section, encoding="utf-8")
    folder = root / "transcripts"
    folder.mkdir()
    for name, text in CLINICS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (root / "codings.csv").write_text(CLINICS_CODINGS, encoding="utf-8")
    db = root / "study.db"
    tipqual_ok("init", db, "--codebook", root / "codebook.yaml")
    tipqual_ok("import", db, folder)
    tipqual_ok("code", "import", db, root / "codings.csv")
    return db


def test_network_of_any_study_draws_the_map_with_the_fallback_axis(runner, tmp_path):
    db = clinics_study(tmp_path)
    out, table, fig = tmp_path / "n.graphml", tmp_path / "r.csv", tmp_path / "m.svg"
    result = invoke(runner, "network", db, "--out", out, "--table", table, "--figure", fig)
    assert result.exit_code == 0, result.stderr
    assert result.output == (f"Wrote {out}, {table}, {fig}: 3 cases, 4 stakeholders cited, "
                             "7 links\n")
    svg = fig.read_text(encoding="utf-8")
    for words in ("presence in coded passages", "(share of mentions in passages that carry any "
                  "code)", "DOH (2)", "CHW (2)", "MSF (1)"):
        assert f"<!-- {words} -->" in svg, words
    assert "victim" not in svg
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    assert {r[0]: (r[2], int(r[3])) for r in rows} == {
        "DOH": ("government", 2), "EMS": ("government", 2), "CHW": ("community", 2),
        "MSF": ("civil_society", 1)}


@pytest.mark.slow
def test_network_map_follows_the_codebooks_map_section(runner, tmp_path):
    db = clinics_study(tmp_path, "map:\n  axis_codes: [medicines]\n"
                                 "  axis_label: talk of medicines\n  centre_label: patient\n")
    fig = tmp_path / "m.svg"
    assert invoke(runner, "network", db, "--out", tmp_path / "n.graphml", "--figure", fig) \
        .exit_code == 0
    svg = fig.read_text(encoding="utf-8")
    for words in ("talk of medicines", "(share of mentions in passages coded medicines)",
                  "patient", "nearer the patient"):
        assert f"<!-- {words} -->" in svg, words
    # the options replace the section for one map
    other = tmp_path / "o.svg"
    result = invoke(runner, "network", db, "--out", tmp_path / "n.graphml", "--figure", other,
                    "--map-codes", "transport,staffing", "--map-label", "getting care")
    assert result.exit_code == 0, result.stderr
    svg = other.read_text(encoding="utf-8")
    assert "<!-- getting care -->" in svg and "patient" not in svg
    assert "<!-- (share of mentions in passages coded transport or -->" in svg  # two lines
    assert "<!-- staffing) -->" in svg


def test_network_refuses_unknown_map_codes_before_writing(runner, tmp_path):
    db = clinics_study(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(cli, ["network", str(db), "--out", str(out / "n.graphml"),
                                 "--figure", str(out / "m.svg"), "--map-codes", "referral"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown map code 'referral'; the codebook "
                                    "'Rural clinics' has: staffing, medicines")
    assert not any(out.iterdir())


def test_a_bad_map_section_is_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text(CLINICS_CODEBOOK + "map:\n  axis_codes: [staffing, medicine]\n",
                    encoding="utf-8")
    result = run_tipqual("init", str(tmp_path / "study.db"), "--codebook", str(path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"Error: {path}:16: the map's axis_codes name an unknown code 'medicine'; did you mean "
        "'medicines'?"]
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow
def test_a_figure_that_cannot_be_written_is_one_line_after_the_graph_and_table(tmp_path):
    db = clinics_study(tmp_path)
    out, table, fig = tmp_path / "n.graphml", tmp_path / "r.csv", tmp_path / "no" / "m.svg"
    result = run_tipqual("network", str(db), "--out", str(out), "--table", str(table),
                         "--figure", str(fig))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"Error: {fig}: cannot write the figure: No such file or directory ({out} and {table} "
        "were written all the same)"]
    assert out.is_file() and table.is_file()
