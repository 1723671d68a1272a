"""``tipqual codebook``: validate, export, import and compare codebooks."""

from __future__ import annotations

from pathlib import Path

import click

from tipqual.cli.common import count, echo_json
from tipqual.errors import CodebookError

_file = click.Path(dir_okay=False, path_type=Path)


@click.group()
def codebook() -> None:
    """Check, export, import and compare codebooks.

    \b
    Examples:
      tipqual codebook validate codebooks/tip-sa.yaml
      tipqual codebook export study.db --out appendix.md
      tipqual codebook import nvivo-codes.qdc --out codebooks/mine.yaml
      tipqual codebook diff old.yaml new.yaml
      tipqual codebook apply study.db new.yaml --dry-run
    """


@codebook.command()
@click.argument("yaml_path", metavar="YAML", type=_file)
def validate(yaml_path: Path) -> None:
    """Check a codebook (or stakeholder registry) YAML file; list every problem.

    Each problem names the file, line, column and code id. Exit status 0 when valid.

    \b
    Example:
      tipqual codebook validate codebooks/tip-sa.yaml
    """
    from tipqual.codebook.check import analyse

    result = analyse(yaml_path)
    for problem in result.problems:
        click.echo(problem.format(), err=True)
    if result.problems:
        n = len(result.problems)
        raise CodebookError(f"{n} problem{'s' if n > 1 else ''} found (listed above); fix "
                            "them and run validate again", path=yaml_path)
    if result.codebook is None:
        click.echo(f"OK {yaml_path}: stakeholder registry, "
                   f"{count(len(result.stakeholders), 'stakeholder')}")
        return
    codes = result.codebook["codes"]
    top = sum(1 for c in codes if not c["parent"])
    click.echo(f"OK {yaml_path}: {result.codebook['name']} v{result.codebook['version']}, "
               f"{count(len(codes), 'code')} ({top} top-level), "
               f"{count(len(result.stakeholders), 'stakeholder')}")


@codebook.command("export")
@click.argument("src", type=_file)
@click.option("--out", required=True, type=_file,
              help="Output file: .qdc (REFI-QDA), .xlsx, .md or .yaml.")
def export_cmd(src: Path, out: Path) -> None:
    """Export the codebook of SRC (a codebook YAML or a study file).

    \b
    Examples:
      tipqual codebook export codebooks/tip-sa.yaml --out tip-sa.qdc
      tipqual codebook export study.db --out codebook-appendix.md
    """
    from tipqual.codebook import formats as codebook_io
    book = codebook_io.load_source(src)
    codebook_io.export(book, out)
    click.echo(f"Wrote {out}: {book.name} v{book.version}, {count(len(book.codes), 'code')}")


@codebook.command("import")
@click.argument("file", type=_file)
@click.option("--out", required=True, type=_file, help="The codebook YAML to write.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def import_cmd(file: Path, out: Path, force: bool) -> None:
    """Import a codebook from FILE (.qdc, .qde, .qdpx or .xlsx) into a YAML codebook.

    \b
    Example:
      tipqual codebook import shared-codes.qdc --out codebooks/shared.yaml
    """
    from tipqual.codebook import formats as codebook_io
    from tipqual.codebook.check import check

    if out.suffix.lower() not in (".yaml", ".yml"):
        raise CodebookError("--out must be a .yaml file", path=out)
    if out.exists() and not force:
        raise CodebookError("exists already; choose another --out or add --force", path=out)
    book = codebook_io.import_file(file)
    codebook_io.export(book, out)
    click.echo(f"Imported {count(len(book.codes), 'code')} from {file} into {out}")
    problems = check(out)
    if problems:
        click.echo(f"Note: {out} needs {len(problems)} fix(es) before a study can use it:",
                   err=True)
        for problem in problems:
            click.echo(f"  {problem.format()}", err=True)


@codebook.command("diff")
@click.argument("old", type=_file)
@click.argument("new", type=_file)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def diff_cmd(old: Path, new: Path, as_json: bool) -> None:
    """What changed from OLD to NEW (codebook YAML, study, .qdc or .xlsx files).

    Lists the renames, merges and splits NEW declares with 'replaces:' (a code id taken over
    by another), then added, removed, renamed (same id, new name), redefined (definition,
    include or exclude changed), moved (new parent) and otherwise changed codes.

    \b
    Example:
      tipqual codebook diff codebooks/tip-sa-v1.yaml codebooks/tip-sa.yaml
    """
    from tipqual.codebook import formats as codebook_io
    result = codebook_io.diff(codebook_io.load_any(old), codebook_io.load_any(new))
    if as_json:
        echo_json(result.to_dict())
        return
    for line in result.lines():
        click.echo(line)


@codebook.command("apply")
@click.argument("project", type=_file)
@click.argument("yaml_path", metavar="NEW.yaml", type=_file)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the plan (and the step it was recorded as) as one JSON object.")
def apply_cmd(project: Path, yaml_path: Path, dry_run: bool, as_json: bool) -> None:
    """Move the study PROJECT to a new version of its codebook, its codings carried along.

    A code in NEW.yaml may say which earlier codes it takes over, 'replaces: [old-id, ...]':
    one id is a rename and several a merge (their codings move to the code, and two that
    meet on the same words collapse into one); an id several codes replace is split (its
    codings stay on it, listed for recoding, and the review queue offers the new codes there).
    A code NEW.yaml drops with no successor has its codings archived, not deleted ('tipqual
    code orphans --reason archived'). One step, with its plan, after a copy of the study
    ('tipqual history' lists it and can put it back); see what it would do with --dry-run.

    \b
    Example:
      tipqual codebook apply study.db codebooks/tip-sa-v2.yaml --dry-run
      tipqual codebook apply study.db codebooks/tip-sa-v2.yaml
    """
    from tipqual.cli.common import open_project
    from tipqual.codebook.model import load
    from tipqual.coding.evolve import apply_codebook, describe

    book = load(yaml_path)
    with open_project(project) as p:
        current = p.codebook_info()
        same = current is not None and current["sha256"] == book.sha256
        plan, step, backup = apply_codebook(p, book, dry_run=dry_run)
    if as_json:
        echo_json({**plan.to_dict(), "dry_run": dry_run, "step": step, "backup": backup,
                   "unchanged": same})
        return
    if same:
        click.echo(f"{project} already uses {plan.new} (this exact version): nothing to do.")
        return
    if dry_run:
        click.echo("Dry run: nothing was changed. Applying would do this:")
    for line in describe(plan):
        click.echo(line)
    if step is not None:
        click.echo(f"Recorded as step {step} ('tipqual history {project}'); the study as it "
                   f"was is kept in {backup}.")
