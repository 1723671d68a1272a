"""``tipqual refi export`` and ``tipqual refi import``: REFI-QDA project exchange (.qdpx)."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import count, echo_json, open_project, project_argument, redaction_options


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
    click.echo(f"Wrote {out}: " + ", ".join(count(v, k.removesuffix("s"), k)
                                            for k, v in counts.items()))


_FILE = click.Path(dir_okay=False, path_type=Path)


@refi.command("import")
@click.argument("archive", type=_FILE)
@project_argument
@click.option("--allow-missing", is_flag=True,
              help="Import even when text sources with codings are missing from the archive "
                   "(they and their codings are skipped and listed).")
@redaction_options("Pseudonymise as 'tipqual import --redact' does: e-mails, URLs, phone and "
                   "ID numbers and names in texts, memos and every name (sources, cases and "
                   "their attributes, users).")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was imported (and renamed, refused, skipped) as one JSON object.")
def import_(archive: Path, project: Path, allow_missing: bool, redact: bool,
            roster: Path | None, key: Path | None, model: str | None, as_json: bool) -> None:
    """Create the new study PROJECT from a REFI-QDA .qdpx archive (or a bare .qde file).

    Selections whose positions fall outside their text are refused and listed; selections that
    cannot be placed exactly (a boundary inside a word or a character) are imported and listed.
    Names tipqual cannot store as given (a coder name 'code add' refuses; a source, case or
    attribute name with a line break, a control or an invisible character; with --redact, any
    name holding personal information) are stored under new names, each one listed.

    \b
    Example:
      tipqual refi import partner.qdpx study.db
      tipqual refi import partner.qdpx study.db --redact --roster people.txt
    """
    from tipqual.exchange.importer import import_project, renamed_line

    report = import_project(archive, project, command="refi import",
                            allow_missing=allow_missing, redact=redact, roster=roster,
                            key=key, model=model)
    if as_json:
        echo_json(report)
        return
    click.echo(f"Created {project} from {archive} ({report['origin'] or 'unknown tool'}): "
               f"{count(report['sources'], 'source')}, {count(report['segments'], 'segment')}, "
               f"{count(report['codes'], 'code')}, {count(report['cases'], 'case')}, "
               f"{count(report['codings'], 'coding')} by {count(len(report['coders']), 'coder')}")
    for title, key_ in (("Missing from the archive (skipped)", "missing"),
                        ("Not text (skipped)", "skipped"), ("Not imported", "dropped"),
                        ("Refused selections (positions outside the text)", "refused"),
                        ("Not placed exactly (check these in the other tool)", "inexact"),
                        ("Notes", "notes")):
        if report[key_]:
            click.echo(f"{title}:")
            for item in report[key_]:
                click.echo(f"  {_one_line(item)}")
    # the names as given are shown only here, to the person importing; the study keeps the new
    if report["renamed"]:
        click.echo("Renamed (the study keeps the new names):")
        for entry in report["renamed"]:
            click.echo(f"  {renamed_line(entry)}")
    if report["key"]:
        click.echo(f"Redaction key: {report['key']} (keep it apart from the study)")


def _one_line(text: str) -> str:
    """A report item on one line: line breaks, control and formatting characters escaped (a
    partner's source names can hold them)."""
    import unicodedata

    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
                   and ch not in "\u200c\u200d" else ch for ch in text)
