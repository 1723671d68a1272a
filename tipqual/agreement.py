"""Agreement between coders, under its long-standing name.

The implementation lives in :mod:`tipqual.analysis.agreement`; this module keeps
``tipqual.agreement.cohen_kappa`` and ``tipqual.agreement.krippendorff_alpha`` importable for
scripts and notebooks written against earlier versions.
"""

from __future__ import annotations

from tipqual.analysis.agreement import *  # noqa: F403
from tipqual.analysis.agreement import cohen_kappa, krippendorff_alpha

__all__ = ["cohen_kappa", "krippendorff_alpha"]
