"""tipqual.analysis.agreement: the statistics against published worked examples, and the unit logic.

Worked examples (data in tests/fixtures/agreement/):
- Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and
  Psychological Measurement 20(1), 37-46: the 3-category table of proportions for 200 units
  (here as counts); p_o = .70, p_c = .41, kappa = .492.
- Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for
  Communication, University of Pennsylvania: example A, binary data, two observers, ten units,
  alpha = 0.095; example C, nominal data, four observers, twelve units with missing values,
  alpha = 0.743 (the same reliability data give ordinal 0.815, interval 0.849, ratio 0.797).
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological
  Bulletin 76(5), 378-382, Table 1: 30 patients, six psychiatric diagnoses each, five
  categories; kappa = .430 (the rater-by-rater layout is the one the R package irr ships as
  `diagnoses`).
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from tipqual.analysis import agreement
from tipqual.analysis.agreement import (
    agreement_table,
    alpha_reading,
    cohen_kappa,
    cohen_kappa_stat,
    disagreements,
    fleiss_kappa,
    fleiss_kappa_stat,
    guard_cell,
    kappa_reading,
    krippendorff_alpha,
    krippendorff_alpha_stat,
    percent_agreement,
)
from tipqual.errors import AgreementError

FIX = Path(__file__).resolve().parent / "fixtures" / "agreement"


def _reliability_rows(name: str, cast=int) -> list[list]:
    with open(FIX / name, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return [[cast(v) if v else None for v in row[1:]] for row in rows]


def _cohen_table() -> tuple[list[str], list[str]]:
    a, b = [], []
    with open(FIX / "cohen1960_table1.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            a += [row["judge_a"]] * int(row["count"])
            b += [row["judge_b"]] * int(row["count"])
    return a, b


# --- published examples -----------------------------------------------------------------------

def test_cohen_1960_worked_example() -> None:
    a, b = _cohen_table()
    assert len(a) == 200
    assert percent_agreement([a, b]) == pytest.approx(70.0)
    assert cohen_kappa(a, b) == pytest.approx(0.29 / 0.59)  # (.70 - .41) / (1 - .41)
    assert round(cohen_kappa(a, b), 3) == 0.492


def test_krippendorff_2011_binary_two_observers() -> None:
    data = _reliability_rows("krippendorff2011_binary.csv")
    assert round(krippendorff_alpha(data), 3) == 0.095


@pytest.mark.parametrize("level, expected", [("nominal", 0.743), ("ordinal", 0.815),
                                             ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_2011_four_observers_with_missing_values(level: str,
                                                              expected: float) -> None:
    data = _reliability_rows("krippendorff2011_nominal_missing.csv")
    assert sum(v is None for row in data for v in row) == 7
    assert round(krippendorff_alpha(data, level=level), 3) == expected


def test_nominal_alpha_takes_labels_and_nan_as_missing() -> None:
    data = _reliability_rows("krippendorff2011_nominal_missing.csv")
    labels = [[None if v is None else f"cat-{v}" for v in row] for row in data]
    nan_rows = [[float("nan") if v is None else v for v in row] for row in data]
    assert krippendorff_alpha(labels) == pytest.approx(krippendorff_alpha(data))
    assert krippendorff_alpha(nan_rows) == pytest.approx(0.743421052631579)


def test_fleiss_1971_table_1() -> None:
    units = _reliability_rows("fleiss1971_diagnoses.csv")  # one row per patient here
    ratings = [list(col) for col in zip(*units, strict=False)]  # one row per rater slot
    assert len(ratings) == 6 and len(ratings[0]) == 30
    assert round(fleiss_kappa(ratings), 3) == 0.430
    assert fleiss_kappa(ratings) == pytest.approx(0.4302445, abs=1e-7)


def test_fleiss_equals_scotts_pi_for_two_coders_and_skips_incomplete_units() -> None:
    a, b = [1, 1, 2, 2, 1, 2], [1, 2, 2, 2, 1, 1]
    # Scott's pi by hand: p_o = 4/6; pooled shares 1: 6/12, 2: 6/12 -> p_e = .5
    assert fleiss_kappa([a, b]) == pytest.approx((4 / 6 - 0.5) / 0.5)
    assert fleiss_kappa([a + [1], b + [None]]) == pytest.approx(fleiss_kappa([a, b]))


# --- agreement with scikit-learn --------------------------------------------------------------

def test_cohen_kappa_equals_sklearn_on_random_vectors() -> None:
    rng = random.Random(7)
    for trial in range(40):
        n = rng.randint(5, 60)
        cats = ["trust", "delays", "funding"][: rng.randint(2, 3)]
        a = [rng.choice(cats) for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.choice(cats) for x in a]
        if len(set(a) | set(b)) == 1:
            continue
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12), trial


def test_per_code_kappa_equals_sklearn_on_the_same_vectors() -> None:
    rng = random.Random(3)
    codes = ["trust", "capacity", "delays"]
    codings = []
    for i in range(1, 41):
        for coder in ("ann", "ben"):
            applied = [c for c in codes if rng.random() < 0.4] or ["capacity"]
            codings += [_C(f"s:{i}", c, coder) for c in applied]
    table = agreement_table(codings, ["ann", "ben"], codes)
    for code in codes:
        a = [any(c.segment == f"s:{i}" and c.code == code and c.coder == "ann" for c in codings)
             for i in range(1, 41)]
        b = [any(c.segment == f"s:{i}" and c.code == code and c.coder == "ben" for c in codings)
             for i in range(1, 41)]
        row = next(r for r in table.codes if r.code == code)
        assert row.kappa.value == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
        assert row.n_units == 40


# --- undefined cases --------------------------------------------------------------------------

def test_undefined_cases_give_none_with_a_reason() -> None:
    same = cohen_kappa_stat(["x", "x", "x"], ["x", "x", "x"])
    assert same.value is None and "no variation" in same.reason
    assert cohen_kappa([], []) is None
    assert krippendorff_alpha_stat([[1, 2, 1]]).reason == "only one coder"
    none_overlap = krippendorff_alpha_stat([[1, None], [None, 2]])
    assert none_overlap.value is None and "two or more" in none_overlap.reason
    assert krippendorff_alpha([[1, 1, 1], [1, 1, 1]]) is None
    assert fleiss_kappa_stat([[1, None], [None, 2], [1, 2]]).reason == (
        "no unit was coded by every coder")
    assert fleiss_kappa([[3, 3], [3, 3], [3, 3]]) is None
    assert percent_agreement([[1, 2]]) is None


def test_one_sided_constant_coder_still_has_a_defined_kappa() -> None:
    # one coder never varies, the other does: chance agreement < 1, kappa is 0, not undefined
    assert cohen_kappa([0, 0, 0, 0], [0, 1, 0, 1]) == pytest.approx(0.0)
    assert cohen_kappa_score([0, 0, 0, 0], [0, 1, 0, 1]) == pytest.approx(0.0)


def test_misuse_is_a_clear_error() -> None:
    with pytest.raises(AgreementError, match="differ in length"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(AgreementError, match="unknown level"):
        krippendorff_alpha([[1], [1]], level="cardinal")
    with pytest.raises(AgreementError, match="needs numbers"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], level="interval")


def test_readings_follow_landis_koch_and_krippendorff() -> None:
    kappas = (-0.1, 0.0, 0.2, 0.40000000001, 0.405, 0.6, 0.8, 0.81)
    assert [kappa_reading(k) for k in kappas] == [
        "poor", "slight", "slight", "fair", "moderate", "moderate", "substantial",
        "almost perfect"]
    assert kappa_reading(None) == "undefined"
    assert [alpha_reading(a) for a in (0.8, 0.79999999999, 0.7999, 0.667, 0.6669, None)] == [
        "reliable", "reliable", "tentative only", "tentative only", "unreliable", "undefined"]


# --- units ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _C:
    segment: str
    code: str
    coder: str
    status: str = "human"


def _textbook_codings() -> list[_C]:
    """The 2x2 table: 20 both, 5 only A, 10 only B, 15 neither, over 50 segments."""
    out = []
    for i in range(1, 51):
        seg = f"s:{i}"
        a_has, b_has = i <= 25, i <= 20 or 25 < i <= 35
        out.append(_C(seg, "trust" if a_has else "other", "a"))
        out.append(_C(seg, "trust" if b_has else "other", "b"))
    return out


def test_two_coders_textbook_table() -> None:
    table = agreement_table(_textbook_codings(), ["a", "b"], ["trust"])
    row = table.codes[0]
    assert row.n_units == 50
    assert row.percent_agreement.value == pytest.approx(70.0)
    # p_o = .70, p_e = .5 * .6 + .5 * .4 = .50 -> kappa .40
    assert row.kappa.value == pytest.approx(0.40)
    assert row.alpha.value == pytest.approx(krippendorff_alpha(
        [[c.code == "trust" for c in _textbook_codings() if c.coder == x] for x in "ab"]))


def test_units_are_segments_both_coded_and_rejections_count_as_coded() -> None:
    codings = [_C("s:1", "trust", "a"), _C("s:1", "trust", "b"),
               _C("s:2", "trust", "a"),                       # only a: not a unit
               _C("s:3", "delays", "a"), _C("s:3", "trust", "b", "rejected"),
               _C("s:4", "trust", "a", "suggested"), _C("s:4", "trust", "b")]
    table = agreement_table(codings, ["a", "b"], ["trust", "delays"])
    assert table.units == ["s:1", "s:3"]
    trust = table.codes[0]
    assert trust.kappa.value == pytest.approx(1.0)
    delays = table.codes[1]
    assert delays.percent_agreement.value == pytest.approx(50.0)
    assert delays.kappa.value == pytest.approx(0.0)


def test_code_nobody_used_is_undefined_not_perfect() -> None:
    table = agreement_table(_textbook_codings(), ["a", "b"], ["trust", "funding"])
    funding = table.to_dict()["codes"]["funding"]
    assert funding["kappa"] is None and funding["alpha"] is None
    assert funding["percent_agreement"] == pytest.approx(100.0)
    reasons = table.to_dict()["overall"]["undefined"]["funding"]
    assert reasons["kappa"] == "no coder applied this code on the compared segments"
    assert table.to_dict()["overall"]["mean_kappa"] == pytest.approx(0.40)


def test_no_overlap_gives_none_everywhere() -> None:
    table = agreement_table([_C("s:1", "trust", "a"), _C("s:2", "trust", "b")], ["a", "b"],
                            ["trust"])
    data = table.to_dict()
    assert data["overall"]["n_units"] == 0
    assert data["codes"]["trust"] == {"n_units": 0, "percent_agreement": None, "kappa": None,
                                      "alpha": None}
    reasons = data["overall"]["undefined"]["overall"]
    assert reasons["kappa"] == "no segment was coded by both coders"


def test_one_coder_is_refused() -> None:
    with pytest.raises(AgreementError, match="two or more"):
        agreement_table([], ["a"], ["trust"])


def test_overall_uses_code_sets_as_categories() -> None:
    codings = [_C("s:1", "trust", "a"), _C("s:1", "delays", "a"), _C("s:1", "trust", "b"),
               _C("s:1", "delays", "b"),
               _C("s:2", "trust", "a"), _C("s:2", "trust", "b"), _C("s:2", "delays", "b"),
               _C("s:3", "delays", "a"), _C("s:3", "delays", "b")]
    table = agreement_table(codings, ["a", "b"], ["trust", "delays"])
    a = ["delays+trust", "trust", "delays"]
    b = ["delays+trust", "delays+trust", "delays"]
    assert table.overall.percent_agreement.value == pytest.approx(200 / 3)
    assert table.overall.kappa.value == pytest.approx(cohen_kappa_score(a, b))
    assert table.overall.alpha.value == pytest.approx(krippendorff_alpha([a, b]))


def test_three_coders_alpha_with_missing_and_fleiss_on_all_coded() -> None:
    codings = []
    pattern = {  # segment -> {coder: has trust}; absent coder = did not code the segment
        1: {"a": 1, "b": 1, "c": 1}, 2: {"a": 0, "b": 0, "c": 1}, 3: {"a": 1, "b": 0},
        4: {"a": 0, "b": 0, "c": 0}, 5: {"b": 1, "c": 1}, 6: {"a": 1}}
    for i, coders in pattern.items():
        for coder, has in coders.items():
            codings.append(_C(f"s:{i}", "trust" if has else "other", coder))
    table = agreement_table(codings, ["a", "b", "c"], ["trust"])
    row = table.codes[0]
    assert row.n_units == 5 and table.n_all == 3
    rows = [[1, 0, 1, 0, None], [1, 0, 0, 0, 1], [1, 1, None, 0, 1]]
    assert row.alpha.value == pytest.approx(krippendorff_alpha(rows))
    assert row.kappa.value == pytest.approx(fleiss_kappa([[1, 0, 0], [1, 0, 0], [1, 1, 0]]))
    assert row.percent_agreement.value == pytest.approx(percent_agreement(rows))
    assert table.to_dict()["overall"]["kappa_method"] == "fleiss"


# --- disagreements ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _S:
    id: str
    case: str
    source: str
    text: str


def test_disagreement_rows_name_each_coders_codes() -> None:
    segs = [_S("s:1", "CSO-01", "s", "same"), _S("s:2", "CSO-01", "s", "=cmd"),
            _S("s:3", "CSO-02", "s", "one coder")]
    codings = [_C("s:1", "trust", "a"), _C("s:1", "trust", "b"),
               _C("s:2", "trust", "a"), _C("s:2", "delays", "a"), _C("s:2", "delays", "b"),
               _C("s:3", "trust", "a")]
    rows = disagreements(codings, ["a", "b"], ["trust", "delays"], segs)
    assert rows == [{"segment": "s:2", "case": "CSO-01", "source": "s", "text": "=cmd",
                     "a": "delays; trust", "b": "delays", "disputed": "trust"}]


def test_csv_cells_are_formula_guarded(tmp_path: Path) -> None:
    assert [guard_cell(v) for v in ("=1+1", "+27", "-x", "@a", "ok", "")] == [
        "'=1+1", "'+27", "'-x", "'@a", "ok", ""]
    out = tmp_path / "d.csv"
    agreement.write_disagreements([{"segment": "s:2", "case": "", "source": "s",
                                    "text": "=HYPERLINK(\"x\")", "a": "trust", "b": "",
                                    "disputed": "trust"}], ["a", "b"], out)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["segment", "case", "source", "text", "a", "b", "disputed"]
    assert rows[1][3] == "'=HYPERLINK(\"x\")"


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_equals_the_reference_package_on_random_data(level: str) -> None:
    """tipqual computes alpha itself (the reference package is GPL, so only a test tool)."""
    krippendorff = pytest.importorskip("krippendorff")
    rng = random.Random(41)
    compared = 0
    for _ in range(25):
        coders, units = rng.randint(2, 5), rng.randint(3, 30)
        rows = [[rng.choice([None, 1, 2, 3, 4, 5, 5, 5]) for _ in range(units)]
                for _ in range(coders)]
        ours = agreement.krippendorff_alpha(rows, level=level)
        floats = [[math.nan if v is None else float(v) for v in row] for row in rows]
        try:
            theirs = float(krippendorff.alpha(reliability_data=floats,
                                              level_of_measurement=level))
        except ValueError:  # the package refuses data with a single value
            theirs = math.nan
        if ours is None:  # undefined (no pairable unit or no variation): tested elsewhere
            continue
        assert ours == pytest.approx(theirs, abs=1e-9)
        compared += 1
    assert compared >= 20


# --- the vectorised alpha at scale -------------------------------------------------------------

@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_equals_the_reference_package_on_a_large_matrix(level: str) -> None:
    """3 coders x 20,000 units with missing values: the package's alpha to 1e-12."""
    krippendorff = pytest.importorskip("krippendorff")
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    rows = [[rng.choice([None, 1, 2, 2, 3, 4, 5, 7.5]) for _ in range(20_000)]
            for _ in range(3)]
    floats = np.array([[math.nan if v is None else v for v in row] for row in rows])
    theirs = float(krippendorff.alpha(reliability_data=floats, level_of_measurement=level))
    assert abs(krippendorff_alpha(rows, level=level) - theirs) < 1e-12
    assert abs(krippendorff_alpha(floats, level=level) - theirs) < 1e-12  # a numpy array too


def test_vectorised_alpha_keeps_the_label_rules() -> None:
    """Labels of any hashable kind, NaN objects as missing, 1 == 1.0, numbers only off nominal."""
    a = ["x", ("p", "q"), float("nan"), "x", None, ("p", "q")]
    b = ["x", ("p", "q"), "y", "y", "x", ("p", "q")]
    renamed = [[{"x": 1, ("p", "q"): 2, "y": 3}.get(v) for v in row] for row in (a, b)]
    assert krippendorff_alpha([a, b]) == pytest.approx(krippendorff_alpha(renamed), abs=1e-12)
    assert krippendorff_alpha([[1, 2, 2], [1.0, 2.0, 1]]) == \
        pytest.approx(krippendorff_alpha([[1, 2, 2], [1, 2, 1]]), abs=1e-12)
    with pytest.raises(AgreementError, match="interval alpha needs numbers; got True"):
        krippendorff_alpha([[1, 2, 3], [1, True, 3]], level="interval")
    with pytest.raises(AgreementError, match="rows differ in length"):
        krippendorff_alpha([[1, 2, 3], [1, 2]])
    assert krippendorff_alpha_stat([[1, None], [None, 2]]).reason == \
        "no unit was coded by two or more coders"
    assert krippendorff_alpha_stat([[4, 4, None], [4, 4, 9]]).value is None  # 9 is unpaired


def test_compare_coders_reads_the_texts_of_the_compared_segments_only(tmp_path: Path,
                                                                      monkeypatch) -> None:
    """Units come from the segment index; only the units' segments are read whole (for the
    disagreements), never the whole study."""
    from tipqual.records import Coding, Segment, Source
    from tipqual.store.project import Project

    said = "The borehole committee met on Tuesday."
    segments = [Segment(id=f"pump:{i}", source="pump", n=i, speaker="R", role="respondent",
                        start=(i - 1) * 41, end=(i - 1) * 41 + len(said), text=said)
                for i in range(1, 61)]
    with Project.create(tmp_path / "pumps.db") as p:
        with p.atomic():
            p.add_source(Source(id="pump", case="VILLAGE-2", path="pump.txt", format="txt",
                                sha256="p" * 64, text=(said + "\n") * 60), segments)
            for i, code in ((3, "meetings"), (7, "meetings"), (11, "fees"), (40, "fees")):
                p.put_coding(Coding(f"pump:{i}", code, "ana"))
                p.put_coding(Coding(f"pump:{i}", "meetings" if i != 11 else code, "ben"))
            p.put_coding(Coding("pump:50", "fees", "ana"))  # ana alone: not a unit
        asked: list[list[str] | None] = []
        real = p.segments

        def spy(**kw):
            asked.append(None if kw.get("ids") is None else list(kw["ids"]))
            return real(**kw)

        monkeypatch.setattr(p, "segments", spy)
        result = agreement.compare_coders(p, ["ana", "ben"])
    assert result.table.units == ["pump:3", "pump:7", "pump:11", "pump:40"]
    assert asked == [["pump:3", "pump:7", "pump:11", "pump:40"]]
    assert [r["segment"] for r in result.disagreements] == ["pump:40"]
    assert result.disagreements[0]["text"] == said
