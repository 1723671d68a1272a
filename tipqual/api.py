"""The notebook API: every stage of tipqual as a method of an open study.

:class:`Project` is the store (:class:`tipqual.store.project.Project`) with one method per stage,
so a notebook user can do what the command line does::

    import tipqual
    p = tipqual.Project.open("study.db")
    p.import_paths(["transcripts/"], cases_csv="cases.csv")
    p.suggest()
    p.matrix("counts")            # a pandas DataFrame, cases x codes
    p.agreement(["alice", "bob"]).table.to_dict()
    p.report("findings.html")

The store itself knows no stage: this module sits above the stages and the store, and each
method only delegates to its stage (imported when called, so ``import tipqual`` stays light).
The stages' own functions remain the reference for every option.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tipqual.errors import ReportError
from tipqual.records import APPLIED_STATUSES
from tipqual.store.project import Project as Store

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

    from tipqual.analysis.agreement import StudyAgreement
    from tipqual.coding.csvio import ImportResult
    from tipqual.ingest.importer import ImportReport, SegmentationRules
    from tipqual.suggest.engine import SuggestResult

__all__ = ["Project"]

# The statuses analysis counts by default: a person's own codings and accepted suggestions.
DEFAULT_STATUSES = APPLIED_STATUSES


class Project(Store):
    """A study with the stages as methods. Open with :meth:`create` or :meth:`open`."""

    def import_paths(self, paths: Sequence[str | Path], *,
                     cases_csv: str | Path | None = None, redact: bool = False,
                     roster: str | Path | None = None, skip_bad: bool = False,
                     replace: bool = False, model: str | None = None,
                     key: str | Path | None = None,
                     rules: SegmentationRules | None = None,
                     dry_run: bool = False, drop_orphans: bool = False) -> ImportReport:
        """Import transcripts (files or folders); see :mod:`tipqual.ingest.importer`.

        ``dry_run``: return the plan and leave the study as it was. With ``replace``, the
        codings of changed sources are re-anchored (:mod:`tipqual.ingest.reanchor`) and those
        whose words are gone kept aside as orphans (deleted with ``drop_orphans``).
        """
        from tipqual.ingest.importer import import_paths

        return import_paths(self, [Path(p) for p in paths], cases_csv=cases_csv, redact=redact,
                            roster=roster, skip_bad=skip_bad, replace=replace, model=model,
                            key=key, rules=rules, dry_run=dry_run, drop_orphans=drop_orphans)

    def import_codings(self, path: str | Path) -> ImportResult:
        """Import a codings CSV; see :func:`tipqual.coding.csvio.import_codings`."""
        from tipqual.coding.csvio import import_codings

        return import_codings(self, path)

    def suggest(self, *, model: str | None = None, jobs: int | None = None,
                min_score: float | None = None) -> SuggestResult:
        """Store code suggestions; see :func:`tipqual.suggest.engine.suggest`."""
        from tipqual.suggest.engine import DEFAULT_MIN_SCORE, suggest

        return suggest(self, model=model, jobs=jobs,
                       min_score=DEFAULT_MIN_SCORE if min_score is None else min_score)

    def agreement(self, coders: Sequence[str], *, codes: Sequence[str] | None = None,
                  cases: Sequence[str] | None = None,
                  statuses: Sequence[str] = DEFAULT_STATUSES) -> StudyAgreement:
        """Agreement between coders; see :func:`tipqual.analysis.agreement.compare_coders`."""
        from tipqual.analysis.agreement import compare_coders

        return compare_coders(self, list(coders), codes=codes, cases=cases, statuses=statuses)

    def matrices(self, *, statuses: Iterable[str] = DEFAULT_STATUSES,
                 coders: Iterable[str] | None = None, code: str | None = None,
                 by_coder: bool = False) -> dict[str, pd.DataFrame]:
        """Every cross-case matrix by sheet name; see :func:`tipqual.analysis.matrices.load`."""
        from tipqual.analysis import matrices

        data = matrices.load(self, statuses=statuses, coders=coders, code=code)
        return matrices.sheets(data, by_coder=by_coder)

    def matrix(self, name: str = "counts", *, statuses: Iterable[str] = DEFAULT_STATUSES,
               coders: Iterable[str] | None = None, code: str | None = None,
               by_coder: bool = False) -> pd.DataFrame:
        """One cross-case matrix (``counts``, ``presence``, ``coverage``, ``framework`` …)."""
        sheets = self.matrices(statuses=statuses, coders=coders, code=code, by_coder=by_coder)
        if name not in sheets:
            raise ReportError(f"no matrix {name!r}; choose one of {', '.join(sheets)}")
        return sheets[name]

    def network(self, *, statuses: Iterable[str] = DEFAULT_STATUSES) -> nx.Graph:
        """The case-stakeholder graph (networkx); see :func:`tipqual.analysis.network.build`."""
        from tipqual.analysis.network import build
        from tipqual.nlp.mentions import study_mentions

        return build(self, statuses=statuses, mentions=study_mentions(self))[1]

    def stakeholder_ranking(self, *,
                            statuses: Iterable[str] = DEFAULT_STATUSES) -> pd.DataFrame:
        """Stakeholders by cases citing them; see :func:`tipqual.analysis.network.ranking`."""
        from tipqual.analysis.network import build, ranking
        from tipqual.nlp.mentions import study_mentions

        data, graph = build(self, statuses=statuses, mentions=study_mentions(self))
        return ranking(graph, data)

    def report(self, out: str | Path, *, templates: str | Path | None = None,
               notes: str | Path | None = None, coders: list[str] | None = None,
               case_noun: str | None = None) -> list[Path]:
        """Write the findings report (.html .md .docx); see :mod:`tipqual.report.writer`.

        What the report lacks (no codings yet, no notes …) is issued as a ``UserWarning``.
        """
        import warnings

        from tipqual.nlp.mentions import study_mentions
        from tipqual.report.writer import write_report

        lacking: list[str] = []
        files = write_report(self, out, templates=templates, notes=notes, coders=coders,
                             case_noun=case_noun, mentions=study_mentions(self),
                             warn=lacking.append)
        for message in lacking:  # after the report: its libraries' warnings are caught inside
            warnings.warn(message, UserWarning, stacklevel=2)
        return files
