"""``tipqual import`` and ``tipqual segments``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tipqual.cli.common import (
    echo_json,
    open_project,
    progress,
    project_argument,
)

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.ingest.importer import ImportReport

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("import")
@project_argument
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--cases", "cases_csv", type=_FILE,
              help="cases.csv: columns case, source and any case attributes.")
@click.option("--redact", is_flag=True,
              help="Replace e-mails, URLs, phone and ID numbers and names before storing.")
@click.option("--roster", type=_FILE, help="People to pseudonymise, one name a line "
              "(implies --redact).")
@click.option("--key", "key", type=_FILE, help="Redaction key file (default: "
              "STUDY.redaction-key.json next to the study; implies --redact).")
@click.option("--model", help="Installed trained spaCy pipeline whose PERSON entities are "
              "pseudonymised too (implies --redact).")
@click.option("--skip-bad", is_flag=True, help="Import the good files, list the bad ones.")
@click.option("--replace", "replace_changed", is_flag=True,
              help="Re-segment files that changed since they were imported (codings on "
              "segments whose text changed are removed).")
@click.option("--dry-run", is_flag=True,
              help="Print what the import would do (new, unchanged and replaced sources, "
              "codings removed) and change nothing.")
def import_(project: Path, paths: tuple[Path, ...], cases_csv: Path | None, redact: bool,
            roster: Path | None, key: Path | None, model: str | None, skip_bad: bool,
            replace_changed: bool, dry_run: bool) -> None:
    """Import transcripts (.txt .md .docx .vtt .srt, files or folders) into PROJECT.

    One transaction: if any file is bad nothing is imported (unless --skip-bad). Re-importing
    an unchanged file changes nothing; a corrected transcript needs --replace (see what it
    would do first with --replace --dry-run).

    \b
    Example:
      tipqual import study.db transcripts_sample/transcripts \\
          --cases transcripts_sample/cases.csv
      tipqual import study.db interviews/ --redact --roster staff.txt
      tipqual import study.db interviews/CSO-03.txt --replace --dry-run
    """
    from tipqual.ingest.importer import import_paths

    with open_project(project) as p:
        report = import_paths(p, paths, cases_csv=cases_csv, redact=redact or key is not None,
                              roster=roster, skip_bad=skip_bad, replace=replace_changed,
                              model=model, progress=progress(), key=key, dry_run=dry_run)
    if dry_run:
        click.echo("Dry run: nothing was written. The import would do this:")
    click.echo(_summary(report))
    if dry_run:
        _plan(report)
    # Redaction may change ids: name each one so the user can find it in the study (the
    # originals are shown only here, to the person importing; the study keeps the new ids).
    for path, sid in report.renamed_sources:
        click.echo(f"Source id pseudonymised: {path} is stored as {sid!r}")
    for case, new in report.renamed_cases:
        click.echo(f"Case id pseudonymised: {case!r} (cases.csv) is stored as {new!r}")
    changed = set(report.changed)
    for path, reason in report.skipped:
        advice = " (import it with --replace to take the new text)" if path in changed else ""
        click.echo(f"Skipped {path}: {reason}{advice}", err=True)
    for path in report.passed_over:
        click.echo(f"Not a transcript, passed over: {path}", err=True)
    if report.empty_cases:
        click.echo("Cases with no transcript yet: " + ", ".join(report.empty_cases), err=True)
    if report.uncased:
        click.echo("Not in cases.csv (case = source id): " + ", ".join(report.uncased), err=True)
    if not dry_run:
        for c in report.removed_codings:
            click.echo(f"Removed coding {c.segment} {c.code} by {c.coder}: the segment text "
                       "changed", err=True)
    if report.key_path and not dry_run:
        click.echo(f"Redaction key: {report.key_path} (keep it apart from the study)")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _summary(report: ImportReport) -> str:
    """One line: what the import did with new, unchanged and replaced sources."""
    new = f"{_count(len(report.imported), 'new source')}"
    if report.imported:
        new += f" ({_count(report.new_segments, 'segment')})"
    unchanged = f"{len(report.unchanged)} unchanged"
    if report.unchanged:
        unchanged += f" ({_count(report.unchanged_segments, 'segment')} already in the study)"
    replaced = f"{len(report.replaced)} replaced"
    if report.replaced:
        replaced += f" (now {_count(report.replaced_segments, 'segment')})"
    skipped = f"; {len(report.skipped)} skipped" if report.skipped else ""
    verb = "Would import" if report.dry_run else "Imported"
    return (f"{verb} {new}; {unchanged}; {replaced}{skipped}; "
            f"{_count(report.cases, 'case')} in the study.")


def _plan(report: ImportReport) -> None:
    """The dry run's plan, one line per new or replaced source and per coding removed."""
    for sid in report.imported:
        click.echo(f"  new {sid} ({_count(report.source_segments[sid], 'segment')})")
    for sid in report.replaced:
        click.echo(f"  replace {sid} (now {_count(report.source_segments[sid], 'segment')})")
    for c in report.removed_codings:
        click.echo(f"  remove coding {c.segment} {c.code} by {c.coder}: the segment text "
                   "changed")
    if report.key_path:
        click.echo(f"  redaction key {report.key_path} would be written or updated")


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
