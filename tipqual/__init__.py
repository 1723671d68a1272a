"""tipqual: a toolkit for case-study qualitative research.

Transcripts go into a study (one SQLite file), a codebook is applied with help from spaCy and a
learned model, coders' agreement is measured, and cross-case matrices, the stakeholder network
and the findings report are produced from the codings. The command line is ``tipqual``; the
library is usable from Python::

    import tipqual
    p = tipqual.Project.open("study.db")
"""

from __future__ import annotations

from tipqual.version import __version__

__all__ = ["Project", "__version__"]


def __getattr__(name: str):
    # Lazy so that ``import tipqual`` (and ``tipqual --help``) stays light.
    if name == "Project":
        from tipqual.api import Project

        return Project
    raise AttributeError(f"module 'tipqual' has no attribute {name!r}")
