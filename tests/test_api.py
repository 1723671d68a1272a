"""The notebook API: a study's stages as methods of Project, as DESIGN.md promises."""

from __future__ import annotations

from pathlib import Path

import pytest

import tipqual
from tests.helpers import SAMPLE, TIP_CODEBOOK
from tipqual.codebook import model as codebook
from tipqual.errors import ReportError


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample study built through the Python API alone."""
    path = tmp_path_factory.mktemp("api") / "study.db"
    p = tipqual.Project.create(path)
    with p.atomic():
        p.set_codebook(codebook.load(TIP_CODEBOOK))
    report = p.import_paths([SAMPLE / "transcripts"], cases_csv=SAMPLE / "cases.csv")
    assert len(report.imported) == 10
    for coder in ("coder-a", "coder-b"):
        p.import_codings(SAMPLE / "codings" / f"{coder}.csv")
    yield p
    p.close()


@pytest.mark.slow
def test_matrix_counts_match_the_codings(sample) -> None:
    counts = sample.matrix("counts")
    assert [c for c in counts.columns if not c.endswith(" (all)")] == sample.code_ids()
    assert [c for c in counts.columns if c.endswith(" (all)")]  # the parents roll up
    coded = {(c.segment, c.code) for c in sample.codings(statuses=["human"])
             if c.code == "committed-individual"}
    assert int(counts["committed-individual"].sum()) == len({s for s, _ in coded})
    assert (sample.matrix("presence")["committed-individual"] == 1).all()


@pytest.mark.slow
def test_unknown_matrix_is_a_clear_error(sample) -> None:
    with pytest.raises(ReportError, match="no matrix 'nope'"):
        sample.matrix("nope")


@pytest.mark.slow
def test_agreement_and_ranking(sample) -> None:
    table = sample.agreement(["coder-a", "coder-b"]).table.to_dict()
    assert table["coders"] == ["coder-a", "coder-b"]
    assert 0.7 <= table["codes"]["trust"]["kappa"] <= 1.0
    ranking = sample.stakeholder_ranking()
    assert list(ranking.index[:4].sort_values()) == ["DJCD", "DPCI", "NPA", "SAPS"]
    assert ranking.index[4] == "DSD"
    assert sample.network().number_of_nodes() > 10


@pytest.mark.slow
def test_report_from_the_api(sample, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="--notes"):  # what the report lacks is said
        written = sample.report(tmp_path / "findings.md")
    assert (tmp_path / "findings.md") in written
    assert "All 10 cases" in (tmp_path / "findings.md").read_text(encoding="utf-8")
    with pytest.warns(UserWarning, match="--notes"):
        sample.report(tmp_path / "orgs.md", case_noun="organisation")
    assert "All 10 organisations" in (tmp_path / "orgs.md").read_text(encoding="utf-8")
