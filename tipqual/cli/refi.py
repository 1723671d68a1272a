"""``tipqual refi export`` and ``tipqual refi import``: REFI-QDA project exchange (.qdpx)."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import open_project, project_argument


@click.group()
def refi() -> None:
    """Exchange whole projects with NVivo, ATLAS.ti, MAXQDA and QualCoder (REFI-QDA .qdpx)."""


@refi.command("export")
@project_argument
@click.option("--out", "out", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The .qdpx archive to write.")
def export(project: Path, out: Path) -> None:
    """Write PROJECT as a REFI-QDA .qdpx archive (sources, codebook, cases, codings, memos).

    \b
    Example:
      tipqual refi export study.db --out study.qdpx
    """
    from tipqual.exchange.export import export_project

    with open_project(project, readonly=True) as p:
        counts = export_project(p, out)
    click.echo(f"Wrote {out}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@refi.command("import")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@project_argument
@click.option("--allow-missing", is_flag=True,
              help="Import even when text sources with codings are missing from the archive "
                   "(they and their codings are skipped and listed).")
def import_(archive: Path, project: Path, allow_missing: bool) -> None:
    """Create the new study PROJECT from a REFI-QDA .qdpx archive (or a bare .qde file).

    Selections whose positions fall outside their text are refused and listed; selections that
    cannot be placed exactly (a boundary inside a word or a character) are imported and listed.

    \b
    Example:
      tipqual refi import partner.qdpx study.db
    """
    from tipqual.exchange.importer import import_project

    report = import_project(archive, project, command="refi import",
                            allow_missing=allow_missing)
    click.echo(f"Created {project} from {archive} ({report['origin'] or 'unknown tool'}): "
               f"{report['sources']} sources, {report['segments']} segments, "
               f"{report['codes']} codes, {report['cases']} cases, "
               f"{report['codings']} codings by {len(report['coders'])} coders")
    for title, key in (("Missing from the archive (skipped)", "missing"),
                       ("Not text (skipped)", "skipped"), ("Not imported", "dropped"),
                       ("Refused selections (positions outside the text)", "refused"),
                       ("Not placed exactly (check these in the other tool)", "inexact"),
                       ("Notes", "notes")):
        if report[key]:
            click.echo(f"{title}:")
            for item in report[key]:
                click.echo(f"  {item}")
