"""The review queue, decisions and undo, and how a suggestion is shown."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.fixtures.suggest.build import build_study, segments_of
from tests.fixtures.suggest.water import WATER_CODEBOOK, WATER_SUGGESTIONS, build_water_study
from tipqual.coding import review as rv
from tipqual.errors import CodingError
from tipqual.records import Coding
from tipqual.suggest.engine import suggest


@pytest.fixture
def water(tmp_path: Path):
    p = build_water_study(tmp_path / "water.db")
    suggest(p)
    yield p
    p.close()


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
    assert session.summary() == {"accepted": 1, "rejected": 0, "skipped": 1, "left": 2}


def test_a_suggester_cannot_review(fx):
    with pytest.raises(CodingError, match="your own name"):
        rv.ReviewSession(fx, "tipqual-rules")


def test_render_plain_shows_text_code_criteria_score_and_why(fx):
    item = rv.review_queue(fx, "alice", code="corruption")[1]
    text = rv.render(item, fx.codebook(), styled=False, number=2, total=3, width=200)
    assert text.splitlines()[0] == "[2/3] interview:3  case CSO-01  speaker R"
    assert "We never had a problem with [[corruption]] at the Hawks" in text
    assert "code      corruption: Corruption  (score 0.35)" in text
    assert "means     Officials who take bribes" in text
    assert "include   bribes, kickbacks, officials protecting traffickers" in text
    assert "exclude   general distrust without an act of corruption (use trust)" in text
    assert text.splitlines()[-1] == ('why       rules 0.35: phrase «…never had a problem with '
                                     '[corruption] at the Hawks, they are…» (after "never")')


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
    assert items[0].reasons()[0] == "model score 0.60 (learned from 12 coded segments)"
    assert items[0].reasons()[1:] == [
        "rules 0.91: phrase «[Corruption] is a problem at the…»",
        "phrase «…local station. Officers take a [bribe] and the traffickers walk free.»"]


@pytest.mark.parametrize("name", ["alice\n", "\x1b[31malice", "tipqual-model", " alice", ""])
def test_a_reviewer_name_not_allowed_is_refused(fx, name):
    with pytest.raises(CodingError, match="your own name as reviewer"):
        rv.ReviewSession(fx, name)


def test_review_refuses_a_coder_name_not_allowed_in_one_line(tmp_path: Path):
    from tests.helpers import run_tipqual

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


# --- decided suggestions leave the count (the "any study" issue, point 2) ------------------------

def _open(p) -> int:
    return p.status()["codings"]["suggested"]


def test_decisions_leave_the_status_count_and_the_queue_exactly(water):
    n = WATER_SUGGESTIONS
    assert _open(water) == n and len(rv.review_queue(water, "nomsa")) == n
    session = rv.ReviewSession(water, "nomsa")
    for key in "aaarr":
        session.handle(key)
    assert session.summary() == {"accepted": 3, "rejected": 2, "skipped": 0, "left": n - 5}
    counts = water.status()["codings"]
    assert counts == {"human": 0, "suggested": n - 5, "accepted": 3, "rejected": 2}
    # the suggestions' own rows stay until suggest runs again; they no longer count
    assert len(water.codings(statuses=["suggested"])) == n
    assert len(rv.ReviewSession(water, "nomsa").items) == n - 5
    session.undo()
    assert session.summary()["left"] == n - 4 and _open(water) == n - 4
    assert water.status()["codings"]["rejected"] == 1
    # suggest again: the decided rows go, the undecided stay, and the count is unchanged
    suggest(water)
    assert _open(water) == n - 4 == len(water.codings(statuses=["suggested"]))


def test_left_counts_skipped_and_undone_suggestions_as_undecided(water):
    n = WATER_SUGGESTIONS
    session = rv.ReviewSession(water, "nomsa")
    session.accept()
    session.skip()
    assert session.summary()["left"] == n - 1  # was n - 2: the skipped one is still to do
    session.reject()
    session.undo()  # back to the rejected one; the skipped one stays skipped
    assert session.summary() == {"accepted": 1, "rejected": 0, "skipped": 1, "left": n - 1}
    session.undo()  # back to the first: the skipped one is shown again
    assert session.position == 0 and session.summary()["left"] == n
    session.accept()
    session.skip()  # the same one skipped again counts once
    assert session.summary() == {"accepted": 1, "rejected": 0, "skipped": 1, "left": n - 1}
    while session.current() is not None:
        session.reject()
    assert session.summary() == {"accepted": 1, "rejected": n - 2, "skipped": 1, "left": 1}
    assert session.handle("a") == "end of the queue; 1 skipped, still undecided (u undo, q quit)"
    assert _open(water) == 1


def test_a_decision_counts_whoever_took_it_and_only_on_its_span(water):
    n = WATER_SUGGESTIONS
    seg, code = "mabule:2", "breakdown"
    with water.atomic():  # another reviewer's decision on a span of the segment only
        water.put_coding(Coding(seg, code, "thabo", status="accepted", span_start=4,
                                span_end=18, provenance="review of tipqual-rules 0.98"))
    assert _open(water) == n
    with water.atomic():
        water.put_coding(Coding(seg, code, "thabo", status="rejected",
                                provenance="review of tipqual-rules 0.98"))
    assert _open(water) == n - 1
    assert len(rv.review_queue(water, "nomsa")) == n  # a second opinion is still asked for


@pytest.mark.slow
def test_a_second_reviewers_queue_says_what_others_decided(water):
    """Blind double coding: thabo's queue holds all n suggestions, nomsa has decided 5 of them;
    the split says so, and its undecided count is what status calls awaiting review."""
    n = WATER_SUGGESTIONS
    assert rv.queue_split(water, "thabo") == rv.QueueSplit(n, n, {})
    assert rv.queue_split(water, "thabo").describe() == ""
    first = rv.ReviewSession(water, "nomsa", refit_every=0)
    decided = []
    for key in "aaarr":
        decided.append((first.current().segment.id, first.current().code))
        first.handle(key)
    split = rv.queue_split(water, "thabo")
    assert split == rv.QueueSplit(n, n - 5, {"nomsa": 5}) and split.decided == 5
    assert split.undecided == _open(water) == n - 5
    assert split.describe() == f"{n - 5} awaiting review, 5 already decided by nomsa"
    assert rv.queue_split(water, "nomsa") == rv.QueueSplit(n - 5, n - 5, {})  # her own left
    # a third reviewer decides two of nomsa's and one no one had: thabo's split follows
    third = rv.ReviewSession(water, "zola", refit_every=0)
    for key in "aasssr":  # her queue's order is nomsa's: the sixth is one no one decided
        third.handle(key)
    split = rv.queue_split(water, "thabo")
    assert split == rv.QueueSplit(n, n - 6, {"nomsa": 5, "zola": 3})
    assert split.describe() == (f"{n - 6} awaiting review, 6 already decided by others "
                                "(nomsa 5, zola 3)")
    # filters: by code and by case, as the queue itself
    code = decided[0][1]
    by_code = rv.queue_split(water, "thabo", code=code)
    assert by_code.total == len(rv.review_queue(water, "thabo", code=code))
    assert by_code.decided == sum(1 for _seg, c in decided if c == code) + (
        1 if third.history[-1].coding.code == code else 0)
    assert rv.queue_split(water, "thabo", case="MABULE") == split
    with pytest.raises(CodingError, match="unknown case 'NOWHERE'"):
        rv.queue_split(water, "thabo", case="NOWHERE")


def test_a_decision_on_a_span_leaves_the_pair_awaiting_review_in_the_split(water):
    n = WATER_SUGGESTIONS
    with water.atomic():
        water.put_coding(Coding("mabule:2", "breakdown", "thabo", status="accepted",
                                span_start=4, span_end=18,
                                provenance="review of tipqual-rules 0.98"))
    assert rv.queue_split(water, "nomsa") == rv.QueueSplit(n, n, {}) and _open(water) == n


def test_decisions_are_attributed_to_suggester_and_reviewer(water):
    session = rv.ReviewSession(water, "nomsa")
    for key in "aaarr":
        session.handle(key)
    with water.atomic():
        item = rv.review_queue(water, "thabo")[0]
        water.put_coding(Coding(item.segment.id, item.code, "thabo", status="rejected",
                                provenance="review of tipqual-model+tipqual-rules 0.61"))
        water.put_coding(Coding("mabule:8", "committee", "thabo", status="accepted",
                                provenance=json.dumps({"suggester": "tipqual-model"})))
        water.put_coding(Coding("mabule:9", "committee", "thabo", status="accepted",
                                provenance="manual"))
    assert water.decisions() == [
        {"suggester": "tipqual-model", "reviewer": "thabo", "status": "accepted", "count": 1},
        {"suggester": "tipqual-model+tipqual-rules", "reviewer": "thabo", "status": "rejected",
         "count": 1},
        {"suggester": "tipqual-rules", "reviewer": None, "status": "suggested",
         "count": WATER_SUGGESTIONS - 5},
        {"suggester": "tipqual-rules", "reviewer": "nomsa", "status": "accepted", "count": 3},
        {"suggester": "tipqual-rules", "reviewer": "nomsa", "status": "rejected", "count": 2},
        {"suggester": None, "reviewer": "thabo", "status": "accepted", "count": 1}]
    assert sum(r["count"] for r in water.decisions() if r["status"] == "suggested") == _open(water)


# --- the review screen (point 9) -------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _body(text: str) -> list[str]:
    """The segment text's lines of a rendered suggestion (between the first two blank lines)."""
    lines = text.splitlines()
    first = lines.index("")
    return lines[first + 1:lines.index("", first + 1)]


@pytest.mark.parametrize("width", [30, 41, 57, 80])
@pytest.mark.parametrize("styled", [False, True])
def test_render_wraps_between_words_to_the_width(water, width, styled):
    for item in rv.review_queue(water, "nomsa"):
        text = rv.render(item, water.codebook(), styled=styled, number=1, total=9, left=9,
                         width=width)
        plain = [_ANSI.sub("", line) for line in text.splitlines()]
        assert max(len(line) for line in plain) <= width, text
        body = [_ANSI.sub("", line) for line in _body(text)]
        shown = item.segment.text if styled else rv.highlight(item.segment.text,
                                                             item.matches(), False)
        # joined again with a space, the lines give the text back: no word was cut
        assert " ".join(body) == " ".join(shown.split())
        assert all(line == line.strip() for line in body)
        for line in plain:
            if line.startswith(("means", "why")) or line.startswith(" " * 10):
                assert not line[10:].startswith(" ")  # continuations hang under the value


def test_render_takes_the_terminal_width(water, monkeypatch):
    item = [i for i in rv.review_queue(water, "nomsa") if i.segment.id == "mabule:3"][0]
    monkeypatch.setenv("COLUMNS", "44")
    narrow = rv.render(item, water.codebook())
    assert max(len(line) for line in narrow.splitlines()) <= 44
    assert len(_body(narrow)) == 3
    monkeypatch.setenv("COLUMNS", "200")
    assert len(_body(rv.render(item, water.codebook()))) == 1


def test_render_styled_emphasis_survives_wrapping(water):
    item = [i for i in rv.review_queue(water, "nomsa") if i.code == "breakdown"
            and i.segment.id == "mabule:2"][0]
    text = rv.render(item, water.codebook(), styled=True, width=32)
    assert "\x1b[1m\x1b[4mhandle snapped\x1b[0m" in text
    # "out of order" is broken across lines between words, each part emphasised
    assert "was \x1b[1m\x1b[4mout\x1b[0m\n\x1b[1m\x1b[4mof order\x1b[0m for" in text
    assert "[[" not in text


def test_why_names_the_rule_kind_and_the_words_that_matched(water):
    items = {(i.segment.id, i.code): i for i in rv.review_queue(water, "nomsa")}
    breakdown = items[("mabule:2", "breakdown")].reasons()
    # the words matched are marked in their window; the two phrases, whose windows overlap,
    # share one line instead of two that look alike
    assert breakdown == [
        "rules 0.98: pattern «The [handle snapped] again in June, and the…»",
        "phrase «…again in June, and the [borehole] was [out of order] for six weeks.»"]
    text = rv.render(items[("mabule:2", "breakdown")], water.codebook(), width=200)
    assert "LOWER" not in text and "{" not in text  # no Matcher JSON
    # the codebook's phrase is "fee": the segment says "fees", and that is what is shown
    fees = items[("mabule:3", "fees")].reasons()
    assert fees == ['rules 0.81: phrase «Nobody wants to pay the [fees] since the [tariff] went '
                    'up, so the treasurer…» ("fees" after "nobody")']
    assert not any('"fee"' in line or '"tariff"' in line for line in fees)
    assert items[("mabule:9", "fees")].reasons() == [
        'rules 0.35: phrase «Households that never pay the [fee] still draw water at night.» '
        '(after "never")']
    assert items[("mabule:4", "fetching")].reasons() == [
        "rules 0.91: phrase «The women [walk two hours] to [fetch water] from the river while "
        "we…»"]


def test_why_reads_provenance_written_before_kinds_were_kept(water):
    old = json.dumps({"suggester": "tipqual-rules", "cues": [],
                      "rules": ['pattern [{"LOWER": "handle"}, {"LOWER": {"IN": ["snapped"]}}]'],
                      "matches": [[4, 18, "handle snapped"]]})
    with water.atomic():
        water.put_coding(Coding("mabule:2", "fees", "tipqual-rules", status="suggested",
                                score=0.75, provenance=old))
        water.put_coding(Coding("mabule:4", "fees", "tipqual-rules", status="suggested",
                                score=0.5, provenance="imported from another tool"))
        water.put_coding(Coding("mabule:6", "fees", "tipqual-rules", status="suggested",
                                score=0.4, provenance="from \x1b[2Jelsewhere"))
    items = {(i.segment.id, i.code): i for i in rv.review_queue(water, "nomsa")}
    assert items[("mabule:2", "fees")].reasons() == [
        "rules 0.75: pattern «The [handle snapped] again in June, and the…»"]
    assert items[("mabule:4", "fees")].reasons() == [
        "tipqual-rules 0.50: imported from another tool"]
    assert items[("mabule:6", "fees")].reasons() == ["tipqual-rules 0.40: from ?[2Jelsewhere"]


def test_context_shows_words_either_side_and_marks_what_is_left_out():
    text = "one two three four five six seven the police asked for a bribe at the gate today"
    start = text.index("bribe")
    assert rv.context(text, start, start + 5) == (
        "…the police asked for a [bribe] at the gate today")
    assert rv.context(text, start, start + 5, words=2) == "…for a [bribe] at the…"
    assert rv.context("a bribe", 2, 7) == "a [bribe]"
    assert rv.context("line one\nbribe\tthen", 9, 14) == "line one [bribe] then"


def test_context_of_several_matches_marks_each_once_in_one_window():
    text = "one two three four five six seven the police asked for a bribe at the gate today"
    police, bribe = text.index("police"), text.index("bribe")
    ranges = [(bribe, bribe + 5), (police, police + 6), (police, police + 6)]
    assert rv.context_of(text, ranges, words=2) == (
        "…seven the [police] asked for a [bribe] at the…")
    # overlapping matches ("a bribe", "bribe at") are marked as one run of words
    assert rv.context_of(text, [(bribe - 2, bribe + 5), (bribe, bribe + 8)], words=1) == (
        "…for [a bribe at] the…")
    assert rv.context_of("a bribe", []) == "a bribe"


def test_why_merges_only_overlapping_windows_of_one_kind():
    text = ("The pump broke in March. " + "We waited " * 12 + "and the pump broke again, "
            "so the handle snapped too.")
    first, second = text.index("pump broke"), text.rindex("pump broke")
    handle = text.index("handle snapped")
    matches = [rv.Match(first, first + 10, "phrase", None),
               rv.Match(second, second + 10, "phrase", None),
               rv.Match(handle, handle + 14, "pattern", "never")]
    lines = rv._windows(text, matches)
    # the two phrases are far apart: two lines; the pattern overlaps the second but is its own
    assert [(kind, note, ranges) for kind, note, ranges in lines] == [
        ("phrase", "", [(first, first + 10)]), ("phrase", "", [(second, second + 10)]),
        ("pattern", 'after "never"', [(handle, handle + 14)])]


# --- the queue at scale: pages, uncertainty in SQL, refits in the session ------------------------

def _spy(project, monkeypatch):
    """Record what the review reads of ``project``: the segment ids and the codings lists."""
    seen: dict[str, list] = {"segments": [], "codings": [], "pages": []}
    segments, codings, page = project.segments, project.codings, project.suggestion_page

    def spy_segments(**kw):
        seen["segments"].append(None if kw.get("ids") is None else sorted(kw["ids"]))
        return segments(**kw)

    def spy_codings(**kw):
        seen["codings"].append(kw)
        return codings(**kw)

    def spy_page(*args, **kw):
        groups = page(*args, **kw)
        seen["pages"].append(len(groups))
        return groups

    monkeypatch.setattr(project, "segments", spy_segments)
    monkeypatch.setattr(project, "codings", spy_codings)
    monkeypatch.setattr(project, "suggestion_page", spy_page)
    return seen


def test_review_reads_one_page_and_only_its_segments(water, monkeypatch):
    n = WATER_SUGGESTIONS
    whole = rv.review_queue(water, "nomsa")
    seen = _spy(water, monkeypatch)
    session = rv.ReviewSession(water, "nomsa", page_size=2, refit_every=0)
    assert session.current() == whole[0]
    # the first screen: one page of 2 pairs, the segments of those 2 only, no list of codings
    assert seen["pages"] == [2] and seen["codings"] == []
    assert seen["segments"] == [sorted({s.segment.id for s in whole[:2]})]
    assert len(session.items) == 2 and session.total == n and session.left == n
    session.accept()
    session.skip()
    assert seen["pages"] == [2]  # nothing more read until the page is used up
    assert session.current() == whole[2] and seen["pages"] == [2, 2]
    while session.current() is not None:
        session.reject()
    assert [s.segment.id for s in session.items] == [s.segment.id for s in whole]
    assert seen["pages"] == [2, 2, 2, 2, 1] and seen["codings"] == []
    assert all(ids is not None and len(ids) <= 2 for ids in seen["segments"])
    assert session.summary() == {"accepted": 1, "rejected": n - 2, "skipped": 1, "left": 1}


def test_review_command_reads_one_page_for_the_first_screen(runner, water, monkeypatch):
    from tipqual.cli import cli
    from tipqual.store.project import Project

    read: list[int] = []
    segments = Project.segments

    def spy(self, **kw):
        read.append(len(set(kw["ids"])) if kw.get("ids") is not None else -1)
        return segments(self, **kw)

    monkeypatch.setattr(rv, "PAGE_SIZE", 3)
    monkeypatch.setattr(Project, "segments", spy)
    monkeypatch.setattr(Project, "codings", lambda *a, **kw: pytest.fail("codings read"))
    result = runner.invoke(cli, ["review", str(water.path), "--coder", "nomsa"], input="q\n")
    assert result.exit_code == 0, result.output
    assert len(read) == 1 and 1 <= read[0] <= 3  # one page: the segments of 3 pairs
    assert f"[1/{WATER_SUGGESTIONS}, {WATER_SUGGESTIONS} left]" in result.output


def test_pages_keep_uncertainty_order_with_ties_in_document_order(water):
    with water.atomic():  # three ties at 0.55 / 0.45 (uncertainty 0.05), across pages
        for seg, score in (("mabule:9", 0.55), ("mabule:4", 0.45), ("mabule:6", 0.55)):
            water.put_coding(Coding(seg, "committee", "tipqual-rules", status="suggested",
                                    score=score, provenance="{}"))
    whole = rv.review_queue(water, "nomsa")
    order = [list(water.code_ids()).index(s.code) for s in whole]
    keys = [(round(abs(s.score - 0.5), 9), s.segment.source, s.segment.n, o)
            for s, o in zip(whole, order, strict=True)]
    assert keys == sorted(keys)
    for size in (1, 2, 4):
        session = rv.ReviewSession(water, "nomsa", page_size=size, refit_every=0)
        shown = []
        while (item := session.current()) is not None:
            shown.append((item.segment.id, item.code))
            session.skip()
        assert shown == _pairs(whole)
    ties = [(s.segment.id, s.code) for s in whole if abs(abs(s.score - 0.5) - 0.05) < 1e-9]
    assert ties[:3] == [("mabule:4", "committee"), ("mabule:6", "committee"),
                        ("mabule:9", "committee")]


def test_suggestion_page_takes_per_code_thresholds(water):
    plain = water.suggestion_page("nomsa", limit=100)
    moved = water.suggestion_page("nomsa", limit=100, thresholds={"fees": 0.35})
    assert plain[0].code != "fees"
    assert (moved[0].segment, moved[0].code, moved[0].uncertainty) == ("mabule:9", "fees", 0.0)
    assert len(moved) == len(plain) == water.suggestion_count("nomsa") == WATER_SUGGESTIONS


def _refit_study(path: Path):
    """A water-point study where a person coded 12 segments (fees on 6) and the rules
    suggested fees, nearest 0.5, on 10 segments about a tariff letter, then committee on 6."""
    from tipqual.codebook import model as codebook
    from tipqual.records import Source
    from tipqual.store.project import Project

    paid = [f"We pay the fee of {n} rand a month at the kiosk, every household pays it."
            for n in range(2, 8)]
    walk = [f"The girls walk {n} kilometres to carry water from the river before school."
            for n in range(2, 8)]
    letter = [f"A tariff letter came from the district office on day {n} and nobody read it."
              for n in range(1, 11)]
    meet = [f"The committee met on day {n} in the church hall." for n in range(1, 7)]
    text = "\n\n".join(f"R: {t}" for t in paid + walk + letter + meet) + "\n"
    book = path.with_name("refit-codebook.yaml")
    book.write_text(WATER_CODEBOOK, encoding="utf-8")
    project = Project.create(path)
    segs = segments_of("village", text, "VILLAGE")
    with project.atomic():
        project.set_codebook(codebook.load(book))
        project.add_source(Source(id="village", case="VILLAGE", path="village.txt",
                                  format="txt", sha256=hashlib.sha256(text.encode()).hexdigest(),
                                  text=text), segs)
        for i, seg in enumerate(segs[:12]):
            project.put_coding(Coding(seg.id, "fees" if i < 6 else "fetching", "hana"))
        for i, seg in enumerate(segs[12:22]):
            project.put_coding(Coding(seg.id, "fees", "tipqual-rules", status="suggested",
                                      score=0.5 + i / 2000, provenance="{}"))
        for i, seg in enumerate(segs[22:]):
            project.put_coding(Coding(seg.id, "committee", "tipqual-rules", status="suggested",
                                      score=0.51 + i / 200, provenance="{}"))
    return project


def test_rejections_refit_the_model_and_push_a_codes_suggestions_down(tmp_path: Path):
    project = _refit_study(tmp_path / "refit.db")
    fixed = rv.ReviewSession(project, "thabo", refit_every=0)
    session = rv.ReviewSession(project, "nomsa", refit_every=5)
    assert [s.code for s in session.items] == ["fees"] * 10 + ["committee"] * 6
    for _ in range(4):
        fixed.reject()
        session.reject()
    assert session.refits == 0 and session.current().code == "fees"
    fixed.reject()
    session.reject()  # the fifth: the model learns that tariff letters are not about fees
    assert session.refits == 1 and fixed.refits == 0
    assert fixed.current().code == "fees"  # without a refit, the order stays
    ahead = session.items[session.position:]
    assert [s.code for s in ahead] == ["committee"] * 6 + ["fees"] * 5
    assert all(s.refit is not None and s.refit[0] < 0.5 for s in ahead if s.code == "fees")
    assert all(s.refit is None for s in ahead if s.code == "committee")  # no examples
    assert session.left == 11
    fees = next(s for s in ahead if s.code == "fees")
    assert fees.reasons()[-1].startswith("refitted model score 0.")
    assert fees.reasons()[-1].endswith("(this session, learned from 17 coded segments)")
    # the stored suggestions are unchanged; a decision records the stored score
    assert project.find_coding(fees.segment.id, "fees", "tipqual-rules").score == fees.score
    session.undo()
    assert session.current().code == "fees" and session.left == 12
    project.close()


class _HeldFit:
    """``train`` for a background refit that waits until the test lets it go."""

    def __init__(self):
        import threading

        self.go = threading.Event()
        self.started = 0
        self.trained_on: list[int] = []

    def __call__(self, examples):
        self.started += 1
        assert self.go.wait(60), "the test never let the refit go"
        result = _train(examples)
        self.trained_on.append(len(result[1]))
        return result


_train = rv.train


@pytest.mark.slow
def test_a_background_refit_orders_as_the_one_waited_for_but_keeps_the_screen(tmp_path: Path):
    """The same five rejections: refitted on the reviewer's thread, or in the background and
    taken once done, the suggestions after the one on screen come in the same order."""
    project = _refit_study(tmp_path / "refit.db")
    waited = rv.ReviewSession(project, "nomsa", refit_every=5)
    behind = rv.ReviewSession(project, "thabo", refit_every=5, background=True)
    for _ in range(5):
        waited.reject()
        behind.reject()
    assert waited.refits == 1
    assert behind.wait_for_refit(60) and behind.refits == 1
    on_screen = behind.items[5]
    assert on_screen.code == "fees" and _pairs([on_screen]) != _pairs(waited.items[5:6])
    assert [s.code for s in behind.items[6:]] == ["committee"] * 6 + ["fees"] * 4
    assert _pairs(behind.items[6:]) == [p for p in _pairs(waited.items[5:])
                                        if p != _pairs([on_screen])[0]]
    project.close()


@pytest.mark.slow
def test_the_reviewer_never_waits_for_a_refit_and_decides_what_was_on_screen(
        tmp_path: Path, monkeypatch):
    from tests.helpers import hang_guard, wait_until

    held = _HeldFit()
    monkeypatch.setattr(rv, "train", held)
    project = _refit_study(tmp_path / "refit.db")
    session = rv.ReviewSession(project, "nomsa", refit_every=1, background=True)
    with hang_guard(30, "deciding while the model refits"):
        for _ in range(6):  # the first decision starts a refit; it is held for all the rest
            session.reject()
        shown = session.current()
    wait_until(lambda: held.started, 60, "the refit thread reaching the fit")
    assert held.started == 1 and session.refits == 0  # no second fit while one runs
    held.go.set()
    assert session._running is not None and session._running.wait(60)
    decided = session.accept()  # the refit is taken now, after the key: not before it
    assert (decided.coding.segment, decided.coding.code) == (shown.segment.id, shown.code)
    assert session.refits == 1
    # the five decisions made while the first ran asked for one more, started when it was
    # taken (before the acceptance was written: 12 coded segments + 6 rejections); the
    # acceptance asked for a third
    assert session.wait_for_refit(60) and session.refits == 3
    assert held.trained_on == [13, 18, 19]
    project.close()


@pytest.mark.slow
def test_a_background_refit_runs_the_language_pipeline_on_its_own_thread(tmp_path: Path,
                                                                       monkeypatch):
    """The first refit of a session works out every coded segment's features: that is the
    refit thread's work, not the reviewer's (whose key press would wait for it)."""
    import threading

    import tipqual.nlp.pipeline as pipeline
    import tipqual.suggest.classifier as classifier

    threads: list[tuple[str, str]] = []
    build, featurize = pipeline.build_pipeline, classifier.items_from_docs

    def spy(name, real):
        def call(*args, **kwargs):
            threads.append((name, threading.current_thread().name))
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(pipeline, "build_pipeline", spy("build", build))
    monkeypatch.setattr(classifier, "items_from_docs", spy("features", featurize))
    held = _HeldFit()
    monkeypatch.setattr(rv, "train", held)
    project = _refit_study(tmp_path / "refit.db")
    session = rv.ReviewSession(project, "nomsa", refit_every=1, background=True)
    session.reject()
    session.current()
    held.go.set()
    assert session.wait_for_refit(60) and session.refits == 1
    assert threads[:2] == [("build", "tipqual-refit"), ("features", "tipqual-refit")]
    # what is re-scored on screen is the reviewer's: its own pipeline, the known features kept
    assert all(t == threading.current_thread().name for _, t in threads[2:])
    assert session._model is not None and len(session._model.features) >= held.trained_on[0]
    project.close()


def test_a_background_refit_that_fails_says_so_on_the_reviewers_thread(tmp_path: Path,
                                                                     monkeypatch):
    def broken(examples):
        raise CodingError("the model could not be fitted")

    monkeypatch.setattr(rv, "train", broken)
    project = _refit_study(tmp_path / "refit.db")
    session = rv.ReviewSession(project, "nomsa", refit_every=1, background=True)
    session.reject()
    assert session._running is not None and session._running.wait(60)
    with pytest.raises(CodingError, match="could not be fitted"):
        session.current()
    project.close()


# --- the queue's first page in a large study: found among the most uncertain rows --------------

def _many_suggestions(path: Path, n: int, codes: int = 3, levels: int = 13):
    """A study of ``n`` respondent segments over 4 sources (2 cases) of a health-clinic study
    (not the sample's domain), every segment with a rule suggestion of each of ``codes`` codes
    and, on every third segment and code, a model suggestion too (some on a span, some without
    a score); the rules' scores take ``levels`` values (few: the queue has many ties).
    Returns the open Project."""
    from tipqual.codebook.model import Code, Codebook
    from tipqual.records import Segment, Source
    from tipqual.store.project import Project

    ids = ["queues", "stock", "staff", "outreach"][:codes]
    project = Project.create(path, name="Clinic waiting times")
    said = "The nurse sees us after lunch."
    with project.atomic():
        project.set_codebook(Codebook("clinics", "1", [Code(c, c.title()) for c in ids]))
        per = n // 4
        for s in range(4):
            text = "".join(f"Patient: {said}\n" for _ in range(per))
            segments = [Segment(id=f"clinic{s}:{i}", source=f"clinic{s}", n=i, speaker="Patient",
                                role="respondent", start=9 + (i - 1) * 40, end=9 + (i - 1) * 40
                                + len(said), text=said) for i in range(1, per + 1)]
            project.add_source(Source(id=f"clinic{s}", case=f"CLINIC-{s % 2}",
                                      path=f"clinic{s}.txt", format="txt", sha256=f"{s}" * 64,
                                      text=text), segments)
        rules, model = [], []
        for k in range(per * 4):
            seg = f"clinic{k % 4}:{k // 4 + 1}"
            for j, code in enumerate(ids):
                rules.append(Coding(seg, code, "tipqual-rules", status="suggested",
                                    score=round(0.3 + ((k * 7 + j * 3) % levels) * 0.6
                                                / levels, 4),
                                    provenance="{}"))
                if (k + j) % 3 == 0:
                    score = (None if (k + j) % 27 == 0
                             else round(((k * 5 + j) % (levels + 4)) / (levels + 3), 4))
                    span = (0, 9) if (k + j) % 9 == 0 else (None, None)
                    model.append(Coding(seg, code, "tipqual-model", status="suggested",
                                        score=score, provenance="{}", span_start=span[0],
                                        span_end=span[1]))
        project.replace_suggestions(["tipqual-rules"], None, rules)
        project.replace_suggestions(["tipqual-model"], None, model)
    return project


def _reference_queue(project, coder: str, code: str | None = None, case: str | None = None,
                     prefer: str = "tipqual-model") -> list[tuple[str, str, float]]:
    """The queue worked out in Python from every coding: (segment, code, uncertainty)."""
    segments = {s.id: s for s in project.segments()}
    position = {c: i for i, c in enumerate(project.code_ids())}
    own = {(c.segment, c.code) for c in project.codings(coders=[coder])}
    pairs: dict[tuple[str, str], list[Coding]] = {}
    for c in project.codings(statuses=["suggested"]):
        if (c.segment, c.code) not in own and code in (None, c.code) and (
                case in (None, segments[c.segment].case)):
            pairs.setdefault((c.segment, c.code), []).append(c)
    ranked = []
    for (seg, cd), rows in pairs.items():
        mine = [r.score for r in rows if r.coder == prefer]
        scores = mine if mine else [r.score for r in rows]
        best = max((s for s in scores if s is not None), default=None)
        u = abs((0.0 if best is None else best) - 0.5)
        ranked.append(((u, segments[seg].source, segments[seg].n, position.get(cd, 2**31 - 1),
                        cd), (seg, cd, u)))
    return [item for _, item in sorted(ranked)]


def _paged(project, coder: str, limit: int, **kw) -> list[tuple[str, str, float]]:
    out, after = [], None
    while groups := project.suggestion_page(coder, after=after, limit=limit,
                                            prefer="tipqual-model", **kw):
        out += [(g.segment, g.code, g.uncertainty) for g in groups]
        after = groups[-1].after
    return out


@pytest.mark.slow
def test_paged_queue_matches_the_whole_queue_ranked_in_python(tmp_path: Path):
    project = _many_suggestions(tmp_path / "clinic.db", 120)
    with project.atomic():  # the reviewer decided some pairs already, another person others
        for seg, code, status in (("clinic0:1", "queues", "accepted"),
                                  ("clinic1:3", "stock", "rejected"),
                                  ("clinic2:2", "staff", "human")):
            project.put_coding(Coding(seg, code, "thandi", status=status, score=0.5))
        project.put_coding(Coding("clinic3:4", "queues", "sizwe", status="rejected"))
    for kw in ({}, {"code": "stock"}, {"case": "CLINIC-1"}, {"code": "staff", "case": "CLINIC-0"}):
        expected = _reference_queue(project, "thandi", **kw)
        assert project.suggestion_count("thandi", **kw) == len(expected)
        for limit in (1, 7, 50, 1000):
            assert _paged(project, "thandi", limit, **kw) == expected, (kw, limit)
    assert len(_reference_queue(project, "thandi")) == 120 * 3 - 3
    project.close()


def _vm_steps(project, call) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``call`` makes on ``project``'s study."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    project._db.conn.set_progress_handler(tick, 100)
    try:
        call()
    finally:
        project._db.conn.set_progress_handler(None, 0)
    return steps[0]


@pytest.mark.slow
def test_first_page_work_does_not_grow_with_the_queue(tmp_path: Path):
    """The first page is found among the rows nearest 0.5, not by ranking every pair."""
    small = _many_suggestions(tmp_path / "small.db", 200, levels=997)
    large = _many_suggestions(tmp_path / "large.db", 2000, levels=997)
    assert large.suggestion_count("thandi") == 10 * small.suggestion_count("thandi")

    def first_page(project):
        return lambda: project.suggestion_page("thandi", limit=5, prefer="tipqual-model")

    work = [_vm_steps(p, first_page(p)) for p in (small, large)]
    # ranking every pair would cost ten times as much in the study ten times the size
    assert work[1] < 2 * work[0], work
    assert first_page(large)()[0].uncertainty == _reference_queue(large, "thandi")[0][2]
    small.close()
    large.close()


def test_queue_count_reads_only_an_index_of_the_suggestions(tmp_path: Path):
    project = _many_suggestions(tmp_path / "clinic.db", 40)
    plans = []
    project._db.conn.set_trace_callback(plans.append)
    project.suggestion_count("thandi")
    project._db.conn.set_trace_callback(None)
    details = [row[3] for sql in plans if sql.lstrip().upper().startswith("SELECT")
               for row in project._db.conn.execute("EXPLAIN QUERY PLAN " + sql,
                                                   {"coder": "thandi", "code": None,
                                                    "case": None})]
    scans = [d for d in details if d.startswith("SCAN ") and not d.startswith("SCAN (")
             and d != "SCAN CONSTANT ROW"]
    assert scans and all("COVERING INDEX" in d or "USING INDEX codings_pairs" in d
                         for d in scans), details
    project.close()
