"""``tipqual code add|remove|import|export|orphans|reattach``: codings by hand and as CSV, and
the codings taken out of play."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tipqual.cli.common import OutputFile, count, echo_json, open_project, project_argument

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
    click.echo(f"Wrote {count(n, 'coding')}{which} to {out}")


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@code.command()
@project_argument
@click.option("--reason", type=click.Choice(["orphaned", "archived"]),
              help="Only codings retired for this reason (default: both).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {id, reason, segment, code, coder, status, span, "
              "memo, source, text, step, retired_at}.")
def orphans(project: Path, reason: str | None, as_json: bool) -> None:
    """List the codings taken out of play: orphaned (their words went away when a transcript
    was replaced) or archived (their code left the codebook).

    They count in no analysis. Put one back with 'tipqual code reattach PROJECT ID SEGMENT'.

    \b
    Example:
      tipqual code orphans study.db
      tipqual code orphans study.db --reason orphaned --json
    """
    from tipqual.ingest.reanchor import covered_text, excerpt_of

    with open_project(project, readonly=True) as p:
        retired = p.retired(reason)
    if as_json:
        echo_json([{"id": r.id, "reason": r.reason, "segment": r.coding.segment,
                    "code": r.coding.code, "coder": r.coding.coder, "status": r.coding.status,
                    "span": (None if r.coding.span_start is None
                             else [r.coding.span_start, r.coding.span_end]),
                    "memo": r.coding.memo, "source": r.source,
                    "text": covered_text(r.coding, r.segment_text), "step": r.step,
                    "retired_at": r.retired_at} for r in retired])
        return
    if not retired:
        click.echo("No retired codings.")
        return
    click.echo(f"{'id':>4} {'reason':<9} {'segment':<14} {'code':<22} {'coder':<12} text")
    for r in retired:
        c = r.coding
        words = excerpt_of(covered_text(c, r.segment_text), 50)
        click.echo(f"{r.id:>4} {r.reason:<9} {c.segment:<14} {c.code:<22} {c.coder:<12} "
                   f"{words}")
    click.echo(f"{len(retired)} retired; put one back with 'tipqual code reattach {project} "
               "ID SEGMENT'.")


def _span(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    start, sep, end = value.partition(":")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise click.BadParameter(f"{value!r} is not START:END (character offsets into the "
                                 "segment's text, e.g. 12:40)", param_hint="--span")
    return int(start), int(end)


@code.command()
@project_argument
@click.argument("retired_id", metavar="ID", type=int)
@click.argument("segment")
@click.option("--code", help="Put it back under this code of the codebook (default: its own, "
              "or the one that replaced it).")
@click.option("--span", "span_text", metavar="START:END",
              help="Put it on these characters of the segment's text. Default: a span coding "
              "goes where its old words stand in the segment, if they stand there once; "
              "otherwise (and a whole-segment coding always) on the whole segment.")
def reattach(project: Path, retired_id: int, segment: str, span_text: str | None,
             code: str | None) -> None:
    """Put retired coding ID (see 'tipqual code orphans') back on SEGMENT; audited.

    Its code must be one of the study's codebook: a code a newer codebook renamed or merged is
    followed to its successor ('replaces:'); a split one needs --code.

    \b
    Example:
      tipqual code reattach study.db 3 CSO-01:7
      tipqual code reattach study.db 4 CSO-01:7 --span 0:42
    """
    from tipqual.errors import CodingError
    from tipqual.ingest.reanchor import covered_text, find_span

    span = _span(span_text)
    with open_project(project) as p:
        found = next((r for r in p.retired() if r.id == retired_id), None)
        if found is None:
            raise CodingError(f"no retired coding {retired_id}; list them with 'tipqual code "
                              f"orphans {project}'", path=project)
        target_code = _current_code(p, found.coding.code, code, project)
        target = p.segment(segment)
        if target is None:
            raise CodingError(f"unknown segment {segment!r}; list them with 'tipqual "
                              "segments'", path=project)
        how = "" if span is None else " (the span given)"
        if span is None and found.coding.span_start is not None:
            span = find_span(covered_text(found.coding, found.segment_text), target.text)
            how = " (where its words stand)" if span else (
                " (on the whole segment: its words are not there as they were)")
        with p.atomic():
            back = p.reattach(retired_id, segment, span_start=span[0] if span else None,
                              span_end=span[1] if span else None, code=target_code)
    where = "" if back.span_start is None else f" characters {back.span_start}:{back.span_end}"
    was = "" if back.code == found.coding.code else f" (was {found.coding.code})"
    click.echo(f"Reattached: {back.segment}{where} {back.code}{was} by {back.coder}{how}")


def _current_code(p: Any, old: str, asked: str | None, project: Path) -> str:
    """The code of the current codebook a retired coding of ``old`` goes back under."""
    from tipqual.codebook.model import replacements
    from tipqual.errors import CodingError

    book = p.codebook()
    ids = book.ids if book is not None else [old]
    if asked is not None:
        if asked not in ids:
            raise CodingError(f"unknown code {asked!r}; this study's codes: {', '.join(ids)}",
                              path=project)
        return asked
    if old in ids:
        return old
    successors = replacements(book).get(old, []) if book is not None else []
    if len(successors) == 1:
        return successors[0]
    hint = (f"it was split into {', '.join(successors)}: choose one with --code"
            if successors else "choose a code of the codebook with --code")
    raise CodingError(f"code {old!r} is not in the study's codebook any more; {hint}",
                      path=project)
