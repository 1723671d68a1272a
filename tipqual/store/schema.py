"""The study file's schema: named migrations, applied once each, in order.

PRAGMA user_version records how many have been applied; the ``migrations`` table records their
names and when they ran. Never edit a released migration: add a new one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cases (id TEXT PRIMARY KEY);
CREATE TABLE case_attributes (
    case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (case_id, name)
);
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    case_id TEXT REFERENCES cases(id),
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    imported_at TEXT NOT NULL
);
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    speaker TEXT,
    role TEXT NOT NULL CHECK (role IN ('interviewer', 'respondent')),
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source_id, n),
    CHECK ("end" >= start)
);
CREATE TABLE codebooks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE codes (
    codebook_id INTEGER NOT NULL REFERENCES codebooks(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    parent TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (codebook_id, id)
);
CREATE TABLE codings (
    id INTEGER PRIMARY KEY,
    segment_id TEXT NOT NULL REFERENCES segments(id),
    code_id TEXT NOT NULL,
    coder TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('human', 'suggested', 'accepted', 'rejected')),
    score REAL,
    provenance TEXT,
    memo TEXT,
    span_start INTEGER,
    span_end INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX codings_key ON codings
    (segment_id, code_id, coder, ifnull(span_start, -1), ifnull(span_end, -1));
CREATE INDEX codings_status ON codings (status, coder);
CREATE TABLE mentions (
    id INTEGER PRIMARY KEY,
    segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    stakeholder_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX mentions_segment ON mentions (segment_id);
CREATE TABLE stage_state (
    stage TEXT NOT NULL,
    segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    PRIMARY KEY (stage, segment_id)
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    command TEXT NOT NULL,
    action TEXT NOT NULL,
    segment_id TEXT,
    code_id TEXT,
    coder TEXT,
    before TEXT,
    after TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""),
    ("0002_audit_lookup_index", """
CREATE INDEX audit_lookup ON audit (at, actor, action);
"""),
    # Steps that move codings wholesale (a transcript replaced, a codebook applied, a copy put
    # back) with the plan they carried out; the codings they took out of play, kept whole.
    ("0003_steps_and_retired_codings", """
CREATE TABLE steps (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    command TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    plan TEXT NOT NULL DEFAULT '{}',
    backup TEXT
);
CREATE TABLE retired_codings (
    id INTEGER PRIMARY KEY,
    reason TEXT NOT NULL CHECK (reason IN ('orphaned', 'archived')),
    step_id INTEGER REFERENCES steps(id),
    source_id TEXT,
    segment_text TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    code_id TEXT NOT NULL,
    coder TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    provenance TEXT,
    memo TEXT,
    span_start INTEGER,
    span_end INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    retired_at TEXT NOT NULL
);
CREATE INDEX retired_reason ON retired_codings (reason, id);
ALTER TABLE audit ADD COLUMN step_id INTEGER;
CREATE INDEX audit_step ON audit (step_id) WHERE step_id IS NOT NULL;
"""),
    # The review queue without reading every suggestion: stored suggestions by pair (counting
    # the queue's pairs reads this index only) and by their distance from 0.5 (the first page
    # is found among the most uncertain rows). CodingStore names both with INDEXED BY, so the
    # expression must stay exactly as CodingStore writes it.
    ("0004_review_queue_indexes", """
CREATE INDEX codings_pairs ON codings (segment_id, code_id, coder, score)
    WHERE status = 'suggested';
CREATE INDEX codings_uncertainty ON codings (abs(ifnull(score, 0.0) - 0.5), segment_id, code_id)
    WHERE status = 'suggested';
"""),
]
SCHEMA_VERSION = len(MIGRATIONS)
