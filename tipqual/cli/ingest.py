"""``tipqual import`` and ``tipqual segments``."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import (
    echo_json,
    open_project,
    progress,
    project_argument,
)

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
              help="Re-segment files that changed since they were imported.")
def import_(project: Path, paths: tuple[Path, ...], cases_csv: Path | None, redact: bool,
            roster: Path | None, key: Path | None, model: str | None, skip_bad: bool,
            replace_changed: bool) -> None:
    """Import transcripts (.txt .md .docx .vtt .srt, files or folders) into PROJECT.

    One transaction: if any file is bad nothing is imported (unless --skip-bad). Re-importing
    an unchanged file changes nothing.

    \b
    Example:
      tipqual import study.db transcripts_sample/transcripts \\
          --cases transcripts_sample/cases.csv
      tipqual import study.db interviews/ --redact --roster staff.txt
    """
    from tipqual.ingest.importer import import_paths

    with open_project(project) as p:
        report = import_paths(p, paths, cases_csv=cases_csv, redact=redact or key is not None,
                              roster=roster, skip_bad=skip_bad, replace=replace_changed,
                              model=model, progress=progress(), key=key)
    click.echo(f"Imported {len(report.imported)} sources ({report.segments} segments); "
               f"unchanged {len(report.unchanged)}; replaced {len(report.replaced)}; "
               f"{report.cases} cases in the study.")
    # Redaction may change ids: name each one so the user can find it in the study (the
    # originals are shown only here, to the person importing; the study keeps the new ids).
    for path, sid in report.renamed_sources:
        click.echo(f"Source id pseudonymised: {path} is stored as {sid!r}")
    for case, new in report.renamed_cases:
        click.echo(f"Case id pseudonymised: {case!r} (cases.csv) is stored as {new!r}")
    for path, reason in report.skipped:
        click.echo(f"Skipped {path}: {reason}", err=True)
    for path in report.passed_over:
        click.echo(f"Not a transcript, passed over: {path}", err=True)
    if report.empty_cases:
        click.echo("Cases with no transcript yet: " + ", ".join(report.empty_cases), err=True)
    if report.uncased:
        click.echo("Not in cases.csv (case = source id): " + ", ".join(report.uncased), err=True)
    for c in report.removed_codings:
        click.echo(f"Removed coding {c.segment} {c.code} by {c.coder}: the segment text "
                   "changed", err=True)
    if report.key_path:
        click.echo(f"Redaction key: {report.key_path} (keep it apart from the study)")


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
