"""The ``tipqual`` command line: a thin click layer over the library.

Each command lives in a small module of this package and is loaded only when it is run (or when
``--help`` lists it), so ``tipqual --help`` never imports spaCy, pandas or scikit-learn. Every
:class:`~tipqual.errors.TipqualError` becomes one ``Error: …`` line on stderr and exit status 1;
``--debug`` shows the traceback instead. A usage error (an unknown option or command, a missing
argument, a bad value or path), in any command or subcommand, is one line too, with exit status
2 as click gives it: ``Error: no such option: --outt (did you mean --out?); see 'tipqual report
--help'``. ``tipqual`` or a group such as ``tipqual code`` alone still shows its help.
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
    "set": "study:set_",
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
    "redact": "redact:redact",
    "history": "history:history",
    "workbench": "workbench:workbench",
    "search": "search:search",
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
    """A group that loads its commands lazily and turns errors into one-line messages.

    Its subgroups (``code``, ``codebook``, ``refi`` …) are plain click groups: their commands
    are parsed and run inside this group's :meth:`invoke`, so their usage errors are caught
    there; this group's own (``tipqual --bogus``) in :meth:`make_context`.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _load(n) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name) if cmd_name in COMMANDS else None

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-") \
                and not ctx.resilient_parsing:
            # click would suggest from the commands loaded so far: none, they load lazily
            raise _no_such_command(ctx, name, list(COMMANDS))
        return super().resolve_command(ctx, args)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise (_usage_error(exc) or exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo((ctx.obj or {}).get("interrupted", INTERRUPTED), err=True)
            ctx.exit(130)
        except click.UsageError as exc:
            raise (_usage_error(exc) or exc) from None
        except Exception as exc:
            error = _user_error(ctx, exc)
            if error is None or (ctx.obj and ctx.obj.get("debug")):
                raise
            raise error from None


class UsageLine(click.ClickException):
    """A usage error as one ``Error: …`` line (no usage block), exit status 2 as click's."""

    exit_code = 2


def _usage_error(exc: click.UsageError) -> UsageLine | None:
    """The one line for a usage error; None for a group called alone (it shows its help)."""
    # (both exist from click 8.2 and 8.4; before, a group alone printed its help and exited 0,
    # and an unknown command was a plain UsageError, worded like the rest below)
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return None
    ctx = exc.ctx or _parsing_context(exc)
    if isinstance(exc, getattr(click.exceptions, "NoSuchCommand", ())):
        names = getattr(exc, "possibilities", None) or []
        return _no_such_command(ctx, getattr(exc, "command_name", ""), names)
    advice = _see_help(ctx)
    if isinstance(exc, click.NoSuchOption):
        wrong = f"no such option: {exc.option_name}"
        if exc.possibilities:
            wrong += f" (did you mean {_either(sorted(exc.possibilities))}?)"
    elif isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter):
        hint = exc.param_hint
        if hint is None and exc.param is not None:
            hint = exc.param.get_error_hint(ctx) if ctx is not None else exc.param.name
        if not isinstance(hint, str) and hint is not None:
            hint = " / ".join(hint)
        what = _clause(exc.message)
        wrong = f"invalid value for {_unquote_names(hint)}: {what}" if hint else \
            f"invalid value: {what}"
        kind = exc.param.type if exc.param is not None else None
        if isinstance(kind, click.Path):
            # a folder where a file belongs, an unreadable file: say what to give instead
            advice = f"give the path of a {'file' if kind.file_okay else 'folder'}"
    else:  # a missing argument or option, an extra argument, an option without its value
        wrong = _unquote_names(_clause(exc.format_message()))
    return UsageLine(f"{wrong}; {advice}")


def _parsing_context(exc: click.UsageError) -> click.Context | None:
    """The context of the command whose arguments failed, for an error raised without one.

    click's parser raises some errors (an option without its value, a flag given one) with no
    context; the innermost click frame that has one, the command parsing its arguments, tells
    whose help to point to.
    """
    found = None
    tb = exc.__traceback__
    while tb is not None:
        ctx = tb.tb_frame.f_locals.get("ctx")
        if isinstance(ctx, click.Context):
            found = ctx
        tb = tb.tb_next
    return found


def _no_such_command(ctx: click.Context | None, name: str, names: list[str]) -> UsageLine:
    import difflib

    close = difflib.get_close_matches(name, names)
    hint = f" (did you mean {_either(sorted(close))}?)" if close else ""
    return UsageLine(f"no such command: {name}{hint}; {_see_help(ctx)}")


def _see_help(ctx: click.Context | None) -> str:
    where = ctx.command_path if ctx is not None else "tipqual"
    helps = ctx.help_option_names if ctx is not None else ["--help"]
    return f"see '{where} {max(helps, key=len)}'"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _clause(message: str) -> str:
    """click's sentence as part of our line: one line, lower-case start, no full stop."""
    text = " ".join(message.split()).rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text


def _unquote_names(text: str) -> str:
    """``'--out'`` and ``'PROJECT'`` as --out and PROJECT, the way the help writes them."""
    import re

    return re.sub(r"'(--?[\w-]+|[A-Z][A-Z0-9_]*(?:\.\.\.)?)'", r"\1", text)


def _printable(text: str) -> str:
    """``text`` with line breaks, control and invisible characters written as escapes
    (``\\x1b``, ``\\u202e``): an error line names files and values as given, and must stay
    one line that cannot drive the terminal."""
    import unicodedata

    return "".join(ch.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch
                   for ch in text)


def _user_error(ctx: click.Context, exc: Exception) -> click.ClickException | None:
    """The one-line error for a failure the user can fix, or None for a bug (traceback)."""
    if isinstance(exc, TipqualError):
        return click.ClickException(_printable(exc.format()))
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


@click.group("tipqual", cls=TipqualGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tipqual")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """tipqual: case-study qualitative research from transcripts to findings.

    \b
    A study lives in one SQLite file (PROJECT). A typical session:
      tipqual init study.db --codebook codebooks/tip-sa.yaml --name "TIP partnerships"
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
