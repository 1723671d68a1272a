"""``tipqual suggest`` and ``tipqual review``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tipqual.cli.common import (
    count,
    on_interrupt,
    open_project,
    progress,
    project_argument,
)

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.suggest.engine import SuggestResult


@click.command()
@project_argument
@click.option("--model", help="An installed trained spaCy pipeline to use, by name or path "
                               "(e.g. en_core_web_md); its word vectors, if it has any, are "
                               "features of the learned model. Default: blank English.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes for the language processing, this one included (default: "
                   "one per core, up to 4, when 1,000 or more segments need it; else 1). The "
                   "result is the same whatever the number.")
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=None,
              help="Store only suggestions scoring at least this. Default: the model's "
                   "thresholds, learned per code by cross-validation on the study's "
                   "decisions (a segment also gets its few most likely codes when every "
                   "coded segment carries that many); rule suggestions need 0.3.")
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
    for line in summary_lines(result, suggest_mod.MIN_TRAINING):
        click.echo(line)
    for code, n in result.codes.items():
        click.echo(f"  {code:<28} {n}")


def summary_lines(result: SuggestResult, min_training: int) -> list[str]:
    """What a run of ``suggest`` considered and stored, in words (before the counts per code)."""
    looked = (f"{count(result.considered, 'respondent segment')} looked at for codes, "
              f"{result.unchanged} skipped as unchanged")
    if result.interviewer:
        looked += (f"; {count(result.interviewer, 'interviewer segment')} read for "
                   "stakeholder mentions only")
    model_note = (f"model trained on {count(result.trained_on, 'segment')}" if result.trained_on
                  else f"rules only (the model starts at {min_training} coded segments)")
    stored = (f"{count(result.added, 'suggestion')} added ({result.removed} earlier undecided "
              f"{'one' if result.removed == 1 else 'ones'} removed); "
              f"{count(result.mentions, 'stakeholder mention')} found; {model_note}")
    return [looked, stored]


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
    one key per line. After each decision the model is refitted, in the background, on the
    study's codings and decisions so far, and the suggestions after the one on screen are
    reordered by its scores once it is ready (you never wait for it).

    A second reviewer (blind double coding) is shown the suggestions others have decided too,
    without their decisions, so that agreement can be measured ('tipqual agree'); the count
    at the start says how many of them no one has decided yet (what 'tipqual status' counts
    as awaiting review) and how many others decided already.

    \b
    Example:
      tipqual review study.db --coder alice --code corruption
    """
    import textwrap

    from tipqual.coding.review import KEYS_HELP, ReviewSession, queue_split, render, screen_width

    read_key = _key_reader()
    styled = sys.stdout.isatty()
    with open_project(project) as p:
        # after each decision the model refits on a thread of its own: a large study's
        # refit never holds up the next screen
        session = ReviewSession(p, coder, code=code, case=case, refit_every=1,
                                background=True)
        on_interrupt("Interrupted: every decision made so far is saved; run 'tipqual review' "
                     "again to go on.")
        book = p.codebook()
        total = session.total
        split = queue_split(p, coder, code=code, case=case)
        note = f"{count(total, 'suggestion')} to review"
        if split.decided:
            note += (f": {split.describe()}; for blind double coding their decisions are "
                     "not shown, and yours are recorded apart")
        note += f". {KEYS_HELP}"
        if not (styled and total):  # on a terminal, each screen shows it at the top
            click.echo(note)
        shown = -1
        while total:
            item = session.current()
            if item is None:  # the end: one last chance to undo
                click.echo("Nothing left to review. [u/q] " if not session.left else
                           f"End of the queue ({session.left} skipped). [u/q] ", nl=False)
            else:
                if session.position != shown:
                    if styled:  # on a terminal, a fresh screen for each suggestion, under
                        click.clear()  # what the last key did (at first: the keys)
                        click.echo(textwrap.fill(note, screen_width()))
                    click.echo("")
                    click.echo(render(item, book, styled=styled, number=session.position + 1,
                                      total=total, left=session.left))
                    shown = session.position
                click.echo("[a/r/s/u/q/?] ", nl=False)
            note = session.handle(read_key())
            click.echo(note if note != "quit" else "")
            if note == "quit":
                break
        done = session.summary()
        after = queue_split(p, coder, code=code, case=case) if split.decided else None
    left = f"{done['left']} left to review"
    if after is not None and after.decided:
        left += f" ({after.describe()})"
    click.echo(f"{coder}: {done['accepted']} accepted, {done['rejected']} rejected, "
               f"{done['skipped']} skipped, {left}")
