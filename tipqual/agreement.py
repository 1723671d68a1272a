"""Agreement between coders, under its long-standing name.

The implementation lives in :mod:`tipqual.analysis.agreement`; this module keeps
``tipqual.agreement.cohen_kappa``, ``tipqual.agreement.krippendorff_alpha`` and every other
name of the former module importable for scripts and notebooks written against earlier
versions.
"""

from __future__ import annotations

from typing import Any

from tipqual.analysis import agreement as _implementation
from tipqual.analysis.agreement import cohen_kappa, krippendorff_alpha

__all__ = ["cohen_kappa", "krippendorff_alpha"]


def __getattr__(name: str) -> Any:
    try:
        return getattr(_implementation, name)
    except AttributeError:
        raise AttributeError(f"module 'tipqual.agreement' has no attribute {name!r}") from None
