"""``tipqual init``, ``tipqual set`` and ``tipqual status``."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import count, echo_json, open_project, project_argument


@click.command()
@project_argument
@click.option("--codebook", "codebook_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Codebook YAML to store in the study (e.g. codebooks/tip-sa.yaml).")
@click.option("--name", help="The study's name, the title of its report (default: the file "
              "name; change it later with 'tipqual set').")
def init(project: Path, codebook_path: Path | None, name: str | None) -> None:
    """Create a new study file PROJECT; refuses to overwrite an existing file.

    \b
    Example:
      tipqual init study.db --codebook codebooks/tip-sa.yaml --name "TIP partnerships"
    (the name is the report's title; change it later with 'tipqual set study.db --name')
    """
    from tipqual.store.project import Project

    if name is not None:
        name = study_name(name, project)
    book = None
    if codebook_path is not None:
        from tipqual.codebook import model as codebook
        book = codebook.load(codebook_path)  # validate before anything is created
    Project.create(project, name=name,
                   fill=None if book is None else lambda p: p.set_codebook(book)).close()
    msg = f"Created {project}"
    if book is not None:
        msg += f" with codebook {book.name} v{book.version} ({count(len(book.codes), 'code')})"
    click.echo(msg)


def study_name(text: str, path: Path | None = None) -> str:
    """A study's name (the report's title) as given, trimmed; refused if empty or unprintable.

    Control, formatting and line-separator characters (a newline, a terminal escape, a
    direction override) would break the report's title and the one-line messages that show it.
    """
    import unicodedata

    from tipqual.errors import ProjectError

    name = text.strip()
    if not name:
        raise ProjectError("the study's name must not be empty; give a few words, e.g. "
                           "--name 'Shelters in Gauteng, 2024'", path=path)
    bad = next((ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ProjectError(f"the study's name holds a control or formatting character "
                           f"(U+{ord(bad):04X}); give it as plain text on one line",
                           path=path)
    return name


@click.command("set")
@project_argument
@click.option("--name", required=True,
              help="The study's name, the title of its report ('Findings: NAME').")
def set_(project: Path, name: str) -> None:
    """Change a setting of the study PROJECT: its name (the report's title).

    \b
    Example:
      tipqual set study.db --name "TIP partnerships, ten organisations"
    """
    new = study_name(name, project)
    with open_project(project) as p:
        old = p.meta("name") or project.stem
        with p.atomic():
            p.set_meta("name", new)
    click.echo(f"{project}: the study's name is now {new!r} (it was {old!r})")


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
    # "suggested": the suggestions no person has accepted or rejected yet
    click.echo("codings   " + ", ".join(
        f"{k} {v}" + (" (awaiting review)" if k == "suggested" else "")
        for k, v in counts["codings"].items()))
    if counts.get("retired"):
        # codings taken out of play by a replaced transcript or a codebook version: kept whole
        click.echo("retired   " + ", ".join(f"{k} {v}" for k, v in counts["retired"].items())
                   + f" (list them: tipqual code orphans {project})")
