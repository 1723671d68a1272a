"""The project store: transactions, WAL, migrations, schema checks, codings and audit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tipqual.errors import CodingError, ProjectError, SchemaTooNewError
from tipqual.records import Coding, Segment, Source
from tipqual.store import project as store
from tipqual.store.project import Project


def add_demo_source(p: Project, source_id: str = "S1", case: str = "CSO-01") -> None:
    text = "Interviewer: Hello.\nRespondent: We trust the police.\n"
    with p.atomic():
        p.add_source(
            Source(id=source_id, case=case, path=f"{source_id}.txt", format="txt",
                   sha256="x" * 64, text=text),
            [Segment(id=f"{source_id}:1", source=source_id, n=1, speaker="Interviewer",
                     role="interviewer", start=13, end=19, text=text[13:19]),
             Segment(id=f"{source_id}:2", source=source_id, n=2, speaker="Respondent",
                     role="respondent", start=32, end=53, text=text[32:53])])


def test_create_makes_wal_file_that_passes_integrity(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "s.db")
    assert p.journal_mode() == "wal"
    assert p.integrity_check() == "ok"
    assert p.schema_version == store.SCHEMA_VERSION
    assert p.migrations() == [name for name, _ in store.MIGRATIONS]
    assert p._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    p.close()


def test_create_refuses_existing_file_and_leaves_it_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Project.create(path).close()
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path)
    assert path.read_bytes() == before


def test_open_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such study file"):
        Project.open(tmp_path / "missing.db")


def test_open_refuses_non_sqlite_and_foreign_sqlite(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all")
    with pytest.raises(ProjectError, match="not an SQLite file"):
        Project.open(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ProjectError, match="another program"):
        Project.open(other)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Project.create(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="upgrade tipqual"):
        Project.open(path)


def test_migrations_run_once_and_older_file_is_backed_up(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.db"
    Project.create(path).close()
    extra = ("0099_test_extra", "CREATE TABLE extra_table (x INTEGER);")
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS + [extra])
    monkeypatch.setattr(store, "SCHEMA_VERSION", len(store.MIGRATIONS))
    p = Project.open(path)
    assert p.migrations()[-1] == "0099_test_extra"
    assert p.schema_version == store.SCHEMA_VERSION
    p.close()
    backups = list(tmp_path.glob("s.db.v*.bak"))
    assert [b.name for b in backups] == [f"s.db.v{store.SCHEMA_VERSION - 1}.bak"]
    p = Project.open(path)  # second open: nothing left to run
    assert p.migrations().count("0099_test_extra") == 1
    p.close()


V1_STUDY = Path(__file__).resolve().parent / "fixtures" / "store" / "v1-study.db.gz"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _every_row(path: Path, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of the given tables of the study at ``path``, only the given columns."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT {', '.join(map(_quoted, cols))} FROM {_quoted(t)} "
                                "ORDER BY rowid").fetchall() for t, cols in columns.items()}
    finally:
        conn.close()


def test_a_real_schema_1_study_opens_migrated_backed_up_and_whole(tmp_path: Path) -> None:
    # Made by tipqual at schema version 1 (tests/fixtures/store/README.md), not rebuilt here
    import gzip

    path = tmp_path / "v1.db"
    path.write_bytes(gzip.decompress(V1_STUDY.read_bytes()))
    original = path.read_bytes()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({_quoted(t)})")] for (t,) in
               conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    before = _every_row(path, columns)
    assert {t: len(rows) for t, rows in before.items()} == {
        "meta": 2, "cases": 2, "case_attributes": 10, "sources": 2, "segments": 68,
        "codebooks": 1, "codes": 21, "codings": 100, "mentions": 76, "stage_state": 68,
        "audit": 102, "migrations": 1}

    with Project.open(path) as p:
        assert p.schema_version == store.SCHEMA_VERSION
        assert p.migrations() == [name for name, _ in store.MIGRATIONS]
        assert p.integrity_check() == "ok" and p.journal_mode() == "wal"
        # the current API reads what version 1 wrote
        assert [c.id for c in p.cases()] == ["CSO-01", "CSO-02"]
        # 92 suggestions stored; alice decided 3 of them (2 accepted, 1 rejected)
        assert p.status()["codings"] == {"human": 5, "suggested": 89, "accepted": 2,
                                         "rejected": 1}
        span = p.find_coding("CSO-02:3", "partnership", "bob", (4, 30))
        assert span is not None and span.memo == "span from the notebook"
        assert p.find_coding("CSO-01:12", "trust", "alice").memo == "trust is personal here"
        assert len(p.audit()) == 102 and p.steps() == []
        assert p.suggestion_count("carol") > 0  # the review queue's indexes (migration 4)
        with p.atomic():  # and the migrated file takes writes
            p.put_coding(Coding(segment="CSO-01:2", code="trust", coder="carol"))

    backup = tmp_path / "v1.db.v1.bak"
    assert sorted(f.name for f in tmp_path.iterdir() if ".bak" in f.name) == [backup.name]
    assert backup.read_bytes() == original  # the copy is the file as version 1 left it
    after = _every_row(path, columns)
    for table, rows in before.items():
        if table in ("migrations", "codings", "audit"):
            assert after[table][:len(rows)] == rows, table  # kept, then the new ones
        else:
            assert after[table] == rows, table
    assert len(after["codings"]) == 101 and len(after["audit"]) == 103
    assert [r[1] for r in after["migrations"]] == [name for name, _ in store.MIGRATIONS]
    assert all(step is None for (step,) in _every_row(path, {"audit": ["step_id"]})["audit"])


def test_atomic_rolls_back_on_error(study: Project) -> None:
    with pytest.raises(RuntimeError), study.atomic():
        study.put_case("CSO-01", {"province": "Gauteng"})
        raise RuntimeError("boom")
    assert study.cases() == []


def test_nested_atomic_is_a_savepoint(study: Project) -> None:
    with study.atomic():
        study.put_case("CSO-01")
        with pytest.raises(ValueError), study.atomic():
            study.put_case("CSO-02")
            raise ValueError
    assert [c.id for c in study.cases()] == ["CSO-01"]


def test_writes_outside_atomic_are_refused(study: Project) -> None:
    with pytest.raises(RuntimeError, match="atomic"):
        study._write("INSERT INTO cases VALUES ('x')")


def test_sources_segments_round_trip(study: Project) -> None:
    add_demo_source(study)
    src = study.source("S1")
    assert src is not None and src.case == "CSO-01"
    segs = list(study.segments())
    assert [s.id for s in segs] == ["S1:1", "S1:2"]
    for s in segs:
        assert src.text[s.start:s.end] == s.text
    assert [s.id for s in study.segments(role="respondent")] == ["S1:2"]
    assert study.segment("S1:2").case == "CSO-01"


def test_put_coding_adds_updates_and_audits(study: Project) -> None:
    add_demo_source(study)
    c = Coding("S1:2", "trust", "alice")
    with study.atomic():
        assert study.put_coding(c) == "added"
        assert study.put_coding(c) == "unchanged"
        assert study.put_coding(Coding("S1:2", "trust", "alice", memo="clear")) == "updated"
    entries = study.audit()
    assert [e.action for e in entries] == ["add", "update"]
    assert entries[1].before["memo"] is None and entries[1].after["memo"] == "clear"
    with study.atomic():
        assert study.delete_coding(c)
    assert study.audit()[-1].action == "remove"
    assert study.codings() == []


def test_coding_on_unknown_segment_is_refused(study: Project) -> None:
    with pytest.raises(CodingError, match="unknown segment"), study.atomic():
        study.put_coding(Coding("nope:1", "trust", "alice"))


def test_audit_log_is_append_only(study: Project) -> None:
    add_demo_source(study)
    with study.atomic():
        study.put_coding(Coding("S1:2", "trust", "alice"))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), study.atomic():
        study._write("DELETE FROM audit")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), study.atomic():
        study._write("UPDATE audit SET actor = 'mallory'")
    assert len(study.audit()) == 1


def test_replace_suggestions_keeps_human_codings_and_decisions(study: Project) -> None:
    add_demo_source(study)
    with study.atomic():
        study.put_coding(Coding("S1:2", "trust", "alice"))
        study.put_coding(Coding("S1:2", "funding", "bob", status="rejected"))
    sugg = [Coding("S1:2", "corruption", "tipqual-rules", status="suggested", score=0.8)]
    assert study.replace_suggestions(["tipqual-rules"], None, sugg) == {"removed": 0, "added": 1}
    assert study.replace_suggestions(["tipqual-rules"], None, sugg) == {"removed": 1, "added": 1}
    statuses = sorted((c.code, c.status) for c in study.codings())
    assert statuses == [("corruption", "suggested"), ("funding", "rejected"),
                        ("trust", "human")]


def test_status_counts_contract_keys(study: Project) -> None:
    add_demo_source(study)
    with study.atomic():
        study.put_coding(Coding("S1:2", "trust", "alice"))
    st = study.status()
    assert set(st) == {"cases", "sources", "segments", "codes", "coders", "codings"}
    assert set(st["codings"]) == {"human", "suggested", "accepted", "rejected"}
    assert (st["cases"], st["sources"], st["segments"], st["coders"]) == (1, 1, 2, ["alice"])
    assert st["codings"]["human"] == 1


def _library_study(p: Project, n: int) -> list[Coding]:
    """A library-outreach study (not the sample's domain): ``n`` respondent segments, each
    with one rule suggestion of ``opening-hours``; returns the suggestions."""
    said = "We close at four, before the buses come."
    text, segments = "", []
    for i in range(1, n + 1):
        text += f"Librarian: {said}\n"
        end = len(text) - 1
        segments.append(Segment(id=f"lib:{i}", source="lib", n=i, speaker="Librarian",
                                role="respondent", start=end - len(said), end=end, text=said))
    sugg = [Coding(s.id, "opening-hours", "tipqual-rules", status="suggested", score=0.7,
                   provenance='{"suggester": "tipqual-rules"}') for s in segments]
    with p.atomic():
        p.add_source(Source(id="lib", case="BRANCH-3", path="lib.txt", format="txt",
                            sha256="b" * 64, text=text), segments)
        p.replace_suggestions(["tipqual-rules"], None, sugg)
    return sugg


def _decide(p: Project, s: Coding, status: str, reviewer: str = "lindiwe") -> Coding:
    decision = Coding(s.segment, s.code, reviewer, status=status, score=s.score,
                      provenance=f"review of {s.coder} {s.score:.2f}")
    with p.atomic():
        p.put_coding(decision)
    return decision


def test_status_counts_only_suggestions_no_person_has_decided(study: Project) -> None:
    n = 12
    sugg = _library_study(study, n)
    assert study.status()["codings"]["suggested"] == n
    decided = [_decide(study, s, "accepted") for s in sugg[:3]]
    decided += [_decide(study, s, "rejected") for s in sugg[3:5]]
    assert study.status()["codings"] == {"human": 0, "suggested": n - 5, "accepted": 3,
                                         "rejected": 2}
    with study.atomic():
        study.delete_coding(decided[-1])  # the decision undone
    assert study.status()["codings"]["suggested"] == n - 4
    # a person's own coding of the code is not a decision on the suggestion; a second
    # reviewer's decision on an already decided suggestion does not count it twice
    with study.atomic():
        study.put_coding(Coding(sugg[6].segment, "opening-hours", "sipho"))
    _decide(study, sugg[0], "rejected", reviewer="sipho")
    assert study.status()["codings"] == {"human": 1, "suggested": n - 4, "accepted": 3,
                                         "rejected": 2}


def test_decisions_count_by_suggester_reviewer_and_status(study: Project) -> None:
    sugg = _library_study(study, 7)
    for s in sugg[:3]:
        _decide(study, s, "accepted")
    _decide(study, sugg[3], "rejected", reviewer="sipho")
    with study.atomic():
        # no suggester named: the stored suggestion it decides says who proposed it
        study.put_coding(Coding(sugg[4].segment, "opening-hours", "sipho", status="accepted",
                                provenance='["not an object"]'))
        # named as a JSON list, in any order
        study.put_coding(Coding(sugg[5].segment, "opening-hours", "sipho", status="rejected",
                                provenance=' {"suggester": ["tipqual-rules", "tipqual-model"]}'))
        # nothing names one: neither the record nor a suggestion
        study.put_coding(Coding(sugg[6].segment, "transport", "sipho", status="rejected",
                                provenance="review of "))
    assert study.decisions() == [
        {"suggester": "tipqual-model+tipqual-rules", "reviewer": "sipho", "status": "rejected",
         "count": 1},
        {"suggester": "tipqual-rules", "reviewer": None, "status": "suggested", "count": 1},
        {"suggester": "tipqual-rules", "reviewer": "lindiwe", "status": "accepted", "count": 3},
        {"suggester": "tipqual-rules", "reviewer": "sipho", "status": "accepted", "count": 1},
        {"suggester": "tipqual-rules", "reviewer": "sipho", "status": "rejected", "count": 1},
        {"suggester": None, "reviewer": "sipho", "status": "rejected", "count": 1}]
    # each decided suggestion counts once, whoever else decided it too (blind double coding)
    assert study.decided_suggestions() == {"tipqual-model+tipqual-rules": (1, 0),
                                           "tipqual-rules": (5, 0), None: (1, 0)}
    _decide(study, sugg[0], "rejected", reviewer="sipho")
    assert study.decided_suggestions() == {"tipqual-model+tipqual-rules": (1, 0),
                                           "tipqual-rules": (5, 1), None: (1, 0)}


def test_status_counts_are_grouped_in_sql(study: Project, monkeypatch) -> None:
    """Counting does not read every coding into Python (the study may hold many)."""
    _library_study(study, 40)
    rows: list[int] = []
    real = study._db.rows

    def counting(sql, params=()):
        found = real(sql, params)
        rows.append(len(found))
        return found

    monkeypatch.setattr(study._db, "rows", counting)
    study.status()
    study.decisions()
    assert max(rows) <= 4


def test_stage_keys_and_mentions(study: Project) -> None:
    add_demo_source(study)
    study.set_stage_keys("suggest", {"S1:1": "k1", "S1:2": "k2"})
    study.set_stage_keys("suggest", {"S1:2": "k3"})
    assert study.stage_keys("suggest") == {"S1:1": "k1", "S1:2": "k3"}
    study.replace_mentions(None, [store.Mention("S1:2", "SAPS", 12, 18, "police")])
    assert [m.stakeholder for m in study.mentions()] == ["SAPS"]
    study.replace_mentions(["S1:2"], [])
    assert study.mentions() == []


def test_replace_source_keeps_codings_on_unchanged_segments(study: Project) -> None:
    add_demo_source(study)
    with study.atomic():
        study.put_coding(Coding("S1:1", "trust", "alice"))
        study.put_coding(Coding("S1:2", "funding", "alice"))
    audit_before = len(study.audit())
    text = "Interviewer: Hello.\nRespondent: We distrust the police.\n"
    new = Source(id="S1", case="CSO-01", path="S1.txt", format="txt", sha256="y" * 64,
                 text=text)
    segs = [Segment(id="S1:1", source="S1", n=1, speaker="Interviewer", role="interviewer",
                    start=13, end=19, text=text[13:19]),
            Segment(id="S1:2", source="S1", n=2, speaker="Respondent", role="respondent",
                    start=32, end=55, text=text[32:55])]
    dropped = study.replace_source(new, segs)
    assert [(c.segment, c.code) for c in dropped] == [("S1:2", "funding")]
    assert [(c.segment, c.code) for c in study.codings()] == [("S1:1", "trust")]
    # only the dropped coding is audited: the kept one was never removed and re-added
    assert [e.action for e in study.audit()[audit_before:]] == ["remove"]
    assert study.segment("S1:2").text == "We distrust the police."
    assert study.source("S1").sha256 == "y" * 64


def test_create_with_failing_fill_leaves_no_file(tmp_path: Path) -> None:
    def fill(p: Project) -> None:
        p.put_case("CSO-01")
        raise CodingError("bad input found while filling")

    with pytest.raises(CodingError, match="while filling"):
        Project.create(tmp_path / "s.db", fill=fill)
    assert list(tmp_path.iterdir()) == []


def test_create_with_fill_publishes_the_filled_study(tmp_path: Path) -> None:
    with Project.create(tmp_path / "s.db", fill=lambda p: p.put_case("CSO-01")) as p:
        assert [c.id for c in p.cases()] == ["CSO-01"]
        assert p.path == tmp_path / "s.db"


def test_create_refuses_to_publish_while_another_process_reads_the_new_file(
        tmp_path: Path) -> None:
    """A reader holding the temporary file open keeps the WAL from being checkpointed: the
    study is not published without it (its WAL would be deleted, its data lost)."""
    import sqlite3

    held: list[sqlite3.Connection] = []

    def fill(p: Project) -> None:
        p.put_case("CSO-01")
        reader = sqlite3.connect(tmp_path / "s.db.tmp-init")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        held.append(reader)

    try:
        with pytest.raises(ProjectError, match="another process has its temporary file open"):
            Project.create(tmp_path / "s.db", fill=fill)
    finally:
        for reader in held:
            reader.close()
    assert not (tmp_path / "s.db").exists()


def _big_source(p: Project, source_id: str, n: int = 400) -> None:
    """A source of ``n`` long segments, added in a savepoint of the caller's transaction."""
    turn = "Respondent: " + "we trust the shelter staff " * 20
    text = "\n".join([turn] * n)
    step = len(turn) + 1
    with p.atomic():
        p.add_source(Source(id=source_id, case="CSO-01", path=f"{source_id}.txt", format="txt",
                            sha256="y" * 64, text=text),
                     [Segment(id=f"{source_id}:{i + 1}", source=source_id, n=i + 1,
                              speaker="Respondent", role="respondent", start=i * step,
                              end=i * step + len(turn), text=turn) for i in range(n)])


def _cap_file(p: Project, extra_pages: int = 3) -> None:
    """Let the study file grow by only a few pages: SQLite then fails with SQLITE_FULL."""
    pages = p._db.conn.execute("PRAGMA page_count").fetchone()[0]
    p._db.conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")


def test_full_disk_in_a_savepoint_is_one_clear_error_and_changes_nothing(study: Project) -> None:
    add_demo_source(study)
    before = (study.sources(), sorted(study.segment_ids()), study.audit())
    _cap_file(study)
    with pytest.raises(ProjectError) as caught, study.atomic():
        study.put_case("CSO-02")
        _big_source(study, "S2")
    error = caught.value
    assert error.message == ("the disk is full: nothing was written; free space and run the "
                             "command again")
    assert error.path == str(study.path)
    assert error.__context__ is None or "savepoint" not in str(error.__context__)
    assert not study._db.conn.in_transaction
    assert (study.sources(), sorted(study.segment_ids()), study.audit()) == before
    assert [c.id for c in study.cases()] == ["CSO-01"]
    assert study.integrity_check() == "ok"
    # the connection is still usable once there is room again
    study._db.conn.execute("PRAGMA max_page_count = 1073741823")
    with study.atomic():
        study.put_case("CSO-03")
    assert [c.id for c in study.cases()] == ["CSO-01", "CSO-03"]


def test_writes_after_sqlite_dropped_the_transaction_are_refused(study: Project) -> None:
    """A caller that swallows the full-disk error must not go on writing in autocommit mode."""
    add_demo_source(study)
    _cap_file(study)
    with pytest.raises(ProjectError, match="abandoned"), study.atomic():
        with pytest.raises(ProjectError, match="disk is full"):
            _big_source(study, "S2")
        study._db.conn.execute("PRAGMA max_page_count = 1073741823")
        study.put_case("CSO-09")  # would be committed on its own without the check
    assert [c.id for c in study.cases()] == ["CSO-01"]
    assert [s.id for s in study.sources()] == ["S1"]


def test_status_reads_codings_through_indexes_only(study: Project) -> None:
    """No query of ``status`` reads the codings table row by row: counts come from an index,
    decided suggestions are looked up from the decisions (EXPLAIN QUERY PLAN)."""
    sugg = _library_study(study, 30)
    _decide(study, sugg[0], "accepted")
    _decide(study, sugg[1], "rejected", reviewer="sipho")
    statements: list[str] = []
    study._db.conn.set_trace_callback(statements.append)
    study.status()
    study.awaiting_review()
    study._db.conn.set_trace_callback(None)
    reads = [sql for sql in statements if "FROM codings" in sql]
    assert reads
    for sql in reads:
        plan = [row[3] for row in study._db.conn.execute("EXPLAIN QUERY PLAN " + sql)]
        scans = [d for d in plan if d.startswith("SCAN ") and not d.startswith("SCAN (")
                 and "CONSTANT ROW" not in d and "VIRTUAL TABLE" not in d]
        assert all("COVERING INDEX" in d for d in scans), (sql, plan)
    assert study.awaiting_review() == {"tipqual-rules": 28}
    assert study.status()["codings"]["suggested"] == 28
