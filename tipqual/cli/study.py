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
@click.option("--name", help="The study's name, the title of its report ('Findings: NAME').")
@click.option("--case-noun", help="The report's word for a case, e.g. 'site' or "
              "'person/people' (default: case; 'report --case-noun' overrides it once).")
@click.option("--quote-attribute", metavar="ATTRIBUTE",
              help="The case attribute named beside each quotation in the report, e.g. 'type' "
                   "('CSO-03, helpline'); '' names none (the default).")
def set_(project: Path, name: str | None, case_noun: str | None,
         quote_attribute: str | None) -> None:
    """Change the settings of the study PROJECT: its name (the report's title), its word for
    a case and the case attribute its report names beside quotations.

    \b
    Examples:
      tipqual set study.db --name "TIP partnerships, ten organisations"
      tipqual set study.db --case-noun clinic --quote-attribute district
    """
    from tipqual.analysis.stakemap import CASE_NOUN_SETTING
    from tipqual.errors import ProjectError
    from tipqual.report.context import QUOTE_ATTRIBUTE_SETTING

    if name is None and case_noun is None and quote_attribute is None:
        raise click.UsageError("give --name, --case-noun or --quote-attribute")
    changes: list[tuple[str, str, str]] = []  # (setting, value, what it is)
    if name is not None:
        changes.append(("name", study_name(name, project), "the study's name"))
    if case_noun is not None:
        changes.append((CASE_NOUN_SETTING, _case_noun(case_noun, project),
                        "the report's word for a case"))
    with open_project(project) as p:
        if quote_attribute is not None:
            wanted = quote_attribute.strip()
            known = sorted({k for c in p.cases() for k in c.attributes})
            if wanted and wanted not in known:
                listed = ", ".join(known) if known else "none yet (import a cases.csv)"
                raise ProjectError(f"no case has the attribute {wanted!r}; the study's "
                                   f"attributes: {listed}", path=project)
            changes.append((QUOTE_ATTRIBUTE_SETTING, wanted,
                            "the attribute named beside quotations"))
        before = {key: p.meta(key) for key, _, _ in changes}
        with p.atomic():
            for key, value, _ in changes:
                p.set_meta(key, value)
    for key, value, what in changes:
        old = before[key] if key != "name" else before[key] or project.stem
        click.echo(f"{project}: {what} is now {value!r}"
                   + (f" (it was {old!r})" if old else ""))


def _case_noun(text: str, project: Path) -> str:
    """A case noun as ``set --case-noun`` stores it: trimmed, and a word the report can use."""
    from tipqual.errors import ProjectError, ReportError
    from tipqual.report.context import case_noun

    if not text.strip():
        raise ProjectError("--case-noun must not be empty; give e.g. 'site' or "
                           "'person/people'", path=project)
    try:
        case_noun(text.strip())
    except ReportError as exc:
        raise ProjectError(exc.message, path=project) from None
    return text.strip()


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
