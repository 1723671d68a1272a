"""Rule suggestions, the learned model, and storing suggestions in a study."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.suggest.build import CODEBOOK, build_study, coded_copies
from tests.helpers import SAMPLE, TIP_CODEBOOK
from tipqual.codebook import model as codebook_mod
from tipqual.errors import TipqualError
from tipqual.nlp.pipeline import build_pipeline
from tipqual.records import Coding
from tipqual.store.project import Project
from tipqual.suggest import classifier, rules
from tipqual.suggest import engine as sg


@pytest.fixture(scope="module")
def nlp():
    return build_pipeline(codebook_mod.load(CODEBOOK))


@pytest.fixture
def fx(tmp_path: Path):
    p = build_study(tmp_path / "study.db")
    yield p
    p.close()


def _score(nlp, text: str, code: str) -> float:
    return rules.rule_scores(nlp(text))[code][0]


# --- rules -----------------------------------------------------------------------------------

def test_negated_mention_scores_lower(nlp):
    plain = _score(nlp, "corruption is a problem", "corruption")
    negated = _score(nlp, "we never had a problem with corruption", "corruption")
    assert plain == 0.7
    assert negated == pytest.approx(0.35)
    assert _score(nlp, "There was no corruption there", "corruption") == pytest.approx(0.35)
    assert _score(nlp, "they didn't take a bribe", "corruption") == pytest.approx(0.35)


def test_hedge_lowers_less_than_negation(nlp):
    hedged = _score(nlp, "maybe there was corruption", "corruption")
    assert hedged == pytest.approx(0.525)
    assert _score(nlp, "we never saw corruption", "corruption") < hedged < 0.7


def test_cue_in_another_clause_or_far_away_does_not_count(nlp):
    assert _score(nlp, "No. Corruption is everywhere", "corruption") == 0.7
    assert _score(nlp, "not that, but corruption", "corruption") == 0.7
    far = "never in all of those long and tiring years did we see corruption"
    assert _score(nlp, far, "corruption") == 0.7


def test_more_hits_raise_the_score_nested_ones_do_not(nlp):
    assert _score(nlp, "bribes and corruption", "corruption") == pytest.approx(0.91)
    assert _score(nlp, "a shortage of staff", "capacity") == 0.7
    assert rules.combine([0.5, 0.5]) == 0.75
    assert rules.combine([]) == 0.0


def test_review_order_puts_most_uncertain_first():
    scores = [0.95, 0.52, 0.1, 0.45, 0.7]
    assert sg.review_order(scores, score=lambda s: s) == [0.52, 0.45, 0.7, 0.1, 0.95]


# --- the learned model -----------------------------------------------------------------------

MONEY = ["the donor cut our grant", "we ran out of money", "the budget was halved",
         "our funding ended in March", "no money for salaries", "a donor left us",
         "grants are hard to get", "we pay from our own pocket", "the subsidy never came",
         "money is always short", "a new grant helped", "funds from the lottery"]
OTHER = ["the police came late", "we trained the teachers", "the shelter is full",
         "victims are afraid", "the court date moved", "a nurse saw the signs",
         "we met the task team", "the prosecutor was kind", "the girls went home",
         "social workers visit monthly", "the border is long", "a family reunited"]


def _fit(random_state: int = 0) -> classifier.CodeClassifier:
    return classifier.CodeClassifier(random_state=random_state).fit(
        MONEY + OTHER, [{"funding"}] * len(MONEY) + [{"other"}] * len(OTHER))


def test_model_learns_a_code_from_examples():
    model = _fit()
    assert list(model.classes_) == ["funding", "other"]
    probs = model.predict_proba(["the donor money ran out", "the police were late"])
    assert probs.shape == (2, 2)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert probs[0, 0] > 0.5 > probs[1, 0]
    assert probs[1, 1] > 0.5 > probs[0, 1]
    assert model.predict(["our grant money"]) == [("funding",)]
    assert model.predict_best(["the prosecutor and the police"]) == ["other"]


def test_model_follows_estimator_conventions():
    model = classifier.CodeClassifier(C=1.0, random_state=3)
    assert model.get_params()["C"] == 1.0 and model.get_params()["random_state"] == 3
    assert not hasattr(model, "classes_")
    assert model.fit(["a grant", "the police"], [{"funding"}, set()]) is model
    assert model.set_params(C=0.5) is model and model.C == 0.5
    with pytest.raises(ValueError):
        model.set_params(nope=1)
    from sklearn.base import clone

    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "classes_")


def test_unfitted_model_refuses_to_predict():
    with pytest.raises(TipqualError, match="not fitted yet"):
        classifier.CodeClassifier().predict_proba(["anything"])
    with pytest.raises(TipqualError, match="nothing to learn"):
        classifier.CodeClassifier().fit(["a", "b"], [set(), set()])


def test_model_is_repeatable_with_a_seed():
    a = _fit(7).predict_proba(["a donor grant", "the shelter"])
    b = _fit(7).predict_proba(["a donor grant", "the shelter"])
    assert np.array_equal(a, b)


def test_model_uses_rule_hits_as_features(nlp):
    items = classifier.items_from_docs(nlp.pipe(["They took a bribe.", "We never saw a bribe."]))
    assert items[0].rules == "corruption"
    assert items[1].rules == "corruption~cue"
    assert items[0].lemmas == "they take a bribe ."
    assert items[0].clusters  # Brown clusters of known words


# --- suggest on a study ----------------------------------------------------------------------

def _suggested(p: Project) -> list[Coding]:
    return p.codings(statuses=["suggested"])


def test_suggest_stores_rule_suggestions_with_score_and_provenance(fx):
    result = sg.suggest(fx)
    got = {(c.segment, c.code): c for c in _suggested(fx)}
    assert set(got) == {("interview:2", "corruption"), ("interview:3", "corruption"),
                        ("interview:4", "funding"), ("interview:5", "delays"),
                        ("interview:6", "capacity"), ("interview:6", "corruption"),
                        ("interview:8", "trust")}
    assert result.added == 7 and result.processed == 9 and result.trained_on == 0
    assert (result.respondent, result.considered, result.unchanged) == (8, 8, 0)
    assert all(c.coder == sg.RULES_CODER and 0 <= c.score <= 1 for c in got.values())
    prov = json.loads(got[("interview:3", "corruption")].provenance)
    assert prov["rules"] == ['phrase "corruption"']
    assert prov["cues"] == ["never"]
    assert prov["codebook"]["name"] == "suggest-fixture" and prov["codebook"]["version"] == "1.0"
    assert got[("interview:3", "corruption")].score < got[("interview:2", "corruption")].score


def test_provenance_keeps_each_match_with_its_kind_and_cue(tmp_path: Path):
    from tests.fixtures.suggest.water import build_water_study

    with build_water_study(tmp_path / "water.db") as p:
        sg.suggest(p)
        got = {(c.segment, c.code): json.loads(c.provenance or "{}")
               for c in _suggested(p)}
        text = {s.id: s.text for s in p.segments()}
    breakdown = got[("mabule:2", "breakdown")]["matches"]
    assert breakdown == [[4, 18, "handle snapped", "pattern", None],
                         [42, 50, "borehole", "phrase", None],
                         [55, 67, "out of order", "phrase", None]]
    assert all(text["mabule:2"][m[0]:m[1]] == m[2] for m in breakdown)
    # the codebook's phrase is "fee"; the words matched are the segment's own
    assert got[("mabule:3", "fees")]["matches"] == [[24, 28, "fees", "phrase", "nobody"],
                                                    [39, 45, "tariff", "phrase", None]]


def test_result_says_what_was_considered(tmp_path: Path):
    """Respondents' segments are looked at for codes, interviewers' for mentions only."""
    from tests.fixtures.suggest.water import WATER_SUGGESTIONS, build_water_study

    with build_water_study(tmp_path / "water.db") as p:
        first = sg.suggest(p)
        assert (first.segments, first.respondent, first.considered, first.unchanged) == (
            9, 7, 7, 0)
        assert (first.processed, first.interviewer, first.skipped) == (9, 2, 0)
        assert first.added == WATER_SUGGESTIONS and first.removed == 0
        with p.atomic():
            p.put_coding(Coding("mabule:4", "fetching", "nomsa"))
        second = sg.suggest(p)
        assert (second.considered, second.unchanged, second.interviewer) == (1, 6, 0)
        assert (second.added, second.removed) == (0, 1)  # the suggestion she coded herself
        assert second.to_dict()["considered"] == 1


def test_suggest_skips_interviewer_turns_but_records_their_mentions(fx):
    sg.suggest(fx)
    assert not [c for c in _suggested(fx) if c.segment == "interview:1"]
    mentions = [(m.segment, m.stakeholder, m.text) for m in fx.mentions()]
    assert ("interview:1", "SAPS", "the police") in mentions
    assert ("interview:1", "DSD", "Department of Social Development") in mentions
    assert ("interview:7", "DSD", "social workers") in mentions


def test_min_score_filters(fx):
    sg.suggest(fx, min_score=0.6)
    assert ("interview:3", "corruption") not in {(c.segment, c.code) for c in _suggested(fx)}
    with pytest.raises(TipqualError, match="between 0 and 1"):
        sg.suggest(fx, min_score=1.5)


def test_rerun_makes_no_duplicates_and_skips_unchanged_segments(fx):
    sg.suggest(fx)
    first = [(c.segment, c.code, c.coder, c.score) for c in _suggested(fx)]
    mentions = fx.mentions()
    again = sg.suggest(fx)
    assert again.skipped == 9 and again.processed == 0 and again.added == 0
    assert again.considered == 0 and again.unchanged == 8
    assert [(c.segment, c.code, c.coder, c.score) for c in _suggested(fx)] == first
    assert fx.mentions() == mentions
    fx.clear_stage(sg.STAGE)
    forced = sg.suggest(fx)
    assert forced.processed == 9 and forced.removed == forced.added == len(first)
    assert [(c.segment, c.code, c.coder, c.score) for c in _suggested(fx)] == first


def test_changed_codebook_reprocesses_everything(fx):
    sg.suggest(fx)
    book = codebook_mod.load(CODEBOOK)
    book.code("capacity").phrases.append("social worker")
    with fx.atomic():
        fx.set_codebook(book)
    result = sg.suggest(fx)
    assert result.processed == 9
    assert ("interview:7", "capacity") in {(c.segment, c.code) for c in _suggested(fx)}


def test_suggest_keeps_human_codings_and_decisions(fx):
    with fx.atomic():
        fx.put_coding(Coding("interview:2", "corruption", "alice", memo="mine"))
        fx.put_coding(Coding("interview:4", "funding", "bob", status="rejected",
                             provenance="review of tipqual-rules 0.97"))
    sg.suggest(fx)
    sg.suggest(fx)
    pairs = {(c.segment, c.code) for c in _suggested(fx)}
    assert ("interview:2", "corruption") not in pairs
    assert ("interview:4", "funding") not in pairs
    assert fx.find_coding("interview:2", "corruption", "alice").memo == "mine"
    assert fx.find_coding("interview:4", "funding", "bob").status == "rejected"
    assert len(fx.codings(statuses=["human", "rejected"])) == 2


def test_suggest_needs_a_codebook(tmp_path: Path):
    with Project.create(tmp_path / "empty.db") as p, \
            pytest.raises(TipqualError, match="no codebook"):
        sg.suggest(p)


def _audit_rows(p: Project) -> list[tuple]:
    return [(e.action, e.segment, e.code, e.coder, e.before, e.after) for e in p.audit()]


def test_parallel_jobs_give_the_same_study(fx, tmp_path: Path):
    """Worker processes (small batches, so every worker gets several) store exactly what one
    process stores: suggestions, mentions and audit rows, in the same order."""
    first = sg.suggest(fx, jobs=1)
    serial = [(c.segment, c.code, c.score, c.provenance) for c in _suggested(fx)]
    with build_study(tmp_path / "other.db") as p2:
        second = sg.suggest(p2, jobs=2, batch_size=2)
        assert [(c.segment, c.code, c.score, c.provenance) for c in _suggested(p2)] == serial
        assert p2.mentions() == fx.mentions()
        assert _audit_rows(p2) == _audit_rows(fx)
    assert second.to_dict() == first.to_dict()


def test_jobs_are_chosen_by_the_work_to_do(monkeypatch):
    monkeypatch.setattr("tipqual.suggest.workers.available_cores", lambda: 8)
    assert sg.auto_jobs(sg.PARALLEL_MIN - 1) == 1
    assert sg.auto_jobs(sg.PARALLEL_MIN) == sg.MAX_AUTO_JOBS
    monkeypatch.setattr("tipqual.suggest.workers.available_cores", lambda: 2)
    assert sg.auto_jobs(10 * sg.PARALLEL_MIN) == 2
    monkeypatch.setattr("tipqual.suggest.workers.available_cores", lambda: 1)
    assert sg.auto_jobs(10 * sg.PARALLEL_MIN) == 1


def test_model_suggests_once_people_have_coded(tmp_path: Path):
    """With enough decisions, the learned model proposes codes too, and says so."""
    with coded_copies(tmp_path / "s.db") as p:
        result = sg.suggest(p)
        assert result.trained_on == 24
        model = [c for c in _suggested(p) if c.coder == sg.MODEL_CODER]
        assert {c.segment.split(":")[0] for c in model} == {"copy4"}
        by_pair = {(c.segment, c.code): c for c in model}
        assert by_pair[("copy4:4", "funding")].score > 0.5
        assert all(0 <= c.score <= 1 for c in model)
        prov = json.loads(model[0].provenance)
        assert prov["model"]["name"] == "tipqual.suggest.classifier.CodeClassifier"
        assert prov["model"]["trained_on"] == 24 and prov["model"]["version"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_processes_use_the_same_model(tmp_path: Path, method: str, monkeypatch):
    """The model fitted here reaches the workers intact, whether they are forked (sharing
    this process's pipeline) or spawned (codebook and model pickled, pipeline built anew, as
    on macOS or from a notebook): the same suggestions."""
    monkeypatch.setattr("tipqual.suggest.workers.start_method", lambda: method)
    with coded_copies(tmp_path / "one.db") as p1, coded_copies(tmp_path / "two.db") as p2:
        sg.suggest(p1, jobs=1)
        sg.suggest(p2, jobs=2, batch_size=3)
        rows = [[(c.segment, c.code, c.coder, c.score, c.provenance) for c in _suggested(p)]
                for p in (p1, p2)]
        assert any(row[2] == sg.MODEL_CODER for row in rows[0])
        assert rows[0] == rows[1]


# --- acceptance on the sample study ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE / "transcripts").exists() or not TIP_CODEBOOK.exists(),
                    reason="the sample study or the TIP codebook is not there yet")
def test_sample_study_gets_every_core_code_and_reruns_cleanly(tmp_path: Path):
    from tipqual.ingest import importer as ingest
    with Project.create(tmp_path / "sample.db") as p:
        with p.atomic():
            p.set_codebook(codebook_mod.load(TIP_CODEBOOK))
        ingest.import_paths(p, [SAMPLE / "transcripts"], cases_csv=SAMPLE / "cases.csv")
        first = sg.suggest(p)
        suggested = _suggested(p)
        codes = {c.code for c in suggested}
        assert {"trust", "corruption", "capacity", "funding", "delays"} <= codes
        assert all(0 <= c.score <= 1 for c in suggested)
        assert all(json.loads(c.provenance)["codebook"]["version"] for c in suggested)
        assert len({c.segment.split(":")[0] for c in suggested}) == 10
        second = sg.suggest(p)
        assert second.processed == 0 and second.skipped == first.segments
        assert len(_suggested(p)) == len(suggested) == first.added
        assert {m.stakeholder for m in p.mentions()} >= {"SAPS", "NPA", "DSD"}


# --- codebook evidence, context, thresholds, repeats ----------------------------------------

def _with_awareness(path: Path) -> Project:
    """The coded copies, with a code for awareness work that no one has applied yet (the
    workshop answers are left uncoded)."""
    from tipqual.codebook.model import Code

    p = coded_copies(path)
    book = codebook_mod.load(CODEBOOK)
    book.codes.append(Code(id="awareness", name="awareness raising",
                           definition="Workshops, training or campaigns that teach people the "
                                      "signs of trafficking.",
                           examples=["we ran a workshop about trafficking"]))
    with p.atomic():
        p.set_codebook(book)
        for sid in ("a", "copy2", "copy3"):
            p.delete_coding(Coding(f"{sid}:9", "trust", "alice"))
    return p


def test_model_suggests_a_code_no_one_has_coded_from_its_definition(tmp_path: Path):
    with _with_awareness(tmp_path / "s.db") as p:
        assert not [c for c in p.codings() if c.code == "awareness"]
        result = sg.suggest(p)
        assert result.trained_on == 21
        model = {(c.segment, c.code): c for c in _suggested(p) if c.coder == sg.MODEL_CODER}
        assert ("copy4:9", "awareness") in model
        assert ("copy4:2", "awareness") not in model


def test_the_interviewers_question_and_case_attributes_are_the_context(tmp_path: Path):
    with coded_copies(tmp_path / "s.db") as p:
        with p.atomic():
            p.put_case("CSO-02", {"sector": "NGO"})
        contexts = sg.segment_contexts(p)
    assert "interview:1" not in contexts and "a:1" not in contexts
    assert contexts["a:2"].startswith("How do you work with the police")
    assert contexts["copy2:9"].endswith("attr_sector_ngo")
    assert "attr_" not in contexts["a:2"]


@pytest.mark.slow
def test_a_changed_question_redoes_the_answers_after_it(tmp_path: Path):
    with coded_copies(tmp_path / "s.db") as p:
        sg.suggest(p)
        from tests.fixtures.suggest.build import INTERVIEW, segments_of
        from tipqual.records import Source

        text = INTERVIEW.read_text(encoding="utf-8").replace(
            "How do you work with the police", "How is your work funded, and the police")
        with p.atomic():
            p.replace_source(Source(id="copy4", case="CSO-02", path="x", format="txt",
                                    sha256="changed", text=text),
                             segments_of("copy4", text, "CSO-02"))
        again = sg.suggest(p)
        assert again.considered == 8  # the answers of copy4, whose question changed


@pytest.mark.slow
def test_learned_thresholds_decide_by_default_and_min_score_overrides(tmp_path: Path):
    with coded_copies(tmp_path / "a.db") as p1, coded_copies(tmp_path / "b.db") as p2:
        sg.suggest(p1)
        sg.suggest(p2, min_score=0.0)
        clf, _, _ = sg.train_model(p1, p1.codebook(), build_pipeline(p1.codebook()))
        assert clf is not None
        threshold = dict(zip(clf.classes_, clf.thresholds_, strict=False))
        shown = [c for c in _suggested(p1) if c.coder == sg.MODEL_CODER]
        everything = [c for c in _suggested(p2) if c.coder == sg.MODEL_CODER]
        assert shown and all(c.score >= threshold[c.code] - 1e-4 for c in shown)
        assert len(everything) > len(shown)
        assert {(c.segment, c.code) for c in shown} <= {(c.segment, c.code) for c in everything}
        rules = [c for c in _suggested(p1) if c.coder == sg.RULES_CODER]
        assert all(c.score >= sg.RULE_MIN_SCORE for c in rules)


@pytest.mark.slow
def test_same_study_same_suggestions_byte_for_byte(tmp_path: Path):
    with _with_awareness(tmp_path / "a.db") as p1, _with_awareness(tmp_path / "b.db") as p2:
        sg.suggest(p1)
        sg.suggest(p2)
        rows = [[(c.segment, c.code, c.coder, repr(c.score), c.provenance)
                 for c in _suggested(p)] for p in (p1, p2)]
    assert any(r[2] == sg.MODEL_CODER for r in rows[0])
    assert rows[0] == rows[1]


def _long_study(path: Path, n: int) -> Project:
    """A study of one long interview about a fishing co-operative: ``n`` turns, question and
    answer in turn, no codings."""
    from tipqual.records import Segment, Source

    turns = [("Interviewer", "interviewer", f"What did the co-op do in week {i}?") if i % 2
             else ("Member", "respondent", f"We sold the catch of week {i} at the harbour.")
             for i in range(1, n + 1)]
    text, segments = "", []
    for i, (speaker, role, said) in enumerate(turns, start=1):
        start = len(text) + len(speaker) + 2
        text += f"{speaker}: {said}\n"
        segments.append(Segment(id=f"coop:{i}", source="coop", n=i, speaker=speaker, role=role,
                                start=start, end=start + len(said), text=said))
    p = Project.create(path)
    with p.atomic():
        p.set_codebook(codebook_mod.load(CODEBOOK))
        p.add_source(Source(id="coop", case="COOP-1", path="coop.txt", format="txt",
                            sha256="c" * 64, text=text), segments)
    return p


class _NoLanguage:
    """A stand-in for the per-batch work: no spaCy, no suggestions (what is measured is what
    ``suggest`` itself keeps while it goes)."""

    def __init__(self, *args):
        pass

    def __call__(self, batch):
        return [item[0] for item in batch], [], []


@pytest.mark.slow
def test_suggest_keeps_nothing_per_segment_of_the_whole_study(tmp_path: Path, monkeypatch):
    """Keys and contexts are worked out as the segments stream past: what suggest holds in
    memory does not grow with the study (tracemalloc; a quarter of the segments for reference,
    both more than the store reads at a time)."""
    import tracemalloc

    monkeypatch.setattr(sg, "BatchSuggester", _NoLanguage)
    monkeypatch.setattr("tipqual.nlp.pipeline.build_pipeline", lambda *a, **kw: None)
    peaks = []
    for n in (4000, 16000):
        with _long_study(tmp_path / f"coop-{n}.db", n) as p:
            tracemalloc.start()
            result = sg.suggest(p, jobs=1)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            assert (result.processed, result.respondent) == (n, n // 2)
            assert len(p.stage_keys(sg.STAGE)) == n
            assert sg.suggest(p, jobs=1).skipped == n  # the keys stored are the keys read
    # a key and a context kept per segment would be some 3 MB more for 12,000 more segments
    assert peaks[1] - peaks[0] < 500_000, peaks
