"""``tipqual matrix`` and ``tipqual network``: cross-case matrices and the stakeholder network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tipqual.cli.common import count, open_project, project_argument

if TYPE_CHECKING:  # pragma: no cover
    from tipqual.records import Mention
    from tipqual.store.project import Project

out_option = click.option("--out", "out", required=True,
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="File to write; its extension chooses the format.")


def current_mentions(project: Project) -> list[Mention] | None:
    """The stakeholder mentions the network and the report count: None (the stored ones, which
    they then read as a stream) when a mention stage covered every segment, else those found
    now (:func:`tipqual.nlp.mentions.study_mentions`)."""
    from tipqual.nlp.mentions import MENTION_STAGES, study_mentions

    if any(project.unkeyed_segments(stage) == 0 for stage in MENTION_STAGES):
        return None
    return study_mentions(project)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@click.command()
@project_argument
@out_option
@click.option("--sheet", help="With a .csv FILE: which table to write (default: counts).")
@click.option("--coders", help="Only these coders' codings, comma-separated (default: all).")
@click.option("--status", "statuses", default="human,accepted", show_default=True,
              help="Coding statuses to count, comma-separated, or all.")
@click.option("--codes", "code", metavar="CODE",
              help="Only this code and the codes below it in the codebook.")
@click.option("--by-coder", is_flag=True,
              help="Count each coder's codings in rows of their own (counts and presence).")
def matrix(project: Path, out: Path, sheet: str | None, coders: str | None, statuses: str,
           code: str | None, by_coder: bool) -> None:
    """Write cross-case matrices (cases × codes) to FILE.xlsx (every sheet) or FILE.csv.

    \b
    Sheets: counts, presence, coverage, framework, cooccurrence, one by-ATTRIBUTE crosstab
    per case attribute, and codes (ids and names).
    Examples:
      tipqual matrix study.db --out matrices.xlsx
      tipqual matrix study.db --out framework.csv --sheet framework --codes funding
    """
    from tipqual.output.xlsx import write_matrices

    with open_project(project) as p:
        written = write_matrices(p, out, sheet=sheet, coders=_split(coders),
                                 statuses=_split(statuses) or [], code=code,
                                 by_coder=by_coder)
    click.echo(f"Wrote {out} ({', '.join(written)})")


@click.command()
@project_argument
@out_option
@click.option("--table", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the stakeholder ranking as CSV.")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the stakeholder map (.svg or .png).")
@click.option("--projection", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the stakeholder × stakeholder co-citation graph.")
@click.option("--map-codes", metavar="CODE,...",
              help="The map's height: the share of a stakeholder's passages coded with these "
                   "codes (and the codes below them), instead of the codebook's map: section.")
@click.option("--map-label", metavar="TEXT", help="The map's name for its height.")
@click.option("--map-centre", metavar="TEXT",
              help="The word on top of the divide, e.g. 'victim' (\"how close to the victim\").")
def network(project: Path, out: Path, table: Path | None, figure: Path | None,
            projection: Path | None, map_codes: str | None, map_label: str | None,
            map_centre: str | None) -> None:
    """Write the case → stakeholder network to FILE.graphml or FILE.gexf.

    \b
    Stakeholders are found in respondent text by the codebook's registry (names, aliases).
    The map's height is set by the codebook's map: section (axis_codes, axis_label, ...) or
    by --map-codes; without either, it is the share of the passages naming a stakeholder that
    carry any code. The graph and table are written even when the map cannot be drawn.
    Examples:
      tipqual network study.db --out network.graphml --table ranking.csv --figure map.svg
      tipqual network study.db --out n.graphml --figure map.svg --map-codes delivery,stigma
    """
    from tipqual.analysis.network import write_network

    with open_project(project) as p:
        summary = write_network(p, out, table=table, figure=figure,
                                projection_out=projection, mentions=current_mentions(p),
                                map_codes=_split(map_codes), map_label=map_label,
                                map_centre=map_centre)
    click.echo(f"Wrote {', '.join(str(f) for f in summary['files'])}: "
               f"{count(summary['cases'], 'case')}, "
               f"{count(summary['stakeholders'], 'stakeholder')} cited, "
               f"{count(summary['edges'], 'link')}")
