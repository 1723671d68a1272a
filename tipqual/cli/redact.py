"""``tipqual redact check``: what in a study still looks like personal information."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import count, echo_json, open_project, project_argument


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

    Every string stored in the study file is looked at: the settings (the study's name), case
    ids and attributes, source ids, paths and texts, segment speakers, texts and metadata,
    codings (memos, provenance, coders), retired codings (the text of the segment they were
    on, memos), steps (summaries and plans), every field of the audit log, every codebook
    version stored (names, definitions, examples), stakeholder mentions, and any other text in
    the file. The check is wider than --redact: ID numbers in any grouping, phone-like groups
    of 9 to 12 digits. Names are looked for only with --roster. One line per place and kind,
    naming the record and the field; what was found is never printed. Exit status 1 when
    anything is found, else 0.

    Not looked at: files beside the study. The copies kept before a step, a restore or an
    upgrade (STUDY.step1.bak …) hold the study as it was then; a note names them: check each
    with 'tipqual redact check COPY', or delete them. The redaction key holds the originals
    by design: keep it apart.

    \b
    Example:
      tipqual redact check study.db --roster staff.txt
    """
    from tipqual.ingest.redact import check_study, read_roster, study_copies

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
        click.echo(f"Residual PII: {count(len(findings), 'finding')}; import the transcripts again "
                   "into a new study with --redact and --roster, or correct them, then check "
                   "again", err=True)
    copies = study_copies(project)
    if copies:
        click.echo(f"Note: not looked at: {len(copies)} cop{'y' if len(copies) == 1 else 'ies'} "
                   f"of the study beside it ({', '.join(c.name for c in copies)}); check each "
                   "with 'tipqual redact check COPY' or delete them", err=True)
    if findings:
        click.get_current_context().exit(1)
