"""Helpers shared by the command modules: opening a study, printing JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from tipqual.errors import TipqualError

project_argument = click.argument("project", type=click.Path(dir_okay=False, path_type=Path))


def redaction_options(redact_help: str) -> Any:
    """The options every importing command takes to pseudonymise what it stores: ``--redact``
    (its help says what is covered) and the three that imply it, ``--roster``, ``--key``
    and ``--model``."""
    file = click.Path(dir_okay=False, path_type=Path)
    options = [
        click.option("--redact", is_flag=True, help=redact_help),
        click.option("--roster", type=file, help="People to pseudonymise, one name a line "
                     "(implies --redact)."),
        click.option("--key", "key", type=file, help="Redaction key file (default: "
                     "STUDY.redaction-key.json next to the study; implies --redact)."),
        click.option("--model", help="Installed trained spaCy pipeline whose PERSON entities "
                     "are pseudonymised too (implies --redact)."),
    ]

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command
    return apply

_SQLITE_HEADER = b"SQLite format 3\x00"


class OutputFile(click.Path):
    """A file a command writes: one of ``suffixes`` if given, and never a study file."""

    def __init__(self, *suffixes: str):
        super().__init__(dir_okay=False, path_type=Path)
        self.suffixes = tuple(s.lower() for s in suffixes)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Refuse a wrong extension, and a study (an easy slip: ``--out study.db``)."""
        # click's stubs allow str, bytes or a path-like here (path_type=Path gives a Path)
        path = Path(os.fsdecode(super().convert(value, param, ctx)))
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            found = repr(path.suffix) if path.suffix else "a name without extension"
            raise TipqualError(f"this output is written as {' or '.join(self.suffixes)}, not "
                               f"{found}; choose a name ending in {self.suffixes[0]}", path=path)
        if path.is_file():
            with open(path, "rb") as fh:
                if fh.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER:
                    raise TipqualError("is a study (SQLite) file; tipqual never writes over one: "
                                       "choose another output name", path=path)
        return path


def count(n: int, one: str, many: str | None = None) -> str:
    """``n`` with its noun in the number's form: "1 coding", "2 codings", "3 copies"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def open_project(path: Path, *, readonly: bool = False, busy_notice: bool = True):
    """Open the study named on the command line, recording the running command for the audit.

    With ``busy_notice`` a write that has to wait for another tipqual's lock says so on
    stderr first (a full-screen app passes False: its screen is not for such lines)."""
    from tipqual.store import connection
    from tipqual.store.project import Project

    connection.BUSY_NOTICE = _say_waiting if busy_notice else None
    ctx = click.get_current_context(silent=True)
    command = ctx.command_path.removeprefix("tipqual ").strip() if ctx else "api"
    if ctx is not None and isinstance(ctx.find_root().obj, dict):
        ctx.find_root().obj["study"] = path  # named by the error handler if the file is damaged
    return Project.open(path, command=command or "api", readonly=readonly)


def _say_waiting(path: Path) -> None:
    from tipqual.store.connection import BUSY_TIMEOUT_MS

    click.echo(f"Waiting: another tipqual is writing to {path}; this one goes on when it is "
               f"done (or gives up after {5 * BUSY_TIMEOUT_MS // 1000} s)", err=True)


def on_interrupt(message: str) -> None:
    """Set what the command line says when Ctrl-C stops the running command."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.find_root().obj, dict):
        ctx.find_root().obj["interrupted"] = message


def echo_json(data: Any) -> None:
    """Print ``data`` as stable, indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


def progress_enabled() -> bool:
    """Progress bars only on an interactive terminal (stderr), never in pipes or CI logs."""
    return sys.stderr.isatty()


def progress_bar(length: int, label: str) -> Any:
    """click's progress bar on stderr: the :data:`tipqual.records.Progress` the stages take."""
    # a stage may name the item it is on (``bar.update(1, "cso-03.docx")``); show it
    return click.progressbar(length=length, label=label, file=sys.stderr,
                             item_show_func=lambda item: item)


def progress() -> Any:
    """The progress display for a stage: a bar on an interactive terminal, else None."""
    return progress_bar if progress_enabled() else None
