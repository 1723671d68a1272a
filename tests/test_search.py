"""Keyword in context: plain and lemma matching, coded retrieval, JSON, no hits, literal
queries, and the one-line errors. The study is a small (fictional) clinic-access study."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_tipqual
from tipqual.coding.search import plain_pattern, search
from tipqual.errors import TipqualError
from tipqual.records import Coding
from tipqual.store.project import Project

CODEBOOK = """name: Clinic access
version: "1"
codes:
  - id: waiting
    name: Waiting
    definition: Time spent waiting for care.
  - id: cost
    name: Cost
    definition: What care costs a patient.
"""

NURSE = ("Interviewer: How long do people wait?\n\n"
         "Respondent: We waited four hours (sometimes more) for the nurse. The delays are worst "
         "on Mondays, and the nurse is alone.\n\n"
         "Respondent: Taxi fare costs R40, which is a lot. Trust in the clinic is low; distrust "
         "grows when the queue delays people.\n")
DRIVER = ("Interviewer: And the drivers?\n\n"
          "Respondent: The driver went to court twice about the fares. Nobody waits for him.\n")


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    (tmp_path / "clinic.yaml").write_text(CODEBOOK, encoding="utf-8")
    (tmp_path / "nurse.txt").write_text(NURSE, encoding="utf-8")
    (tmp_path / "driver.txt").write_text(DRIVER, encoding="utf-8")
    db = tmp_path / "clinic.db"
    for args in (("init", str(db), "--codebook", str(tmp_path / "clinic.yaml")),
                 ("import", str(db), str(tmp_path / "nurse.txt"), str(tmp_path / "driver.txt"))):
        assert run_tipqual(*args).returncode == 0
    with Project.open(db) as p, p.atomic():
        p.put_coding(Coding("nurse:2", "waiting", "ann"))
        p.put_coding(Coding("nurse:3", "cost", "ben"))
        p.put_coding(Coding("driver:2", "waiting", "tipqual-rules", status="suggested",
                            score=0.9))
    return db


def _hits(db: Path, query: str, **kw) -> list[tuple[str, str]]:
    with Project.open(db, readonly=True) as p:
        return [(h.segment, h.match) for h in search(p, query, **kw)]


def test_plain_search_matches_whole_words_in_any_case(clinic: Path) -> None:
    assert _hits(clinic, "nurse") == [("nurse:2", "nurse"), ("nurse:2", "nurse")]
    assert _hits(clinic, "TRUST") == [("nurse:3", "Trust")]  # not "distrust"
    assert _hits(clinic, "delays") == [("nurse:2", "delays"), ("nurse:3", "delays")]
    assert _hits(clinic, "wait") == []  # the interviewer's "wait" is not searched
    assert _hits(clinic, "wait", role=None) == [("nurse:1", "wait")]
    assert _hits(clinic, "taxi   fare") == [("nurse:3", "Taxi fare")]


def test_regex_characters_are_taken_literally(clinic: Path) -> None:
    assert _hits(clinic, "(sometimes more)") == [("nurse:2", "(sometimes more)")]
    assert _hits(clinic, "R40,") == [("nurse:3", "R40,")]
    assert _hits(clinic, ".*") == [] and _hits(clinic, "fare?") == []
    assert plain_pattern("a+b").pattern == r"(?<!\w)a\+b(?!\w)"


@pytest.mark.slow
def test_lemma_search_finds_other_forms(clinic: Path) -> None:
    assert _hits(clinic, "wait", lemma=True) == [("driver:2", "waits"), ("nurse:2", "waited")]
    assert _hits(clinic, "delay", lemma=True) == [("nurse:2", "delays"), ("nurse:3", "delays")]
    assert _hits(clinic, "go to court", lemma=True) == [("driver:2", "went to court")]


def test_code_case_and_coder_restrict_the_segments(clinic: Path) -> None:
    # coded retrieval counts people and accepted suggestions, not open suggestions
    assert _hits(clinic, "wait", lemma=True, code="waiting") == [("nurse:2", "waited")]
    assert _hits(clinic, "delays", code="cost") == [("nurse:3", "delays")]
    assert _hits(clinic, "delays", code="cost", coder="ann") == []
    assert _hits(clinic, "delays", coder="ann") == [("nurse:2", "delays")]
    assert _hits(clinic, "fares", case="driver") == [("driver:2", "fares")]
    with Project.open(clinic, readonly=True) as p:
        with pytest.raises(TipqualError, match="unknown code 'costs'"):
            list(search(p, "x", code="costs"))
        with pytest.raises(TipqualError, match="unknown case"):
            list(search(p, "x", case="nobody"))
        with pytest.raises(TipqualError, match="empty"):
            list(search(p, "   "))


def test_a_parent_code_finds_its_sub_codes_segments_and_an_unknown_coder_is_named(
        clinic: Path) -> None:
    from tipqual.codebook.model import Code, Codebook

    with Project.open(clinic) as p, p.atomic():
        p.set_codebook(Codebook("Clinic access", "2", [
            Code("waiting", "Waiting"), Code("cost", "Cost"),
            Code("cost-transport", "Transport", parent="cost")]))
        p.put_coding(Coding("driver:2", "cost-transport", "ann"))
    assert _hits(clinic, "fares", code="cost") == [("driver:2", "fares")]
    assert _hits(clinic, "fares", code="cost-transport") == [("driver:2", "fares")]
    with Project.open(clinic, readonly=True) as p, pytest.raises(
            TipqualError, match="unknown coder 'nobody'; the study's coders are: ann, ben"):
        list(search(p, "x", coder="nobody"))


def test_context_is_cut_between_words(clinic: Path) -> None:
    with Project.open(clinic, readonly=True) as p:
        [hit] = list(search(p, "Mondays", width=20))
    assert (hit.left, hit.match, hit.right) == ("delays are worst on ", "Mondays",
                                                ", and the nurse is")
    text = NURSE.split("Respondent: ")[1].split("\n")[0]
    assert text[hit.start:hit.end] == "Mondays"


@pytest.mark.slow
def test_search_command_lines_json_and_no_hits(clinic: Path) -> None:
    out = run_tipqual("search", str(clinic), "delay", "--lemma")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("nurse:2  nurse  ") and "[delays]" in lines[0]
    assert lines[-1] == "2 hits in 2 segments."
    data = json.loads(run_tipqual("search", str(clinic), "fares", "--json").stdout)
    assert [list(d) for d in data] == [["segment", "case", "left", "match", "right"]]
    assert (data[0]["segment"], data[0]["case"], data[0]["match"]) == ("driver:2", "driver",
                                                                       "fares")
    none = run_tipqual("search", str(clinic), "ambulance")
    assert none.returncode == 0 and none.stdout == "No hits for 'ambulance'.\n"
    assert json.loads(run_tipqual("search", str(clinic), "ambulance", "--json").stdout) == []
    bad = run_tipqual("search", str(clinic), "x", "--code", "costs")
    assert bad.returncode == 1 and bad.stderr.startswith(f"Error: {clinic}: unknown code")
    assert "Traceback" not in bad.stderr
