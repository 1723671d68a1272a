"""Transcripts into a study: speaker turns, segments, cases, one transaction per import.

Segmentation rules (the contract the sample study is written to):

- ``.txt`` / ``.md``: a line starting with a turn marker (``Name:``, ``NAME:``, ``[Name]``,
  ``Q:``, ``A:``, ``I:``, ``R:``, ``P1:``, also ``**Name:**`` in Markdown) starts a new turn; the
  marker is not part of any segment. Inside a turn every blank-line separated paragraph is one
  segment, its lines kept as written. Text before the first marker is a respondent's, with no
  speaker. In ``.md`` files heading lines (``# …``) are not speech: they end a paragraph and are
  left out of the segments (they stay in the stored text).
- ``.docx``: every non-empty paragraph (two-column table rows read as ``Speaker: words``) is one
  segment; a paragraph starting with a marker starts a new turn. The stored text is the
  paragraphs joined by blank lines.
- ``.vtt`` / ``.srt``: consecutive cues of one speaker (``<v Speaker>`` voice tag or a ``NAME:``
  prefix; a cue with neither continues the current speaker) form one turn and ONE segment, their
  texts joined by spaces; ``start_time`` / ``end_time`` in the segment's metadata. The stored
  text is one ``Speaker: words`` paragraph per turn.
- Roles: a speaker whose name, without a trailing number or bracketed note, is Interviewer,
  Facilitator, Moderator, Q or I (any case) is an ``interviewer``; everyone else a ``respondent``.
- A paragraph longer than ``max_chars`` (4,000 characters, about 700 words: an undivided
  auto-transcript) is split at sentence boundaries found by spaCy's sentencizer (streamed with
  ``nlp.pipe``, a paragraph of any length read in pieces) into pieces of at most that length;
  a sentence longer than that is cut between words. Every shorter paragraph is left whole.
- Segment ids are ``SOURCE:N`` (SOURCE the file name without extension, N from 1 in document
  order) and ``segment.text == source.text[start:end]``.

Cases: a source's case comes from ``cases.csv`` when it is listed there, else it keeps the case
it already has in the study, else its case is its own source id (reported as ``uncased``).

A source stores its file's NAME (never the folders it was found in). With a redactor
(``--redact``) every string that enters the study goes through it, not only the text: the source
id (the file name's stem) and the stored file name, speaker labels, segment metadata, and from
``cases.csv`` the case ids, attribute names and values and the source names. Case ids are kept
as given unless they hold something the redactor replaces (``Mokoena House`` with Mokoena on the
roster becomes ``[PERSON-1] House``); organisation codes such as ``CSO-01`` never change. Every
id or column name that changed is listed in the report (``renamed_sources``, ``renamed_cases``,
``renamed_columns``), and two files, two cases or two columns that would share one pseudonymised
name are refused, naming the line of cases.csv, rather than merged. The redaction key is put
beside the study only once the import has committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack, nullcontext, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tipqual.errors import IngestError
from tipqual.ingest import readers
from tipqual.ingest.readers import CasesTable, read_cases, source_id_for  # noqa: F401 (public here too)
from tipqual.ingest.reanchor import OUTCOMES, ReanchorPlan, plan_replace
from tipqual.records import Coding, Progress, Segment, Source
from tipqual.store.project import Project

_UP = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UP}0-9][\w'’.\-]*"
_PARTICLE = r"(?:van|der|den|de|du|le|la|von|da|dos)"
_NAME = (rf"[{_UP}][\w'’.\-]*(?:[ ](?:{_WORD}|{_PARTICLE})){{0,4}}"
         r"(?:[ ]\([^()\n]{1,30}\))?")
DEFAULT_MARKER = (rf"^[ \t]*(?:\[(?P<bracket>[A-Za-z][^\]\n]{{0,39}})\][ \t]*:?"
                  rf"|(?P<md>\*\*|__)?(?P<name>{_NAME})"
                  r"(?:(?(md)(?P=md)|):|:(?(md)(?P=md)|)))(?=[ \t]|$)[ \t]*")
INTERVIEWER_NAMES = frozenset({"interviewer", "facilitator", "moderator", "q", "i"})
# Labels that look like "Name:" but head a note or a header line, never a speaker.
NOT_SPEAKERS = frozenset({"note", "notes", "nb", "ps", "example", "translation", "summary",
                          "date", "time", "duration", "location", "venue", "place", "subject",
                          "topic", "re", "tel", "phone", "cell", "email", "e-mail", "fax",
                          "transcriber", "transcript", "interview", "organisation",
                          "organization", "case", "source", "language", "recording"})
MAX_SEGMENT_CHARS = 4000
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_ROLE_NOISE = re.compile(r"\([^)]*\)|[\s\d.#]+$")


@dataclass(frozen=True)
class SegmentationRules:
    """How speaker turns are recognised and mapped to roles (all configurable)."""

    marker: str = DEFAULT_MARKER
    interviewer_names: frozenset[str] = INTERVIEWER_NAMES
    not_speakers: frozenset[str] = NOT_SPEAKERS
    max_chars: int = MAX_SEGMENT_CHARS
    max_name_chars: int = 40

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_re", re.compile(self.marker))
        except re.error as exc:
            raise IngestError(f"the turn-marker pattern is not a valid regex: {exc}") from exc
        # a transcript names few speakers, each in many turns: their roles are looked up once
        object.__setattr__(self, "_roles", {})

    def match(self, line: str) -> tuple[str, int] | None:
        """The speaker named by a turn marker at the start of ``line`` and where the words begin."""
        m = self._re.match(line)  # type: ignore[attr-defined]
        if m is None:
            return None
        groups = m.groupdict()
        speaker = next((groups[g] for g in ("speaker", "name", "bracket") if groups.get(g)), None)
        if (not speaker or len(speaker) > self.max_name_chars
                or speaker.strip().lower() in self.not_speakers):
            return None
        return speaker.strip(), m.end()

    def role(self, speaker: str | None) -> str:
        """``interviewer`` or ``respondent`` for a speaker name."""
        if speaker is None:
            return "respondent"
        roles: dict[str, str] = self._roles  # type: ignore[attr-defined]
        role = roles.get(speaker)
        if role is None:
            key = _ROLE_NOISE.sub("", speaker).strip().lower()
            role = "interviewer" if key in self.interviewer_names else "respondent"
            if len(roles) < 10_000:
                roles[speaker] = role
        return role


@dataclass(frozen=True)
class Piece:
    """A segment-to-be: offsets into the stored text, its speaker, role and metadata."""

    start: int
    end: int
    speaker: str | None
    role: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parsed:
    """The text to store and the pieces that will become its segments."""

    text: str
    pieces: list[Piece]


# --- segmentation -----------------------------------------------------------------------------

def parse_text(text: str, rules: SegmentationRules, markdown: bool = False) -> Parsed:
    """Turns and paragraphs of a plain-text (or Markdown) transcript."""
    pieces: list[Piece] = []
    speaker: str | None = None
    start: int | None = None
    end = 0
    pos = 0

    def close() -> None:
        nonlocal start
        if start is not None:
            pieces.append(Piece(start, end, speaker, rules.role(speaker)))
            start = None

    for line in text.split("\n"):
        line_start, pos = pos, pos + len(line) + 1
        if not line.strip() or (markdown and _MD_HEADING.match(line)):
            close()
            continue
        words_at = 0
        hit = rules.match(line)
        if hit is not None:
            close()
            speaker, words_at = hit
            if not line[words_at:].strip():
                continue
        if start is None:
            rest = line[words_at:]
            start = line_start + words_at + len(rest) - len(rest.lstrip())
        end = line_start + len(line.rstrip())
    close()
    return Parsed(text, pieces)


def parse_paragraphs(paragraphs: Sequence[str], rules: SegmentationRules) -> Parsed:
    """Turns of a Word document: each non-empty paragraph is one segment."""
    parts: list[str] = []
    pieces: list[Piece] = []
    speaker: str | None = None
    pos = 0
    for para in paragraphs:
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(para)
        words_at = 0
        hit = rules.match(para.split("\n", 1)[0])
        if hit is not None:
            speaker, words_at = hit
        body = para[words_at:]
        words = body.strip()
        if words:
            begin = pos + words_at + len(body) - len(body.lstrip())
            pieces.append(Piece(begin, begin + len(words), speaker, rules.role(speaker)))
        pos += len(para)
    return Parsed("".join(parts), pieces)


def parse_cues(cues: Sequence[readers.Cue], rules: SegmentationRules) -> Parsed:
    """Turns of a subtitle file: consecutive cues of one speaker make one segment."""
    turns: list[tuple[str | None, list[str], str, str]] = []
    speaker: str | None = None
    for cue in cues:
        words = cue.text
        new_speaker = cue.voice
        if new_speaker is None:
            hit = rules.match(words)
            if hit is not None:
                new_speaker, words = hit[0], words[hit[1]:].strip()
        if not words and new_speaker is None:
            continue
        if new_speaker is not None and (new_speaker != speaker or not turns):
            speaker = new_speaker
            turns.append((speaker, [], cue.start, cue.end))
        elif not turns:
            turns.append((None, [], cue.start, cue.end))
        who, texts, first, _ = turns[-1]
        if words:
            texts.append(words)
        turns[-1] = (who, texts, first, cue.end)
    parts: list[str] = []
    pieces: list[Piece] = []
    pos = 0
    for who, texts, first, last in (t for t in turns if t[1]):
        prefix = "" if who is None else f"{who}: "
        if parts:
            parts.append("\n\n")
            pos += 2
        words = " ".join(texts)
        parts.append(prefix + words)
        pieces.append(Piece(pos + len(prefix), pos + len(prefix) + len(words), who,
                            rules.role(who), {"start_time": first, "end_time": last}))
        pos += len(prefix) + len(words)
    return Parsed("".join(parts), pieces)


def parse_document(raw: readers.RawDocument, rules: SegmentationRules) -> Parsed:
    """Stored text and segment pieces of a file read by :func:`readers.read_document`."""
    if raw.format == "docx":
        return parse_paragraphs(raw.paragraphs, rules)
    if raw.format in ("vtt", "srt"):
        return parse_cues(raw.cues, rules)
    return parse_text(raw.text or "", rules, markdown=raw.format == "md")


def redact_parsed(parsed: Parsed, redactor: Any) -> Parsed:
    """Pseudonymise the text and speaker names, moving every offset along."""
    from tipqual.ingest.redact import OffsetMap

    text, replacements = redactor.redact(parsed.text)
    offsets = OffsetMap(replacements)
    pieces = [replace(p, start=offsets.start(p.start), end=offsets.end(p.end),
                      speaker=redactor.redact_text(p.speaker),
                      meta=redactor.redact_value(p.meta)) for p in parsed.pieces]
    return Parsed(text, pieces)


def split_long(parsed: Parsed, rules: SegmentationRules) -> Parsed:
    """Split paragraphs longer than ``rules.max_chars`` at sentence boundaries."""
    if rules.max_chars <= 0:
        return parsed
    long = [p for p in parsed.pieces if p.end - p.start > rules.max_chars]
    if not long:
        return parsed
    from tipqual.nlp.pipeline import sentence_chunks

    found = sentence_chunks((parsed.text[p.start:p.end] for p in long), rules.max_chars)
    chunks = {id(p): spans for p, spans in zip(long, found, strict=True)}
    pieces: list[Piece] = []
    for p in parsed.pieces:
        if id(p) not in chunks:
            pieces.append(p)
            continue
        pieces.extend(replace(p, start=p.start + a, end=p.start + b) for a, b in chunks[id(p)])
    return Parsed(parsed.text, pieces)


def build_segments(source_id: str, parsed: Parsed) -> list[Segment]:
    """Number the pieces ``SOURCE:1``, ``SOURCE:2`` … into segments."""
    return [Segment(id=f"{source_id}:{n}", source=source_id, n=n, speaker=p.speaker,
                    role=p.role, start=p.start, end=p.end, text=parsed.text[p.start:p.end],
                    meta=dict(p.meta))
            for n, p in enumerate(parsed.pieces, start=1)]


def segment_file(path: Path, rules: SegmentationRules | None = None,
                 redactor: Any = None) -> tuple[readers.RawDocument, Parsed]:
    """Read one transcript and cut it into pieces (redacted when a redactor is given)."""
    rules = rules or SegmentationRules()
    raw = readers.read_document(path)
    parsed = parse_document(raw, rules)
    if not parsed.pieces:
        raise IngestError("no transcript text found in the file", path=path)
    if redactor is not None:
        parsed = redact_parsed(parsed, redactor)
    return raw, split_long(parsed, rules)


# --- collecting files -------------------------------------------------------------------------

def collect_paths(paths: Iterable[Path], source_id: Callable[[Path], str] | None = None
                  ) -> tuple[list[Path], list[str], list[IngestError]]:
    """Files to import, files in folders that were passed over, and paths that are bad.

    ``source_id`` gives a file's source id (default: its stem); files that would share one
    are bad. Paths that lead to one file (a symlink beside its target) are imported once, by
    the path that is not a symlink (else the first in sorted order); the others are passed
    over, "PATH (the same file as KEPT)".
    """
    sid_of = source_id or (lambda f: f.stem)
    files: list[Path] = []
    passed_over: list[str] = []
    bad: list[IngestError] = []
    for path in paths:
        if path.is_dir():
            found = len(files)
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if not child.is_file() or any(p.startswith((".", "~$")) for p in rel):
                    continue
                if (child.suffix.lower() not in readers.SUPPORTED
                        or child.stem.lower().startswith("readme")):
                    passed_over.append(str(child))
                else:
                    files.append(child)
            if len(files) == found:  # most likely the wrong folder: say so, never "0 imported"
                bad.append(IngestError(
                    f"the folder holds no transcripts ({' '.join(sorted(readers.SUPPORTED))}); "
                    "check the path", path=path))
        elif not path.exists():
            bad.append(IngestError("no such file or folder; check the path", path=path))
        elif path.suffix.lower() not in readers.SUPPORTED:
            bad.append(IngestError(f"unsupported file type {path.suffix or '(none)'!r}; use "
                                   f"{', '.join(sorted(readers.SUPPORTED))}", path=path))
        else:
            files.append(path)
    same_file: dict[Path, list[Path]] = {}
    for f in files:
        # The name becomes the source id (and often the case id) that status, reports and
        # exports print: a line break, control or invisible character there is refused.
        problem = readers.invisible_problem(f.name)
        if problem is not None:
            bad.append(IngestError(f"the file name holds {problem}; rename the file (its name "
                                   "becomes the source id)", path=f))
            continue
        same_file.setdefault(f.resolve(), []).append(f)
    unique: list[Path] = []
    for group in same_file.values():
        kept = min(group, key=lambda g: (g.is_symlink(), str(g)))
        unique.append(kept)
        passed_over.extend(f"{g} (the same file as {kept})" for g in dict.fromkeys(group)
                           if g != kept)
    by_id: dict[str, list[Path]] = {}
    for f in unique:
        by_id.setdefault(sid_of(f), []).append(f)
    good = []
    for sid, group in sorted(by_id.items()):
        if len(group) > 1:
            names = ", ".join(str(g) for g in group)
            bad.extend(IngestError(f"several files would be source {sid!r} ({names}); rename "
                                   "all but one", path=g) for g in group)
        else:
            good.append(group[0])
    return good, passed_over, bad


# --- importing --------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What an import did (with ``dry_run``: would do): sources, segments, where the codings of
    replaced sources went.

    ``removed_codings``: the codings of replaced sources whose words are gone (orphaned: kept
    aside as retired codings, or deleted with ``drop_orphans``); ``plans``: per replaced source,
    where every one of its codings went (see :mod:`tipqual.ingest.reanchor`).
    """

    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)
    removed_codings: list[Coding] = field(default_factory=list)
    uncased: list[str] = field(default_factory=list)
    empty_cases: list[str] = field(default_factory=list)
    segments: int = 0  # segments written: of the new sources and the replaced ones
    cases: int = 0
    key_path: str | None = None
    # ids that redaction changed: (file as given, source id stored), (case id given, stored)
    renamed_sources: list[tuple[str, str]] = field(default_factory=list)
    renamed_cases: list[tuple[str, str]] = field(default_factory=list)
    renamed_columns: list[tuple[str, str]] = field(default_factory=list)  # cases.csv columns
    # segments per kind of source: of the new ones, already in the study for the unchanged
    # ones, and what the replaced ones have now; per source, in the order of ``imported`` etc.
    new_segments: int = 0
    unchanged_segments: int = 0
    replaced_segments: int = 0
    source_segments: dict[str, int] = field(default_factory=dict)
    # files skipped (with skip_bad) because they changed since they were imported
    changed: list[str] = field(default_factory=list)
    # new sources whose file has the bytes of a source already in the study (or of one
    # imported before it in this run): (new source id, that source's id); a renamed file
    # imported again counts its words twice
    same_as: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False  # True: this is the plan; the study was left as it was
    plans: list[ReanchorPlan] = field(default_factory=list)
    drop_orphans: bool = False  # orphaned codings deleted rather than kept aside
    step: int | None = None  # the step the replacement was recorded as (None: no replacement)
    backup: str | None = None  # the copy of the study made before that step

    def replace_counts(self) -> dict[str, int]:
        """Codings of the replaced sources by outcome (kept, moved, reanchored, orphaned,
        dropped), summed over the sources."""
        total = {name: 0 for name in OUTCOMES}
        for plan in self.plans:
            for name, n in plan.counts().items():
                total[name] += n
        return total

    def replace_summary(self) -> str:
        """One line: what replacing the sources did to their codings."""
        n = self.replace_counts()
        fate = "removed" if self.drop_orphans else "orphaned"
        parts = [f"{n['kept']} kept", f"{n['moved']} moved", f"{n['reanchored']} re-anchored",
                 f"{n['orphaned']} {fate}"]
        if n["dropped"]:
            parts.append(f"{n['dropped']} suggestion{'s' if n['dropped'] != 1 else ''} dropped")
        names = ", ".join(p.source for p in self.plans) or "no source"
        return f"replaced {names}: codings {', '.join(parts)}"

    def replace_plan(self) -> dict[str, Any]:
        """The replacement's plan as JSON data (what the step records)."""
        return {"drop_orphans": self.drop_orphans, "counts": self.replace_counts(),
                "sources": [p.to_dict() for p in self.plans]}


class ChangedSourceError(IngestError):
    """A transcript whose text changed since it was imported, met without ``replace``."""


REPLACE_ADVICE = ("rerun with --replace to re-import the changed text (codings follow their "
                  "words; those whose words are gone are kept aside as orphans; "
                  "--replace --dry-run shows the plan first)")


MAX_BAD_LISTED = 12  # bad files an error names; the rest are counted


def _bad_files_error(bad: list[IngestError]) -> IngestError:
    changed = [e for e in bad if isinstance(e, ChangedSourceError)]
    if len(bad) == 1:
        err = bad[0]
        advice = REPLACE_ADVICE if changed else ("fix or remove the file, or rerun with "
                                                 "--skip-bad")
        return IngestError(f"{err.message}; nothing was imported: {advice}" if changed else
                           f"{err.message}; nothing was imported ({advice})",
                           path=err.path, line=err.line)
    listing = "; ".join(e.format() for e in bad[:MAX_BAD_LISTED])
    if len(bad) > MAX_BAD_LISTED:
        listing += f"; and {len(bad) - MAX_BAD_LISTED} more"
    if len(changed) == len(bad):
        return IngestError(f"{len(bad)} files changed since they were imported, so nothing "
                           f"was imported: {listing}; {REPLACE_ADVICE}")
    advice = "fix or remove them, or rerun with --skip-bad"
    if changed:
        advice = (f"fix or remove the bad ones, or rerun with --skip-bad; for the changed "
                  f"ones, {REPLACE_ADVICE}")
    return IngestError(f"{len(bad)} files cannot be imported, so nothing was: {listing}; "
                       f"{advice}")


def _make_redactor(project: Project, roster: Path | None, key_path: Path | None,
                   model: str | None) -> tuple[Any, Path]:
    from tipqual.ingest import redact
    key_file = key_path or redact.default_key_path(project.path)
    names = redact.read_roster(roster) if roster is not None else []
    nlp = redact.load_model(model) if model else None
    return redact.Redactor(names, redact.read_key(key_file), nlp), key_file


def _redact_table(table: CasesTable, redactor: Any, path: Path,
                  report: ImportReport) -> CasesTable:
    """cases.csv as it will be stored: case ids, attribute names and values, source names.

    Redacted in a fixed order (each case id, then its attributes by name; then the source
    names) so placeholders do not depend on the order of the rows. Two case ids, two column
    names (in any casing, as the reader compares them) or two sources of different cases that
    would be stored as one once pseudonymised are refused, naming the line, never merged.
    """
    given: dict[str, str] = {}  # stored case id -> case id as given

    def case_id(case: str) -> str:
        new = redactor.redact_string(case)
        first = given.setdefault(new, case)
        if first != case:
            a, b = sorted((first, case), key=lambda c: table.case_lines.get(c, 0))
            raise IngestError(f"cases {a!r} and {b!r} would both be stored as {new!r} once "
                              "pseudonymised; rename one of them in cases.csv", path=path,
                              line=table.case_lines.get(b))
        return new

    columns: dict[str, str] = {}  # stored column name folded -> column name as given

    def column(name: str) -> str:
        new = redactor.redact_string(name)
        first = columns.setdefault(new.casefold(), name)
        if first != name:
            raise IngestError(f"the columns {first!r} and {name!r} would both be named "
                              f"{new!r} once pseudonymised; rename one of them in the header",
                              path=path, line=table.header_line)
        if new != name and (name, new) not in report.renamed_columns:
            report.renamed_columns.append((name, new))
        return new

    attributes: dict[str, dict[str, str]] = {}
    for case, attrs in sorted(table.attributes.items()):
        new_case = case_id(case)
        if new_case != case:
            report.renamed_cases.append((case, new_case))
        attributes[new_case] = {column(name): redactor.redact_string(value)
                                for name, value in sorted(attrs.items())}
    source_case: dict[str, str] = {}
    sources: dict[str, str] = {}  # stored source id -> source as given
    for sid, case in sorted(table.source_case.items()):
        new_sid, new_case = redactor.redact_string(sid), case_id(case)
        if source_case.setdefault(new_sid, new_case) != new_case:
            a, b = sorted((sources[new_sid], sid), key=lambda s: table.source_lines.get(s, 0))
            raise IngestError(f"sources {a!r} and {b!r} of different cases would both be "
                              f"stored as source {new_sid!r} once pseudonymised; rename one of "
                              "the files", path=path, line=table.source_lines.get(b))
        sources.setdefault(new_sid, sid)
    return CasesTable(attributes, source_case, table.header_line)


def _sync_cases(project: Project, table: CasesTable | None) -> None:
    if table is None:
        return
    existing = {c.id: c.attributes for c in project.cases()}
    for case, attrs in sorted(table.attributes.items()):
        if case not in existing or any(existing[case].get(k) != v for k, v in attrs.items()):
            project.put_case(case, attrs)


def _case_for(sid: str, old: Source | None, table: CasesTable | None,
              report: ImportReport) -> str:
    if table is not None and sid in table.source_case:
        return table.source_case[sid]
    if old is not None and old.case is not None:
        return old.case
    if table is not None:
        report.uncased.append(sid)
    return sid


def _keep(project: Project, old: Source, case: str, report: ImportReport) -> None:
    if old.case != case:
        project.set_source_case(old.id, case)
    report.unchanged.append(old.id)
    n = sum(1 for _ in project.segments(source=old.id))
    report.source_segments[old.id] = n
    report.unchanged_segments += n


def _source_id(path: Path, redactor: Any) -> str:
    """A file's source id: its name's stem, pseudonymised when redacting."""
    return path.stem if redactor is None else redactor.redact_string(path.stem)


def _reanchor(project: Project, source: Source, segments: Sequence[Segment],
              drop_orphans: bool) -> ReanchorPlan:
    """Replace a source's segments, its codings carried to the new ones as planned."""
    old_segments = list(project.segments(source=source.id))
    codings = project.codings(segments=[s.id for s in old_segments])
    plan = plan_replace(source.id, old_segments, codings, segments)
    for orphan in plan.orphans:
        if drop_orphans:
            project.delete_coding(orphan.coding)
        else:
            project.retire(orphan.coding, "orphaned", segment_text=orphan.segment_text,
                           source=source.id)
    for suggestion in plan.dropped:
        project.delete_coding(suggestion)
    project.replace_source(source, segments, [(m.old, m.new, m.action) for m in plan.carried()],
                           plan.carry)
    return plan


def _import_one(project: Project, path: Path, rules: SegmentationRules, redactor: Any,
                table: CasesTable | None, replace_changed: bool, report: ImportReport,
                redacted: dict[str, str], seen: dict[str, str]) -> None:
    sid = _source_id(path, redactor)
    old = project.source(sid)
    if redactor is None and old is not None and old.meta.get("redacted"):
        raise IngestError(f"source {sid!r} was imported with --redact; import it again "
                          "with --redact and the same --roster", path=path)
    sha256 = (readers.file_sha256(readers.read_bytes(path))
              if old is not None or (redactor is None and redacted) else None)
    if redactor is None and old is None and sha256 in redacted:
        raise IngestError(f"this file was imported with --redact as source "
                          f"{redacted[sha256]!r}; import it again with --redact and the same "
                          "--roster", path=path)
    if redactor is None and old is None and redacted:
        # a pseudonymised study takes nothing in clear: the names its roster hides would be
        # stored, searched and exported as written
        raise IngestError("the study's transcripts were pseudonymised (imported with --redact) "
                          "and this one would be stored as written; import it with --redact "
                          "and the same --roster", path=path)
    case = _case_for(sid, old, table, report)
    same_bytes = old is not None and old.sha256 == sha256
    if old is not None and same_bytes and redactor is None:
        return _keep(project, old, case, report)  # same bytes: nothing to recompute
    raw, parsed = segment_file(path, rules, redactor)
    if old is not None and same_bytes and old.text == parsed.text:
        return _keep(project, old, case, report)
    if old is not None and not replace_changed:
        raise ChangedSourceError(f"the file changed since it was imported as source {sid!r}",
                                 path=path)
    name = path.name if redactor is None else sid + path.suffix
    meta: dict[str, Any] = {"file": name}
    if redactor is not None:
        meta["redacted"] = True
    source = Source(id=sid, case=case, path=name, format=raw.format, sha256=raw.sha256,
                    text=parsed.text, meta=meta)
    segments = build_segments(sid, parsed)
    if old is None:
        project.add_source(source, segments)
        report.imported.append(sid)
        twin = seen.setdefault(raw.sha256, sid)  # the first source with these bytes
        if twin != sid:
            report.same_as.append((sid, twin))
        report.new_segments += len(segments)
    else:
        plan = _reanchor(project, source, segments, report.drop_orphans)
        report.plans.append(plan)
        report.removed_codings.extend(o.coding for o in plan.orphans)
        report.replaced.append(sid)
        report.replaced_segments += len(segments)
    report.segments += len(segments)
    report.source_segments[sid] = len(segments)


def _progress(files: list[Path], progress: Progress | None) -> Any:
    return nullcontext(None) if progress is None else progress(len(files), "Importing")


def import_paths(project: Project, paths: Iterable[str | Path], cases_csv: str | Path | None = None,
                 redact: bool = False, roster: str | Path | None = None, skip_bad: bool = False,
                 replace: bool = False, model: str | None = None, progress: Progress | None = None,
                 key: str | Path | None = None,
                 rules: SegmentationRules | None = None,
                 dry_run: bool = False, drop_orphans: bool = False) -> ImportReport:
    """Import transcript files and folders into ``project`` in one transaction.

    Any bad file (missing, binary, empty, undecodable, corrupt, changed without ``replace``)
    aborts the whole import, naming every bad file, unless ``skip_bad`` imports the rest.
    With ``redact`` (implied by ``roster``, ``key`` or ``model``) nothing personal is stored:
    see the module's docstring for what is pseudonymised and how changed ids are reported.
    With ``dry_run`` the import runs as it would (and fails as it would) but its transaction
    is rolled back and no redaction key is written: the report is the plan.

    A changed file imported with ``replace`` carries its source's codings to the new segments
    (:mod:`tipqual.ingest.reanchor`): those whose words are gone are retired as ``orphaned``
    (recoverable), or deleted with ``drop_orphans``. When a file may replace a source the whole
    import runs as one step (``replace``), recorded with the plan, a copy of the study kept
    from before it.
    """
    report = ImportReport(dry_run=dry_run, drop_orphans=drop_orphans)
    with suppress(_RolledBack):  # the end of a dry run: its transaction was rolled back
        _import(project, paths, report, cases_csv, redact, roster, skip_bad, replace, model,
                progress, key, rules or SegmentationRules(), dry_run)
    return report


class _RolledBack(Exception):
    """Raised at the end of a dry run to undo its transaction."""


def _import(project: Project, paths: Iterable[str | Path], report: ImportReport,
            cases_csv: str | Path | None, redact: bool, roster: str | Path | None,
            skip_bad: bool, replace: bool, model: str | None, progress: Progress | None,
            key: str | Path | None, rules: SegmentationRules, dry_run: bool) -> None:
    redactor, key_file = None, None
    if redact or roster is not None or model is not None or key is not None:
        redactor, key_file = _make_redactor(project, Path(roster) if roster else None,
                                            Path(key) if key else None, model)
        report.key_path = str(key_file)
    table = None
    if cases_csv is not None:
        table = read_cases(Path(cases_csv))
        if redactor is not None:
            table = _redact_table(table, redactor, Path(cases_csv), report)
    files, report.passed_over, bad = collect_paths(
        (Path(p) for p in paths), lambda f: _source_id(f, redactor))
    # without a redactor, a file stored pseudonymised under another id is found by its bytes
    # (the sources' headers only: a large study's texts are never all held at once)
    headers = project.source_headers()
    redacted = {} if redactor is not None else {
        s.sha256: s.id for s in headers if s.meta.get("redacted")}
    if redacted and table is not None and cases_csv is not None:
        raise IngestError("the study's transcripts were pseudonymised (imported with --redact) "
                          "and these case attributes would be stored as written; import them "
                          "with --redact and the same --roster", path=Path(cases_csv),
                          line=table.header_line)
    # The key is written beside the study once the import has committed: a failed import
    # leaves no new key; a new key is staged (written whole) before the commit, so that a key
    # that cannot be written fails the import instead.
    staged = _import_files(project, files, bad, report, redactor, key_file, table, skip_bad,
                           replace, headers, redacted, progress, rules, dry_run)
    if staged is not None and key_file is not None:
        from tipqual.ingest.redact import publish_key

        publish_key(staged, key_file)
    elif key_file is not None and key_file.exists() and not dry_run:
        key_file.chmod(0o600)


def _import_files(project: Project, files: list[Path], bad: list[IngestError],
                  report: ImportReport, redactor: Any, key_file: Path | None,
                  table: CasesTable | None, skip_bad: bool, replace: bool,
                  headers: list[Source], redacted: dict[str, str], progress: Progress | None,
                  rules: SegmentationRules, dry_run: bool) -> Path | None:
    """The import's one transaction (or step); returns the new key staged for it, if any
    (removed again when the transaction does not commit)."""
    staged: Path | None = None
    seen: dict[str, str] = {}  # the first source by id with a file's SHA-256 (for same_as)
    for header in headers:
        seen.setdefault(header.sha256, header.id)
    try:
        with ExitStack() as stack:
            run = None
            if replace and not dry_run and _may_replace(files, headers, redactor):
                run = stack.enter_context(project.step("replace"))
            else:
                stack.enter_context(project.atomic())
            _sync_cases(project, table)
            with _progress(files, progress) as bar:
                for path in files:
                    try:
                        with project.atomic():
                            _import_one(project, path, rules, redactor, table, replace, report,
                                        redacted, seen)
                        sid = _source_id(path, redactor)
                        if sid != path.stem:
                            report.renamed_sources.append((str(path), sid))
                    except IngestError as exc:
                        bad.append(exc)
                    if bar is not None:
                        bar.update(1, path.name)
            if bad and not skip_bad:
                raise _bad_files_error(bad)
            report.skipped = [(e.path or "", e.message) for e in bad]
            report.changed = [e.path or "" for e in bad if isinstance(e, ChangedSourceError)]
            if (redactor is not None and key_file is not None and not dry_run
                    and (redactor.changed or not key_file.exists())):
                from tipqual.ingest.redact import stage_key

                staged = stage_key(key_file, redactor.key)
            cases = [c.id for c in project.cases()]
            report.cases = len(cases)
            # cases.csv may list sources of a later batch: say so rather than fail
            report.empty_cases = sorted(set(cases) - {s.case for s in project.source_headers()})
            if dry_run:
                raise _RolledBack
            if run is not None:
                run.summary = report.replace_summary()
                run.plan = report.replace_plan()
                report.step = run.id
                report.backup = run.backup.name if run.backup is not None else None
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    return staged


def _may_replace(files: Sequence[Path], headers: Sequence[Source], redactor: Any) -> bool:
    """Whether any of ``files`` may replace a source already in the study: one of their ids
    is there with other bytes. With a redactor, any id already there may (the same bytes
    redacted with another roster give another text, and only redacting them tells). Unreadable
    files are left to the import to report."""
    stored = {s.id: s.sha256 for s in headers}
    for path in files:
        sid = _source_id(path, redactor)
        if sid not in stored:
            continue
        if redactor is not None:
            return True
        with suppress(IngestError, OSError):
            if readers.file_sha256(readers.read_bytes(path)) != stored[sid]:
                return True
    return False


def segment_rows(project: Project, source: str | None = None) -> list[dict[str, Any]]:
    """Segments as the ``segments --json`` contract: id, case, source, speaker, role, offsets."""
    if source is not None and project.source(source) is None:
        raise IngestError(f"no source {source!r} in the study; list them with 'tipqual "
                          "segments' without --source", path=project.path)
    return [{"id": s.id, "case": s.case, "source": s.source, "speaker": s.speaker,
             "role": s.role, "start": s.start, "end": s.end, "text": s.text}
            for s in project.segments(source=source)]
