"""``tipqual agree`` (inter-coder agreement) and ``tipqual merge`` (coders' copies)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tipqual.cli.common import OutputFile, count, echo_json, open_project, project_argument

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.coding.merge import Conflict


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
        names = _names(coders) or []
        _check_coders(names, p.coders())
        result = agreement.compare_coders(p, names, codes=_names(codes),
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


def _check_coders(names: list[str], known: list[str]) -> None:
    """Refuse a coder the study lacks, or one of tipqual's suggesters (``tipqual-rules``: its
    suggestions are proposals, not a coder's judgement), listing the people who coded (never
    the suggesters)."""
    from tipqual.coding.csvio import person_coders
    from tipqual.errors import AgreementError

    listed = ", ".join(person_coders(known)) or "none"
    for name in names:
        if not person_coders([name]):
            raise AgreementError(f"{name!r} is one of tipqual's suggesters, not a coder: "
                                 "agreement compares people; give this study's coders "
                                 f"({listed}), whose accepted suggestions count with --status "
                                 "human,accepted")
        if name not in known:
            raise AgreementError(f"unknown coder {name!r}; this study's coders: {listed}")


# Exit status of a merge that left conflicts for a person to settle (everything else merged).
EXIT_CONFLICTS = 2


def _state(state: dict[str, Any] | None) -> str:
    return "nothing (removed)" if state is None else f"{state['status']} (memo {state['memo']!r})"


def _conflict_line(c: Conflict) -> str:
    where = f"  conflict {c.segment} {c.code} by {c.coder}"
    if c.kind == "removed in the copy":
        return f"{where}: kept the target's {_state(c.target)}; the copy removed it"
    if c.kind == "removed in the target":
        return f"{where}: kept it removed, as in the target; the copy has {_state(c.copy)}"
    return f"{where}: kept the target's {_state(c.target)}; the copy has {_state(c.copy)}"


@click.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True,
              help="Print the plan (adds, updates, removals, conflicts) and write nothing.")
@click.option("--map-code", "map_codes", multiple=True, metavar="OLD=NEW",
              help="Merge the copies' codings of code OLD (not in the target's codebook) as "
                   "the target's code NEW (repeatable).")
def merge(target: Path, sources: tuple[Path, ...], dry_run: bool,
          map_codes: tuple[str, ...]) -> None:
    """Bring coders' copies SOURCE... of a study into TARGET (all or nothing).

    Codings, decisions, memos, removals and audit entries are copied under each coder's own
    name; a copy whose transcripts differ from the target's, or whose codings use codes the
    target's codebook lacks (see --map-code), is refused and nothing is merged. Re-merging a
    copy adds nothing. Where a copy and the target changed the same coding differently, the
    target's version is kept, the conflict is listed and the exit status is 2.

    \b
    Example:
      tipqual merge study.db alice.db bob.db --dry-run
      tipqual merge study.db alice.db --map-code stigma=discrimination
    """
    from tipqual.coding.merge import merge as merge_copies
    from tipqual.coding.merge import parse_code_map

    code_map = parse_code_map(map_codes)
    with open_project(target, readonly=dry_run) as p:
        report = merge_copies(p, list(sources), dry_run=dry_run, code_map=code_map)
    if dry_run:
        click.echo("Dry run: nothing was written. The merge would do this:")
    for part in report.sources:
        if dry_run:
            click.echo(f"{part.path}: would add {part.added}, update {part.updated}, remove "
                       f"{part.removed}; {part.unchanged} unchanged, {len(part.conflicts)} "
                       f"conflicts, {part.audit_added} audit entries to copy"
                       + (f", {part.kept_removed} kept removed" if part.kept_removed else "")
                       + f" (coders: {', '.join(part.coders) or '-'})")
            order = {"add": 0, "update": 1, "remove": 2}
            for change in sorted(part.changes, key=lambda c: order[c.action]):
                click.echo(f"  {change.action} {change.segment} {change.code} by "
                           f"{change.coder}")
        else:
            click.echo(f"{part.path}: {count(part.added, 'coding')} added, {part.updated} "
                       f"updated, {part.unchanged} unchanged, "
                       f"{count(len(part.conflicts), 'conflict')}, "
                       f"{count(part.audit_added, 'audit entry', 'audit entries')} added"
                       + (f", {part.removed} removed" if part.removed else "")
                       + (f", {part.kept_removed} kept removed" if part.kept_removed else "")
                       + f" (coders: {', '.join(part.coders) or '-'})")
        for c in part.conflicts:
            click.echo(_conflict_line(c))
        for note in part.notes:
            click.echo(f"  note: {note}")
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if report.conflicts:
        done = "would be kept" if dry_run else "was kept"
        click.echo(f"Conflicts: {report.conflicts}; the target's version {done} for each; "
                   "settle them in the target ('tipqual code add' or 'code remove')", err=True)
        click.get_current_context().exit(EXIT_CONFLICTS)
