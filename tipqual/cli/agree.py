"""``tipqual agree`` (inter-coder agreement) and ``tipqual merge`` (coders' copies)."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import OutputFile, echo_json, open_project, project_argument


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


@click.command()
@project_argument
@click.option("--coders", required=True, help="Two or more coder names, comma-separated.")
@click.option("--codes", help="Only these codes, comma-separated (default: the codebook's "
              "codes and any other code these coders used).")
@click.option("--cases", help="Only segments of these cases, comma-separated.")
@click.option("--status", "statuses", default="human,accepted", show_default=True,
              help="Codings with these statuses count as applying a code.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--disagreements", "disagreements_csv", type=OutputFile(".csv"),
              help="Write every segment the coders coded differently to this CSV.")
def agree(project: Path, coders: str, codes: str | None, cases: str | None, statuses: str,
          as_json: bool, disagreements_csv: Path | None) -> None:
    """Agreement between coders, per code and overall (percent, kappa, alpha).

    A unit is a segment; with two coders, the segments both coded. Kappa is Cohen's for two
    coders, Fleiss' for more; alpha is Krippendorff's (nominal).

    \b
    Example:
      tipqual agree study.db --coders alice,bob --disagreements to-discuss.csv
    """
    from tipqual.analysis import agreement
    with open_project(project) as p:
        result = agreement.compare_coders(p, _names(coders) or [], codes=_names(codes),
                                          cases=_names(cases), statuses=_names(statuses) or [])
    if disagreements_csv is not None:
        agreement.write_disagreements(result.disagreements, result.table.coders,
                                      disagreements_csv)
    if as_json:
        echo_json(result.table.to_dict())
    else:
        click.echo(agreement.format_table(result.table))
    if disagreements_csv is not None:
        click.echo(f"{len(result.disagreements)} disagreements written to {disagreements_csv}",
                   err=as_json)


@click.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...",
                type=click.Path(dir_okay=False, path_type=Path))
def merge(target: Path, sources: tuple[Path, ...]) -> None:
    """Bring coders' copies SOURCE... of a study into TARGET (all or nothing).

    Codings, decisions, memos and audit entries are copied under each coder's own name; a copy
    whose transcripts differ from the target's is refused and nothing is merged. Re-merging a
    copy adds nothing.

    \b
    Example:
      tipqual merge study.db alice.db bob.db
    """
    from tipqual.coding.merge import merge as merge_copies

    with open_project(target) as p:
        report = merge_copies(p, list(sources))
    for part in report.sources:
        click.echo(f"{part.path}: {part.added} codings added, {part.updated} updated, "
                   f"{part.unchanged} unchanged, {len(part.conflicts)} conflicts, "
                   f"{part.audit_added} audit entries added"
                   + (f", {part.kept_removed} kept removed" if part.kept_removed else "")
                   + f" (coders: {', '.join(part.coders) or '-'})")
        for c in part.conflicts:
            click.echo(f"  conflict {c.segment} {c.code} by {c.coder}: kept the target's "
                       f"{c.target['status']} (memo {c.target['memo']!r}); the copy has "
                       f"{c.copy['status']} (memo {c.copy['memo']!r})")
        for note in part.notes:
            click.echo(f"  note: {note}")
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
