"""``tipqual report`` on the command line: formats, options and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.report.report_study import build
from tests.helpers import FIXTURES, run_tipqual
from tipqual.cli import cli  # noqa: E402

NOTES = FIXTURES / "report" / "notes.md"


@pytest.fixture(scope="module")
def study_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small report study, closed, as a file for the commands."""
    path = tmp_path_factory.mktemp("cli-report") / "study.db"
    build(path).close()
    return path


def _error(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.slow
def test_report_in_a_real_process(study_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "findings.html"
    done = run_tipqual("report", str(study_db), "--out", str(out), "--notes", str(NOTES),
                       "--coders", "ben,ann", "--case-noun", "site")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Wrote {out}"
    html = out.read_text(encoding="utf-8")
    assert "All 3 sites" in html and "ben and ann coded the same 8 segments" in html
    assert "<h3>Challenges</h3>" in html


@pytest.mark.slow
def test_report_markdown_lists_its_figures(runner, study_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "findings.md"
    result = runner.invoke(cli, ["report", str(study_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"Wrote {out}, {tmp_path / 'findings-presence.svg'}, "
                                     f"{tmp_path / 'findings-stakeholder-map.svg'}")
    assert result.stderr.splitlines() == [
        "Warning: the challenges and recommendations section is left out: no notes were "
        "given; write them in a Markdown file and add it with --notes FILE.md"]
    assert "## Challenges and recommendations" not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "{tmp}/r.pdf"], "unknown report format '.pdf'; use .html, .md, .docx"),
    (["--out", "{tmp}/r.html", "--coders", "ann"], "--coders needs two or more names"),
    (["--out", "{tmp}/r.html", "--coders", "ann,zed"], "unknown coder 'zed'"),
    (["--out", "{tmp}/r.html", "--notes", "{tmp}/none.md"], "no such notes file"),
    (["--out", "{tmp}/r.html", "--templates", "{tmp}/none"], "no such templates folder"),
    (["--out", "{tmp}/r.docx", "--templates", "{tmp}"], "a .docx is built without templates"),
    (["--out", "{tmp}/r.html", "--case-noun", "/x"], "--case-noun '/x' has no word"),
])
def test_report_errors(runner, study_db: Path, tmp_path: Path, args: list[str],
                       message: str) -> None:
    args = [a.format(tmp=tmp_path) for a in args]
    line = _error(runner.invoke(cli, ["report", str(study_db), *args]))
    assert message in line
    assert not list(tmp_path.glob("r.*"))


def test_report_on_a_missing_study(runner, tmp_path: Path) -> None:
    line = _error(runner.invoke(cli, ["report", str(tmp_path / "none.db"), "--out",
                                      str(tmp_path / "r.html")]))
    assert "no such study file" in line


def test_demo_refuses_an_existing_study(runner, tmp_path: Path) -> None:
    (tmp_path / "study.db").write_bytes(b"not touched")
    line = _error(runner.invoke(cli, ["demo", "--out", str(tmp_path)]))
    assert "a demo study is already there; rerun with --force" in line
    assert (tmp_path / "study.db").read_bytes() == b"not touched"


def test_demo_refuses_a_folder_that_is_not_a_sample(runner, tmp_path: Path) -> None:
    line = _error(runner.invoke(cli, ["demo", "--out", str(tmp_path / "out"), "--sample",
                                      str(tmp_path)]))
    assert "not a sample study folder" in line
    assert not (tmp_path / "out").exists()


def test_help_texts(runner) -> None:
    for command in ("report", "demo"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output


@pytest.mark.slow
def test_an_unsafe_template_is_one_line_naming_its_file_and_line(study_db: Path,
                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    template = folder / "report.html.j2"
    template.write_text('{% extends "tipqual/report.html.j2" %}\n{% block notes %}\n'
                        "{{ ''.__class__.__mro__[1].__subclasses__() }}\n{% endblock %}\n",
                        encoding="utf-8")
    out = tmp_path / "r.html"
    done = run_tipqual("report", str(study_db), "--out", str(out), "--templates", str(folder))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {template}:3: "), done.stderr
    assert "unsafe" in lines[0] and "object" not in done.stdout
    assert not out.exists()


def test_a_usage_error_of_report_is_one_line(runner, study_db: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["report", str(study_db), "--outt", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: no such option: --outt (did you mean --notes or "
                                     "--out?); see 'tipqual report --help'")


def _caption(md: Path) -> str:
    return next(line for line in md.read_text(encoding="utf-8").splitlines()
                if line.startswith("*Figure 2."))


def _drawn(svg: Path) -> list[str]:
    import re

    return re.findall(r"<!-- (.*?) -->", svg.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_report_map_options_set_the_maps_height_as_network_does(runner, study_db: Path,
                                                                 tmp_path: Path) -> None:
    """The codebook's map: section is the victim axis; --map-codes funding makes the height
    the share of passages coded funding, in the figure and in the caption, which says the
    report's options chose it; --map-label and --map-centre rename it."""
    plain, chosen, named = (tmp_path / f"{n}.md" for n in ("plain", "chosen", "named"))
    assert runner.invoke(cli, ["report", str(study_db), "--out", str(plain)]).exit_code == 0
    result = runner.invoke(cli, ["report", str(study_db), "--out", str(chosen),
                                 "--map-codes", "funding"])
    assert result.exit_code == 0, result.output
    assert "victim-support passages (nearer the victim)" in _caption(plain)
    assert "--map options" not in _caption(plain)
    caption = _caption(chosen)
    assert "the larger the share of its mentions that come in passages coded funding" in caption
    assert ("the height (share of mentions in passages coded funding) is set for this report "
            "by its --map options, not by the codebook's map: section") in caption
    assert "victim" not in caption
    drawn = _drawn(tmp_path / "chosen-stakeholder-map.svg")
    assert ("Stakeholder map: who the 3 organisations cite, by sector and share of mentions in "
            "passages coded funding") in drawn
    assert not any("victim" in text for text in drawn)
    result = runner.invoke(cli, ["report", str(study_db), "--out", str(named), "--map-codes",
                                 "funding,delays", "--map-label", "money and time",
                                 "--map-centre", "purse"])
    assert result.exit_code == 0, result.output
    assert "the height (money and time) is set for this report" in _caption(named)
    drawn = _drawn(tmp_path / "named-stakeholder-map.svg")
    assert "Stakeholder map: who the 3 organisations cite, and how close to the purse" in drawn
    assert "purse" in drawn


def test_report_refuses_a_map_code_the_codebook_lacks_before_any_work(runner, study_db: Path,
                                                                       tmp_path: Path) -> None:
    line = _error(runner.invoke(cli, ["report", str(study_db), "--out",
                                      str(tmp_path / "r.html"), "--map-codes", "funding,nope"]))
    assert line.startswith("Error: unknown map code 'nope'; the codebook 'TIP partnerships "
                           "South Africa' has: partnership, ")
    assert not list(tmp_path.glob("r.*"))


def test_report_help_lists_the_map_options(runner) -> None:
    text = runner.invoke(cli, ["report", "--help"]).output
    for option in ("--map-codes", "--map-label", "--map-centre"):
        assert option in text
