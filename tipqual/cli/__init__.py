"""The ``tipqual`` command line: a thin click layer over the library.

Each command lives in a small module of this package and is loaded only when it is run (or when
``--help`` lists it), so ``tipqual --help`` never imports spaCy, pandas or scikit-learn. Every
:class:`~tipqual.errors.TipqualError` becomes one ``Error: …`` line on stderr and exit status 1;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from tipqual.errors import TipqualError
from tipqual.version import __version__

# What Ctrl-C means for a command that writes in one transaction; others say their own (see
# common.on_interrupt).
INTERRUPTED = "Interrupted: the study is as it was before this command."

# command name -> "module:attribute" inside tipqual.cli
COMMANDS: dict[str, str] = {
    "init": "study:init",
    "status": "study:status",
    "import": "ingest:import_",
    "segments": "ingest:segments",
    "code": "coding:code",
    "codebook": "codebook:codebook",
    "suggest": "suggest:suggest",
    "review": "suggest:review",
    "agree": "agree:agree",
    "merge": "agree:merge",
    "matrix": "analysis:matrix",
    "network": "analysis:network",
    "report": "report:report",
    "demo": "report:demo",
    "refi": "refi:refi",
}


def _load(name: str) -> click.Command | None:
    module_name, attr = COMMANDS[name].split(":")
    full = f"tipqual.cli.{module_name}"
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name == full:  # a command group not installed in this build
            return None
        raise
    return getattr(module, attr)


class TipqualGroup(click.Group):
    """A group that loads its commands lazily and turns tipqual errors into clean messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _load(n) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name) if cmd_name in COMMANDS else None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo((ctx.obj or {}).get("interrupted", INTERRUPTED), err=True)
            ctx.exit(130)
        except Exception as exc:
            error = _user_error(ctx, exc)
            if error is None or (ctx.obj and ctx.obj.get("debug")):
                raise
            raise error from None


def _user_error(ctx: click.Context, exc: Exception) -> click.ClickException | None:
    """The one-line error for a failure the user can fix, or None for a bug (traceback)."""
    if isinstance(exc, TipqualError):
        return click.ClickException(exc.format())
    kind = getattr(exc, "param", None) and exc.param.type  # type: ignore[attr-defined]
    if isinstance(exc, click.BadParameter) and isinstance(kind, click.Path):
        # A folder where a file belongs, an unreadable file: one line, no usage block.
        wanted = "file" if kind.file_okay else "folder"
        return click.ClickException(f"{exc.format_message()} Give the path of a {wanted}.")
    if isinstance(exc, OSError) and exc.filename is not None:
        # Files the commands write or read outside the study (a read-only or full folder).
        return click.ClickException(f"{exc.filename}: {exc.strerror or exc}; check the path "
                                    "and its permissions")
    if type(exc).__module__ == "sqlite3":
        from tipqual.store.project import damaged_study_error

        study = (ctx.obj or {}).get("study")
        error = damaged_study_error(exc, study)
        return click.ClickException(error.format()) if error is not None else None
    return None


@click.group(cls=TipqualGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tipqual")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """tipqual: case-study qualitative research from transcripts to findings.

    \b
    A study lives in one SQLite file (PROJECT). A typical session:
      tipqual init study.db --codebook codebooks/tip-sa.yaml
      tipqual import study.db transcripts_sample/transcripts --cases transcripts_sample/cases.csv
      tipqual suggest study.db
      tipqual review study.db --coder alice
      tipqual report study.db --out findings.html
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tipqual`` console script."""
    cli.main(args=argv, prog_name="tipqual")


if __name__ == "__main__":  # pragma: no cover
    main()
