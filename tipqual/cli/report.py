"""``tipqual report`` (the findings report) and ``tipqual demo`` (the whole pipeline)."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import open_project, project_argument


@click.command()
@project_argument
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Report file: .html (self-contained page), .md (figures beside it) or "
              ".docx (Word).")
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path),
              help="Folder with your own report.html.j2 / report.md.j2 (used before the "
              "built-in ones, which they may extend as tipqual/NAME; they run in a sandbox: "
              "they show the report's data, they cannot run Python).")
@click.option("--notes", type=click.Path(dir_okay=False, path_type=Path),
              help="Markdown file with the challenges and recommendations section. Raw HTML "
              "is shown as text; a link keeps its target only if it is http(s), mailto, "
              "relative or #section, others keep just their words; images become links.")
@click.option("--coders", help="Coders whose agreement is reported, comma-separated "
              "(default: the two with the most codings).")
@click.option("--case-noun", help="Word for a case, e.g. 'site' or 'person/people' "
              "(default: the study's own, 'tipqual set --case-noun', else case).")
@click.option("--map-codes", metavar="CODE,...",
              help="The stakeholder map's height: the share of a stakeholder's passages coded "
                   "with these codes (and the codes below them), instead of the codebook's "
                   "map: section (as for 'tipqual network').")
@click.option("--map-label", metavar="TEXT", help="The map's name for its height.")
@click.option("--map-centre", metavar="TEXT",
              help="The word on top of the divide, e.g. 'victim' (\"how close to the victim\").")
def report(project: Path, out: Path, templates: Path | None, notes: Path | None,
           coders: str | None, case_noun: str | None, map_codes: str | None,
           map_label: str | None, map_centre: str | None) -> None:
    """Write the findings report of PROJECT to FILE (.html, .md or .docx).

    The same study gives byte-identical files. Transcript text is shown as text, never run.
    Without --notes the challenges and recommendations section is left out. What the report
    leaves out or shows empty (no codings yet, no notes) is said on stderr, one line each.
    The stakeholder map's height follows the codebook's map: section, or --map-codes (with
    --map-label and --map-centre), as 'tipqual network' draws it; its caption says which.

    \b
    Examples:
      tipqual report study.db --out findings.html --notes recommendations.md
      tipqual report study.db --out findings.docx --coders alice,bob
      tipqual report study.db --out findings.html --templates my-templates/
      tipqual report study.db --out findings.md --map-codes delivery,stigma
    """
    from tipqual.analysis.stakemap import map_axis
    from tipqual.cli.analysis import current_mentions
    from tipqual.errors import ReportError
    from tipqual.report.writer import quiet_libraries, write_report

    codes = None if map_codes is None else [c.strip() for c in map_codes.split(",") if c.strip()]
    names = None
    if coders is not None:
        names = [c.strip() for c in coders.split(",") if c.strip()]
        if len(names) < 2:
            raise ReportError("--coders needs two or more names, e.g. --coders alice,bob")
    warnings: list[str] = []
    with open_project(project) as p:
        if codes or map_label or map_centre:  # a code the codebook lacks: before any work
            map_axis(p.codebook(), codes=codes, label=map_label, centre=map_centre)
        with quiet_libraries():
            mentions = current_mentions(p)
        files = write_report(p, out, templates=templates, notes=notes, coders=names,
                             case_noun=case_noun, mentions=mentions, warn=warnings.append,
                             map_codes=codes, map_label=map_label, map_centre=map_centre)
    click.echo("Wrote " + ", ".join(str(f) for f in files))
    for message in warnings:
        click.echo(f"Warning: {message}", err=True)


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the study and every output (created if needed).")
@click.option("--force", is_flag=True,
              help="Replace the demo's own files in the folder (nothing else there).")
@click.option("--sample", type=click.Path(file_okay=False, path_type=Path),
              help="The sample study folder (default: transcripts_sample/ of this clone).")
def demo(out: Path, force: bool, sample: Path | None) -> None:
    """Run the whole pipeline on the sample study and write every output into DIR.

    init, import, suggest, the two sample coders' codings, agree, matrix, network, report:
    findings.html, findings.md, findings.docx, matrices.xlsx, network.graphml,
    stakeholder-map.svg and the study file study.db. Run it from the root of a clone.

    \b
    Example:
      pip install . && tipqual demo --out reports/demo
    """
    from tipqual.demo import run_demo

    run_demo(out, force=force, sample=sample, echo=click.echo)
