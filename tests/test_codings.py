"""Codings by hand, codings CSV import (all or nothing) and export (formula-safe)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.helpers import SAMPLE
from tipqual.codebook.model import Code, Codebook
from tipqual.coding import csvio as codings
from tipqual.errors import CodingError, IngestError
from tipqual.ingest.importer import import_paths
from tipqual.records import Coding
from tipqual.store.project import Project

INGEST = Path(__file__).resolve().parent / "fixtures" / "ingest"
TRANSCRIPT = ("Interviewer: What is hard?\n\nRespondent: Funding.\n\n"
              "Respondent: =SUM(A1) is what the clerk typed.\n")


@pytest.fixture
def coded(tmp_path: Path, study: Project) -> Project:
    """A study with one three-segment source ``cso`` and a three-code codebook."""
    path = tmp_path / "cso.txt"
    path.write_text(TRANSCRIPT)
    import_paths(study, [path])
    book = Codebook("test", "1", [Code("trust", "Trust"), Code("funding", "Funding"),
                                  Code("delays", "Delays")])
    with study.atomic():
        study.set_codebook(book)
    return study


def read_export(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("text", "expected"), [
    ("=1+1", "'=1+1"), ("+27 82", "'+27 82"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("plain", "plain"), ("a=b", "a=b"), ("", ""), (None, ""), (0.5, "0.5"),
])
def test_safe_cell(text: object, expected: str) -> None:
    assert codings.safe_cell(text) == expected
    if isinstance(text, str):
        assert codings.unsafe_cell(codings.safe_cell(text)) == text


def test_add_update_and_remove_are_audited(coded: Project) -> None:
    assert codings.add_coding(coded, "cso:2", "funding", "alice") == "added"
    assert codings.add_coding(coded, "cso:2", "funding", "alice") == "unchanged"
    assert codings.add_coding(coded, "cso:2", "funding", "alice", memo="donor") == "updated"
    got = coded.find_coding("cso:2", "funding", "alice")
    assert (got.status, got.provenance, got.memo) == ("human", "manual", "donor")
    codings.remove_coding(coded, "cso:2", "funding", "alice")
    assert coded.codings() == []
    assert [e.action for e in coded.audit()] == ["add", "update", "remove"]


@pytest.mark.parametrize(("segment", "code", "coder", "message"), [
    ("cso:9", "funding", "alice", "unknown segment 'cso:9'"),
    ("cso:2", "fundingg", "alice", "unknown code 'fundingg'"),
    ("cso:2", "funding", " ", "coder name must not be empty"),
])
def test_add_errors(coded: Project, segment: str, code: str, coder: str, message: str) -> None:
    with pytest.raises(CodingError, match=message):
        codings.add_coding(coded, segment, code, coder)
    assert coded.codings() == [] and coded.audit() == []


def test_remove_missing_coding_is_an_error(coded: Project) -> None:
    with pytest.raises(CodingError, match="no coding 'trust' by 'alice'"):
        codings.remove_coding(coded, "cso:2", "trust", "alice")


def test_any_code_allowed_without_codebook(tmp_path: Path, study: Project) -> None:
    path = tmp_path / "cso.txt"
    path.write_text(TRANSCRIPT)
    import_paths(study, [path])
    assert codings.add_coding(study, "cso:2", "anything", "alice") == "added"


def test_import_csv(coded: Project) -> None:
    result = codings.import_codings(coded, INGEST / "codings-good.csv")
    assert (result.added, result.updated, result.unchanged) == (4, 0, 0)
    memo = coded.find_coding("cso:3", "trust", "alice").memo
    assert memo == '=HYPERLINK("http://x")'
    assert coded.find_coding("cso:1", "delays", "alice").memo == "-asked about waiting"
    assert coded.find_coding("cso:2", "trust", "bob").provenance == "import:codings-good.csv"
    again = codings.import_codings(coded, INGEST / "codings-good.csv")
    assert (again.added, again.unchanged) == (0, 4)
    assert len(coded.audit()) == 4


@pytest.mark.parametrize(("name", "line", "message"), [
    ("codings-unknown-code.csv", 3, "unknown code 'corruption-typo'"),
    ("codings-unknown-segment.csv", 3, "unknown segment 'cso:9'"),
])
def test_import_errors_name_the_row_and_import_nothing(coded: Project, name: str, line: int,
                                                       message: str) -> None:
    with pytest.raises(CodingError) as err:
        codings.import_codings(coded, INGEST / name)
    assert (err.value.path, err.value.line) == (str(INGEST / name), line)
    assert message in err.value.message and "nothing was imported" in err.value.message
    assert coded.codings() == [] and coded.audit() == []


@pytest.mark.parametrize(("content", "line", "message"), [
    ("segment,code\ncso:2,trust\n", 1, "the header lacks coder"),
    ("segment,code,coder,note\ncso:2,trust,a,x\n", 1, "unknown column(s) note"),
    ("segment,code,coder\ncso:2,trust\n", 2, "has 2 fields, the header has 3"),
    ("segment,code,coder\ncso:2,trust,a\ncso:2,trust,a\n", 3, "same segment, code and coder as "
     "line 2"),
    ("segment,code,coder,status\ncso:2,trust,a,maybe\n", 2, "unknown status 'maybe'"),
    ("segment,code,coder,score\ncso:2,trust,a,high\n", 2, "score 'high' is not a number"),
])
def test_import_csv_format_errors(coded: Project, tmp_path: Path, content: str, line: int,
                                  message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(content)
    with pytest.raises((CodingError, IngestError)) as err:
        codings.import_codings(coded, path)
    assert err.value.line == line and message in err.value.message
    assert coded.codings() == []


def test_export_columns_filters_and_formula_guard(coded: Project, tmp_path: Path) -> None:
    codings.import_codings(coded, INGEST / "codings-good.csv")
    with coded.atomic():
        coded.put_coding(Coding("cso:3", "delays", "tipqual", status="suggested", score=0.75,
                                provenance="rule:phrase"))
    out = tmp_path / "out.csv"
    assert codings.export_codings(coded, out) == 5
    assert out.read_bytes().startswith(b"\xef\xbb\xbfsegment,code,coder,status,score,")
    rows = read_export(out)
    assert list(rows[0]) == list(codings.EXPORT_COLUMNS)
    by_key = {(r["segment"], r["code"], r["coder"]): r for r in rows}
    guarded = by_key[("cso:3", "trust", "alice")]
    assert guarded["memo"] == "'=HYPERLINK(\"http://x\")"
    assert guarded["text"] == "'=SUM(A1) is what the clerk typed."
    assert (guarded["case"], guarded["source"]) == ("cso", "cso")
    assert by_key[("cso:1", "delays", "alice")]["memo"] == "'-asked about waiting"
    assert by_key[("cso:3", "delays", "tipqual")]["score"] == "0.75"
    assert [r["segment"] for r in rows] == ["cso:1", "cso:2", "cso:2", "cso:3", "cso:3"]
    assert codings.export_codings(coded, out, statuses=["suggested"]) == 1
    assert codings.export_codings(coded, out, coders=["bob", "tipqual"]) == 2
    with pytest.raises(CodingError, match="unknown status 'done'"):
        codings.export_codings(coded, out, statuses=["done"])


def test_import_export_round_trip(coded: Project, tmp_path: Path) -> None:
    codings.import_codings(coded, INGEST / "codings-good.csv")
    with coded.atomic():
        coded.put_coding(Coding("cso:3", "delays", "tipqual", status="accepted", score=0.3125,
                                provenance="model:v1", memo="+ check"))
    first = tmp_path / "first.csv"
    codings.export_codings(coded, first)
    other_path = tmp_path / "other.db"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cso.txt").write_text(TRANSCRIPT)
    with Project.create(other_path) as other:
        import_paths(other, [tmp_path / "src" / "cso.txt"])
        result = codings.import_codings(other, first)
        assert result.added == 5
        second = tmp_path / "second.csv"
        codings.export_codings(other, second)
        theirs = [(c.segment, c.code, c.coder, c.status, c.score, c.provenance, c.memo)
                  for c in other.codings()]
    assert first.read_bytes() == second.read_bytes()
    ours = [(c.segment, c.code, c.coder, c.status, c.score, c.provenance, c.memo)
            for c in coded.codings()]
    assert ours == theirs


@pytest.mark.skipif(not (SAMPLE / "codings").is_dir(), reason="sample codings not present")
def test_sample_codings_fit_the_sample_segments(study: Project) -> None:
    import_paths(study, [SAMPLE / "transcripts"], cases_csv=SAMPLE / "cases.csv")
    respondent = {s.id for s in study.segments(role="respondent")}
    for coder in ("coder-a", "coder-b"):
        codings.import_codings(study, SAMPLE / "codings" / f"{coder}.csv")
        assert {c.segment for c in study.codings(coders=[coder])} == respondent


# --- coder names ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "T. Mokoena", "Nomvula Dlamini-Zulu", "jo@uct.ac.za",
                                  "thabo_2", "Zoë", "Ngũgĩ wa Thiong'o", "सीता", "李明",
                                  "Αλέξης", "tipqual", "x" * 64])
def test_coder_names_allowed(name: str) -> None:
    assert codings.check_coder_name(name) == name


@pytest.mark.parametrize(("name", "problem"), [
    ("alice\nbob", "control or formatting character (U+000A)"),
    ("\x1b[31malice", "control or formatting character (U+001B)"),
    ("ali\u202ece", "control or formatting character (U+202E)"),
    ("alice\u200b", "control or formatting character (U+200B)"),
    ("al\tice", "control or formatting character (U+0009)"),
    (" alice", "does not start with a letter or digit"),
    ("-alice", "does not start with a letter or digit"),
    ("alice ", "ends with a space"),
    ("=HYPERLINK(1)", "holds '=' (U+003D), which is not allowed"),
    ("tipqual-rules", "kept for tipqual's own suggesters"),
    ("tipqual-model", "kept for tipqual's own suggesters"),
    ("TipQual-Model", "kept for tipqual's own suggesters"),
    ("x" * 65, "it is 65 characters long"),
])
def test_coder_names_refused(name: str, problem: str) -> None:
    with pytest.raises(CodingError) as err:
        codings.check_coder_name(name, path="c.csv", line=4)
    assert (err.value.path, err.value.line) == ("c.csv", 4)
    assert problem in err.value.message and "is not allowed" in err.value.message
    assert err.value.format().isprintable()  # the message never carries the raw characters


@pytest.mark.parametrize("name", ["eve\n", "\x1b[2Jeve", "tipqual-model", "eve "])
def test_add_refuses_a_coder_name_not_allowed(coded: Project, name: str) -> None:
    with pytest.raises(CodingError, match="is not allowed"):
        codings.add_coding(coded, "cso:2", "funding", name)
    assert coded.codings() == [] and coded.audit() == []


def test_import_refuses_a_row_with_a_coder_name_not_allowed(coded: Project,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["segment", "code", "coder", "status"],
                                  ["cso:1", "trust", "alice", "human"],
                                  ["cso:2", "trust", "tipqual-rules", "suggested"],
                                  ["cso:3", "trust", "tipqual-model", "accepted"]])
    with pytest.raises(CodingError) as err:
        codings.import_codings(coded, path)
    assert (err.value.path, err.value.line) == (str(path), 4)
    assert err.value.message.startswith("the coder name 'tipqual-model' is not allowed")
    assert err.value.message.endswith("; nothing was imported")
    assert coded.codings() == []
    path.write_text("segment,code,coder\ncso:1,trust,alice\ncso:2,trust,\"bob\x1b[0m\"\n",
                    encoding="utf-8")
    with pytest.raises(CodingError, match="U\\+001B") as err:
        codings.import_codings(coded, path)
    assert err.value.line == 3 and coded.codings() == []


def test_exported_suggestions_import_again_under_the_suggesters_names(coded: Project,
                                                                      tmp_path: Path) -> None:
    with coded.atomic():
        coded.put_coding(Coding("cso:2", "funding", "tipqual-rules", status="suggested",
                                score=0.5, provenance='{"rules": ["funding"]}'))
    out = tmp_path / "all.csv"
    codings.export_codings(coded, out)
    with coded.atomic():
        coded.delete_coding(Coding("cso:2", "funding", "tipqual-rules"))
    assert codings.import_codings(coded, out).added == 1
    assert coded.find_coding("cso:2", "funding", "tipqual-rules").status == "suggested"


def test_a_study_with_odd_coder_names_still_opens_reads_and_removes(coded: Project,
                                                                   tmp_path: Path) -> None:
    odd = "old\x1b[31mname\n"
    with coded.atomic():  # written as an older tipqual would have, without the check
        coded.put_coding(Coding("cso:2", "funding", odd))
    coded.close()
    with Project.open(coded.path, readonly=True) as again:
        assert again.coders() == [odd]
        assert codings.export_codings(again, tmp_path / "out.csv") == 1
    with Project.open(coded.path) as again:
        codings.remove_coding(again, "cso:2", "funding", odd)
        assert again.codings() == []
        with pytest.raises(CodingError, match="is not allowed"):
            codings.remove_coding(again, "cso:2", "funding", "never\nseen")


def test_a_category_is_not_coded_by_hand_or_by_import(coded: Project, tmp_path: Path) -> None:
    book = Codebook("clinics", "2", [Code("staffing", "Staffing", codable=False),
                                     Code("housing", "Housing", parent="staffing"),
                                     Code("empty", "Empty group", codable=False)])
    with coded.atomic():
        coded.set_codebook(book)
    with pytest.raises(CodingError, match="'staffing' is a category .* codes below it: "
                                          "housing"):
        codings.add_codings(coded, ["cso:2"], "staffing", "alice")
    with pytest.raises(CodingError, match="'empty' is a category .* give it codes of its own"):
        codings.add_codings(coded, ["cso:2"], "empty", "alice")
    rows = tmp_path / "c.csv"
    rows.write_text("segment,code,coder\ncso:2,housing,alice\ncso:3,staffing,alice\n")
    with pytest.raises(CodingError, match="'staffing' is a category") as err:
        codings.import_codings(coded, rows)
    assert err.value.line == 3 and coded.codings() == []
    assert codings.add_codings(coded, ["cso:2"], "housing", "alice") == ["added"]


def test_a_csv_without_memo_or_status_columns_keeps_them(coded: Project, tmp_path: Path) -> None:
    codings.add_coding(coded, "cso:2", "funding", "alice", memo="donor pulled out")
    coded.put_coding(Coding(segment="cso:3", code="trust", coder="alice", status="accepted",
                            score=0.81, provenance="review of tipqual-rules 0.81"))
    rows = tmp_path / "c.csv"
    rows.write_text("segment,code,coder\ncso:2,funding,alice\ncso:3,trust,alice\n"
                    "cso:3,delays,alice\n")
    result = codings.import_codings(coded, rows)
    assert (result.added, result.updated, result.unchanged) == (1, 0, 2)
    assert coded.find_coding("cso:2", "funding", "alice").memo == "donor pulled out"
    kept = coded.find_coding("cso:3", "trust", "alice")
    assert (kept.status, kept.score) == ("accepted", 0.81)
    rows.write_text("segment,code,coder,memo\ncso:2,funding,alice,\n")  # a column, emptied
    assert codings.import_codings(coded, rows).updated == 1
    assert coded.find_coding("cso:2", "funding", "alice").memo is None
