"""tipqual.coding.merge: bringing coders' copies of a study together."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tipqual.codebook.model import Code, Codebook
from tipqual.coding.merge import merge, parse_code_map
from tipqual.errors import CodingError, ProjectError
from tipqual.records import Coding, Segment, Source
from tipqual.store.project import Project

TEXTS = {"cso01": ["We trust the SAPS unit.", "Funding ran out in March."],
         "cso02": ["Delays at the NPA hurt survivors."]}


def _add_source(p: Project, source: str, texts: list[str]) -> None:
    body = "\n\n".join(texts)
    segs, start = [], 0
    for n, text in enumerate(texts, start=1):
        segs.append(Segment(f"{source}:{n}", source, n, "R", "respondent", start,
                            start + len(text), text))
        start += len(text) + 2
    p.add_source(Source(source, source.upper(), f"{source}.txt", "txt",
                        hashlib.sha256(body.encode()).hexdigest(), body), segs)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A study with two sources, a codebook and one machine suggestion, closed on disk."""
    path = tmp_path / "study.db"
    with Project.create(path) as p, p.atomic():
        p.set_codebook(Codebook("tip", "1", [Code("trust", "Trust"), Code("funding", "Funding"),
                                             Code("delays", "Delays")]))
        for source, texts in TEXTS.items():
            _add_source(p, source, texts)
        p.put_coding(Coding("cso01:1", "trust", "tipqual", status="suggested", score=0.9,
                            provenance="rule:trust"))
    return path


def _copy(base: Path, name: str) -> Path:
    path = base.with_name(name)
    path.write_bytes(base.read_bytes())
    return path


def _code(path: Path, *codings: Coding) -> None:
    with Project.open(path) as p, p.atomic():
        for c in codings:
            p.put_coding(c)


def test_two_copies_bring_codings_decisions_and_audit(base: Path) -> None:
    alice, bob = _copy(base, "alice.db"), _copy(base, "bob.db")
    _code(alice, Coding("cso01:1", "trust", "alice", status="accepted", score=0.9,
                        provenance="rule:trust", memo="clear statement",
                        created_at="2026-01-05T10:00:00.000000Z",
                        updated_at="2026-01-05T10:00:00.000000Z"),
          Coding("cso01:2", "funding", "alice"))
    _code(bob, Coding("cso01:1", "trust", "bob", status="rejected"),
          Coding("cso02:1", "delays", "bob", memo="NPA"))
    with Project.open(base, command="merge") as p:
        audit_before = len(p.audit())
        report = merge(p, [alice, bob])
        codings = {(c.segment, c.code, c.coder): c for c in p.codings()}
        audit = p.audit()
    counts = [(s.added, s.unchanged, len(s.conflicts), s.audit_added) for s in report.sources]
    assert counts == [(2, 1, 0, 2), (2, 1, 0, 2)]
    assert report.sources[0].coders == ["alice", "tipqual"]
    got = codings[("cso01:1", "trust", "alice")]
    assert (got.status, got.score, got.provenance, got.memo, got.created_at) == (
        "accepted", 0.9, "rule:trust", "clear statement", "2026-01-05T10:00:00.000000Z")
    assert codings[("cso01:1", "trust", "bob")].status == "rejected"
    assert codings[("cso02:1", "delays", "bob")].memo == "NPA"
    assert len(codings) == 5
    # each copy's own audit entries, plus the merge's record of the 4 codings it added
    assert len(audit) == audit_before + 4 + 4
    assert sorted((e.action, e.coder) for e in audit if e.command == "merge") == [
        ("add", "alice"), ("add", "alice"), ("add", "bob"), ("add", "bob")]
    assert not report.warnings


def test_remerging_adds_nothing(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _code(alice, Coding("cso01:2", "funding", "alice", memo="short"))
    with Project.open(base) as p:
        merge(p, [alice])
        codings, audit = p.codings(), p.audit()
        again = merge(p, [alice, alice])
        assert p.codings() == codings and p.audit() == audit
    assert [(s.added, s.updated, s.audit_added) for s in again.sources] == [(0, 0, 0), (0, 0, 0)]


def test_divergent_copy_is_refused_and_nothing_is_merged(base: Path, tmp_path: Path) -> None:
    good = _copy(base, "good.db")
    _code(good, Coding("cso01:2", "funding", "alice"))
    bad = tmp_path / "bad.db"
    with Project.create(bad) as p, p.atomic():
        _add_source(p, "cso01", ["We trust the SAPS unit.", "Funding ran out in May."])
        _add_source(p, "cso03", ["Another organisation."])
        p.put_coding(Coding("cso01:1", "trust", "carol"))
    with Project.open(base) as p:
        before = p.codings()
        with pytest.raises(ProjectError) as err:
            merge(p, [good, bad])
        assert p.codings() == before
    message = err.value.format()
    assert message.startswith(f"{bad}: nothing merged: the transcripts of {bad}: ")
    for difference in ("source 'cso02' is missing from the copy",
                       "source 'cso03' is only in the copy",
                       "source 'cso01' has different text",
                       "segment 'cso01:2' has different text"):
        assert difference in message
    assert "good.db" not in message  # the matching copy is not blamed


def test_same_coder_changed_independently_is_a_conflict_target_kept(base: Path) -> None:
    one, two = _copy(base, "one.db"), _copy(base, "two.db")
    _code(one, Coding("cso01:1", "trust", "alice", memo="first reading"))
    _code(two, Coding("cso01:1", "trust", "alice", memo="second reading"))
    with Project.open(base) as p:
        report = merge(p, [one, two])
        kept = p.find_coding("cso01:1", "trust", "alice")
    assert kept.memo == "first reading"
    conflict = report.sources[1].conflicts[0]
    assert (conflict.segment, conflict.code, conflict.coder) == ("cso01:1", "trust", "alice")
    assert conflict.target["memo"] == "first reading"
    assert conflict.copy["memo"] == "second reading"
    assert report.warnings == []  # alice's second copy added nothing new
    assert report.to_dict()["sources"][1]["conflicts"][0]["copy"]["memo"] == "second reading"


def test_copy_moved_on_since_last_merge_is_taken(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _code(alice, Coding("cso01:1", "trust", "alice", memo="draft"))
    with Project.open(base) as p:
        merge(p, [alice])
    _code(alice, Coding("cso01:1", "trust", "alice", memo="final"))
    with Project.open(base) as p:
        report = merge(p, [alice])
        assert p.find_coding("cso01:1", "trust", "alice").memo == "final"
    assert (report.sources[0].updated, report.sources[0].conflicts) == (1, [])


def test_target_moved_on_is_kept_without_conflict(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _code(alice, Coding("cso01:1", "trust", "alice", memo="draft"))
    with Project.open(base) as p:
        merge(p, [alice])
        with p.atomic():
            p.put_coding(Coding("cso01:1", "trust", "alice", memo="agreed in meeting"))
            p.delete_coding(Coding("cso01:1", "trust", "tipqual"))
        report = merge(p, [alice])
        assert p.find_coding("cso01:1", "trust", "alice").memo == "agreed in meeting"
        assert p.find_coding("cso01:1", "trust", "tipqual") is None
    part = report.sources[0]
    assert (part.added, part.updated, part.conflicts, part.kept_removed) == (0, 0, [], 1)


def test_one_coder_name_in_two_copies_is_reported(base: Path) -> None:
    one, two = _copy(base, "one.db"), _copy(base, "two.db")
    _code(one, Coding("cso01:1", "trust", "user"))
    _code(two, Coding("cso02:1", "delays", "user"))
    with Project.open(base) as p:
        report = merge(p, [one, two])
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("coder 'user' has new codings in 2 copies")


def test_merging_into_itself_is_refused(base: Path) -> None:
    with Project.open(base) as p, pytest.raises(ProjectError, match="is the target itself"):
        merge(p, [base])


def _other_codebook_copy(base: Path) -> Path:
    alice = _copy(base, "alice.db")
    with Project.open(alice) as p, p.atomic():
        p.set_codebook(Codebook("tip", "2", [Code("trust", "Trust"), Code("stigma", "Stigma")]))
        p.put_coding(Coding("cso01:1", "stigma", "alice", memo="shame"))
        p.put_coding(Coding("cso01:2", "stigma", "alice"))
        p.put_coding(Coding("cso02:1", "trust", "alice"))
    return alice


def test_copy_with_codes_the_target_lacks_is_refused(base: Path) -> None:
    alice = _other_codebook_copy(base)
    with Project.open(base) as p:
        before = (p.codings(), p.audit())
        with pytest.raises(CodingError) as err:
            merge(p, [alice])
        assert (p.codings(), p.audit()) == before
        assert p.codebook_info()["version"] == "1"
    assert err.value.path == str(alice)
    assert ("nothing merged: the copy has codings of codes the target's codebook lacks: "
            "stigma (2 codings); map each to a target code with --map-code OLD=NEW") in (
        err.value.message)


def test_codes_the_target_lacks_can_be_mapped(base: Path) -> None:
    alice = _other_codebook_copy(base)
    with Project.open(base) as p:
        report = merge(p, [alice], code_map={"stigma": "delays"})
        got = {(c.segment, c.code, c.coder): c.memo for c in p.codings(coders=["alice"])}
        assert_audit_agrees(p)
        assert {e.code for e in p.audit() if e.coder == "alice"} == {"delays", "trust"}
        assert p.codebook_info()["version"] == "1"
        again = merge(p, [alice], code_map={"stigma": "delays"})
    assert got == {("cso01:1", "delays", "alice"): "shame", ("cso01:2", "delays", "alice"): None,
                   ("cso02:1", "trust", "alice"): None}
    assert report.sources[0].added == 3
    assert report.sources[0].notes == [
        "the copy's codebook (tip v2) differs from the target's; the target's codebook was "
        "left as it is"]
    assert (again.sources[0].added, again.sources[0].audit_added) == (0, 0)


@pytest.mark.parametrize(("code_map", "message"), [
    ({"stigma": "nonsense"}, "the target's codebook has no code 'nonsense'"),
    ({"stigmaa": "trust"}, "no copy has codings of 'stigmaa'"),
    ({"stigma": "trust"}, "two codings of segment cso01:1 with code 'trust' by 'alice'"),
])
def test_bad_code_maps_are_refused(base: Path, code_map: dict, message: str) -> None:
    alice = _other_codebook_copy(base)
    _code(alice, Coding("cso01:1", "trust", "alice"))
    with Project.open(base) as p:
        before = p.codings()
        with pytest.raises(CodingError, match=message):
            merge(p, [alice], code_map={**code_map})
        assert p.codings() == before


def test_parse_code_map() -> None:
    assert parse_code_map(["a=b", " c = d ", "a=b"]) == {"a": "b", "c": "d"}
    for bad in (["a"], ["=b"], ["a="], ["a=b", "a=c"]):
        with pytest.raises(CodingError, match="--map-code"):
            parse_code_map(bad)


# --- removals made in a copy, and the audit log ----------------------------------------------

def assert_audit_agrees(p: Project) -> None:
    """The last audit entry of every coding says what the study holds."""
    last: dict[tuple, dict | None] = {}
    for e in p.audit():
        state = e.after if e.after is not None else e.before
        if state is None:
            continue
        key = (e.segment, e.code, e.coder, state.get("span_start"), state.get("span_end"))
        last[key] = None if e.action == "remove" else e.after
    logged = {k: v for k, v in last.items() if v is not None}
    data = {(c.segment, c.code, c.coder, c.span_start, c.span_end):
            {"status": c.status, "score": c.score, "provenance": c.provenance, "memo": c.memo,
             "span_start": c.span_start, "span_end": c.span_end} for c in p.codings()}
    assert logged == data


def _remove(path: Path, *codings: Coding) -> None:
    with Project.open(path) as p, p.atomic():
        for c in codings:
            assert p.delete_coding(c)


SUGGESTION = Coding("cso01:1", "trust", "tipqual")


def test_removal_in_a_copy_is_applied(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _code(alice, Coding("cso01:2", "funding", "alice"), Coding("cso02:1", "delays", "alice"))
    with Project.open(base) as p:
        merge(p, [alice])
    _remove(alice, SUGGESTION, Coding("cso02:1", "delays", "alice"))
    with Project.open(base) as p:
        report = merge(p, [alice])
        held = {(c.segment, c.code, c.coder) for c in p.codings()}
        assert_audit_agrees(p)
        again = merge(p, [alice])
    assert held == {("cso01:2", "funding", "alice")}
    part = report.sources[0]
    assert (part.added, part.updated, part.removed, part.conflicts) == (0, 0, 2, [])
    assert sorted((c.action, c.segment, c.coder) for c in part.changes) == [
        ("remove", "cso01:1", "tipqual"), ("remove", "cso02:1", "alice")]
    assert (again.sources[0].removed, again.sources[0].audit_added) == (0, 0)


def test_removal_in_a_copy_of_a_coding_the_target_changed_is_a_conflict(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _remove(alice, SUGGESTION)
    with Project.open(base) as p:
        with p.atomic():
            p.put_coding(Coding("cso01:1", "trust", "tipqual", status="suggested", score=0.9,
                                provenance="rule:trust", memo="discussed: keep"))
        report = merge(p, [alice])
        kept = p.find_coding("cso01:1", "trust", "tipqual")
        assert_audit_agrees(p)
    assert kept is not None and kept.memo == "discussed: keep"
    (conflict,) = report.sources[0].conflicts
    assert (conflict.kind, conflict.coder, conflict.copy) == ("removed in the copy", "tipqual",
                                                              None)
    assert conflict.target["memo"] == "discussed: keep"
    assert report.conflicts == 1 and report.sources[0].removed == 0


def test_two_copies_one_removes_the_other_changes_is_a_conflict(base: Path) -> None:
    one, two = _copy(base, "one.db"), _copy(base, "two.db")
    _remove(one, SUGGESTION)
    _code(two, Coding("cso01:1", "trust", "tipqual", status="suggested", score=0.9,
                      provenance="rule:trust", memo="note"))
    with Project.open(base) as p:
        report = merge(p, [one, two])
        assert p.find_coding("cso01:1", "trust", "tipqual") is None
        assert_audit_agrees(p)
    assert report.sources[0].removed == 1
    (conflict,) = report.sources[1].conflicts
    assert (conflict.kind, conflict.target, conflict.copy["memo"]) == (
        "removed in the target", None, "note")


def test_conflicts_and_kept_removals_leave_log_and_data_agreeing(base: Path) -> None:
    one, two = _copy(base, "one.db"), _copy(base, "two.db")
    _code(one, Coding("cso01:1", "trust", "alice", memo="first reading"))
    _code(two, Coding("cso01:1", "trust", "alice", memo="second reading"))
    with Project.open(base) as p:
        with p.atomic():
            p.delete_coding(SUGGESTION)
        merge(p, [one, two])
        assert p.find_coding("cso01:1", "trust", "alice").memo == "first reading"
        assert p.find_coding("cso01:1", "trust", "tipqual") is None
        assert_audit_agrees(p)


def test_a_removal_the_target_has_seen_is_not_applied_again(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _remove(alice, SUGGESTION)
    with Project.open(base) as p:
        merge(p, [alice])
        assert p.find_coding("cso01:1", "trust", "tipqual") is None
        with p.atomic():  # the team decides to keep the suggestion after all
            p.put_coding(Coding("cso01:1", "trust", "tipqual", status="suggested", score=0.9,
                                provenance="rule:trust"))
        report = merge(p, [alice])
        assert p.find_coding("cso01:1", "trust", "tipqual") is not None
        assert_audit_agrees(p)
    assert (report.sources[0].removed, report.sources[0].conflicts) == (0, [])


def test_dry_run_reports_the_plan_and_writes_nothing(base: Path) -> None:
    alice = _copy(base, "alice.db")
    _code(alice, Coding("cso01:2", "funding", "alice"))
    _remove(alice, SUGGESTION)
    before = base.read_bytes()
    with Project.open(base, readonly=True) as p:
        plan = merge(p, [alice], dry_run=True)
    assert base.read_bytes() == before
    with Project.open(base) as p:
        done = merge(p, [alice])
    assert plan.dry_run and not done.dry_run
    assert [(c.action, c.segment, c.code, c.coder) for c in plan.sources[0].changes] == [
        ("add", "cso01:2", "funding", "alice"), ("remove", "cso01:1", "trust", "tipqual")]
    assert plan.sources == done.sources


# --- coder names from a copy ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["eve\x1b[31m", "eve\nmallory", "tipqual-model", " eve"])
def test_a_copy_with_a_coder_name_not_allowed_is_refused(base: Path, name: str) -> None:
    bad = _copy(base, "bad.db")
    _code(bad, Coding("cso01:2", "funding", name))
    good = _copy(base, "good.db")
    _code(good, Coding("cso02:1", "delays", "alice"))
    with Project.open(base) as p:
        before = (p.codings(), p.audit())
        with pytest.raises(CodingError) as err:
            merge(p, [good, bad])
        assert (p.codings(), p.audit()) == before
    assert err.value.path == str(bad)
    assert err.value.message.startswith("nothing merged: the copy has codings by a coder name "
                                        "the target would not accept: the coder name ")
    assert "\x1b" not in err.value.format() and "\n" not in err.value.format()


@pytest.mark.parametrize("status", ["human", "accepted", "rejected"])
def test_a_persons_codings_under_a_suggesters_name_are_refused_even_if_the_target_knows_it(
        base: Path, status: str) -> None:
    """The target already holds the rules' suggestions; a copy's human coding or decision
    under that name would pass for the rules' (decisions are stored under the reviewer's
    name, so a suggester only ever suggests)."""
    with Project.open(base) as p, p.atomic():
        p.put_coding(Coding("cso02:1", "delays", "tipqual-rules", status="suggested",
                            score=0.5))
    copy = _copy(base, "copy.db")
    _code(copy, Coding("cso01:2", "funding", "tipqual-rules", status=status))
    with Project.open(base) as p:
        before = (p.codings(), p.audit())
        with pytest.raises(CodingError, match="nothing merged: the copy has codings by a coder "
                                              "name the target would not accept"):
            merge(p, [copy])
        assert (p.codings(), p.audit()) == before


def test_suggesters_keep_their_names_and_old_odd_names_still_merge(base: Path) -> None:
    with Project.open(base) as p, p.atomic():  # a study from before names were checked
        p.put_coding(Coding("cso02:1", "delays", "old\tname"))
    copy = _copy(base, "copy.db")
    _code(copy, Coding("cso01:2", "funding", "tipqual-rules", status="suggested", score=0.4),
          Coding("cso01:2", "delays", "old\tname"))
    with Project.open(base) as p:
        report = merge(p, [copy])
    assert report.sources[0].added == 2


def test_a_long_list_of_the_target_s_codes_says_how_many_more() -> None:
    from tipqual.coding.merge import MAX_LISTED, _codes

    ids = [f"c{i}" for i in range(MAX_LISTED + 3)]
    assert _codes(ids) == ", ".join(ids[:MAX_LISTED]) + " and 3 more"
    assert _codes(ids[:2]) == "c0, c1"
