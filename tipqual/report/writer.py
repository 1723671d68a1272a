"""The findings report: one context from the study, rendered as HTML, Markdown or Word.

:func:`write_report` is what ``tipqual report`` calls. It builds the context once
(:mod:`tipqual.report.context`), draws the figures in the formats the output needs, and
renders: HTML and Markdown through Jinja templates (:mod:`tipqual.report.render`; a study can
override them with its own folder, run in Jinja's sandbox), Word through python-docx
(:mod:`tipqual.report.docx`). The lead's notes keep only the links whose target is safe
(http, https, mailto, relative; :func:`tipqual.report.render.safe_link`) in all three.

* ``.html``: one self-contained page — inline CSS, figures as inline SVG, no scripts and no
  external resources.
* ``.md``: figures written beside it as ``STEM-presence.svg`` and ``STEM-stakeholder-map.svg``.
* ``.docx``: real headings and tables, figures as PNG images.

The same study gives byte-identical files: nothing depends on the clock or on dict order, and
figures and the Word package are written with fixed metadata.

What a reader of the report should know before sending it on (the study has no codings yet, a
case nobody coded, no notes so the challenges and recommendations are left out, characters the
figures' font cannot show) comes back as warnings, one sentence each, handed to ``warn``; the
writer itself prints nothing. The libraries it drives (matplotlib, pandas, python-docx) say
nothing either: their Python warnings and log records are caught while the report is made.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tipqual.analysis.view import Snapshot, StudyView
from tipqual.errors import NO_CODEBOOK_ADVICE, ReportError
from tipqual.output.files import write_text
from tipqual.records import APPLIED_STATUSES, Mention

FORMATS = (".html", ".md", ".docx")


LIBRARY_LOGGERS = ("matplotlib", "PIL", "fontTools", "docx", "pandas")
_GLYPH = re.compile(r"Glyph (\d+) .*missing from (?:current )?font")


class _Collect(logging.Handler):
    """Keeps the log records of the libraries instead of letting them reach the terminal."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def quiet_libraries(found: list[str] | None = None) -> Iterator[None]:
    """Run a block with the libraries' Python warnings and log records caught, not shown.

    What a reader should know of them is added to ``found`` in tipqual's words: characters
    the figures' font has no glyph for. The rest (a cache directory matplotlib could not
    write, a font cache being built, deprecations) concerns the machine, not the report, and
    is dropped. Logging and the warning filters are as before afterwards.
    """
    handler = _Collect()
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(lg, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for lg, propagate in saved:
            lg.removeHandler(handler)
            lg.propagate = propagate
    if found is not None:
        messages = [str(w.message) for w in caught]
        messages += [r.getMessage() for r in handler.records]
        glyphs = sorted({chr(int(m.group(1))) for text in messages
                         if (m := _GLYPH.search(text))})
        if glyphs:
            found.append("the figures' font has no glyph for " + ", ".join(glyphs)
                         + ": those characters show as empty boxes in the figures")


def study_warnings(study: StudyView, notes: str | None,
                   noun: tuple[str, str]) -> list[str]:
    """What a report of ``study`` would leave out or show empty, one sentence each.

    No transcripts or no codings yet (every theme empty), some cases not coded (counted as
    raising nothing), no stakeholder registry (the partnerships section is left out), no notes
    (the challenges and recommendations section is left out).
    """
    one, many = noun
    out: list[str] = []
    sources = study.source_headers()
    applied = any(counts.get(s, 0) for counts in study.coder_counts().values()
                  for s in APPLIED_STATUSES)
    if not sources:
        out.append(f"the study has no transcripts yet: the report has no {many} and every "
                   "theme is empty; add them with 'tipqual import' first")
    elif not applied:
        waiting = sum(study.awaiting_review().values())
        if waiting:
            out.append(f"the study has no codings yet, only {waiting} suggestion"
                       f"{'' if waiting == 1 else 's'} awaiting review: every theme is "
                       "empty; accept or reject them with 'tipqual review', or code with "
                       "'tipqual code import', first")
        else:
            out.append("the study has no codings yet: every theme is empty; run 'tipqual "
                       "suggest' then 'tipqual review', or code with 'tipqual code add' or "
                       "'tipqual code import', first")
    else:
        segments = {segment for segment, _code, _coder
                    in study.coding_keys(statuses=APPLIED_STATUSES)}
        coded = {case or source for _id, source, case, *_rest in study.segment_index(segments)}
        cases = sorted({c.id for c in study.cases()} | {s.case or s.id for s in sources})
        missing = [c for c in cases if c not in coded]
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            them = "it" if len(missing) == 1 else "them"
            out.append(f"{len(missing)} of the {len(cases)} {many if len(cases) != 1 else one} "
                       f"{'has' if len(missing) == 1 else 'have'} no codings yet ({shown}): "
                       f"the findings count {them} as raising no theme; code {them} first")
    book = study.codebook()
    if book is not None and not book.stakeholders:
        out.append("the partnerships section is left out: the codebook has no stakeholder "
                   "registry; add one (stakeholders: FILE.yaml, applied with 'tipqual "
                   "codebook apply') to count whom the " + many + " cite")
    if notes is None:
        out.append("the challenges and recommendations section is left out: no notes were "
                   "given; write them in a Markdown file and add it with --notes FILE.md")
    return out


def report_files(out: str | Path) -> list[Path]:
    """The files :func:`write_report` writes for ``out`` (the report and, for .md, figures)."""
    out = Path(out)
    if out.suffix.lower() == ".md":
        return [out, *(out.with_name(f"{out.stem}-{key}.svg")
                       for key in ("presence", "stakeholder-map"))]
    return [out]


def _check_out(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ReportError(f"unknown report format {out.suffix or '(none)'!r}; use "
                          f"{', '.join(FORMATS)}", path=out)
    if not out.parent.is_dir():
        raise ReportError(f"the folder {str(out.parent)!r} does not exist; create it first",
                          path=out)
    return suffix


def _html(ctx: dict[str, Any], figs: dict[str, Any], notes: str | None,
          templates: str | Path | None) -> str:
    from markupsafe import Markup

    from tipqual.report import render as rr
    view = {k: {"key": f.key, "caption": f.caption, "alt": f.alt,
                "svg": Markup(rr.inline_svg(f.svg, f"fig-{f.key}")) if f.svg else None}
            for k, f in figs.items()}
    body = Markup(rr.notes_html(notes)) if notes else None
    return rr.render("html", {**ctx, "figures": view, "notes_body": body}, templates)


def _markdown(ctx: dict[str, Any], figs: dict[str, Any], notes: str | None,
              templates: str | Path | None, out: Path) -> list[Path]:
    from tipqual.report import render as rr
    written, view = [], {}
    for k, f in figs.items():
        name = f"{out.stem}-{f.key}.svg"
        if f.svg:
            _write(out.with_name(name), f.svg)
            written.append(out.with_name(name))
        else:  # an earlier run's figure would otherwise sit beside a report without it
            out.with_name(name).unlink(missing_ok=True)
        view[k] = {"key": f.key, "caption": f.caption, "alt": f.alt,
                   "file": rr.md_raw(name) if f.svg else None}
    body = rr.notes_markdown(notes) if notes else None
    text = rr.render("md", {**ctx, "figures": view, "notes_body": body}, templates)
    _write(out, text)
    return [out, *written]


def _write(path: Path, text: str) -> None:
    write_text(path, text, error=ReportError, what="report")


def write_report(study: StudyView, out: str | Path, *, templates: str | Path | None = None,
                 notes: str | Path | None = None, coders: list[str] | None = None,
                 case_noun: str | None = None,
                 mentions: Iterable[Mention] | None = None,
                 warn: Callable[[str], Any] | None = None,
                 map_codes: Sequence[str] | None = None, map_label: str | None = None,
                 map_centre: str | None = None) -> list[Path]:
    """Write a study's findings report to ``out`` (``.html``, ``.md`` or ``.docx``).

    ``templates`` is a folder whose templates replace the package's; ``notes`` a Markdown file
    rendered as the challenges and recommendations (without it the section is left out);
    ``coders`` the coders whose agreement is reported; ``case_noun`` the word for a case
    ("organisation", or "person/people"; default: the study's own, see
    :func:`tipqual.report.context.case_noun`); ``mentions`` the stakeholder mentions the network
    counts (default: the stored ones); ``warn`` is called, once the files are written, with
    each warning (see the module's docstring); ``map_codes``, ``map_label`` and
    ``map_centre`` set the stakeholder map's height instead of the codebook's ``map:``
    section, as for ``tipqual network`` (:func:`tipqual.analysis.stakemap.map_axis`), and
    the map's caption says so. Returns the files written.
    """
    return write_reports(study, [out], templates=templates, notes=notes, coders=coders,
                         case_noun=case_noun, mentions=mentions, warn=warn,
                         map_codes=map_codes, map_label=map_label, map_centre=map_centre)


def write_reports(study: StudyView, outs: list[str | Path], *,
                  templates: str | Path | None = None, notes: str | Path | None = None,
                  coders: list[str] | None = None, case_noun: str | None = None,
                  mentions: Iterable[Mention] | None = None,
                  warn: Callable[[str], Any] | None = None,
                  map_codes: Sequence[str] | None = None, map_label: str | None = None,
                  map_centre: str | None = None) -> list[Path]:
    """Write the report in several formats from one context (see :func:`write_report`)."""
    from tipqual.analysis import stakemap
    from tipqual.report import context as rc
    from tipqual.report import render as rr
    paths = [Path(o) for o in outs]
    suffixes = [_check_out(p) for p in paths]
    if templates is not None and ".docx" in suffixes:
        raise ReportError("--templates restyles the .html and .md reports; a .docx is built "
                          "without templates", path=paths[suffixes.index(".docx")])
    notes_text = rr.read_notes(notes)
    if templates is not None:
        rr.environment("html", templates)  # refuse a missing folder before any work
    study = Snapshot(study)  # the small answers read once, shared by the network and the context
    noun = rc.case_noun(case_noun, study)
    book = study.codebook()
    if book is None:
        raise ReportError("the study has no codebook, so there are no themes to report; "
                          f"{NO_CODEBOOK_ADVICE}", path=study.path)
    # the map's height, its codes checked before any work: a code the codebook lacks is named
    axis = stakemap.map_axis(book, codes=map_codes, label=map_label, centre=map_centre)
    found: list[str] = []
    with quiet_libraries(found):
        graph = rc.build_network(study, mentions)
        ctx = rc.build_context(study, coders=coders, notes=notes_text, noun=noun, graph=graph)
        formats = tuple(sorted({"png" if s == ".docx" else "svg" for s in suffixes}))
        figs = rr.figures(ctx, graph, book, formats, axis)
        written: list[Path] = []
        for out, suffix in zip(paths, suffixes, strict=False):
            if suffix == ".html":
                _write(out, _html(ctx, figs, notes_text, templates))
                written.append(out)
            elif suffix == ".md":
                written += _markdown(ctx, figs, notes_text, templates, out)
            else:
                from tipqual.report.docx import write_docx

                view = {k: {"key": f.key, "caption": f.caption, "alt": f.alt, "png": f.png}
                        for k, f in figs.items()}
                write_docx(ctx, view, out)
                written.append(out)
    if warn is not None:
        for message in [*study_warnings(study, notes_text, noun), *found]:
            warn(message)
    return written
