"""Tests for ``tipqual refi export`` and ``tipqual refi import`` (real subprocesses)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import TIP_CODEBOOK, run_tipqual, shared

from tipqual.codebook import model as codebook_mod
from tipqual.records import Coding, Segment, Source
from tipqual.store.project import Project

FIX = Path(__file__).resolve().parent / "fixtures" / "refi"
TEXT = ("Interviewer: How do you work with SAPS?\n\n"
        "Respondent: We trust two detectives 🙂; the rest are slow.\n")


@pytest.fixture
def small_study(tmp_path: Path) -> Path:
    """A one-source study with a whole-segment and a span coding."""
    path = tmp_path / "study.db"
    p = Project.create(path)
    starts = (TEXT.index("How"), TEXT.index("We trust"))
    ends = (TEXT.index("?") + 1, len(TEXT) - 1)
    segments = [Segment(id=f"CSO-01:{n}", source="CSO-01", n=n, speaker=sp, role=role,
                        start=a, end=b, text=TEXT[a:b])
                for n, (a, b, sp, role) in enumerate(
                    [(starts[0], ends[0], "Interviewer", "interviewer"),
                     (starts[1], ends[1], "Respondent", "respondent")], 1)]
    with p.atomic():
        p.set_codebook(codebook_mod.load(TIP_CODEBOOK))
        p.put_case("CSO-01", {"province": "Gauteng"})
        p.add_source(Source(id="CSO-01", case="CSO-01", path="CSO-01.txt", format="txt",
                            sha256=hashlib.sha256(TEXT.encode()).hexdigest(), text=TEXT),
                     segments)
        p.put_coding(Coding(segment="CSO-01:2", code="trust", coder="alice"))
        at = segments[1].text.index("the rest")
        p.put_coding(Coding(segment="CSO-01:2", code="delays", coder="bob", span_start=at,
                            span_end=at + len("the rest are slow")))
    p.close()
    return path


def test_help_lists_both_commands() -> None:
    result = run_tipqual("refi", "--help")
    assert result.returncode == 0
    assert "export" in result.stdout and "import" in result.stdout
    assert "--out" in run_tipqual("refi", "export", "--help").stdout


def test_export_then_import(small_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "study.qdpx"
    result = run_tipqual("refi", "export", str(small_study), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"Wrote {out}: 1 sources, 21 codes, 2 codings, 2 users, "
                                     "1 cases, 0 notes")
    target = tmp_path / "copy.db"
    result = run_tipqual("refi", "import", str(out), str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Created {target} from {out} (tipqual 0.1.0): 1 sources, "
                                    "2 segments, 21 codes, 1 cases, 2 codings by 2 coders")
    with Project.open(target) as p:
        texts = sorted((c.coder, p.segment(c.segment).text[c.span_start:c.span_end]
                        if c.span_start is not None else p.segment(c.segment).text)
                       for c in p.codings())
    assert texts == [("alice", "We trust two detectives 🙂; the rest are slow."),
                     ("bob", "the rest are slow")]


def test_import_lists_missing_and_non_text_sources(tmp_path: Path) -> None:
    sample = shared("refi", "samples", "atlasti84mac_refi-standard-project_nosources.qdpx")
    result = run_tipqual("refi", "import", str(sample), str(tmp_path / "a.db"), "--allow-missing")
    assert result.returncode == 0, result.stderr
    assert "14 codes" in result.stdout
    assert "Missing from the archive (skipped):\n  1960s Coca Cola commercial - Audio.docx" \
        in result.stdout
    assert "Not text (skipped):\n  cornflakes-n-milk.jpg (picture)" in result.stdout


@pytest.mark.parametrize("fixture", ["zip-slip.qdpx", "entity-bomb.qdpx", "not-a-zip.qdpx"])
def test_hostile_archive_clean_error_no_study(fixture: str, tmp_path: Path) -> None:
    target = tmp_path / "x.db"
    result = run_tipqual("refi", "import", str(FIX / fixture), str(target))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {FIX / fixture}")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_import_refuses_existing_study(small_study: Path) -> None:
    before = small_study.read_bytes()
    result = run_tipqual("refi", "import", str(FIX / "maxqda.qdpx"), str(small_study))
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert small_study.read_bytes() == before


def test_export_errors(tmp_path: Path, small_study: Path) -> None:
    result = run_tipqual("refi", "export", str(tmp_path / "none.db"), "--out",
                         str(tmp_path / "x.qdpx"))
    assert result.returncode == 1 and "no such study file" in result.stderr
    result = run_tipqual("refi", "export", str(small_study), "--out",
                         str(tmp_path / "nofolder" / "x.qdpx"))
    assert result.returncode == 1 and "does not exist" in result.stderr
