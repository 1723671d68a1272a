"""``tipqual redact check``: what in a study still looks like personal information."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import echo_json, open_project, project_argument


@click.group()
def redact() -> None:
    """Pseudonymisation: check a study for personal information left in clear."""


@redact.command()
@project_argument
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              help="People whose names must not appear, one name a line (as for import).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"clean", "count", "findings": [{where, id, field, kind, count}]}.')
def check(project: Path, roster: Path | None, as_json: bool) -> None:
    """List what in PROJECT still looks like an e-mail, phone or SA ID number, or a name.

    Every string of the study is looked at (case ids and attributes, source ids, paths and
    texts, segment speakers and texts, coding memos, the audit log), the codebook excepted.
    Names are looked for only with --roster. One line per place and kind; the values
    themselves are never printed. Exit status 1 when anything is found, else 0.

    \b
    Example:
      tipqual redact check study.db --roster staff.txt
    """
    from tipqual.ingest.redact import check_study, read_roster

    names = read_roster(roster) if roster is not None else []
    with open_project(project, readonly=True) as p:
        findings = check_study(p, names)
    if as_json:
        echo_json({"clean": not findings, "count": len(findings),
                   "findings": [{"where": f.where, "id": f.id, "field": f.field,
                                 "kind": f.kind, "count": f.count} for f in findings]})
    elif not findings:
        click.echo("no residual PII found")
    else:
        for f in findings:
            click.echo(f.line())
        click.echo(f"Residual PII: {len(findings)} findings; import the transcripts again "
                   "into a new study with --redact and --roster, or correct them, then check "
                   "again", err=True)
    if findings:
        click.get_current_context().exit(1)
