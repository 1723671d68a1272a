"""The review queue, decisions and undo, and how a suggestion is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.suggest.build import build_study
from tipqual.coding import review as rv
from tipqual.errors import CodingError
from tipqual.records import Coding
from tipqual.suggest.engine import suggest


@pytest.fixture
def fx(tmp_path: Path):
    p = build_study(tmp_path / "study.db")
    suggest(p)
    yield p
    p.close()


def _pairs(items) -> list[tuple[str, str]]:
    return [(s.segment.id, s.code) for s in items]


def test_queue_is_ordered_by_uncertainty(fx):
    items = rv.review_queue(fx, "alice")
    assert _pairs(items)[0] == ("interview:6", "corruption")  # 0.525, nearest 0.5
    gaps = [abs(s.score - 0.5) for s in items]
    assert gaps == sorted(gaps)
    assert len(items) == 7


def test_queue_filters_by_code_and_case(fx):
    assert _pairs(rv.review_queue(fx, "alice", code="corruption")) == [
        ("interview:6", "corruption"), ("interview:3", "corruption"),
        ("interview:2", "corruption")]
    assert rv.review_queue(fx, "alice", case="CSO-01")
    with pytest.raises(CodingError, match="unknown code 'nope'"):
        rv.review_queue(fx, "alice", code="nope")
    with pytest.raises(CodingError, match="unknown case 'CSO-99'"):
        rv.review_queue(fx, "alice", case="CSO-99")


def test_accept_and_reject_are_recorded_under_the_reviewer(fx):
    session = rv.ReviewSession(fx, "alice", code="corruption")
    session.accept()
    session.reject()
    accepted = fx.find_coding("interview:6", "corruption", "alice")
    rejected = fx.find_coding("interview:3", "corruption", "alice")
    assert accepted.status == "accepted" and rejected.status == "rejected"
    assert accepted.provenance == "review of tipqual-rules 0.53"
    assert rejected.provenance == "review of tipqual-rules 0.35"
    assert session.summary() == {"accepted": 1, "rejected": 1, "skipped": 0, "left": 1}
    # a new session does not show alice's decided suggestions again, but bob sees them
    assert _pairs(rv.ReviewSession(fx, "alice", code="corruption").items) == [
        ("interview:2", "corruption")]
    assert len(rv.ReviewSession(fx, "bob", code="corruption").items) == 3


def test_undo_reverts_the_last_decision_and_is_audited(fx):
    session = rv.ReviewSession(fx, "alice", code="corruption")
    session.accept()
    session.skip()
    session.reject()
    undone = session.undo()
    assert undone.coding.status == "rejected" and undone.coding.segment == "interview:2"
    assert fx.find_coding("interview:2", "corruption", "alice") is None
    assert session.current().segment.id == "interview:2"
    session.undo()
    assert fx.find_coding("interview:6", "corruption", "alice") is None
    assert session.current().segment.id == "interview:6"
    assert session.undo() is None
    actions = [(a.action, a.coder, a.segment) for a in fx.audit() if a.coder == "alice"]
    assert actions == [("add", "alice", "interview:6"), ("add", "alice", "interview:2"),
                       ("remove", "alice", "interview:2"), ("remove", "alice", "interview:6")]


def test_handle_maps_keys(fx):
    session = rv.ReviewSession(fx, "alice", code="corruption")
    assert session.handle("a") == "accepted corruption for interview:6"
    assert session.handle("s\n") == "skipped"
    assert session.handle("R") == "rejected corruption for interview:2"
    assert session.handle("u") == "undid rejected corruption for interview:2"
    assert session.handle("?") == rv.KEYS_HELP
    assert session.handle("q") == "quit"
    assert session.summary() == {"accepted": 1, "rejected": 0, "skipped": 1, "left": 1}


def test_a_suggester_cannot_review(fx):
    with pytest.raises(CodingError, match="your own name"):
        rv.ReviewSession(fx, "tipqual-rules")


def test_render_plain_shows_text_code_criteria_score_and_why(fx):
    item = rv.review_queue(fx, "alice", code="corruption")[1]
    text = rv.render(item, fx.codebook(), styled=False, number=2, total=3)
    assert text.splitlines()[0] == "[2/3] interview:3  case CSO-01  speaker R"
    assert "We never had a problem with [[corruption]] at the Hawks" in text
    assert "code      corruption: Corruption  (score 0.35)" in text
    assert "means     Officials who take bribes" in text
    assert "include   bribes, kickbacks, officials protecting traffickers" in text
    assert "exclude   general distrust without an act of corruption (use trust)" in text
    assert 'why       tipqual-rules 0.35: matched phrase "corruption" (after "never")' in text


def test_render_styled_uses_terminal_emphasis(fx):
    item = rv.review_queue(fx, "alice", code="funding")[0]
    text = rv.render(item, fx.codebook(), styled=True)
    assert "\x1b[1m\x1b[4mfunding\x1b[0m" in text
    assert "[[" not in text


def test_highlight_merges_overlaps_and_ignores_bad_ranges():
    assert rv.highlight("a shortage of staff", [(2, 19), (14, 19)], False) == (
        "a [[shortage of staff]]")
    assert rv.highlight("short", [(0, 99)], False) == "short"


def test_model_and_rule_suggestions_of_one_pair_are_one_item(fx):
    with fx.atomic():
        fx.put_coding(Coding("interview:2", "corruption", "tipqual-model", status="suggested",
                             score=0.6, provenance='{"model": {"version": "0.1.0", '
                             '"trained_on": 12}, "matches": []}'))
    items = [s for s in rv.review_queue(fx, "alice") if s.segment.id == "interview:2"]
    assert len(items) == 1
    assert items[0].suggester == "tipqual-model+tipqual-rules"
    assert items[0].score == 0.6
    assert items[0].reasons()[0] == ("tipqual-model 0.60: learned model (v0.1.0, trained on 12 "
                                     "coded segments)")


@pytest.mark.parametrize("name", ["alice\n", "\x1b[31malice", "tipqual-model", " alice", ""])
def test_a_reviewer_name_not_allowed_is_refused(fx, name):
    with pytest.raises(CodingError, match="your own name as reviewer"):
        rv.ReviewSession(fx, name)


def test_review_refuses_a_coder_name_not_allowed_in_one_line(tmp_path: Path):
    from conftest import run_tipqual

    build_study(tmp_path / "study.db").close()
    before = (tmp_path / "study.db").read_bytes()
    result = run_tipqual("review", str(tmp_path / "study.db"), "--coder", "eve\x1b[2J",
                         input="a\n")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: give your own name as reviewer (--coder): the "
                                    "coder name 'eve\\x1b[2J' is not allowed: it holds a "
                                    "control or formatting character (U+001B)")
    assert len(result.stderr.splitlines()) == 1
    assert (tmp_path / "study.db").read_bytes() == before
