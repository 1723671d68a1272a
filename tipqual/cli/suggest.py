"""``tipqual suggest`` and ``tipqual review``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from tipqual.cli.common import (
    on_interrupt,
    open_project,
    progress,
    project_argument,
)


@click.command()
@project_argument
@click.option("--model", help="An installed trained spaCy pipeline to use (e.g. "
                               "en_core_web_sm); default: the built-in rules on blank English.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes for the language processing, this one included (default: "
                   "one per core, up to 4, when 1,000 or more segments need it; else 1). The "
                   "result is the same whatever the number.")
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=None,
              help="Store only suggestions scoring at least this (default 0.3).")
def suggest(project: Path, model: str | None, jobs: int | None, min_score: float | None) -> None:
    """Propose codes for the segments of PROJECT, stored for review with score and provenance.

    Rules from the codebook (phrases, patterns) always suggest; once people have coded or
    reviewed segments, a model learned from their decisions suggests too. Re-running replaces
    earlier unreviewed suggestions, never touches human codings or decisions, and skips
    segments where nothing changed.

    \b
    Example:
      tipqual suggest study.db --jobs 2
    """
    from tipqual.suggest import engine as suggest_mod
    score = suggest_mod.DEFAULT_MIN_SCORE if min_score is None else min_score
    with open_project(project) as p:
        result = suggest_mod.suggest(p, model=model, jobs=jobs, min_score=score,
                                     progress=progress())
    click.echo(f"{result.segments} segments: {result.processed} processed, {result.skipped} "
               f"unchanged and skipped")
    model_note = (f"model trained on {result.trained_on} segments" if result.trained_on else
                  f"rules only (the model starts at {suggest_mod.MIN_TRAINING} coded segments)")
    click.echo(f"{result.added} suggestions stored ({result.removed} earlier ones replaced); "
               f"{result.mentions} stakeholder mentions; {model_note}")
    for code, n in result.codes.items():
        click.echo(f"  {code:<28} {n}")


def _key_reader() -> Callable[[], str]:
    """Single key presses on a terminal; otherwise one key per line of input (EOF quits)."""
    if sys.stdin.isatty():
        return lambda: click.getchar()
    def read_line() -> str:
        line = sys.stdin.readline()
        return line if line else "q"
    return read_line


@click.command()
@project_argument
@click.option("--coder", required=True, help="Your name: decisions are recorded under it.")
@click.option("--code", help="Review only suggestions of this code.")
@click.option("--case", help="Review only segments of this case.")
def review(project: Path, coder: str, code: str | None, case: str | None) -> None:
    """Accept or reject suggested codes one at a time, the most uncertain first.

    Keys: a accept, r reject, s skip, u undo the last decision, q quit, ? help. Every
    decision is saved at once. On a terminal a single key press is enough; otherwise type
    one key per line.

    \b
    Example:
      tipqual review study.db --coder alice --code corruption
    """
    from tipqual.coding.review import KEYS_HELP, ReviewSession, render

    read_key = _key_reader()
    styled = sys.stdout.isatty()
    with open_project(project) as p:
        session = ReviewSession(p, coder, code=code, case=case)
        on_interrupt("Interrupted: every decision made so far is saved; run 'tipqual review' "
                     "again to go on.")
        book = p.codebook()
        total = len(session.items)
        click.echo(f"{total} suggestions to review. {KEYS_HELP}")
        shown = -1
        while total:
            item = session.current()
            if item is None:  # the end: one last chance to undo
                click.echo("Nothing left to review. [u/q] ", nl=False)
            else:
                if session.position != shown:
                    click.echo("")
                    click.echo(render(item, book, styled=styled, number=session.position + 1,
                                      total=total))
                    shown = session.position
                click.echo("[a/r/s/u/q/?] ", nl=False)
            message = session.handle(read_key())
            click.echo(message if message != "quit" else "")
            if message == "quit":
                break
        done = session.summary()
    click.echo(f"{coder}: {done['accepted']} accepted, {done['rejected']} rejected, "
               f"{done['skipped']} skipped, {done['left']} left to review")
