"""``tipqual code add|remove|import|export``: codings by hand and as CSV."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import OutputFile, open_project, project_argument

_STATUSES = ("human", "suggested", "accepted", "rejected")


@click.group()
def code() -> None:
    """Add, remove, import and export codings (every change is audited)."""


@code.command()
@project_argument
@click.argument("segment")
@click.option("--coder", required=True, help="Who codes (your name).")
@click.option("--code", "code_id", required=True, help="A code id of the study's codebook.")
@click.option("--memo", help="A note to keep with the coding.")
def add(project: Path, segment: str, coder: str, code_id: str, memo: str | None) -> None:
    """Code SEGMENT (e.g. CSO-01:12) with CODE by hand.

    \b
    Example:
      tipqual code add study.db --coder alice --code trust CSO-01:12
    """
    from tipqual.coding.csvio import add_coding

    with open_project(project) as p:
        outcome = add_coding(p, segment, code_id, coder, memo)
    click.echo(f"{outcome.capitalize()}: {segment} {code_id} by {coder}")


@code.command()
@project_argument
@click.argument("segment")
@click.option("--coder", required=True, help="Whose coding to remove.")
@click.option("--code", "code_id", required=True, help="The code to take off the segment.")
def remove(project: Path, segment: str, coder: str, code_id: str) -> None:
    """Remove CODE by CODER from SEGMENT.

    \b
    Example:
      tipqual code remove study.db --coder alice --code trust CSO-01:12
    """
    from tipqual.coding.csvio import remove_coding

    with open_project(project) as p:
        remove_coding(p, segment, code_id, coder)
    # an older study may hold a name with control characters: never echo those raw
    click.echo(f"Removed: {segment} {code_id} by {coder if coder.isprintable() else repr(coder)}")


@code.command("import")
@project_argument
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False, path_type=Path))
def import_(project: Path, csv_path: Path) -> None:
    """Import codings from CSV (header segment,code,coder[,memo]); all or nothing.

    \b
    Example:
      tipqual code import study.db transcripts_sample/codings/coder-a.csv
    """
    from tipqual.coding.csvio import import_codings

    with open_project(project) as p:
        result = import_codings(p, csv_path)
    click.echo(f"Codings: {result.added} added, {result.updated} updated, "
               f"{result.unchanged} unchanged")


@code.command()
@project_argument
@click.option("--out", required=True, type=OutputFile(".csv"), help="The CSV file to write.")
@click.option("--status", "statuses", multiple=True,
              help=f"Only codings with these statuses ({', '.join(_STATUSES)}; repeatable or "
              "comma-separated).")
@click.option("--coder", "coders", multiple=True,
              help="Only these coders' codings (repeatable or comma-separated).")
def export(project: Path, out: Path, statuses: tuple[str, ...], coders: tuple[str, ...]) -> None:
    """Write codings to a CSV: segment,code,coder,status,score,provenance,memo,case,source,text.

    \b
    Example:
      tipqual code export study.db --out codings.csv --status human,accepted
    """
    from tipqual.coding.csvio import export_codings

    with open_project(project, readonly=True) as p:
        n = export_codings(p, out, _split(statuses), _split(coders))
    click.echo(f"Wrote {n} codings to {out}")


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]
