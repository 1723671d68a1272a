"""The sample study (transcripts_sample/): its files, its double coding and the findings it carries.

These tests pin what the demo and new users rely on: ten cases with their transcripts in the
formats tipqual reads, interviews of realistic length, every respondent segment coded by both
fictional coders with valid codes, agreement in the intended range, and the published brief's
findings (the stakeholder ranking, the committed-individual theme) holding in the data. A test
is skipped only while a file it needs has not been written yet.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import REPO, SAMPLE, TIP_CODEBOOK, run_tipqual

# every test here reads the whole sample study, imported once by a real process
pytestmark = pytest.mark.slow

CASES_CSV = SAMPLE / "cases.csv"
TRANSCRIPTS = SAMPLE / "transcripts"
CODINGS = {"coder-a": SAMPLE / "codings" / "coder-a.csv",
           "coder-b": SAMPLE / "codings" / "coder-b.csv"}
INGEST_CLI = REPO / "tipqual" / "cli" / "ingest.py"
CASES_HEADER = ["case", "source", "type", "province", "services", "size", "years_active"]
CODINGS_HEADER = ["segment", "code", "coder", "memo"]
_VTT_TIMING = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> ")
_VTT_TAG = re.compile(r"</?v[^>]*>")


def need(*paths: Path) -> None:
    """Skip the calling test while one of ``paths`` does not exist yet."""
    missing = [str(p.relative_to(REPO)) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"not written yet: {', '.join(missing)}")


def read_cases() -> list[dict[str, str]]:
    """The rows of cases.csv (the header is checked by a test of its own)."""
    need(CASES_CSV)
    with CASES_CSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_codings(coder: str) -> list[dict[str, str]]:
    """The rows of one coder's codings file."""
    need(CODINGS[coder])
    with CODINGS[coder].open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def transcript_words(path: Path) -> str:
    """The words spoken in a transcript: file text, Word paragraphs, or WebVTT cue text."""
    if path.suffix == ".docx":
        import docx

        return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".vtt":
        lines = [ln for ln in text.splitlines()[1:]
                 if ln.strip() and not _VTT_TIMING.match(ln) and not ln.strip().isdigit()]
        text = _VTT_TAG.sub(" ", "\n".join(lines))
    return text


def alias_pattern(aliases: list[str]) -> re.Pattern[str]:
    """One case-insensitive, whole-word regex for a stakeholder's aliases."""
    parts = sorted((r"\s+".join(re.escape(w) for w in a.split()) for a in aliases),
                   key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The sample imported once into a temporary study: its segments as JSON."""
    need(CASES_CSV, TRANSCRIPTS, TIP_CODEBOOK, INGEST_CLI)
    db = tmp_path_factory.mktemp("sample") / "sample.db"
    for args in (("init", str(db), "--codebook", str(TIP_CODEBOOK)),
                 ("import", str(db), str(TRANSCRIPTS), "--cases", str(CASES_CSV))):
        done = run_tipqual(*args)
        assert done.returncode == 0, done.stderr
    done = run_tipqual("segments", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def respondent_ids(segments: list[dict]) -> set[str]:
    """Ids of the respondent segments of the imported sample."""
    return {s["id"] for s in segments if s["role"] == "respondent"}


# --- files ------------------------------------------------------------------------------------

def test_cases_csv_lists_ten_cases_each_with_an_existing_transcript() -> None:
    need(CASES_CSV)
    with CASES_CSV.open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == CASES_HEADER
    rows = read_cases()
    assert [r["case"] for r in rows] == [f"CSO-{n:02d}" for n in range(1, 11)]
    for row in rows:
        assert (TRANSCRIPTS / row["source"]).is_file(), row["source"]
        assert Path(row["source"]).stem == row["case"]
        assert row["size"] in {"small", "medium", "large"}
        assert row["years_active"].isdigit() and all(row[c] for c in CASES_HEADER)
    assert len({r["province"] for r in rows}) >= 5
    assert len({r["type"] for r in rows}) >= 5


def test_sample_exercises_the_docx_and_vtt_readers() -> None:
    sources = [Path(r["source"]) for r in read_cases()]
    suffixes = {p.suffix for p in sources}
    assert {".txt", ".docx", ".vtt"} <= suffixes
    for vtt in (p for p in sources if p.suffix == ".vtt"):
        text = (TRANSCRIPTS / vtt).read_text(encoding="utf-8")
        assert text.startswith("WEBVTT")
        assert "<v Interviewer>" in text and "<v Respondent>" in text


def test_every_transcript_has_1200_to_2500_words() -> None:
    for row in read_cases():
        words = len(transcript_words(TRANSCRIPTS / row["source"]).split())
        assert 1200 <= words <= 2500, (row["source"], words)


def test_readme_says_the_sample_is_fictional() -> None:
    need(SAMPLE / "README.md")
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert "fictional" in text.lower()
    assert "tipqual import" in text and "cases.csv" in text


# --- the imported study -----------------------------------------------------------------------

def test_import_gives_ten_cases_with_both_roles(segments: list[dict]) -> None:
    assert len(segments) >= 200
    roles = defaultdict(set)
    for seg in segments:
        roles[seg["case"]].add(seg["role"])
    assert sorted(roles) == [r["case"] for r in read_cases()]
    assert all(r == {"interviewer", "respondent"} for r in roles.values()), dict(roles)


@pytest.mark.parametrize("coder", sorted(CODINGS))
def test_every_respondent_segment_is_coded_by_each_coder(coder: str,
                                                         respondent_ids: set[str]) -> None:
    rows = read_codings(coder)
    with CODINGS[coder].open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == CODINGS_HEADER
    coded = {r["segment"] for r in rows}
    assert coded == respondent_ids, (sorted(coded - respondent_ids)[:5],
                                     sorted(respondent_ids - coded)[:5])
    assert {r["coder"] for r in rows} == {coder}
    pairs = [(r["segment"], r["code"]) for r in rows]
    assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize("coder", sorted(CODINGS))
def test_every_code_id_is_in_the_tip_codebook(coder: str) -> None:
    need(TIP_CODEBOOK)
    from tipqual.codebook.model import load

    ids = set(load(TIP_CODEBOOK).ids)
    used = {r["code"] for r in read_codings(coder)}
    assert used <= ids, sorted(used - ids)
    assert len(used) >= 15


# --- the findings -----------------------------------------------------------------------------

@pytest.mark.parametrize("coder", sorted(CODINGS))
def test_committed_individual_is_coded_in_all_ten_cases(coder: str) -> None:
    cases = {r["segment"].split(":")[0] for r in read_codings(coder)
             if r["code"] == "committed-individual"}
    assert cases == {r["case"] for r in read_cases()}


def test_stakeholder_citations_rank_saps_dpci_djcd_npa_then_dsd() -> None:
    need(TIP_CODEBOOK)
    from tipqual.codebook.model import load

    texts = {r["case"]: transcript_words(TRANSCRIPTS / r["source"]) for r in read_cases()}
    cited = {s.id: sum(bool(alias_pattern(s.aliases).search(t)) for t in texts.values())
             for s in load(TIP_CODEBOOK).stakeholders if s.aliases}
    leaders = ("SAPS", "DPCI", "DJCD", "NPA")
    others = [n for sid, n in cited.items() if sid not in (*leaders, "DSD")]
    assert min(cited[s] for s in leaders) > cited["DSD"] > max(others), cited
    assert cited["NFN"] > 0 and cited["A2I"] > 0, cited


def test_coders_agree_with_kappa_07_to_085_on_most_codes() -> None:
    from sklearn.metrics import cohen_kappa_score

    coded = {c: defaultdict(set) for c in CODINGS}
    for coder in CODINGS:
        for row in read_codings(coder):
            coded[coder][row["segment"]].add(row["code"])
    a, b = coded["coder-a"], coded["coder-b"]
    units = sorted(set(a) & set(b))
    shared = sorted({c for v in a.values() for c in v} & {c for v in b.values() for c in v})
    kappas = {code: cohen_kappa_score([code in a[u] for u in units],
                                      [code in b[u] for u in units]) for code in shared}
    in_range = [c for c, k in kappas.items() if 0.7 <= k <= 0.85]
    assert len(in_range) >= 0.6 * len(kappas), kappas
    assert min(kappas.values()) >= 0.5, kappas


# --- the justice department is named, not inferred from every court ---------------------------

GENERIC_COURT_WORDS = {"court", "courts", "the courts", "magistrate", "magistrates",
                       "magistrate's court", "regional court"}
DJCD_NAMES = re.compile(r"(?<!\w)(?:Department of Justice|DoJ|justice department)(?!\w)",
                        re.IGNORECASE)


def test_the_justice_department_is_cited_by_name_never_by_court_words() -> None:
    need(TIP_CODEBOOK)
    from tipqual.codebook.model import load

    registry = {s.id: s for s in load(TIP_CODEBOOK).stakeholders}
    owned = {a.lower() for s in registry.values() for a in s.aliases}
    assert not GENERIC_COURT_WORDS & owned, sorted(GENERIC_COURT_WORDS & owned)
    texts = {r["case"]: transcript_words(TRANSCRIPTS / r["source"]) for r in read_cases()}
    naming = sorted(case for case, text in texts.items() if DJCD_NAMES.search(text))
    cited = sorted(case for case, text in texts.items()
                   if alias_pattern(registry["DJCD"].aliases).search(text))
    assert naming == cited and len(cited) >= 8, (naming, cited)


def test_the_registry_tells_the_department_from_courts_and_justice_as_a_word() -> None:
    need(TIP_CODEBOOK)
    from tipqual.codebook.model import load
    from tipqual.nlp.pipeline import find_mentions
    from tipqual.records import Segment

    texts = ["The criminal justice system is slow, and survivors want justice.",
             "We met the magistrate and the court manager at the regional court.",
             "Justice, I mean the Department of Justice, pays the interpreters.",
             "The DoJ and the justice department are the same people."]
    segments = [Segment(id=f"T:{n}", source="T", n=n, speaker="R", role="respondent",
                        start=0, end=len(t), text=t) for n, t in enumerate(texts, start=1)]
    found = [(m.segment, m.stakeholder, m.text)
             for m in find_mentions(segments, load(TIP_CODEBOOK))]
    assert found == [("T:3", "DJCD", "Department of Justice"), ("T:4", "DJCD", "DoJ"),
                     ("T:4", "DJCD", "justice department")]
