"""``tipqual import`` and ``tipqual segments``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tipqual.cli.common import (
    count,
    echo_json,
    open_project,
    progress,
    project_argument,
    redaction_options,
)

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.ingest.importer import ImportReport

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("import")
@project_argument
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--cases", "cases_csv", type=_FILE,
              help="cases.csv: columns case, source and any case attributes.")
@redaction_options("Replace e-mails, URLs, phone and ID numbers and names before storing.")
@click.option("--skip-bad", is_flag=True, help="Import the good files, list the bad ones.")
@click.option("--replace", "replace_changed", is_flag=True,
              help="Re-segment files that changed since they were imported; their codings "
              "follow their words to the new segments, and those whose words are gone are "
              "kept aside as orphans ('tipqual code orphans').")
@click.option("--drop-orphans", is_flag=True,
              help="With --replace: delete the codings whose words are gone instead of "
              "keeping them aside.")
@click.option("--dry-run", is_flag=True,
              help="Print what the import would do (new, unchanged and replaced sources, "
              "where each replaced source's codings go) and change nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was done (or would be) as one JSON object.")
def import_(project: Path, paths: tuple[Path, ...], cases_csv: Path | None, redact: bool,
            roster: Path | None, key: Path | None, model: str | None, skip_bad: bool,
            replace_changed: bool, drop_orphans: bool, dry_run: bool, as_json: bool) -> None:
    """Import transcripts (.txt .md .docx .vtt .srt, files or folders) into PROJECT.

    One transaction: if any file is bad nothing is imported (unless --skip-bad). Re-importing
    an unchanged file changes nothing; a corrected transcript needs --replace (see what it
    would do first with --replace --dry-run). A replacement keeps every coding whose words are
    still there, under the segment they are in now (a span follows its words); the others are
    orphaned, listed, and kept aside (put one back with 'tipqual code reattach'). It is
    recorded as one step, with a copy of the study as it was ('tipqual history').

    \b
    Example:
      tipqual import study.db transcripts_sample/transcripts \\
          --cases transcripts_sample/cases.csv
      tipqual import study.db interviews/ --redact --roster staff.txt
      tipqual import study.db interviews/CSO-03.txt --replace --dry-run
    """
    from tipqual.ingest.importer import import_paths

    if drop_orphans and not replace_changed:
        raise click.UsageError("--drop-orphans goes with --replace")
    with open_project(project) as p:
        report = import_paths(p, paths, cases_csv=cases_csv, redact=redact or key is not None,
                              roster=roster, skip_bad=skip_bad, replace=replace_changed,
                              model=model, progress=progress(), key=key, dry_run=dry_run,
                              drop_orphans=drop_orphans)
    if as_json:
        echo_json(_as_json(report))
        return
    if dry_run:
        click.echo("Dry run: nothing was written. The import would do this:")
    click.echo(_summary(report))
    _plan(report, project)
    # Redaction may change ids: name each one so the user can find it in the study (the
    # originals are shown only here, to the person importing; the study keeps the new ids).
    for path, sid in report.renamed_sources:
        click.echo(f"Source id pseudonymised: {path} is stored as {sid!r}")
    for case, new in report.renamed_cases:
        click.echo(f"Case id pseudonymised: {case!r} (cases.csv) is stored as {new!r}")
    for column, new in report.renamed_columns:
        click.echo(f"Column pseudonymised: {column!r} (cases.csv) is stored as {new!r}")
    changed = set(report.changed)
    for path, reason in report.skipped:
        advice = " (import it with --replace to take the new text)" if path in changed else ""
        click.echo(f"Skipped {path}: {reason}{advice}", err=True)
    for path in report.passed_over:
        what = "Passed over" if "(the same file as " in path else "Not a transcript, passed over"
        click.echo(f"{what}: {path}", err=True)
    for sid, twin in report.same_as:
        click.echo(f"Note: the file of source {sid!r} has the same bytes as source {twin!r}'s "
                   "(the same transcript under another name?): both are in the study now and its "
                   "words count twice; if one is a mistake, make the study again without it",
                   err=True)
    if report.empty_cases:
        click.echo("Cases with no transcript yet: " + ", ".join(report.empty_cases), err=True)
    if report.uncased:
        click.echo("Not in cases.csv (case = source id): " + ", ".join(report.uncased), err=True)
    if report.key_path and not dry_run:
        click.echo(f"Redaction key: {report.key_path} (keep it apart from the study)")


def _summary(report: ImportReport) -> str:
    """One line: what the import did with new, unchanged and replaced sources."""
    new = f"{count(len(report.imported), 'new source')}"
    if report.imported:
        new += f" ({count(report.new_segments, 'segment')})"
    unchanged = f"{len(report.unchanged)} unchanged"
    if report.unchanged:
        unchanged += f" ({count(report.unchanged_segments, 'segment')} already in the study)"
    replaced = f"{len(report.replaced)} replaced"
    if report.replaced:
        replaced += f" (now {count(report.replaced_segments, 'segment')})"
    skipped = f"; {len(report.skipped)} skipped" if report.skipped else ""
    verb = "Would import" if report.dry_run else "Imported"
    return (f"{verb} {new}; {unchanged}; {replaced}{skipped}; "
            f"{count(report.cases, 'case')} in the study.")


_OUTCOME_WORDS = {"kept": "kept", "moved": "moved", "reanchored": "re-anchored",
                  "orphaned": "orphaned", "dropped": "dropped"}


def _fates(counts: dict[str, int], drop_orphans: bool) -> str:
    """Where a replaced source's codings go, e.g. "4 kept, 0 moved, 0 re-anchored, 0 orphaned,
    1 suggestion dropped" (the dropped ones are unreviewed suggestions, named as such in the
    number's form; shown only when there are some)."""
    words = dict(_OUTCOME_WORDS, orphaned="removed" if drop_orphans else "orphaned")
    shown = [f"{count(counts[k], 'suggestion')} {w}" if k == "dropped" else f"{counts[k]} {w}"
             for k, w in words.items() if k != "dropped" or counts[k]]
    return ", ".join(shown)


def _plan(report: ImportReport, project: Path) -> None:
    """The plan (the dry run's, and what the real run did): the new sources (dry run only),
    and per replaced source where its codings go, per coder, each orphan named."""
    if report.dry_run:
        for sid in report.imported:
            click.echo(f"  new {sid} ({count(report.source_segments[sid], 'segment')})")
    from tipqual.ingest.reanchor import covered_text, excerpt_of

    verb = "remove" if report.drop_orphans else "orphan"
    for plan in report.plans:
        sid = plan.source
        click.echo(f"  replace {sid} (now {count(report.source_segments[sid], 'segment')}): "
                   f"codings {_fates(plan.counts(), report.drop_orphans)}")
        for coder, counts in plan.by_coder().items():
            click.echo(f"    {coder}: {_fates(counts, report.drop_orphans)}")
        if plan.copies:  # a paragraph split in pieces: its codings on every piece
            click.echo(f"    {count(len(plan.copies), 'coding')} of paragraphs split in "
                       "pieces also put on the other pieces")
        for o in plan.orphans:
            c = o.coding
            words = excerpt_of(covered_text(c, o.segment_text), 50)
            click.echo(f"    {verb} {c.segment} {c.code} by {c.coder} ({c.status}): "
                       f"\"{words}\" ({o.reason})")
    if report.dry_run and report.key_path:
        click.echo(f"  redaction key {report.key_path} would be written or updated")
    orphaned = sum(len(p.orphans) for p in report.plans)
    if orphaned and not report.drop_orphans:
        kept = "would be kept aside" if report.dry_run else "are kept aside"
        click.echo(f"Orphaned codings {kept}: list them with 'tipqual code orphans {project}', "
                   f"put one back with 'tipqual code reattach {project} ID SEGMENT'.")
    if report.step is not None:
        click.echo(f"Recorded as step {report.step} ('tipqual history {project}'); the study "
                   f"as it was is kept in {report.backup}.")


def _as_json(report: ImportReport) -> dict[str, object]:
    """``import --json``: what the import did (or would do), the replacements' plans."""
    return {"dry_run": report.dry_run, "imported": report.imported,
            "unchanged": report.unchanged, "replaced": report.replaced,
            "skipped": [{"path": path, "reason": reason} for path, reason in report.skipped],
            "passed_over": report.passed_over, "segments": report.source_segments,
            "cases": report.cases, "uncased": report.uncased,
            "empty_cases": report.empty_cases,
            "renamed_sources": [{"path": p, "source": s} for p, s in report.renamed_sources],
            "renamed_cases": [{"case": c, "stored": s} for c, s in report.renamed_cases],
            "renamed_columns": [{"column": c, "stored": s} for c, s in report.renamed_columns],
            "same_as": [{"source": s, "same_as": t} for s, t in report.same_as],
            "drop_orphans": report.drop_orphans,
            "replacements": [p.to_dict() for p in report.plans],
            "key": report.key_path, "step": report.step, "backup": report.backup}


@click.command()
@project_argument
@click.option("--source", "source", help="Only the segments of this source.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {id, case, source, speaker, role, start, end, text}.")
def segments(project: Path, source: str | None, as_json: bool) -> None:
    """List the segments of PROJECT with their speaker, role, offsets and text.

    \b
    Example:
      tipqual segments study.db --source CSO-01 --json
    """
    from tipqual.ingest.importer import segment_rows

    with open_project(project, readonly=True) as p:
        rows = segment_rows(p, source)
    if as_json:
        echo_json(rows)
        return
    click.echo(f"{'id':<16} {'case':<10} {'speaker':<16} {'role':<11} text")
    for r in rows:
        text = " ".join(r["text"].split())
        text = text if len(text) <= 60 else text[:59] + "…"
        click.echo(f"{r['id']:<16} {r['case'] or '-':<10} {(r['speaker'] or '-')[:16]:<16} "
                   f"{r['role']:<11} {text}")
