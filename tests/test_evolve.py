"""A study moved to new versions of its codebook: renames, merges, splits and removals through
``replaces:``, with audit entries, dry runs, a history over two rounds, and the command line.

The study is a small (fictional) tenants' study with a codebook of its own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import TIP_CODEBOOK, run_tipqual
from tipqual.codebook.model import diff, load
from tipqual.coding.evolve import SPLIT_SUGGESTER, apply_codebook, plan_apply
from tipqual.errors import CodebookError
from tipqual.records import Coding
from tipqual.store.project import Project

V1 = """name: Tenants study
version: "1"
codes:
  - id: rent
    name: Rent
    definition: Talk of rent levels.
  - id: arrears
    name: Arrears
    definition: Rent owed.
  - id: eviction
    name: Eviction
    definition: Being put out of a home.
  - id: landlords
    name: Landlords
    definition: Landlords of any kind.
  - id: noise
    name: Noise
    definition: Noise at night.
"""

V2 = """name: Tenants study
version: "2"
codes:
  - id: housing-cost
    name: Housing cost
    definition: Rent and what is owed.
    replaces: [rent, arrears]
  - id: eviction-threat
    name: Eviction threat
    definition: Being put out, or told one will be.
    replaces: [eviction]
  - id: private-landlords
    name: Private landlords
    definition: Private landlords.
    replaces: [landlords]
  - id: social-landlords
    name: Social landlords
    definition: Councils and housing associations.
    replaces: [landlords]
  - id: repairs
    name: Repairs
    definition: Repairs asked for and done.
"""

# The third round keeps the second's replaces lines (already applied) and renames again.
V3 = V2.replace('version: "2"', 'version: "3"').replace(
    "  - id: eviction-threat\n    name: Eviction threat",
    "  - id: eviction-risk\n    name: Eviction risk").replace(
    "replaces: [eviction]", "replaces: [eviction, eviction-threat]")

TRANSCRIPT = ("Interviewer: Tell me about the flat.\n\n"
              "Respondent: The rent went up and we owe two months already.\n\n"
              "Respondent: The landlord said he would evict us. The neighbours are loud.\n\n"
              "Respondent: Nobody fixes the damp in the bathroom.\n")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tenants(tmp_path: Path) -> Path:
    """The tenants' study: two coders, every status, a memo and a span."""
    db = tmp_path / "tenants.db"
    book = load(_write(tmp_path, "v1.yaml", V1))
    p = Project.create(db)
    with p.atomic():
        p.set_codebook(book)
    p.close()
    with Project.open(db) as p:
        from tipqual.ingest.importer import import_paths
        import_paths(p, [_write(tmp_path, "t1.txt", TRANSCRIPT)])
        with p.atomic():
            p.put_coding(Coding("t1:2", "rent", "ann", memo="rise in March"))
            p.put_coding(Coding("t1:2", "arrears", "ann", memo="two months"))
            p.put_coding(Coding("t1:2", "rent", "ben", status="accepted"))
            p.put_coding(Coding("t1:2", "arrears", "ben", status="rejected"))
            p.put_coding(Coding("t1:3", "eviction", "ann", span_start=0, span_end=34))
            p.put_coding(Coding("t1:3", "eviction", "tipqual-rules", status="suggested",
                                score=0.7))
            p.put_coding(Coding("t1:3", "landlords", "ann"))
            p.put_coding(Coding("t1:3", "landlords", "ben"))
            p.put_coding(Coding("t1:3", "noise", "ann", memo="loud at night"))
            p.put_coding(Coding("t1:3", "noise", "tipqual-model", status="suggested",
                                score=0.6))
    return db


def _codings(db: Path) -> list[tuple]:
    with Project.open(db, readonly=True) as p:
        return sorted((c.segment, c.code, c.coder, c.status, c.memo, c.span_start)
                      for c in p.codings())


def test_rename_merge_split_and_removal_carry_every_coding(tenants: Path, tmp_path: Path) -> None:
    new = load(_write(tmp_path, "v2.yaml", V2))
    with Project.open(tenants) as p:
        plan, step, backup = apply_codebook(p, new)
        assert step == 1 and backup == "tenants.db.step1.bak"
        assert plan.renames == [("eviction", "eviction-threat")]
        assert plan.merges == [("housing-cost", ["rent", "arrears"])]
        assert plan.splits == [("landlords", ["private-landlords", "social-landlords"])]
        assert plan.removed == ["noise"]
        got = sorted((c.segment, c.code, c.coder, c.status, c.memo, c.span_start)
                     for c in p.codings() if c.coder != SPLIT_SUGGESTER)
        assert got == [
            # merged: ann's two collapse into one with both memos; ben's accepted beats rejected
            ("t1:2", "housing-cost", "ann", "human", "two months; rise in March", None),
            ("t1:2", "housing-cost", "ben", "accepted", None, None),
            # renamed, span and suggestion alike
            ("t1:3", "eviction-threat", "ann", "human", None, 0),
            ("t1:3", "eviction-threat", "tipqual-rules", "suggested", None, None),
            # split: kept on the old code for recoding
            ("t1:3", "landlords", "ann", "human", None, None),
            ("t1:3", "landlords", "ben", "human", None, None)]
        offered = sorted((c.segment, c.code) for c in p.codings(coders=[SPLIT_SUGGESTER]))
        assert offered == [("t1:3", "private-landlords"), ("t1:3", "social-landlords")]
        queue = {(g.segment, g.code) for g in p.suggestion_page("ann", limit=20)}
        assert {("t1:3", "private-landlords"), ("t1:3", "social-landlords")} <= queue
        [archived] = p.retired("archived")  # the person's coding; the suggestion is dropped
        assert (archived.coding.code, archived.coding.memo, archived.step) == (
            "noise", "loud at night", 1)
        entries = p.audit(step=1)
        actions = sorted({e.action for e in entries})
        assert actions == ["add", "archive", "collapse", "merge", "remove", "rename"]
        renamed = [e for e in entries if e.action == "rename"]
        assert {(e.before["code"], e.after["code"]) for e in renamed} == {
            ("eviction", "eviction-threat")}
        assert len(renamed) == 2
        assert p.codebook_info()["version"] == "2"
        assert [h["version"] for h in p.codebook_history()] == ["1", "2"]
        assert p.steps()[0].plan["counts"] == plan.counts()


def test_dry_run_changes_nothing_and_plans_the_same(tenants: Path, tmp_path: Path) -> None:
    new = load(_write(tmp_path, "v2.yaml", V2))
    digest = hashlib.sha256(tenants.read_bytes()).hexdigest()
    before = _codings(tenants)
    with Project.open(tenants) as p:
        plan, step, _ = apply_codebook(p, new, dry_run=True)
    assert step is None and _codings(tenants) == before
    assert hashlib.sha256(tenants.read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob("*.bak"))
    with Project.open(tenants) as p:
        done, _, _ = apply_codebook(p, new)
    assert done.to_dict() == plan.to_dict()


def test_two_rounds_keep_a_coherent_history_and_can_be_undone(tenants: Path,
                                                              tmp_path: Path) -> None:
    v2, v3 = load(_write(tmp_path, "v2.yaml", V2)), load(_write(tmp_path, "v3.yaml", V3))
    with Project.open(tenants) as p:
        apply_codebook(p, v2)
        after_v2 = sorted(c.key for c in p.codings())
        plan, step, _ = apply_codebook(p, v3)
        assert step == 2
        # rent, arrears, eviction are gone since round one: nothing to move
        assert plan.absent == ["arrears", "eviction", "rent"]
        assert plan.renames == [("eviction-threat", "eviction-risk")]
        assert plan.splits == [("landlords", ["private-landlords", "social-landlords"])]
        assert not plan.offered  # already offered in round one
        assert {c.code for c in p.codings()} >= {"eviction-risk", "housing-cost"}
        assert [s.kind for s in p.steps()] == ["codebook-apply", "codebook-apply"]
        assert [h["version"] for h in p.codebook_history()] == ["1", "2", "3"]
        assert {e.step for e in p.audit() if e.action == "rename"} == {1, 2}
        # the same version again is no step at all
        assert apply_codebook(p, v3)[1] is None and len(p.steps()) == 2
        p.restore_step(2)
        assert sorted(c.key for c in p.codings()) == after_v2
        assert p.codebook_info()["version"] == "2"
        assert [s.kind for s in p.steps()] == ["codebook-apply", "codebook-apply", "restore"]


def test_collapse_keeps_the_stronger_status_whichever_comes_first() -> None:
    from tipqual.codebook.model import Code, Codebook

    old = Codebook("b", "1", codes=[Code("a", "A"), Code("b", "B")])
    new = Codebook("b", "2", codes=[Code("ab", "AB", replaces=["a", "b"])])
    codings = [Coding("s:1", "a", "ann", status="rejected"),
               Coding("s:1", "b", "ann", status="human", memo="m")]
    plan = plan_apply(old, new, codings)
    [(_, moved, action)] = plan.moves
    assert (moved.code, moved.status, moved.memo, action) == ("ab", "human", "m", "merge")
    assert [c.dropped.code for c in plan.collapses] == ["b"]


def test_diff_reports_renames_merges_and_splits(tmp_path: Path) -> None:
    result = diff(load(_write(tmp_path, "v1.yaml", V1)), load(_write(tmp_path, "v2.yaml", V2)))
    assert result.renames == [("eviction", "eviction-threat")]
    assert result.merges == [("housing-cost", ["rent", "arrears"])]
    assert result.splits == [("landlords", ["private-landlords", "social-landlords"])]
    assert result.removed == ["noise"]
    assert "eviction-threat" not in result.added and "housing-cost" not in result.added
    lines = result.lines()
    assert "merge      rent, arrears -> housing-cost" in lines
    assert "split      landlords -> private-landlords, social-landlords" in lines
    data = result.to_dict()
    assert data["renames"] == [{"old": "eviction", "new": "eviction-threat"}]


def test_replaces_is_checked_with_its_line(tmp_path: Path) -> None:
    bad = V2.replace("replaces: [rent, arrears]", "replaces: [housing-cost]")
    with pytest.raises(CodebookError) as err:
        load(_write(tmp_path, "bad.yaml", bad))
    assert err.value.line == 7 and "cannot replace itself" in str(err.value)
    bad = V2.replace("replaces: [eviction]", "replaces: [Eviction Notice]")
    with pytest.raises(CodebookError, match="not a code id"):
        load(_write(tmp_path, "bad2.yaml", bad))


def test_a_codebook_without_replaces_keeps_its_hash() -> None:
    book = load(TIP_CODEBOOK)
    assert all("replaces" not in c for c in book.to_dict()["codes"])
    assert book.sha256 == hashlib.sha256(json.dumps(
        book.to_dict(), sort_keys=True, ensure_ascii=False,
        separators=(",", ":")).encode()).hexdigest()


@pytest.mark.slow
def test_codebook_apply_command(tenants: Path, tmp_path: Path) -> None:
    v2 = _write(tmp_path, "v2.yaml", V2)
    before = _codings(tenants)
    dry = run_tipqual("codebook", "apply", str(tenants), str(v2), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == "Dry run: nothing was changed. Applying would do this:"
    assert "  rename  eviction -> eviction-threat: 2 renamed" in lines
    assert "    archive t1:3 noise by ann (human)" in lines
    assert "    recode t1:3 landlords by ben (human)" in lines
    assert _codings(tenants) == before
    done = run_tipqual("codebook", "apply", str(tenants), str(v2), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["step"], data["dry_run"], data["counts"]["archived"]) == (1, False, 1)
    again = run_tipqual("codebook", "apply", str(tenants), str(v2))
    assert "nothing to do" in again.stdout
    history = run_tipqual("history", str(tenants))
    assert "codebook-apply" in history.stdout
    status = run_tipqual("status", str(tenants))
    assert "retired   archived 1 (list them: tipqual code orphans" in status.stdout
    orphans = run_tipqual("code", "orphans", str(tenants), "--reason", "archived", "--json")
    assert [o["code"] for o in json.loads(orphans.stdout)] == ["noise"]
    broken = _write(tmp_path, "broken.yaml", V2.replace("replaces: [rent, arrears]",
                                                        "replaces: [housing-cost]"))
    refused = run_tipqual("codebook", "apply", str(tenants), str(broken))
    assert refused.returncode == 1 and refused.stderr.startswith(f"Error: {broken}:7:")
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_the_report_names_the_codebook_versions(tenants: Path, tmp_path: Path) -> None:
    from docx import Document

    from tipqual.api import Project as StudyApi

    with StudyApi.open(tenants) as p:
        apply_codebook(p, load(_write(tmp_path, "v2.yaml", V2)))
        apply_codebook(p, load(_write(tmp_path, "v3.yaml", V3)))
        for suffix in (".html", ".md", ".docx"):
            with pytest.warns(UserWarning):  # a small study: the report warns, and writes
                p.report(tmp_path / f"findings{suffix}")
    sentence = "The study went through 3 versions of its codebook: Tenants study v1, v2 and v3"
    assert sentence in (tmp_path / "findings.md").read_text(encoding="utf-8")
    assert sentence in (tmp_path / "findings.html").read_text(encoding="utf-8")
    paragraphs = [par.text for par in Document(str(tmp_path / "findings.docx")).paragraphs]
    assert any(par.startswith(sentence) for par in paragraphs)


@pytest.mark.slow
def test_reattach_follows_the_codebook(tenants: Path, tmp_path: Path) -> None:
    with Project.open(tenants) as p:
        eviction = next(c for c in p.codings(codes=["eviction"]) if c.coder == "ann")
        with p.atomic():  # orphaned before the rename
            p.retire(eviction, "orphaned", segment_text="x", source="t1")
        apply_codebook(p, load(_write(tmp_path, "v2.yaml", V2)))
        ids = {r.coding.code: r.id for r in p.retired()}
    renamed = run_tipqual("code", "reattach", str(tenants), str(ids["eviction"]), "t1:3")
    assert renamed.returncode == 0, renamed.stderr
    assert "eviction-threat (was eviction) by ann" in renamed.stdout
    removed = run_tipqual("code", "reattach", str(tenants), str(ids["noise"]), "t1:3")
    assert removed.returncode == 1 and "not in the study's codebook any more" in removed.stderr
    chosen = run_tipqual("code", "reattach", str(tenants), str(ids["noise"]), "t1:3",
                         "--code", "repairs")
    assert chosen.returncode == 0 and "repairs (was noise)" in chosen.stdout
    with Project.open(tenants, readonly=True) as p:
        assert {c.code for c in p.codings(coders=["ann"], segments=["t1:3"])} >= {
            "eviction-threat", "repairs"}
        assert p.retired() == []


REGISTRY = """name: Tenants' actors
version: "1"
stakeholders:
  - id: council
    name: City council
    sector: government
    level: local
    aliases: [council, the council]
"""


@pytest.mark.slow
def test_a_new_stakeholder_registry_makes_the_stored_mentions_stale(tenants: Path,
                                                                   tmp_path: Path) -> None:
    from tipqual.analysis.network import build
    from tipqual.ingest.importer import import_paths
    from tipqual.nlp.mentions import study_mentions
    from tipqual.suggest.engine import suggest

    with Project.open(tenants) as p:
        import_paths(p, [_write(tmp_path, "t2.txt", "Interviewer: Who helps?\n\n"
                                "Respondent: The council never answers our letters.\n")])
        suggest(p)  # the mentions stored, with no registry: none
        assert study_mentions(p) == []
    _write(tmp_path, "registry.yaml", REGISTRY)
    with_registry = _write(tmp_path, "v1r.yaml", V1.replace('version: "1"', 'version: "1r"')
                           + "stakeholders: registry.yaml\n")
    with Project.open(tenants) as p:
        apply_codebook(p, load(with_registry))
        found = study_mentions(p)
        assert [(m.segment, m.stakeholder) for m in found] == [("t2:2", "council")]
        _data, graph = build(p, mentions=found)
        assert graph.nodes["council"]["mentions"] == 1


def test_two_contents_under_one_version_label_are_told_apart_by_their_hash(
        tmp_path: Path) -> None:
    old = load(_write(tmp_path, "v1.yaml", V1))
    new = load(_write(tmp_path, "v1b.yaml", V1.replace("Noise at night.", "Noise at any hour.")))
    plan = plan_apply(old, new, [])
    assert plan.old == f"Tenants study v1 ({old.sha256[:8]})"
    assert plan.new == f"Tenants study v1 ({new.sha256[:8]})" and plan.old != plan.new
    assert plan_apply(old, load(_write(tmp_path, "v2.yaml", V2)), []).old == "Tenants study v1"
