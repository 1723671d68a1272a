"""The notebook API: every stage of tipqual as a method of an open study.

:class:`tipqual.store.project.Project` inherits these methods, so a notebook user can do what the
command line does::

    import tipqual
    p = tipqual.Project.open("study.db")
    p.import_paths(["transcripts/"], cases_csv="cases.csv")
    p.suggest()
    p.matrix("counts")            # a pandas DataFrame, cases x codes
    p.agreement(["alice", "bob"]).table.to_dict()
    p.report("findings.html")

Each method only delegates to its module (imported when called, so ``import tipqual`` stays
light); the modules' own functions remain the reference for every option.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class AnalysisMethods:
    """Stage shortcuts mixed into :class:`tipqual.store.project.Project`."""

    def import_paths(self, paths: Sequence[str | Path], **options: Any) -> Any:
        """Import transcripts (files or folders); see :func:`tipqual.ingest.importer.import_paths`."""
        from tipqual.ingest.importer import import_paths

        return import_paths(self, [Path(p) for p in paths], **options)

    def import_codings(self, path: str | Path) -> Any:
        """Import a codings CSV; see :func:`tipqual.coding.csvio.import_codings`."""
        from tipqual.coding.csvio import import_codings

        return import_codings(self, path)

    def suggest(self, **options: Any) -> Any:
        """Store code suggestions; see :func:`tipqual.suggest.engine.suggest`."""
        from tipqual.suggest.engine import suggest

        return suggest(self, **options)

    def agreement(self, coders: Sequence[str], **options: Any) -> Any:
        """Agreement between coders; see :func:`tipqual.analysis.agreement.compare_coders`."""
        from tipqual.analysis.agreement import compare_coders

        return compare_coders(self, list(coders), **options)

    def matrices(self, **options: Any) -> dict[str, Any]:
        """Every cross-case matrix by sheet name (DataFrames); options as :func:`matrices.load`."""
        from tipqual.analysis import matrices
        by_coder = options.pop("by_coder", False)
        return matrices.sheets(matrices.load(self, **options), by_coder=by_coder)

    def matrix(self, name: str = "counts", **options: Any) -> Any:
        """One cross-case matrix (``counts``, ``presence``, ``coverage``, ``framework`` …)."""
        from tipqual.errors import ReportError

        sheets = self.matrices(**options)
        if name not in sheets:
            raise ReportError(f"no matrix {name!r}; choose one of {', '.join(sheets)}")
        return sheets[name]

    def network(self, **options: Any) -> Any:
        """The case-stakeholder graph (networkx); see :func:`tipqual.analysis.network.build`."""
        from tipqual.analysis.network import build

        return build(self, **options)[1]

    def stakeholder_ranking(self, **options: Any) -> Any:
        """Stakeholders by cases citing them (a DataFrame); see :func:`tipqual.analysis.network.ranking`."""
        from tipqual.analysis.network import build, ranking

        data, graph = build(self, **options)
        return ranking(graph, data)

    def report(self, out: str | Path, **options: Any) -> list[Path]:
        """Write the findings report (.html .md .docx); see :func:`tipqual.report.writer.write_report`."""
        from tipqual.report.writer import write_report

        return write_report(self, out, **options)
