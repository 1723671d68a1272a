"""How coders' work survives change: the generated family of corrected transcripts and new
codebook versions (``tests/fixtures/ingest/changes.py``), through the API and the command line.

For every case: no coding a person made is lost without a plan and an audit entry; after a
harmless correction every coding is on the same words; a dry run and a refused command leave
the study byte for byte as it was; the same change made twice gives the same results."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ingest.changes import (
    CODEBOOK_CHANGES,
    SOURCE,
    TRANSCRIPT_CHANGES,
    TURNS,
    CodebookChange,
    TranscriptChange,
    build_study,
    words_of,
)
from tests.helpers import run_tipqual
from tipqual.api import Project
from tipqual.errors import CodebookError, IngestError

BY_NAME = {c.name: c for c in TRANSCRIPT_CHANGES}
BOOKS = {c.name: c for c in CODEBOOK_CHANGES}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _people(p: Project) -> list[dict[str, Any]]:
    """Every coding a person made or decided, with the words it covers, in a fixed order."""
    texts = {s.id: s for s in p.segments()}
    out = []
    for c in p.codings():
        if c.status == "suggested":
            continue
        seg = texts[c.segment]
        words = seg.text if c.span_start is None else seg.text[c.span_start:c.span_end]
        out.append({"segment": c.segment, "n": seg.n, "code": c.code, "coder": c.coder,
                    "status": c.status, "memo": c.memo, "span": c.span_start is not None,
                    "words": words_of(words)})
    return sorted(out, key=lambda d: (d["n"], d["code"], d["coder"], d["words"]))


def _state(p: Project) -> list[tuple[Any, ...]]:
    """The codings and retired codings, without times: what two runs must agree on."""
    codings = sorted((c.segment, c.code, c.coder, c.status, c.score, c.provenance, c.memo,
                      c.span_start, c.span_end) for c in p.codings())
    retired = sorted((r.reason, r.coding.segment, r.coding.code, r.coding.coder,
                      r.coding.span_start, r.segment_text, r.step) for r in p.retired())
    segments = [(s.id, s.speaker, s.role, s.start, s.end, s.text) for s in p.segments()]
    return [tuple(codings), tuple(retired), tuple(segments)]


def _index_of(segment: str) -> int:
    return int(segment.rsplit(":", 1)[1]) - 1


def _replace(tmp_path: Path, change: TranscriptChange) -> tuple[Path, Any, Any, list, str]:
    """Build the study, dry-run the change (checking it wrote nothing), then make it."""
    db = build_study(tmp_path, Project)
    with Project.open(db) as p:
        before = _people(p)
    path = change.write(tmp_path / "transcripts")
    digest = _digest(db)
    with Project.open(db) as p:
        dry = p.import_paths([path], replace=True, dry_run=True)
    assert _digest(db) == digest and not list(tmp_path.glob("*.bak"))
    with Project.open(db) as p:
        done = p.import_paths([path], replace=True)
    return db, dry, done, before, digest


@pytest.mark.slow  # the whole family: each case about 0.25 s
@pytest.mark.parametrize("change", [c for c in TRANSCRIPT_CHANGES if not c.refused],
                         ids=lambda c: c.name)
def test_a_corrected_transcript_keeps_every_coding_or_plans_its_orphaning(
        change: TranscriptChange, tmp_path: Path) -> None:
    db, dry, done, before, _ = _replace(tmp_path, change)
    assert [p.to_dict() for p in dry.plans] == [p.to_dict() for p in done.plans]
    [plan] = done.plans
    with Project.open(db, readonly=True) as p:
        after = _people(p)
        orphans = p.retired("orphaned")
        entries = p.audit(step=done.step)
        [step] = p.steps()
    lost = [c for c in before if _index_of(c["segment"]) in change.lost]
    kept = [c for c in before if _index_of(c["segment"]) not in change.lost]
    # every coding whose words are gone is kept aside, planned, and audited as such
    assert sorted((r.coding.segment, r.coding.code, r.coding.coder) for r in orphans) == \
        sorted((c["segment"], c["code"], c["coder"]) for c in lost)
    assert len(plan.orphans) == len(orphans) == step.plan["counts"]["orphaned"]
    assert sum(1 for e in entries if e.action == "orphan") == len(orphans)
    assert sum(1 for e in entries if e.action in ("move", "reanchor", "split")) == \
        len(plan.moves) + len(plan.copies)
    if change.harmless:
        assert not orphans and not change.lost
    # every other one is on the same words (a whole-paragraph coding of a paragraph split in
    # two is on both pieces)
    for old in kept:
        want = words_of(change.words(old["words"]))
        same = [c for c in after if (c["code"], c["coder"], c["status"], c["memo"]) ==
                (old["code"], old["coder"], old["status"], old["memo"])]
        if old["span"]:
            assert any(c["words"] == want for c in same), (old, same)
        else:
            parts = [c["words"] for c in same if c["words"] in want]
            assert " ".join(parts) == want, (old, same)
    # nothing else appeared: the people's codings now are the kept ones and the split copies
    assert len(after) == len(kept) + len(plan.copies)


@pytest.mark.parametrize("change", [c for c in TRANSCRIPT_CHANGES if c.refused],
                         ids=lambda c: c.name)
def test_a_refused_correction_leaves_the_study_as_it_was(change: TranscriptChange,
                                                         tmp_path: Path) -> None:
    db = build_study(tmp_path, Project)
    path = change.write(tmp_path / "transcripts")
    digest = _digest(db)
    for dry_run in (True, False):
        with Project.open(db) as p, pytest.raises(IngestError) as err:
            p.import_paths([path], replace=True, dry_run=dry_run)
        assert str(path) in err.value.format()
    assert _digest(db) == digest and not list(tmp_path.glob("*.bak"))


def test_a_renamed_file_is_a_new_source_and_the_old_keeps_its_codings(tmp_path: Path) -> None:
    """A source's id is its file name: a renamed file is imported as a new source, and the
    transcript it copies keeps every coding (nothing is re-anchored, nothing lost)."""
    db = build_study(tmp_path, Project)
    with Project.open(db) as p:
        before = _people(p)
    folder = tmp_path / "transcripts"
    (folder / f"{SOURCE}.txt").rename(folder / "school-a-final.txt")
    with Project.open(db) as p:
        report = p.import_paths([folder / "school-a-final.txt"])
        assert report.imported == ["school-a-final"] and not report.plans
        assert _people(p) == before and p.steps() == [] and p.retired() == []


def test_split_and_merged_paragraphs_keep_their_words() -> None:
    """The pieces of a split paragraph and the halves of a merged one: spans follow their
    words into the other segment, whole-paragraph codings cover every piece."""
    from tipqual.ingest.reanchor import plan_replace
    from tipqual.records import Coding, Segment

    def segs(*texts: str) -> list[Segment]:
        return [Segment(f"s:{n}", "s", n, "T", "respondent", 0, len(t), t)
                for n, t in enumerate(texts, 1)]

    a = "Most walk eleven kilometres along the gravel road."
    b = "When the river is full after rain, half the class stays home."
    old = segs("Question?", a + " " + b)
    at = old[1].text.index("half the class")
    codings = [Coding("s:2", "transport", "ann"),
               Coding("s:2", "transport", "ben", span_start=at, span_end=at + 24)]
    split = plan_replace("s", old, codings, segs("Question?", a, b))
    assert not split.orphans
    assert sorted((m.new.segment, m.new.span_start or -1) for m in split.carried()) == [
        ("s:2", -1), ("s:3", -1), ("s:3", b.index("half"))]
    assert [m.action for m in split.copies] == ["split"]
    merged = plan_replace("s", segs("Question?", a, b), [Coding("s:3", "transport", "ann")],
                          segs("Question?", a + " " + b))
    [move] = merged.moves
    assert (move.new.segment, move.new.span_start, move.new.span_end) == (
        "s:2", len(a) + 1, len(a) + 1 + len(b))
    # words too short to tell apart, or there twice, stay orphans
    few = plan_replace("s", segs("Yes, always.", a), [Coding("s:1", "x", "ann")],
                       segs(a + " Yes, always."))
    assert len(few.orphans) == 1
    twice = plan_replace("s", segs(a, b), [Coding("s:1", "x", "ann")],
                         segs("Intro.", b + " " + a + " " + a))
    assert len(twice.orphans) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["typo-4", "several-at-once", "split-2", "merged-6-7",
                                  "deleted-7", "nfd-normalised"])
def test_the_same_correction_twice_gives_the_same_study(name: str, tmp_path: Path) -> None:
    results = []
    for run in ("one", "two"):
        db, _, done, _, _ = _replace(tmp_path / run, BY_NAME[name])
        with Project.open(db, readonly=True) as p:
            plan = {k: v for k, v in p.steps()[0].plan.items() if k != "state_after"}
            results.append((json.dumps([x.to_dict() for x in done.plans], sort_keys=True),
                            json.dumps(plan, sort_keys=True), _state(p)))
    assert results[0] == results[1]


def test_a_replacement_can_be_undone_through_history(tmp_path: Path) -> None:
    db, _, done, before, _ = _replace(tmp_path, BY_NAME["several-at-once"])
    with Project.open(db) as p:
        assert p.retired("orphaned")
        p.restore_step(done.step)
        assert _people(p) == before and p.retired() == []


# --- codebook versions ------------------------------------------------------------------------

def _apply(tmp_path: Path, change: CodebookChange) -> tuple[Path, Any, int | None, list]:
    from tipqual.codebook.model import load
    from tipqual.coding.evolve import apply_codebook

    db = build_study(tmp_path, Project)
    yaml = tmp_path / f"{change.name}.yaml"
    yaml.write_text(change.yaml, encoding="utf-8")
    with Project.open(db) as p:
        before = _people(p)
    digest = _digest(db)
    book = load(yaml)
    with Project.open(db) as p:
        dry, step, _ = apply_codebook(p, book, dry_run=True)
        assert step is None
    assert _digest(db) == digest and not list(tmp_path.glob("*.bak"))
    with Project.open(db) as p:
        plan, step, _ = apply_codebook(p, book)
    assert plan.to_dict() == dry.to_dict()
    return db, plan, step, before


@pytest.mark.slow  # the whole family: each case about 0.25 s
@pytest.mark.parametrize("change", [c for c in CODEBOOK_CHANGES if not c.refused],
                         ids=lambda c: c.name)
def test_a_new_codebook_version_carries_every_coding(change: CodebookChange,
                                                     tmp_path: Path) -> None:
    from tipqual.coding.evolve import SPLIT_SUGGESTER

    db, plan, step, before = _apply(tmp_path, change)
    with Project.open(db) as p:
        after = _people(p)
        archived = p.retired("archived")
        entries = p.audit(step=step)
        offered = {(c.segment, c.code) for c in p.codings(coders=[SPLIT_SUGGESTER])}
        for old in before:
            code = change.moves.get(old["code"], old["code"])
            if old["code"] in change.archived:
                assert any((r.coding.segment, r.coding.code, r.coding.coder) ==
                           (old["segment"], old["code"], old["coder"]) for r in archived)
                continue
            assert any((c["segment"], c["code"], c["coder"], c["words"]) ==
                       (old["segment"], code, old["coder"], old["words"]) for c in after), old
            if old["code"] in change.split and old["status"] in ("human", "accepted"):
                assert {(old["segment"], s) for s in change.split[old["code"]]} <= offered
        assert len(archived) == len(plan.archived) == sum(
            1 for c in before if c["code"] in change.archived)
        n = plan.counts()
        audited = {a: sum(1 for e in entries if e.action == a)
                   for a in ("rename", "merge", "collapse", "archive")}
        assert audited == {"rename": n["renamed"], "merge": n["merged"],
                           "collapse": n["collapsed"], "archive": n["archived"]}
        assert len(after) == len(before) - n["archived"] - n["collapsed"]
        if step is not None:
            assert p.steps()[-1].plan["counts"] == n
            p.restore_step(step)
            assert _people(p) == before and p.retired() == []


def test_a_refused_codebook_leaves_the_study_as_it_was(tmp_path: Path) -> None:
    from tipqual.codebook.model import load

    db = build_study(tmp_path, Project)
    yaml = tmp_path / "broken.yaml"
    yaml.write_text(BOOKS["unknown-parent"].yaml, encoding="utf-8")
    digest = _digest(db)
    with pytest.raises(CodebookError, match="unknown parent"):
        load(yaml)
    assert _digest(db) == digest


@pytest.mark.slow
def test_a_codebook_change_made_twice_gives_the_same_study(tmp_path: Path) -> None:
    results = []
    for run in ("one", "two"):
        db, plan, _, _ = _apply(tmp_path / run, BOOKS["merged-into-new"])
        with Project.open(db, readonly=True) as p:
            results.append((json.dumps(plan.to_dict(), sort_keys=True), _state(p)))
    assert results[0] == results[1]


# --- the command line -------------------------------------------------------------------------

def _cli_state(db: Path) -> list[str]:
    """What the commands print about the study, the times left out."""
    orphans = json.loads(run_tipqual("code", "orphans", str(db), "--json").stdout)
    history = json.loads(run_tipqual("history", str(db), "--json").stdout)
    for o in orphans:
        o.pop("retired_at")
    for h in history:
        h.pop("at")
        h["plan"].pop("state_after", None)
    out = db.parent / "codings.csv"
    assert run_tipqual("code", "export", str(db), "--out", str(out), "--status", "all"
                       ).returncode == 0
    return [json.dumps(orphans, sort_keys=True), json.dumps(history, sort_keys=True),
            run_tipqual("segments", str(db), "--json").stdout, out.read_text(encoding="utf-8")]


@pytest.mark.slow
def test_corrections_through_the_command_line(tmp_path: Path) -> None:
    outputs = []
    for run in ("one", "two"):
        root = tmp_path / run
        db = build_study(root, Project)
        folder = root / "transcripts"
        change = BY_NAME["several-at-once"]
        change.write(folder)
        digest = _digest(db)
        refused = run_tipqual("import", str(db), str(folder))
        assert refused.returncode == 1 and "--replace" in refused.stderr
        assert refused.stderr.startswith("Error: ") and "Traceback" not in refused.stderr
        usage = run_tipqual("import", str(db), str(folder), "--drop-orphans")
        assert usage.returncode == 2
        dry = run_tipqual("import", str(db), str(folder), "--replace", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert _digest(db) == digest and not list(root.glob("*.bak"))
        assert dry.stdout.startswith("Dry run: nothing was written.")
        assert f"orphan {SOURCE}:9 staffing by ann (human)" in dry.stdout
        dry_json = run_tipqual("import", str(db), str(folder), "--replace", "--dry-run",
                               "--json")
        done = run_tipqual("import", str(db), str(folder), "--replace", "--json")
        assert done.returncode == 0, done.stderr
        planned = json.loads(dry_json.stdout)["replacements"]
        assert planned == json.loads(done.stdout)["replacements"]
        listed = run_tipqual("code", "orphans", str(db))
        assert f"{SOURCE}:9" in listed.stdout and "Two posts have been vacant" in listed.stdout
        assert "replace" in run_tipqual("history", str(db)).stdout
        outputs.append(_cli_state(db))
        # put one orphan back by hand: its span goes where its words stand
        [ben] = [o for o in json.loads(run_tipqual("code", "orphans", str(db), "--json").stdout)
                 if o["coder"] == "ben"]
        back = run_tipqual("code", "reattach", str(db), str(ben["id"]), f"{SOURCE}:8")
        assert back.returncode == 0, back.stderr
        assert "on the whole segment" in back.stdout  # its words are gone from the transcript
        BY_NAME["shortened-to-nothing"].write(folder)
        digest = _digest(db)
        bad = run_tipqual("import", str(db), str(folder), "--replace")
        assert bad.returncode == 1 and bad.stderr.startswith("Error: ")
        assert "Traceback" not in bad.stderr and _digest(db) == digest
    assert outputs[0] == outputs[1]
    assert len(TURNS) == 9


@pytest.mark.slow
def test_codebook_versions_through_the_command_line(tmp_path: Path) -> None:
    outputs = []
    for run in ("one", "two"):
        root = tmp_path / run
        db = build_study(root, Project)
        yaml = root / "v2.yaml"
        yaml.write_text(BOOKS["split"].yaml, encoding="utf-8")
        digest = _digest(db)
        dry = run_tipqual("codebook", "apply", str(db), str(yaml), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert _digest(db) == digest and not list(root.glob("*.bak"))
        assert "  split   transprot -> walking, vehicles" in dry.stdout
        broken = root / "broken.yaml"
        broken.write_text(BOOKS["unknown-parent"].yaml, encoding="utf-8")
        bad = run_tipqual("codebook", "apply", str(db), str(broken))
        assert bad.returncode == 1 and bad.stderr.startswith(f"Error: {broken}:")
        assert _digest(db) == digest
        done = run_tipqual("codebook", "apply", str(db), str(yaml), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["step"] == 1
        outputs.append(_cli_state(db))
        undo = run_tipqual("history", str(db), "--restore", "1")
        assert undo.returncode == 0, undo.stderr
    assert outputs[0] == outputs[1]
