"""``tipqual workbench``: the full-screen coding workbench (Textual, loaded only when run)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tipqual.cli.common import on_interrupt, open_project, project_argument


@click.command()
@project_argument
@click.option("--coder", required=True, help="Your name: every coding and decision is saved "
                                             "under it.")
@click.option("--source", help="Open this source (transcript) first, e.g. CSO-03.")
@click.option("--segment", "segment_id", help="Open at this segment, e.g. CSO-03:12.")
@click.option("--blind", is_flag=True, help="Hide other coders' codings (blind coding, for an "
                                           "honest agreement figure).")
def workbench(project: Path, coder: str, source: str | None, segment_id: str | None,
              blind: bool) -> None:
    """Read the transcripts of PROJECT and code them, full screen, in the terminal.

    The transcript shows the speaker turns, the codes each coder gave and the suggestions
    waiting for you (score, and the words that matched); the codebook is a tree beside it.
    Keys (? lists them all): ↑↓ or j/k segments, n/p sources, c code (type to filter, Enter),
    shift+→/← select words to code just them, x remove, a/r accept/reject the suggestion,
    s next suggestion, m memo, / search, f filters, u undo, q quit. Every action is saved at
    once, in its own transaction, with its audit entry; two coders can work at the same time.

    \b
    Example:
      tipqual workbench study.db --coder alice --source CSO-03
      tipqual workbench study.db --coder bob --blind
    """
    from tipqual.coding.csvio import check_coder_name
    from tipqual.errors import TipqualError

    check_coder_name(coder)
    with open_project(project, busy_notice=False) as p:
        from tipqual.tui.session import WorkbenchSession

        session = WorkbenchSession(p, coder, blind=blind)
        start, segment = session.start(source, segment_id)
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise TipqualError("the workbench is a full-screen program and needs a terminal; "
                               "in a script, code with 'tipqual code add' or 'tipqual code "
                               "import'")
        on_interrupt("Interrupted: every action the workbench showed as saved is in the study.")
        from tipqual.tui.app import WorkbenchApp

        kept = WorkbenchApp(session, start, segment).run()
    n = kept or 0
    click.echo(f"{coder}: {n} action{'s' if n != 1 else ''} saved in this session")
