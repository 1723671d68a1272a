"""``tipqual search``: keyword in context over what respondents said."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import echo_json, open_project, project_argument


@click.command()
@project_argument
@click.argument("query")
@click.option("--lemma", is_flag=True,
              help="Match every form of the words (delay: delays, delayed) through the lookup "
              "lemmatizer.")
@click.option("--code", help="Only segments coded with this code (by people, or accepted).")
@click.option("--case", help="Only this case's segments.")
@click.option("--coder", help="Only segments this coder coded (with --code: with that code).")
@click.option("--all-speakers", is_flag=True,
              help="Search interviewers' words too (default: respondents' only).")
@click.option("--width", type=click.IntRange(10, 200), default=40, show_default=True,
              help="Characters of context each side.")
@click.option("--json", "as_json", is_flag=True,
              help='Print a JSON list of {"segment", "case", "left", "match", "right"}.')
def search(project: Path, query: str, lemma: bool, code: str | None, case: str | None,
           coder: str | None, all_speakers: bool, width: int, as_json: bool) -> None:
    """Every place QUERY occurs in PROJECT's respondent text, one line per hit: segment id,
    case, the words to its left, [the match], the words to its right.

    QUERY is a word or phrase, matched in any letter case with every other character taken
    literally (no patterns); it matches whole words at its ends, so 'trust' does not find
    'distrust' (use --lemma for other forms of a word).

    \b
    Example:
      tipqual search study.db "case number"
      tipqual search study.db delay --lemma --code delays
      tipqual search study.db police --case CSO-03 --json
    """
    from tipqual.coding.search import search as find

    with open_project(project, readonly=True) as p:
        hits = list(find(p, query, lemma=lemma, code=code, case=case, coder=coder,
                         width=width, role=None if all_speakers else "respondent"))
    if as_json:
        echo_json([h.to_dict() for h in hits])
        return
    if not hits:
        where = " in the segments asked for" if code or case or coder else ""
        click.echo(f"No hits for {query!r}{where}.")
        return
    seg_w = max(len(h.segment) for h in hits)
    case_w = max(len(h.case or "-") for h in hits)
    for h in hits:
        click.echo(f"{h.segment:<{seg_w}}  {h.case or '-':<{case_w}}  {h.left:>{width}}"
                   f"[{h.match}]{h.right}")
    segments = len({h.segment for h in hits})
    click.echo(f"{len(hits)} hit{'s' if len(hits) != 1 else ''} in {segments} "
               f"segment{'s' if segments != 1 else ''}.")
