"""The tipqual error family.

Every error a user can cause is a :class:`TipqualError`. The command line turns each one into a
single ``Error: …`` line on stderr and a non-zero exit; the message says what went wrong, names
the file (and line) where there is one, and what to do next.
"""

from __future__ import annotations

from pathlib import Path

# A study gets its codebook when it is created ('tipqual init --codebook'), and init never touches
# an existing file, so every "no codebook" message points to a new study.
NO_CODEBOOK_ADVICE = ("start a study with one ('tipqual init NEW.db --codebook FILE.yaml') and "
                      "import the transcripts into it")



def quoted(value: str, limit: int = 60) -> str:
    """A value for a message: quoted with escapes (no raw control characters), shortened to
    ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")

class TipqualError(Exception):
    """Something the user can fix: bad input, a missing file, a refused operation."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        """The one-line message: ``FILE:LINE: message`` or just ``message``."""
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class ProjectError(TipqualError):
    """The study file is missing, unreadable, of a newer schema, or refuses the operation."""


class SchemaTooNewError(ProjectError):
    """The study file was written by a newer tipqual than this one."""


class CodebookError(TipqualError):
    """A codebook or stakeholder registry is malformed or inconsistent."""


class IngestError(TipqualError):
    """A transcript, cases file or codings file cannot be read."""


class CodingError(TipqualError):
    """A coding names an unknown segment, code or coder, or conflicts with the study."""


class AgreementError(TipqualError):
    """Agreement cannot be computed for the requested coders or codes."""


class ExchangeError(TipqualError):
    """A REFI-QDA or other exchange file is malformed, unsafe or unsupported."""


class ReportError(TipqualError):
    """A report, matrix or figure cannot be produced as asked."""
