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
@click.argument("segments", metavar="SEGMENT...", nargs=-1, required=True)
@click.option("--coder", required=True, help="Who codes (your name).")
@click.option("--code", "code_id", required=True, help="A code id of the study's codebook.")
@click.option("--memo", help="A note to keep with the coding (with each, if several).")
def add(project: Path, segments: tuple[str, ...], coder: str, code_id: str,
        memo: str | None) -> None:
    """Code SEGMENT... (e.g. CSO-01:12) with CODE by hand; several at once, all or nothing.

    \b
    Example:
      tipqual code add study.db --coder alice --code trust CSO-01:12
      tipqual code add study.db --coder alice --code funding CSO-01:3 CSO-01:4 CSO-02:7
    """
    from tipqual.coding.csvio import add_codings

    with open_project(project) as p:
        outcomes = add_codings(p, segments, code_id, coder, memo)
    for segment, outcome in zip(dict.fromkeys(segments), outcomes, strict=True):
        click.echo(f"{outcome.capitalize()}: {segment} {code_id} by {coder}")


@code.command()
@project_argument
@click.argument("segments", metavar="SEGMENT...", nargs=-1, required=True)
@click.option("--coder", required=True, help="Whose coding to remove.")
@click.option("--code", "code_id", required=True, help="The code to take off the segments.")
def remove(project: Path, segments: tuple[str, ...], coder: str, code_id: str) -> None:
    """Remove CODE by CODER from SEGMENT...; several at once, all or nothing.

    \b
    Example:
      tipqual code remove study.db --coder alice --code trust CSO-01:12
      tipqual code remove study.db --coder alice --code trust CSO-01:12 CSO-01:13
    """
    from tipqual.coding.csvio import remove_codings

    with open_project(project) as p:
        removed = remove_codings(p, segments, code_id, coder)
    # an older study may hold a name with control characters: never echo those raw
    shown = coder if coder.isprintable() else repr(coder)
    for c in removed:
        click.echo(f"Removed: {c.segment} {code_id} by {shown}")


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
              "comma-separated), or 'all'. Default: human,accepted (the codings people "
              "applied); --status all adds undecided suggestions and rejections.")
@click.option("--coder", "coders", multiple=True,
              help="Only these coders' codings (repeatable or comma-separated).")
def export(project: Path, out: Path, statuses: tuple[str, ...], coders: tuple[str, ...]) -> None:
    """Write codings to a CSV: segment,code,coder,status,score,provenance,memo,case,source,text.

    By default only the codings people applied (human and accepted); --status all writes
    suggestions and rejections too.

    \b
    Example:
      tipqual code export study.db --out codings.csv
      tipqual code export study.db --out everything.csv --status all
    """
    from tipqual.coding.csvio import export_codings
    from tipqual.records import APPLIED_STATUSES

    chosen: list[str] | None = _split(statuses)
    default = not chosen
    if default:
        chosen = list(APPLIED_STATUSES)
    elif chosen is not None and "all" in chosen:
        chosen = None
    with open_project(project, readonly=True) as p:
        n = export_codings(p, out, chosen, _split(coders))
    which = (f" ({' and '.join(APPLIED_STATUSES)}; --status all writes every status)"
             if default else "")
    click.echo(f"Wrote {n} codings{which} to {out}")


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]
