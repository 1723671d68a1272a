"""``tipqual init`` and ``tipqual status``."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import echo_json, open_project, project_argument


@click.command()
@project_argument
@click.option("--codebook", "codebook_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Codebook YAML to store in the study (e.g. codebooks/tip-sa.yaml).")
@click.option("--name", help="A name for the study (default: the file name).")
def init(project: Path, codebook_path: Path | None, name: str | None) -> None:
    """Create a new study file PROJECT; refuses to overwrite an existing file.

    \b
    Example:
      tipqual init study.db --codebook codebooks/tip-sa.yaml
    """
    from tipqual.store.project import Project

    book = None
    if codebook_path is not None:
        from tipqual.codebook import model as codebook
        book = codebook.load(codebook_path)  # validate before anything is created
    Project.create(project, name=name,
                   fill=None if book is None else lambda p: p.set_codebook(book)).close()
    msg = f"Created {project}"
    if book is not None:
        msg += f" with codebook {book.name} v{book.version} ({len(book.codes)} codes)"
    click.echo(msg)


@click.command()
@project_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(project: Path, as_json: bool) -> None:
    """Counts of cases, sources, segments, codes, coders and codings by status.

    \b
    Example:
      tipqual status study.db --json
    """
    with open_project(project, readonly=False) as p:
        counts = p.status()
        info = p.codebook_info()
    if as_json:
        echo_json(counts)
        return
    click.echo(f"study     {project}")
    if info:
        click.echo(f"codebook  {info['name']} v{info['version']} ({info['sha256'][:12]})")
    for key in ("cases", "sources", "segments", "codes"):
        click.echo(f"{key:<9} {counts[key]}")
    click.echo(f"coders    {', '.join(counts['coders']) or '-'}")
    click.echo("codings   " + ", ".join(f"{k} {v}" for k, v in counts["codings"].items()))
