"""``tipqual demo``: the whole pipeline on the sample study, from transcripts to the report.

The sample study (``transcripts_sample/``) and the TIP codebook (``codebooks/tip-sa.yaml``) live
in the repository, not in the installed package. The demo looks for them, in order:

1. the folder given with ``--sample``;
2. ``transcripts_sample/`` in the current folder or one of its parents (a clone of the
   repository, after ``pip install .`` there);
3. ``transcripts_sample/`` beside the package's own folder (an editable install).

The codebook is ``codebooks/tip-sa.yaml`` beside that ``transcripts_sample/`` folder.
A ``notes.md`` inside the sample folder, when there is one, becomes the report's challenges and
recommendations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipqual.errors import ReportError

if TYPE_CHECKING:
    from tipqual.store.project import Project as Store

SAMPLE_NAME = "transcripts_sample"
CODEBOOK = Path("codebooks") / "tip-sa.yaml"
STUDY_NAME = "study.db"
CODERS = ("coder-a", "coder-b")
OUTPUTS = ("findings.html", "findings.md", "findings.docx", "matrices.xlsx",
           "network.graphml", "stakeholder-map.svg")


def _is_sample(folder: Path) -> bool:
    return ((folder / "transcripts").is_dir() and (folder / "cases.csv").is_file()
            and all((folder / "codings" / f"{c}.csv").is_file() for c in CODERS))


def find_sample(explicit: str | Path | None = None,
                cwd: Path | None = None) -> tuple[Path, Path]:
    """The sample study folder and the TIP codebook, found as the module docstring says."""
    if explicit is not None:
        folder = Path(explicit)
        if not _is_sample(folder):
            raise ReportError("not a sample study folder (it needs transcripts/, cases.csv and "
                              f"codings/{CODERS[0]}.csv, codings/{CODERS[1]}.csv)", path=folder)
        candidates = [folder]
    else:
        here = (cwd or Path.cwd()).resolve()
        candidates = [p / SAMPLE_NAME for p in (here, *here.parents)]
        candidates.append(Path(__file__).resolve().parent.parent / SAMPLE_NAME)
        candidates = [c for c in candidates if _is_sample(c)]
    for folder in candidates:
        codebook = folder.parent / CODEBOOK
        if codebook.is_file():
            return folder, codebook
    if explicit is not None:
        raise ReportError(f"no codebook at {folder.parent / CODEBOOK}; the sample folder must "
                          "sit beside codebooks/", path=explicit)
    raise ReportError(f"cannot find {SAMPLE_NAME}/ (with codebooks/ beside it); run the demo "
                      "from the root of a tipqual clone, or give --sample DIR")


def demo_files(out: Path) -> list[Path]:
    """Every file the demo writes in ``out`` (the ones ``--force`` may replace)."""
    from tipqual.report.writer import report_files

    study = out / STUDY_NAME
    files = [study, Path(f"{study}-wal"), Path(f"{study}-shm")]
    for name in OUTPUTS:
        files += report_files(out / name) if name.endswith(".md") else [out / name]
    return files


def _prepare(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError("exists and is not a folder; give a folder for the demo's files",
                          path=out)
    study = out / STUDY_NAME
    if study.exists() and not force:
        raise ReportError("a demo study is already there; rerun with --force to replace the "
                          "demo's files, or choose another folder", path=study)
    out.mkdir(parents=True, exist_ok=True)
    if force:
        for path in demo_files(out):
            path.unlink(missing_ok=True)


def run_demo(out: str | Path, *, force: bool = False, sample: str | Path | None = None,
             echo: Callable[[str], Any] = print) -> list[Path]:
    """Run init, import, suggest, code import, agree, matrix, network and report into ``out``.

    Prints each stage with ``echo``; returns the files written (the study first).
    """
    folder, codebook_path = find_sample(sample)
    out = Path(out)
    _prepare(out, force)
    study = out / STUDY_NAME
    try:
        written = _pipeline(folder, codebook_path, study, out, echo)
    except BaseException:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{study}{suffix}").unlink(missing_ok=True)
        raise
    echo(f"Done: open {out / 'findings.html'}")
    return written


def _pipeline(folder: Path, codebook_path: Path, study: Path, out: Path,
              echo: Callable[[str], Any]) -> list[Path]:
    from tipqual.analysis import agreement
    from tipqual.analysis.network import write_network
    from tipqual.analysis.stakemap import CASE_NOUN_SETTING
    from tipqual.codebook import model as codebook
    from tipqual.coding import csvio as codings
    from tipqual.ingest import importer as ingest
    from tipqual.output.xlsx import write_matrices
    from tipqual.report.context import QUOTE_ATTRIBUTE_SETTING
    from tipqual.report.writer import write_reports
    from tipqual.store.project import Project
    from tipqual.suggest import engine as suggest

    echo(f"Sample study: {folder}")
    book = codebook.load(codebook_path)
    written = [study]
    with Project.create(study, name="TIP partnerships sample study", command="demo") as p:
        with p.atomic():
            p.set_codebook(book)
            # the sample's cases are organisations, and its report names each quotation's kind
            p.set_meta(CASE_NOUN_SETTING, "organisation")
            p.set_meta(QUOTE_ATTRIBUTE_SETTING, "type")
        echo(f"1. init      {study} with codebook {book.name} v{book.version} "
             f"({len(book.codes)} codes)")
        rep = ingest.import_paths(p, [folder / "transcripts"], folder / "cases.csv")
        echo(f"2. import    {len(rep.imported)} transcripts, {rep.segments} segments, "
             f"{rep.cases} cases")
        res = suggest.suggest(p)
        echo(f"3. suggest   {res.added} suggestions, {res.mentions} stakeholder mentions")
        imported = [(coder, codings.import_codings(p, folder / "codings" / f"{coder}.csv"))
                    for coder in CODERS]
        echo("4. code      " + ", ".join(f"{coder}: {got.added} codings" for coder, got in imported)
             + " imported")
        table = agreement.compare_coders(p, list(CODERS)).table
        echo(f"5. agree     {' and '.join(CODERS)} on {table.overall.n_units} segments: mean "
             f"kappa {_fmt(table.mean('kappa'))}, mean alpha {_fmt(table.mean('alpha'))}")
        sheets = write_matrices(p, out / "matrices.xlsx")
        echo(f"6. matrix    {out / 'matrices.xlsx'} ({len(sheets)} sheets)")
        net = write_network(p, out / "network.graphml")
        _stakeholder_map(p, out / "stakeholder-map.svg")
        echo(f"7. network   {out / 'network.graphml'} and {out / 'stakeholder-map.svg'} "
             f"({net['stakeholders']} stakeholders cited, {net['edges']} links)")
        written += [out / "matrices.xlsx", *net["files"], out / "stakeholder-map.svg"]
        notes = folder / "notes.md"
        files = write_reports(p, [out / n for n in OUTPUTS[:3]], coders=list(CODERS),
                              notes=notes if notes.is_file() else None)
        echo(f"8. report    {', '.join(str(f) for f in files)}")
        written += files
    return written


def _stakeholder_map(project: Store, path: Path) -> None:
    """The map as the report draws it, naming the cases by the report's word for them."""
    from tipqual.analysis import network, stakemap
    from tipqual.report.context import case_noun

    data, graph = network.build(project)  # suggest stored the mentions of every segment
    stakemap.draw(graph, data, path, stakemap.map_axis(project.codebook()),
                  noun=case_noun(None, project))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
