"""``tipqual demo`` end to end on the sample study: files, stages, content, identical reruns."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO, SAMPLE, run_tipqual
from tipqual import demo
from tipqual.errors import ReportError

SIX = ("findings.html", "findings.md", "findings.docx", "matrices.xlsx", "network.graphml",
       "stakeholder-map.svg")
CORE = {"trust": "Trust and distrust", "corruption": "Corruption and collusion",
        "capacity": "Capacity and resources", "funding": "Funding",
        "delays": "Delays and waiting"}


# Every test reads the one demo run below (a real process over the whole sample study).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """One real ``tipqual demo`` run from the repository root."""
    if not (SAMPLE / "codings" / "coder-b.csv").exists():
        pytest.skip("the sample coders' files are not in the repository yet")
    out = tmp_path_factory.mktemp("demo") / "reports" / "demo"
    done = run_tipqual("demo", "--out", str(out), cwd=REPO)
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def _section(html: str, theme: str) -> str:
    """The HTML of one theme's article (or sub-theme part) in the findings."""
    start = html.index(f'id="theme-{theme}"')
    end = min(i for i in (html.find("<h4 id=", start + 1), html.find("</article>", start))
              if i > 0)
    return html[start:end]


def test_demo_writes_the_six_files_and_the_study(run) -> None:
    out, _ = run
    for name in (*SIX, "study.db"):
        assert (out / name).stat().st_size > 1000, name


def test_demo_prints_each_stage_and_where_it_wrote(run) -> None:
    out, stdout = run
    numbered = [ln.split()[:2] for ln in stdout.splitlines() if re.match(r"^\d\. ", ln)]
    assert [n for n, _ in numbered] == [f"{i}." for i in range(1, 9)]  # each number once
    assert [stage for _, stage in numbered] == ["init", "import", "suggest", "code", "agree",
                                                "matrix", "network", "report"]
    assert re.search(r"^4\. code +coder-a: \d+ codings, coder-b: \d+ codings imported$", stdout,
                     re.MULTILINE)
    assert "2. import    10 transcripts, 344 segments, 10 cases" in stdout
    for name in (*SIX, "study.db"):
        assert str(out / name) in stdout, name
    assert stdout.rstrip().endswith(f"Done: open {out / 'findings.html'}")


def test_demo_report_covers_the_core_themes_with_quotes(run) -> None:
    html = (run[0] / "findings.html").read_text(encoding="utf-8")
    for theme, name in CORE.items():
        part = _section(html, theme)
        assert f"<h3>{name}</h3>" in part
        assert part.count("<blockquote>") == 3, theme
    committed = _section(html, "committed-individual")
    assert '<span class="prevalence">All 10 organisations</span> raised it' in committed


def test_demo_report_shows_map_matrix_kappa_and_alpha(run) -> None:
    html = (run[0] / "findings.html").read_text(encoding="utf-8")
    assert 'id="figure-presence"' in html and 'id="figure-stakeholder-map"' in html
    assert html.count("<svg") == 2 and 'class="matrix"' in html
    assert "Cohen&#39;s kappa" in html and "Krippendorff's alpha" in html
    row = re.search(r"<tr><td>trust</td><td class=\"num\">(\d+)</td><td class=\"num\">"
                    r"([\d.]+)%</td><td class=\"num\">([\d.]+)</td><td>([a-z ]+)</td>"
                    r"<td class=\"num\">([\d.]+)</td>", html)
    assert row is not None and float(row.group(3)) > 0.6 and float(row.group(5)) > 0.6
    assert "<script" not in html.lower()


def test_demo_rerun_with_force_gives_identical_bytes(run, tmp_path: Path) -> None:
    out, _ = run
    first = {name: (out / name).read_bytes() for name in SIX}
    (out / "unrelated.txt").write_text("kept", encoding="utf-8")
    lines: list[str] = []
    demo.run_demo(out, force=True, echo=lines.append)
    for name in SIX:
        assert (out / name).read_bytes() == first[name], name
    assert (out / "unrelated.txt").read_text(encoding="utf-8") == "kept"
    assert lines[-1] == f"Done: open {out / 'findings.html'}"


def test_find_sample_from_a_clone_and_from_elsewhere(tmp_path: Path) -> None:
    folder, book = demo.find_sample(cwd=REPO / "tipqual")
    assert folder == SAMPLE and book == REPO / "codebooks" / "tip-sa.yaml"
    # outside any clone the editable install's repository is found
    assert demo.find_sample(cwd=tmp_path)[0] == SAMPLE
    clone = tmp_path / "clone"
    shutil.copytree(SAMPLE, clone / "transcripts_sample")
    (clone / "codebooks").mkdir()
    shutil.copy(REPO / "codebooks" / "tip-sa.yaml", clone / "codebooks")
    assert demo.find_sample(cwd=clone)[0] == clone / "transcripts_sample"
    lonely = tmp_path / "lonely" / "transcripts_sample"
    shutil.copytree(SAMPLE, lonely)
    with pytest.raises(ReportError, match="no codebook"):
        demo.find_sample(lonely)


# --- what a reader sees -----------------------------------------------------------------------

def _docx_text(path: Path) -> str:
    import docx

    doc = docx.Document(str(path))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def _visible_html(html: str) -> str:
    """The page's text without its figures' SVG markup and without tags."""
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", "", text)


def test_demo_key_findings_and_partners_agree_across_formats(run) -> None:
    out, _ = run
    html = _visible_html((out / "findings.html").read_text(encoding="utf-8"))
    md = (out / "findings.md").read_text(encoding="utf-8")
    word = _docx_text(out / "findings.docx")
    partners = ("most cited first: SAPS (10), NPA (9), DPCI (9), DJCD (8) and DSD (7); the "
                "civil-society partners: NFN (5), A2I (4) and FBO (1)")
    everyone = ("Partnership with government; Reliance on a committed individual; Victim "
                "services; Prosecution; Capacity building and training")
    reliability = ("mean kappa of 0.80 (substantial) and a mean alpha of 0.80 (reliable); "
                   "agreement on Protection falls below the level for tentative conclusions")
    for name, text in (("html", html), ("md", md), ("docx", word)):
        flat = re.sub(r"\s+", " ", text)
        assert partners in flat, name
        assert everyone in flat, name
        assert reliability in flat, name
        assert "Below alpha 0.667: Protection (0.65)" in flat, name
    assert "All 10 organisations:** " + everyone in md
    assert "(CSO-03, helpline, respondent)" in html and "(CSO-03, helpline, respondent)" in word


def test_demo_says_no_none_nan_or_null_to_a_reader(run) -> None:
    out, _ = run
    html = _visible_html((out / "findings.html").read_text(encoding="utf-8"))
    md = (out / "findings.md").read_text(encoding="utf-8")
    for name, text in (("html", html), ("md", md), ("docx", _docx_text(out / "findings.docx"))):
        assert not re.search(r"\b(None|nan|NaN|null|undefined)\b", text), name


def test_demo_map_is_the_reports_map(run) -> None:
    out, _ = run
    assert (out / "stakeholder-map.svg").read_bytes() == \
        (out / "findings-stakeholder-map.svg").read_bytes()


def test_committed_sample_output_is_current(run) -> None:
    """reports/sample/ is what the demo writes today (regenerate it when this fails:
    ``tipqual demo --out reports/sample --force`` then remove reports/sample/study.db*)."""
    out, _ = run
    committed = REPO / "reports" / "sample"
    names = sorted(p.name for p in committed.iterdir())
    assert set(names) <= {p.name for p in out.iterdir()}
    for name in names:
        assert (out / name).read_bytes() == (committed / name).read_bytes(), name
