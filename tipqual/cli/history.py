"""``tipqual history``: the steps that moved codings wholesale, and putting one back."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import count, echo_json, open_project, project_argument


@click.command()
@project_argument
@click.option("--restore", "restore", type=int, metavar="N",
              help="Put the study back as it was just before step N (from the copy made then).")
@click.option("--discard-later", is_flag=True,
              help="With --restore: also when later steps or coding changes would be undone "
              "(the current state is kept as a copy first).")
@click.option("--dry-run", is_flag=True, help="With --restore: say what would be put back.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {id, at, actor, command, kind, summary, backup, plan} "
              "(with --restore: one JSON object of what was done).")
def history(project: Path, restore: int | None, discard_later: bool, dry_run: bool,
            as_json: bool) -> None:
    """List the steps of PROJECT: transcripts replaced (their codings re-anchored), codebook
    versions applied, restores. Each was one transaction, made after a copy of the study
    (NAME.stepN.bak, beside it), and its audit entries carry its number.

    With --restore N the study goes back to the copy made before step N. This is refused when
    anything changed after step N, unless --discard-later; either way the state it replaces is
    kept as NAME.restoreN.bak, and the steps and audit log stay whole (the restore is a step).

    \b
    Example:
      tipqual history study.db
      tipqual history study.db --restore 2 --dry-run
      tipqual history study.db --restore 2
    """
    if restore is None:
        if discard_later or dry_run:
            raise click.UsageError("--discard-later and --dry-run go with --restore N")
        _list(project, as_json)
        return
    with open_project(project) as p:
        done = p.restore_step(restore, discard_later=discard_later, dry_run=dry_run)
    if as_json:
        echo_json(done)
        return
    undone = done["undone"]
    lost = done["discarded"]
    lost_words = (f"; {count(lost['steps'], 'later step')} and "
                  f"{count(lost['audit_entries'], 'later coding change')} undone"
                  if lost["steps"] or lost["audit_entries"] else "")
    if lost["other"]:
        lost_words += f"; later changes to {', '.join(lost['other'])} undone"
    if dry_run:
        click.echo(f"Dry run: nothing was changed. Restoring would put back {done['copy']}, "
                   f"the study before step {undone['id']} ({undone['kind']}: "
                   f"{undone['summary']}){lost_words}; the current state would be kept as "
                   f"{done['kept']}.")
        return
    click.echo(f"Restored the study as it was before step {undone['id']} ({undone['kind']}: "
               f"{undone['summary']}){lost_words}. Recorded as step {done['step']}; the state "
               f"it replaced is kept as {done['kept']}.")


def _list(project: Path, as_json: bool) -> None:
    with open_project(project, readonly=True) as p:
        steps = p.steps()
    if as_json:
        echo_json([{"id": s.id, "at": s.at, "actor": s.actor, "command": s.command,
                    "kind": s.kind, "summary": s.summary, "backup": s.backup, "plan": s.plan}
                   for s in steps])
        return
    if not steps:
        click.echo("No steps yet: a replaced transcript or an applied codebook is listed here.")
        return
    for s in steps:
        copy = f" [before: {s.backup}]" if s.backup else ""
        click.echo(f"{s.id:>3}  {s.at[:19].replace('T', ' ')}  {s.actor:<12} {s.kind:<15} "
                   f"{s.summary}{copy}")
    click.echo(f"Put the study back before step N with 'tipqual history {project} --restore N "
               "--dry-run' (then without --dry-run).")
