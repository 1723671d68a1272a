"""Codings carried across a corrected transcript: the alignment, the plan, and the sample study
corrected four ways at once (a typo, a paragraph inserted, one deleted, one rewritten)."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import SAMPLE, TIP_CODEBOOK, run_tipqual
from tipqual.ingest.reanchor import (
    SIMILARITY_THRESHOLD,
    align,
    map_span,
    pair_score,
    plan_replace,
    similarity,
)
from tipqual.records import Coding, Segment


def segs(source: str, *texts: str) -> list[Segment]:
    out, at = [], 0
    for n, text in enumerate(texts, 1):
        out.append(Segment(f"{source}:{n}", source, n, "Respondent", "respondent", at,
                           at + len(text), text))
        at += len(text) + 2
    return out


PARAS = ["The police came late again.", "Funding from donors dried up in March.",
         "We work with the social workers every week.", "Trust takes years to build."]


# --- alignment ------------------------------------------------------------------------------

def test_an_inserted_paragraph_renumbers_the_ones_after_it() -> None:
    new = [PARAS[0], "A new paragraph nobody had typed.", *PARAS[1:]]
    pairs = align(PARAS, new)
    assert [(p.old, p.new, p.similarity) for p in pairs] == [
        (0, 0, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0)]


def test_a_typo_fix_pairs_the_paragraph_and_a_rewrite_does_not() -> None:
    new = [PARAS[0], "Funding from donors dried up in May.", "Nothing of this is the same.",
           PARAS[3]]
    pairs = {p.old: p for p in align(PARAS, new)}
    assert pairs[1].new == 1 and SIMILARITY_THRESHOLD <= pairs[1].similarity < 1.0
    assert 2 not in pairs
    assert similarity(PARAS[2], new[2]) < SIMILARITY_THRESHOLD


def test_a_paragraph_cut_and_pasted_elsewhere_keeps_its_text_pairing() -> None:
    new = [PARAS[1], PARAS[2], PARAS[3], PARAS[0]]
    pairs = {p.old: p.new for p in align(PARAS, new)}
    assert pairs == {0: 3, 1: 0, 2: 1, 3: 2}


def test_a_short_answer_that_only_gained_words_is_the_same_paragraph() -> None:
    assert similarity("Money.", "Money and time.") < SIMILARITY_THRESHOLD
    assert pair_score("Money.", "Money and time.") == SIMILARITY_THRESHOLD
    assert pair_score("Money.", "Time, not money.") < SIMILARITY_THRESHOLD  # a word went
    assert pair_score("Yes.", "Yes. " + "Then the police came and took the statement. " * 3) \
        < SIMILARITY_THRESHOLD  # the old words are a small part of the new paragraph


# --- spans ----------------------------------------------------------------------------------

def test_a_span_follows_its_words_through_edits_before_and_inside_it() -> None:
    old = "We went to the police station and the officer refused the case."
    new = "Last week we went to the police station, and the officer refused our case."
    start = old.index("the officer")
    end = old.index(" case.") + len(" case")
    got = map_span(old, new, start, end)
    assert got is not None and new[got[0]:got[1]] == "the officer refused our case"


def test_a_span_whose_words_were_deleted_is_gone() -> None:
    old = "The police came. The prosecutor withdrew the charges without telling us."
    new = "The police came."
    start = old.index("The prosecutor")
    assert map_span(old, new, start, len(old)) is None


def test_long_paragraphs_edited_at_both_ends_keep_their_spans() -> None:
    """Past CHAR_MATCH_LIMIT the texts are matched word by word; common words must not be
    taken for junk there (difflib's autojunk), or a lightly edited paragraph looks rewritten."""
    from tipqual.ingest.reanchor import CHAR_MATCH_LIMIT

    body = " ".join(f"the police and the court said the case number {i} was lost again."
                    for i in range(30))
    old = "Well, " + body + " That is all."
    new = "So, " + body + " That is really all."
    assert len(old) > 3 * CHAR_MATCH_LIMIT
    assert similarity(old, new) > 0.95
    start = old.index("case number 17")
    got = map_span(old, new, start, start + len("case number 17 was lost"))
    assert got is not None and new[got[0]:got[1]] == "case number 17 was lost"


# --- the plan -------------------------------------------------------------------------------

def test_the_plan_puts_every_coding_in_exactly_one_place() -> None:
    old = segs("s", *PARAS)
    new = segs("s", "Inserted at the top.", PARAS[0], "Funding from donors dried up in May.",
               "Rewritten beyond any recognition here.", PARAS[3])
    span_start = PARAS[1].index("donors")
    codings = [Coding("s:1", "police", "ann"), Coding("s:1", "police", "ben"),
               Coding("s:2", "funding", "ann", span_start=span_start,
                      span_end=span_start + len("donors dried up")),
               Coding("s:2", "funding", "suggester", status="suggested", score=0.8),
               Coding("s:3", "partners", "ann"), Coding("s:3", "partners", "ben",
                                                        status="accepted"),
               Coding("s:4", "trust", "ann")]
    plan = plan_replace("s", old, codings, new)
    assert plan.counts() == {"kept": 0, "moved": 3, "reanchored": 1, "orphaned": 2,
                             "dropped": 1}
    where = {(m.old.segment, m.old.coder): (m.new.segment, m.action) for m in plan.moves}
    assert where == {("s:1", "ann"): ("s:2", "move"), ("s:1", "ben"): ("s:2", "move"),
                     ("s:2", "ann"): ("s:3", "reanchor"), ("s:4", "ann"): ("s:5", "move")}
    [span] = [m.new for m in plan.moves if m.action == "reanchor"]
    assert new[2].text[span.span_start:span.span_end] == "donors dried up"
    assert sorted(o.coding.coder for o in plan.orphans) == ["ann", "ben"]
    assert {o.coding.segment for o in plan.orphans} == {"s:3"}
    assert plan.dropped[0].status == "suggested"
    assert plan.by_coder()["ben"] == {"kept": 0, "moved": 1, "reanchored": 0, "orphaned": 1,
                                      "dropped": 0}
    assert plan.to_dict() == plan_replace("s", old, codings, new).to_dict()  # deterministic


def test_an_unchanged_source_keeps_everything() -> None:
    old = segs("s", *PARAS)
    codings = [Coding(s.id, "trust", "ann") for s in old]
    plan = plan_replace("s", old, codings, segs("s", *PARAS))
    assert plan.counts()["kept"] == 4 and not plan.moves and not plan.orphans


# --- the sample study, corrected four ways in one --replace ----------------------------------

pytestmark_sample = pytest.mark.skipif(not (SAMPLE / "transcripts").is_dir(),
                                       reason="needs the sample study")

TYPO = ("a small counselling team", "a small counseling team")
INSERTED = "We also run a small crèche for the children who come with their mothers."
REWRITTEN = ("Interviewer note: this answer was re-transcribed from the recording and now "
             "reads quite differently, about weather, buses and the school holidays.")


def _correct(text: str, paragraphs: list[str]) -> str:
    """CSO-01 with a typo fixed in its 3rd segment, a paragraph inserted before it, its 9th
    segment deleted and its 12th rewritten (``paragraphs``: the segments' old texts)."""
    assert text.count(TYPO[0]) == 1
    text = text.replace(TYPO[0], TYPO[1])
    third = paragraphs[2].replace(*TYPO)
    text = text.replace(third, INSERTED + "\n\n" + third)
    assert text.count(paragraphs[8]) == 1 and text.count(paragraphs[11]) == 1
    text = text.replace(paragraphs[8] + "\n\n", "")
    return text.replace(paragraphs[11], REWRITTEN)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytestmark_sample
def test_sample_corrections_keep_every_coding_that_still_has_its_words(tmp_path: Path) -> None:
    from tipqual.api import Project

    folder = tmp_path / "transcripts"
    shutil.copytree(SAMPLE / "transcripts", folder)
    db = tmp_path / "study.db"
    ok = [run_tipqual("init", str(db), "--codebook", str(TIP_CODEBOOK)),
          run_tipqual("import", str(db), str(folder), "--cases", str(SAMPLE / "cases.csv")),
          run_tipqual("code", "import", str(db), str(SAMPLE / "codings" / "coder-a.csv")),
          run_tipqual("code", "import", str(db), str(SAMPLE / "codings" / "coder-b.csv"))]
    assert all(r.returncode == 0 for r in ok), [r.stderr for r in ok]
    with Project.open(db) as p:
        old = list(p.segments(source="CSO-01"))
        text3 = old[2].text
        at = text3.index("two caseworkers")
        with p.atomic():  # a span coding on the paragraph with the typo
            p.put_coding(Coding("CSO-01:3", "victim-services", "coder-a", span_start=at,
                                span_end=at + len("two caseworkers who go with the women")))
        before = {c.key: c for c in p.codings()}
        others = [f"CSO-{n:02d}" for n in range(2, 11)]
        agree_before = p.agreement(["coder-a", "coder-b"], cases=others).table
        matrix_before = p.matrix("counts").loc[others]
    coded = {c.segment for c in before.values()}
    assert {"CSO-01:3", "CSO-01:9", "CSO-01:12"} <= coded, "the sample's codings changed"
    source = folder / "CSO-01.txt"
    source.write_text(_correct(source.read_text(encoding="utf-8"), [s.text for s in old]),
                      encoding="utf-8")

    digest = _digest(db)
    plan = run_tipqual("import", str(db), str(folder), "--replace", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert _digest(db) == digest and not list(tmp_path.glob("*.bak"))
    assert "replace CSO-01 (now 36 segments)" in plan.stdout
    for coder in ("coder-a", "coder-b"):
        assert f"    {coder}: " in plan.stdout
    done = run_tipqual("import", str(db), str(folder), "--replace")
    assert done.returncode == 0, done.stderr
    summary = [line for line in done.stdout.splitlines() if line.startswith("  replace ")]
    assert summary == [line for line in plan.stdout.splitlines() if line.startswith("  replace ")]

    def new_id(old_id: str) -> str | None:
        n = int(old_id.split(":")[1])
        if n in (9, 12):
            return None
        return f"CSO-01:{n + 1}" if 3 <= n <= 8 else old_id

    with Project.open(db) as p:
        new = {s.id: s for s in p.segments(source="CSO-01")}
        assert new["CSO-01:3"].text == INSERTED and new["CSO-01:12"].text == REWRITTEN
        assert [int(i.split(":")[1]) for i in sorted(new, key=lambda i: new[i].n)] == \
            list(range(1, 37))  # SOURCE:N in document order
        after = {c.key: c for c in p.codings()}
        expected = set()
        for c in before.values():
            target = new_id(c.segment) if c.segment.startswith("CSO-01:") else c.segment
            if target is not None and c.span_start is None:
                expected.add(replace(c, segment=target).key)
        moved_span = [c for c in after.values() if c.span_start is not None]
        assert len(moved_span) == 1 and moved_span[0].segment == "CSO-01:4"
        assert new["CSO-01:4"].text[moved_span[0].span_start:moved_span[0].span_end] == \
            "two caseworkers who go with the women"
        assert set(after) - {moved_span[0].key} == set(expected)
        orphans = p.retired("orphaned")
        assert sorted({r.coding.segment for r in orphans}) == ["CSO-01:12", "CSO-01:9"]
        assert len(orphans) == sum(1 for c in before.values()
                                   if c.segment in ("CSO-01:9", "CSO-01:12"))
        assert {r.segment_text for r in orphans} == {old[8].text, old[11].text}
        actions = {e.action for e in p.audit() if e.step == 1}
        assert {"move", "reanchor", "orphan"} <= actions
        assert p.steps()[0].plan["counts"]["orphaned"] == len(orphans)
        assert p.status()["retired"] == {"orphaned": len(orphans)}
        assert p.agreement(["coder-a", "coder-b"], cases=others).table == agree_before
        assert p.matrix("counts").loc[others].equals(matrix_before)
    listed = run_tipqual("code", "orphans", str(db))
    assert listed.returncode == 0 and "CSO-01:9" in listed.stdout


def test_plan_replace_refuses_codings_of_other_segments() -> None:
    with pytest.raises(ValueError, match="not one of the old segments"):
        plan_replace("s", segs("s", "A."), [Coding("t:1", "x", "ann")], segs("s", "B."))
