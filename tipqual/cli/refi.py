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
def import_(archive: Path, project: Path) -> None:
    """Create the new study PROJECT from a REFI-QDA .qdpx archive (or a bare .qde file).

    \b
    Example:
      tipqual refi import partner.qdpx study.db
    """
    from tipqual.exchange.importer import import_project

    report = import_project(archive, project, command="refi import")
    click.echo(f"Created {project} from {archive} ({report['origin'] or 'unknown tool'}): "
               f"{report['sources']} sources, {report['segments']} segments, "
               f"{report['codes']} codes, {report['cases']} cases, "
               f"{report['codings']} codings by {len(report['coders'])} coders")
    for title, key in (("Missing from the archive (skipped)", "missing"),
                       ("Not text (skipped)", "skipped"), ("Not imported", "dropped"),
                       ("Notes", "notes")):
        if report[key]:
            click.echo(f"{title}:")
            for item in report[key]:
                click.echo(f"  {item}")
