"""Speaker turns, segments, cases and the one-transaction import."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.helpers import SAMPLE
from tipqual.errors import IngestError
from tipqual.ingest import importer as ingest
from tipqual.ingest import readers
from tipqual.ingest.importer import SegmentationRules, import_paths, parse_text
from tipqual.records import Coding
from tipqual.store.project import Project

INGEST = Path(__file__).resolve().parent / "fixtures" / "ingest"
GOOD = INGEST / "good"
BAD = INGEST / "bad"
RULES = SegmentationRules()


def dump(project: Project) -> tuple:
    """Everything an import can change, for before/after comparisons."""
    return (project.cases(), project.sources(), list(project.segments()), project.codings(),
            len(project.audit()))


def file_state(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.glob(path.name + "*")}


@pytest.mark.parametrize(("line", "speaker", "role"), [
    ("Interviewer: How?", "Interviewer", "interviewer"),
    ("INTERVIEWER: How?", "INTERVIEWER", "interviewer"),
    ("Facilitator: How?", "Facilitator", "interviewer"),
    ("moderator: How?", None, None),
    ("[Moderator] How?", "Moderator", "interviewer"),
    ("Q: How?", "Q", "interviewer"),
    ("I: How?", "I", "interviewer"),
    ("Interviewer 2: How?", "Interviewer 2", "interviewer"),
    ("A: Yes.", "A", "respondent"),
    ("R: Yes.", "R", "respondent"),
    ("P1: Yes.", "P1", "respondent"),
    ("Thandi Mokoena: Yes.", "Thandi Mokoena", "respondent"),
    ("Dr. Pieter van der Berg: Yes.", "Dr. Pieter van der Berg", "respondent"),
    ("[Lerato] Yes.", "Lerato", "respondent"),
    ("**Sipho:** Yes.", "Sipho", "respondent"),
    ("Note: the line dropped.", None, None),
    ("At 10:30 we met", None, None),
    ("I think: no.", None, None),
    ("[00:01:02] hello", None, None),
])
def test_turn_markers(line: str, speaker: str | None, role: str | None) -> None:
    hit = RULES.match(line)
    if speaker is None:
        assert hit is None
    else:
        assert hit is not None and hit[0] == speaker
        assert RULES.role(hit[0]) == role


def test_paragraphs_turns_and_offsets() -> None:
    text = ("Before any marker.\n\nInterviewer: How did it start?\n\nThandi: It started\n"
            "in 2019.\n\n\nThen we grew.\nInterviewer:\n  So?\n")
    parsed = parse_text(text, RULES)
    got = [(p.speaker, p.role, text[p.start:p.end]) for p in parsed.pieces]
    assert got == [(None, "respondent", "Before any marker."),
                   ("Interviewer", "interviewer", "How did it start?"),
                   ("Thandi", "respondent", "It started\nin 2019."),
                   ("Thandi", "respondent", "Then we grew."),
                   ("Interviewer", "interviewer", "So?")]


def test_configurable_marker_and_interviewer_names() -> None:
    rules = SegmentationRules(marker=r"^(?P<speaker>[A-Z]{2,3})>\s*",
                              interviewer_names=frozenset({"iv"}))
    parsed = parse_text("IV> Why?\nRS> Because.\nnot: a marker\n", rules)
    assert [(p.speaker, p.role, parsed.text[p.start:p.end]) for p in parsed.pieces] == [
        ("IV", "interviewer", "Why?"), ("RS", "respondent", "Because.\nnot: a marker")]


def test_invalid_marker_regex_is_an_error() -> None:
    with pytest.raises(IngestError, match="not a valid regex"):
        SegmentationRules(marker="(unclosed")


@pytest.mark.parametrize("name", sorted(p.name for p in GOOD.iterdir()))
def test_every_fixture_segment_text_is_its_stored_slice(name: str) -> None:
    raw, parsed = ingest.segment_file(GOOD / name)
    segments = ingest.build_segments(Path(name).stem, parsed)
    assert segments, name
    for n, seg in enumerate(segments, start=1):
        assert seg.id == f"{Path(name).stem}:{n}"
        assert seg.text == parsed.text[seg.start:seg.end]
        assert seg.text == seg.text.strip() and seg.text


def test_docx_vtt_srt_segments() -> None:
    _, docx = ingest.segment_file(GOOD / "word-interview.docx")
    assert [(p.speaker, docx.text[p.start:p.end]) for p in docx.pieces][1:3] == [
        ("Respondent", "Home Affairs can take six months."),
        ("Respondent", "In one case the girl waited almost a year.")]
    _, vtt = ingest.segment_file(GOOD / "teams-call.vtt")
    second = vtt.pieces[1]
    assert vtt.text[second.start:second.end] == ("We phone the police station first. Then the "
                                                 "social worker & the shelter.")
    assert second.meta == {"start_time": "00:00:05.000", "end_time": "00:00:12.000"}
    assert vtt.text.startswith("Interviewer: Can you describe the referral?\n\nZanele Khumalo: ")
    _, srt = ingest.segment_file(GOOD / "court-visit.srt")
    assert [(p.speaker, p.role) for p in srt.pieces] == [
        ("INTERVIEWER", "interviewer"), ("THABO", "respondent"), ("INTERVIEWER", "interviewer")]
    assert srt.pieces[1].meta == {"start_time": "00:00:03.500", "end_time": "00:00:10.000"}


def test_markdown_headings_are_not_segments() -> None:
    _, md = ingest.segment_file(GOOD / "notes-interview.md")
    texts = [md.text[p.start:p.end] for p in md.pieces]
    assert texts == ["What did the training cover?",
                     "Indicators of trafficking for labour inspectors.", "And after?",
                     "Two cases were referred in 2022."]
    assert md.text.startswith("# Interview with CSO-07")


def test_very_long_paragraph_is_split_at_sentences() -> None:
    sentence = "The police officer at the station did not know the referral form exists. "
    text = "Respondent: " + sentence * 120
    rules = SegmentationRules(max_chars=1000)
    parsed = ingest.split_long(parse_text(text, rules), rules)
    assert len(parsed.pieces) == 10
    for p in parsed.pieces:
        piece = parsed.text[p.start:p.end]
        assert len(piece) <= 1000 and piece.startswith("The police") and piece.endswith(".")
        assert p.speaker == "Respondent"
    joined = " ".join(parsed.text[p.start:p.end] for p in parsed.pieces)
    assert joined == (sentence * 120).strip()


@pytest.mark.slow
def test_import_folder_of_every_format(study: Project) -> None:
    report = import_paths(study, [GOOD], cases_csv=INGEST / "cases.csv")
    assert sorted(report.imported) == sorted(p.stem for p in GOOD.iterdir())
    assert report.segments == 25 == len(list(study.segments()))
    assert {s.id: s.case for s in study.sources()}["utf16-interview"] == "CSO-01"
    assert {s.id: s.case for s in study.sources()}["teams-call"] == "teams-call"
    assert "teams-call" in report.uncased
    assert study.cases()[0].attributes == {"province": "KwaZulu-Natal", "type": "shelter"}
    seg = study.segment("teams-call:2")
    assert seg.meta == {"start_time": "00:00:05.000", "end_time": "00:00:12.000"}
    for s in study.segments():
        assert s.text == study.source(s.source).text[s.start:s.end]


@pytest.mark.slow
def test_reimport_unchanged_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Project.create(path) as p:
        import_paths(p, [GOOD], cases_csv=INGEST / "cases.csv")
        before = dump(p)
        report = import_paths(p, [GOOD], cases_csv=INGEST / "cases.csv")
        assert report.imported == [] and len(report.unchanged) == 7
        assert dump(p) == before


def test_readme_and_other_files_in_folders_are_passed_over(tmp_path: Path,
                                                           study: Project) -> None:
    folder = tmp_path / "t"
    shutil.copytree(GOOD, folder)
    (folder / "README.md").write_text("# About these transcripts\n")
    (folder / "cases.csv").write_text("case,source\n")
    report = import_paths(study, [folder])
    assert report.passed_over == [str(folder / "README.md"), str(folder / "cases.csv")]
    assert "README" not in {s.id for s in study.sources()}


@pytest.mark.parametrize("bad", ["binary.txt", "empty.txt", "corrupt.docx", "missing.txt"])
def test_bad_file_fails_whole_import_and_leaves_study_unchanged(tmp_path: Path,
                                                                bad: str) -> None:
    path = tmp_path / "s.db"
    Project.create(path).close()
    before = file_state(path)
    with Project.open(path) as p:
        with pytest.raises(IngestError) as err:
            import_paths(p, [GOOD / "utf16-interview.txt", BAD / bad])
        assert err.value.path == str(BAD / bad)
        assert "nothing was imported" in err.value.message
        assert p.sources() == []
    assert file_state(path) == before


def test_folder_with_one_bad_file_imports_nothing_then_skip_bad(tmp_path: Path,
                                                                 study: Project) -> None:
    folder = tmp_path / "t"
    shutil.copytree(GOOD, folder)
    shutil.copy(BAD / "corrupt.docx", folder / "corrupt.docx")
    shutil.copy(BAD / "empty.txt", folder / "sub-empty.txt")
    with pytest.raises(IngestError) as err:
        import_paths(study, [folder])
    assert str(folder / "corrupt.docx") in err.value.message
    assert str(folder / "sub-empty.txt") in err.value.message
    assert "2 files cannot be imported" in err.value.message
    assert study.sources() == [] and study.cases() == []
    report = import_paths(study, [folder], skip_bad=True)
    assert len(report.imported) == 7
    assert sorted(p for p, _ in report.skipped) == [str(folder / "corrupt.docx"),
                                                   str(folder / "sub-empty.txt")]


def test_two_files_with_one_source_id_are_refused(tmp_path: Path, study: Project) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("A: one\n")
    (tmp_path / "b" / "x.md").write_text("A: two\n")
    with pytest.raises(IngestError, match="several files would be source 'x'"):
        import_paths(study, [tmp_path])


def _write_interview(path: Path, answer: str) -> None:
    path.write_text(f"Interviewer: What is hard?\n\nRespondent: {answer}\n\nRespondent: Trust.\n")


def test_changed_file_refused_then_replaced_with_codings_report(tmp_path: Path,
                                                                study: Project) -> None:
    path = tmp_path / "cso.txt"
    _write_interview(path, "Funding.")
    import_paths(study, [path])
    with study.atomic():
        for seg, code in (("cso:2", "funding"), ("cso:3", "trust"), ("cso:1", "delays")):
            study.put_coding(Coding(seg, code, "alice"))
    _write_interview(path, "Police delays.")  # the answer rewritten: its coding is orphaned
    before = dump(study)
    with pytest.raises(IngestError, match="rerun with --replace"):
        import_paths(study, [path])
    assert dump(study) == before
    report = import_paths(study, [path], replace=True)
    assert report.replaced == ["cso"]
    assert [(c.segment, c.code) for c in report.removed_codings] == [("cso:2", "funding")]
    assert [(c.segment, c.code) for c in study.codings()] == [("cso:1", "delays"),
                                                             ("cso:3", "trust")]
    assert study.segment("cso:2").text == "Police delays."
    assert [e.action for e in study.audit() if e.code == "funding"] == ["add", "orphan"]
    [kept] = study.retired()
    assert (kept.reason, kept.coding.code, kept.segment_text) == ("orphaned", "funding",
                                                                 "Funding.")
    assert report.step == 1 and [s.kind for s in study.steps()] == ["replace"]


def test_cases_csv_bad_row_names_the_line(study: Project) -> None:
    with pytest.raises(IngestError) as err:
        import_paths(study, [GOOD], cases_csv=INGEST / "cases-bad-row.csv")
    assert (err.value.path, err.value.line) == (str(INGEST / "cases-bad-row.csv"), 3)
    assert study.sources() == []


@pytest.mark.parametrize(("content", "line", "message"), [
    ("name,source\nA,x.txt\n", 1, "lacks the column(s) case"),
    ("case,source,type\nA,x.txt\n", 2, "has 2 fields, the header has 3"),
    ("case,source\nA,x.txt\nB,x.txt\n", 3, "already given to case 'A'"),
    ("case,source,type\nA,x.txt,shelter\nA,y.txt,advocacy\n", 3, "has type = 'shelter'"),
])
def test_cases_csv_errors(tmp_path: Path, content: str, line: int, message: str) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(content)
    with pytest.raises(IngestError) as err:
        ingest.read_cases(path)
    assert err.value.line == line and message in err.value.message


def test_cases_csv_maps_file_names_and_ids() -> None:
    table = ingest.read_cases(INGEST / "cases.csv")
    assert table.source_case == {"utf16-interview": "CSO-01", "cp1252-interview": "CSO-02"}


def test_reimport_keeps_case_unless_cases_csv_says_otherwise(tmp_path: Path,
                                                             study: Project) -> None:
    path = GOOD / "utf16-interview.txt"
    import_paths(study, [path], cases_csv=INGEST / "cases.csv")
    import_paths(study, [path])
    assert study.source("utf16-interview").case == "CSO-01"
    other = tmp_path / "cases.csv"
    other.write_text("case,source\nCSO-09,utf16-interview.txt\n")
    report = import_paths(study, [path], cases_csv=other)
    assert report.unchanged == ["utf16-interview"]
    assert study.source("utf16-interview").case == "CSO-09"


def test_segment_rows_contract(study: Project) -> None:
    import_paths(study, [GOOD / "court-visit.srt"])
    rows = ingest.segment_rows(study, "court-visit")
    assert list(rows[0]) == ["id", "case", "source", "speaker", "role", "start", "end", "text"]
    assert rows[1]["text"] == ("Our volunteer sits with her in the waiting room. The prosecutor "
                               "meets her once before the trial.")
    with pytest.raises(IngestError, match="no source 'nope'"):
        ingest.segment_rows(study, "nope")


@pytest.mark.skipif(not (SAMPLE / "transcripts").is_dir(), reason="sample study not present")
def test_sample_study_imports_as_ten_cases(study: Project) -> None:
    report = import_paths(study, [SAMPLE / "transcripts"], cases_csv=SAMPLE / "cases.csv")
    assert report.skipped == [] and report.uncased == []
    counts = study.status()
    assert counts["cases"] == 10
    assert counts["segments"] >= 200
    roles = {s.role for s in study.segments()}
    assert roles == {"interviewer", "respondent"}
    with open(SAMPLE / "cases.csv", newline="", encoding="utf-8-sig") as fh:
        listed = {readers.source_id_for(r["source"]) for r in csv.DictReader(fh)}
    assert {s.id for s in study.sources()} == listed


def test_progress_bar_goes_to_stderr_only_when_asked(study: Project, capsys) -> None:
    from tipqual.cli.common import progress_bar

    import_paths(study, [GOOD / "court-visit.srt"], progress=None)
    assert capsys.readouterr().err == ""
    import_paths(study, [GOOD / "teams-call.vtt"], progress=progress_bar)
    captured = capsys.readouterr()
    assert "Importing" in captured.err and captured.out == ""


def test_vtt_with_name_prefixes_and_srt_without_speakers() -> None:
    from tipqual.ingest import readers as r
    vtt = r.parse_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFacilitator: Who helps?\n\n"
                      "00:00:02.500 --> 00:00:04.000\nLindiwe: The clinic.\n\n"
                      "00:00:04.000 --> 00:00:05.000\nAnd the school.\n", "z.vtt")
    parsed = ingest.parse_cues(vtt, RULES)
    assert [(p.speaker, p.role, parsed.text[p.start:p.end]) for p in parsed.pieces] == [
        ("Facilitator", "interviewer", "Who helps?"),
        ("Lindiwe", "respondent", "The clinic. And the school.")]
    srt = r.parse_srt("1\n00:00:01,000 --> 00:00:02,000\nNobody named.\n\n"
                      "2\n00:00:02,000 --> 00:00:03,000\nStill nobody.\n", "n.srt")
    parsed = ingest.parse_cues(srt, RULES)
    assert [(p.speaker, p.role, parsed.text[p.start:p.end]) for p in parsed.pieces] == [
        (None, "respondent", "Nobody named. Still nobody.")]
    assert parsed.text == "Nobody named. Still nobody."


def test_changed_file_error_names_the_change_and_the_way_on(tmp_path: Path,
                                                          study: Project) -> None:
    path = tmp_path / "cso.txt"
    _write_interview(path, "Funding.")
    import_paths(study, [path])
    _write_interview(path, "Funding and delays.")
    with pytest.raises(IngestError) as info:
        import_paths(study, [path])
    message = info.value.format()
    assert message.startswith(f"{path}: the file changed since it was imported as source "
                              "'cso'; nothing was imported: rerun with --replace")
    assert "--replace --dry-run" in message and "--skip-bad" not in message
    skipped = import_paths(study, [path], skip_bad=True)
    assert skipped.changed == [str(path)] and skipped.imported == skipped.replaced == []


def test_report_counts_segments_per_kind_of_source(tmp_path: Path, study: Project) -> None:
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    _write_interview(old, "Funding.")
    first = import_paths(study, [old])
    assert (first.new_segments, first.unchanged_segments, first.replaced_segments) == (3, 0, 0)
    _write_interview(new, "Delays.\n\nRespondent: And more delays.")
    again = import_paths(study, [old, new])
    assert again.imported == ["new"] and again.unchanged == ["old"]
    assert (again.new_segments, again.unchanged_segments, again.segments) == (4, 3, 4)
    _write_interview(old, "Funding.\n\nRespondent: Donors left.")
    replaced = import_paths(study, [old, new], replace=True)
    assert replaced.replaced == ["old"] and replaced.unchanged == ["new"]
    assert (replaced.replaced_segments, replaced.unchanged_segments) == (4, 4)
    assert replaced.source_segments == {"new": 4, "old": 4}


def test_dry_run_reports_the_plan_and_rolls_everything_back(tmp_path: Path,
                                                          study: Project) -> None:
    path = tmp_path / "cso.txt"
    _write_interview(path, "Funding.")
    import_paths(study, [path])
    with study.atomic():
        study.put_coding(Coding("cso:2", "funding", "alice"))
    _write_interview(path, "Police delays.")
    extra = tmp_path / "extra.txt"
    _write_interview(extra, "Trust.")
    before = dump(study)
    plan = import_paths(study, [path, extra], replace=True, dry_run=True)
    assert dump(study) == before
    assert plan.dry_run and plan.imported == ["extra"] and plan.replaced == ["cso"]
    assert [(c.segment, c.code) for c in plan.removed_codings] == [("cso:2", "funding")]
    assert plan.step is None and not list(tmp_path.glob("*.bak"))  # a dry run makes no copy
    done = import_paths(study, [path, extra], replace=True)
    assert (done.imported, done.replaced, done.source_segments) == \
        (plan.imported, plan.replaced, plan.source_segments)
    assert [c.key for c in done.removed_codings] == [c.key for c in plan.removed_codings]
    assert done.step == 1
    with pytest.raises(IngestError, match="no such file"):
        import_paths(study, [tmp_path / "missing.txt"], dry_run=True)


def _bulk_insert_cpu(files: list[Path], db: Path) -> float:
    """CPU seconds of the import's yardstick: tipqual's segmentation of ``files``, then a plain
    sqlite3 ``executemany`` of the same source and segment rows in one transaction."""
    import json
    import sqlite3
    import time

    Project.create(db).close()
    start = time.process_time()
    sources, segments = [], []
    for path in files:
        raw, parsed = ingest.segment_file(path, RULES)
        sources.append((path.stem, None, path.name, raw.format, raw.sha256, parsed.text,
                        json.dumps({"file": path.name}), "2026-01-01T00:00:00Z"))
        segments.extend((s.id, s.source, s.n, s.speaker, s.role, s.start, s.end, s.text,
                         json.dumps(s.meta, sort_keys=True))
                        for s in ingest.build_segments(path.stem, parsed))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)", sources)
    conn.executemany('INSERT INTO segments (id, source_id, n, speaker, role, start, "end", '
                     "text, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", segments)
    conn.execute("COMMIT")
    conn.close()
    return time.process_time() - start


@pytest.mark.slow
def test_import_costs_at_most_twice_segmentation_plus_a_plain_bulk_insert(tmp_path: Path) -> None:
    """The scale target: one transaction and bulk statements, so an import of many sources
    costs no more than twice cutting them into segments and inserting the rows directly."""
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(150):
        turns = [f"Interviewer: Question {k} about funding and referrals in month {i}?\n\n"
                 f"Respondent {k % 3}: The shelter worked with the police on case {k}.\n"
                 f"A second line of the answer, about trust and delays.\n\nMore words "
                 f"in a second paragraph of answer {k}." for k in range(40)]
        (folder / f"ORG-{i:03d}.txt").write_text("\n\n".join(turns), encoding="utf-8")
    files = sorted(folder.glob("*.txt"))
    best_import, best_bulk = float("inf"), float("inf")
    for run in range(3):  # the best of three: the machine is shared
        best_bulk = min(best_bulk, _bulk_insert_cpu(files, tmp_path / f"bulk-{run}.db"))
        project = Project.create(tmp_path / f"study-{run}.db")
        try:
            start = time.process_time()
            report = import_paths(project, [folder])
            best_import = min(best_import, time.process_time() - start)
        finally:
            project.close()
        assert len(report.imported) == 150 and report.segments == 150 * 40 * 3
    assert best_import <= 2 * best_bulk, (best_import, best_bulk)


def test_import_writes_each_sources_segments_in_one_bulk_statement(tmp_path: Path,
                                                                   study: Project,
                                                                   monkeypatch) -> None:
    """Statements per source, not per segment: the rows of a source's segments go to SQLite in
    one ``executemany``, all sources in one transaction."""
    from tipqual.store.connection import Database

    calls: dict[str, int] = {"write": 0, "writemany": 0, "begin": 0}
    write, writemany, begin = Database.write, Database.writemany, Database._begin

    def count_write(self, sql, params=()):
        calls["write"] += 1
        return write(self, sql, params)

    def count_writemany(self, sql, rows):
        calls["writemany"] += 1
        return writemany(self, sql, rows)

    def count_begin(self):
        calls["begin"] += 1
        return begin(self)

    monkeypatch.setattr(Database, "write", count_write)
    monkeypatch.setattr(Database, "writemany", count_writemany)
    monkeypatch.setattr(Database, "_begin", count_begin)
    for i in range(12):
        (tmp_path / f"org-{i}.txt").write_text("\n\n".join(
            f"Interviewer: Question {k}?\n\nRespondent: Answer {k}." for k in range(25)),
            encoding="utf-8")
    report = import_paths(study, [tmp_path])
    assert report.segments == 12 * 50
    assert calls["begin"] == 1  # one transaction
    assert calls["writemany"] == 12  # one bulk insert per source
    assert calls["write"] <= 2 * 12  # its case and its row: nothing per segment


def test_import_never_loads_every_sources_text(tmp_path: Path, study: Project,
                                               monkeypatch) -> None:
    """At scale the study's texts are not all held at once: an import reads the sources'
    headers (ids, cases, hashes), and a stored text only of the file it is importing."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, name in ((first, "cso-1"), (second, "cso-2")):
        folder.mkdir()
        _write_interview(folder / f"{name}.txt", "Funding.")
    import_paths(study, [first])

    def refuse() -> None:
        raise AssertionError("the import loaded every source with its text")

    monkeypatch.setattr(study, "sources", refuse)
    report = import_paths(study, [first, second])
    assert report.imported == ["cso-2"] and report.unchanged == ["cso-1"]
    assert report.empty_cases == []


def test_many_bad_files_are_named_up_to_twelve_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "empties"
    folder.mkdir()
    for i in range(30):
        (folder / f"empty-{i:02d}.txt").write_bytes(b"")
    with Project.create(tmp_path / "s.db") as p, pytest.raises(IngestError) as err:
        import_paths(p, [folder])
    message = err.value.message
    assert message.startswith("30 files cannot be imported, so nothing was: ")
    assert message.count("empty-") == 12 and "; and 18 more; " in message
    assert len(message) < 2000
