"""``tipqual agree`` and ``tipqual merge`` from the command line, on studies built with the API."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import run_tipqual, shared
from tipqual.cli import cli
from tipqual.records import Coding, Segment, Source
from tipqual.store.project import Project


def build_study(path: Path, texts: list[str], codings: list[Coding], *, source: str = "s",
                case: str = "CSO-01") -> Project:
    """A study with one source whose segments are ``texts``, and ``codings`` on them."""
    body = "\n\n".join(texts)
    segments, start = [], 0
    for n, text in enumerate(texts, start=1):
        segments.append(Segment(id=f"{source}:{n}", source=source, n=n, speaker="R",
                                role="respondent", start=start, end=start + len(text),
                                text=text))
        start += len(text) + 2
    p = Project.create(path)
    with p.atomic():
        p.add_source(Source(id=source, case=case, path=f"{source}.txt", format="txt",
                            sha256=hashlib.sha256(body.encode()).hexdigest(), text=body),
                     segments)
        for c in codings:
            p.put_coding(c)
    return p


def textbook_study(path: Path) -> None:
    """2x2 table over 50 segments: 20 both, 5 only alice, 10 only bob, 15 neither."""
    codings = []
    for i in range(1, 51):
        alice, bob = i <= 25, i <= 20 or 25 < i <= 35
        codings.append(Coding(f"s:{i}", "trust" if alice else "capacity", "alice"))
        codings.append(Coding(f"s:{i}", "trust" if bob else "capacity", "bob"))
    build_study(path, [f"Segment {i} about partners." for i in range(1, 51)], codings).close()


def test_acceptance_textbook_table_kappa_040_and_70_percent(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    textbook_study(path)
    result = runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob", "--json"])
    assert result.exit_code == 0, result.output
    trust = json.loads(result.output)["codes"]["trust"]
    assert trust["n_units"] == 50
    assert trust["percent_agreement"] == pytest.approx(70.0)
    assert trust["kappa"] == pytest.approx(0.40)


def test_json_shape_has_the_contract_keys(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    textbook_study(path)
    data = json.loads(runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob",
                                          "--json"]).output)
    assert list(data) == ["coders", "overall", "codes"]
    assert data["coders"] == ["alice", "bob"]
    assert list(data["codes"]) == ["capacity", "trust"]
    for code in data["codes"].values():
        assert list(code) == ["n_units", "percent_agreement", "kappa", "alpha"]
    assert list(data["overall"]) == [
        "n_units", "percent_agreement", "kappa", "alpha", "mean_percent_agreement",
        "mean_kappa", "mean_alpha", "kappa_method", "n_units_all_coders", "undefined"]
    # every unit has exactly one code, so overall is the plain kappa on those labels
    assert data["overall"]["kappa"] == pytest.approx(0.40)
    assert data["overall"]["mean_kappa"] == pytest.approx(0.40)


def test_acceptance_identities_overall_equals_direct_computation(tmp_path: Path,
                                                                 runner) -> None:
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    with open(shared("eval-data", "identities", "both.csv"), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    one, two = [r["coder1"] for r in rows], [r["coder2"] for r in rows]
    codings = [Coding(f"s:{i}", f"c{code}", coder)
               for i, (a, b) in enumerate(zip(one, two, strict=False), start=1)
               for code, coder in ((a, "coder1"), (b, "coder2"))]
    path = tmp_path / "identities.db"
    build_study(path, [r["trait"].strip() or "-" for r in rows], codings).close()
    result = runner.invoke(cli, ["agree", str(path), "--coders", "coder1,coder2", "--json"])
    assert result.exit_code == 0, result.output
    overall = json.loads(result.output)["overall"]
    kappa = cohen_kappa_score(one, two)
    alpha = krippendorff.alpha(reliability_data=[[float(v) for v in one],
                                                 [float(v) for v in two]],
                               level_of_measurement="nominal")
    assert overall["n_units"] == len(rows)
    assert overall["kappa"] == pytest.approx(kappa, abs=1e-12)
    assert overall["alpha"] == pytest.approx(alpha, abs=1e-12)
    assert round(overall["kappa"], 3) == 0.745 and round(overall["alpha"], 3) == 0.744
    assert overall["percent_agreement"] == pytest.approx(
        100 * sum(a == b for a, b in zip(one, two, strict=False)) / len(rows))
    assert len(json.loads(result.output)["codes"]) == 15


def test_readable_table_with_readings(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    textbook_study(path)
    result = runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob",
                                 "--codes", "trust"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].split() == ["code", "units", "%", "kappa", "alpha", "kappa", "reading",
                                "alpha", "reading"]
    trust = lines[3].split()
    assert trust[:5] == ["trust", "50", "70.0", "0.400", "0.400"]
    assert " ".join(trust[5:]) == "fair unreliable"


def test_unknown_coder_and_code_are_named(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    textbook_study(path)
    before = path.read_bytes()
    coder = run_tipqual("agree", str(path), "--coders", "alice,carol")
    assert coder.returncode == 1
    assert coder.stderr.strip() == ("Error: unknown coder 'carol'; this study's coders: "
                                    "alice, bob")
    code = run_tipqual("agree", str(path), "--coders", "alice,bob", "--codes", "trust,truts")
    assert code.returncode == 1
    assert "unknown code 'truts'" in code.stderr and "Traceback" not in code.stderr
    one = run_tipqual("agree", str(path), "--coders", "alice")
    assert one.returncode == 1 and "two or more different coders" in one.stderr
    assert path.read_bytes() == before


def test_disagreements_csv_lists_each_disputed_segment(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    build_study(path, ["We trust SAPS.", "-- delays, always delays", "Funding is short."],
                [Coding("s:1", "trust", "alice"), Coding("s:1", "trust", "bob"),
                 Coding("s:2", "delays", "alice"), Coding("s:2", "trust", "bob"),
                 Coding("s:3", "funding", "alice"), Coding("s:3", "funding", "bob")]).close()
    out = tmp_path / "meet.csv"
    result = runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob",
                                 "--disagreements", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 disagreements written to" in result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["segment", "case", "source", "text", "alice", "bob", "disputed"],
                    ["s:2", "CSO-01", "s", "'-- delays, always delays", "delays", "trust",
                     "delays; trust"]]


def test_cases_filter_and_status_filter(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    p = build_study(path, ["a", "b", "c"],
                    [Coding("s:1", "trust", "alice"), Coding("s:1", "trust", "bob"),
                     Coding("s:2", "trust", "alice"), Coding("s:2", "delays", "bob"),
                     Coding("s:3", "trust", "alice", status="suggested"),
                     Coding("s:3", "trust", "bob")])
    p.close()
    base = ["agree", str(path), "--coders", "alice,bob", "--json"]
    data = json.loads(runner.invoke(cli, base).output)
    assert data["overall"]["n_units"] == 2
    with_sugg = json.loads(runner.invoke(cli, base + ["--status", "human,suggested"]).output)
    assert with_sugg["overall"]["n_units"] == 3
    bad = runner.invoke(cli, base + ["--cases", "CSO-99"])
    assert bad.exit_code == 1 and "unknown case 'CSO-99'" in bad.output
    rejected = runner.invoke(cli, base + ["--status", "rejected"])
    assert rejected.exit_code == 1 and "cannot count as applying a code" in rejected.output


# --- merge ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_merge_prints_what_each_copy_added(tmp_path: Path) -> None:
    base = tmp_path / "study.db"
    build_study(base, ["one", "two"], []).close()
    copies = []
    for coder in ("alice", "bob"):
        copy = tmp_path / f"{coder}.db"
        copy.write_bytes(base.read_bytes())
        with Project.open(copy) as p, p.atomic():
            p.put_coding(Coding("s:1", "trust", coder, memo="=risky memo"))
            p.put_coding(Coding("s:2", "delays", coder))
        copies.append(str(copy))
    first = run_tipqual("merge", str(base), *copies)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(f"{copies[0]}: 2 codings added, 0 updated, 0 unchanged, "
                               "0 conflicts, 2 audit entries added")
    assert lines[1].startswith(f"{copies[1]}: 2 codings added")
    again = run_tipqual("merge", str(base), copies[0])
    assert again.stdout.startswith(f"{copies[0]}: 0 codings added, 0 updated, 2 unchanged, "
                                   "0 conflicts, 0 audit entries added")
    agree = run_tipqual("agree", str(base), "--coders", "alice,bob", "--json")
    assert json.loads(agree.stdout)["overall"]["percent_agreement"] == pytest.approx(100.0)


def test_merge_refuses_a_divergent_copy(tmp_path: Path) -> None:
    base = tmp_path / "study.db"
    build_study(base, ["one", "two"], []).close()
    other = tmp_path / "other.db"
    build_study(other, ["one", "TWO"], [Coding("s:1", "trust", "carol")]).close()
    before = base.read_bytes()
    result = run_tipqual("merge", str(base), str(other))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {other}: nothing merged: the transcripts of")
    assert "source 's' has different text" in result.stderr
    assert "segment 's:2' has different text" in result.stderr
    assert base.read_bytes() == before


def test_code_used_only_by_another_coder_is_known(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    build_study(path, ["a", "b"], [Coding("s:1", "trust", "alice"), Coding("s:1", "trust", "bob"),
                                   Coding("s:2", "stigma", "carol")]).close()
    result = runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob", "--codes",
                                 "stigma,trust,stigma", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data["codes"]) == ["stigma", "trust"]
    assert data["codes"]["stigma"]["kappa"] is None
    unknown = runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob", "--codes", "x"])
    assert "unknown code 'x'; this study's codes: stigma, trust" in unknown.output
    empty = runner.invoke(cli, ["agree", str(path), "--coders", "alice,bob", "--status", ","])
    assert empty.exit_code == 1 and "name at least one status" in empty.output


def test_merge_reports_conflicts_and_shared_coder_names(tmp_path: Path) -> None:
    base = tmp_path / "study.db"
    build_study(base, ["one", "two"], []).close()
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    for copy, memo, seg in ((one, "first", "s:1"), (two, "second", "s:2")):
        copy.write_bytes(base.read_bytes())
        with Project.open(copy) as p, p.atomic():
            p.put_coding(Coding("s:1", "trust", "alice", memo=memo))
            p.put_coding(Coding(seg, "delays", "user"))
    result = run_tipqual("merge", str(base), str(one), str(two))
    assert result.returncode == 2, result.stderr  # merged, with a conflict left to settle
    assert ("  conflict s:1 trust by alice: kept the target's human (memo 'first'); the copy "
            "has human (memo 'second')") in result.stdout.splitlines()
    assert result.stderr.startswith("Warning: coder 'user' has new codings in 2 copies")


def test_three_coders_use_fleiss_on_segments_all_coded(tmp_path: Path, runner) -> None:
    path = tmp_path / "study.db"
    build_study(path, ["x", "y", "z"],
                [Coding("s:1", "trust", "a"), Coding("s:1", "trust", "b"),
                 Coding("s:1", "trust", "c"), Coding("s:2", "delays", "a"),
                 Coding("s:2", "trust", "b"), Coding("s:3", "delays", "a"),
                 Coding("s:3", "delays", "b"), Coding("s:3", "trust", "c")]).close()
    data = json.loads(runner.invoke(cli, ["agree", str(path), "--coders", "a,b,c",
                                          "--json"]).output)
    assert (data["overall"]["n_units"], data["overall"]["n_units_all_coders"]) == (3, 2)
    assert data["overall"]["kappa_method"] == "fleiss"
    # all-coded segments s:1 and s:3, trust present per coder: (1,1,1) and (0,0,1)
    assert data["codes"]["trust"]["kappa"] == pytest.approx(0.25)
    text = runner.invoke(cli, ["agree", str(path), "--coders", "a,b,c"]).output
    assert text.splitlines()[0] == ("Coders: a, b, c; units: 3 (segments coded by two or more; "
                                    "Fleiss' kappa on the 2 coded by all, nominal alpha)")


def _copies(tmp_path: Path, base: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        copy = tmp_path / f"{name}.db"
        copy.write_bytes(base.read_bytes())
        out.append(copy)
    return out


def test_merge_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    base = tmp_path / "study.db"
    build_study(base, ["one", "two", "three"], [Coding("s:1", "trust", "alice"),
                                                 Coding("s:2", "trust", "alice")]).close()
    (alice,) = _copies(tmp_path, base, "alice")
    with Project.open(alice) as p, p.atomic():
        p.delete_coding(Coding("s:1", "trust", "alice"))
        p.put_coding(Coding("s:2", "trust", "alice", memo="sure"))
        p.put_coding(Coding("s:3", "delays", "alice"))
    before = base.read_bytes()
    plan = run_tipqual("merge", str(base), str(alice), "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert base.read_bytes() == before
    assert plan.stdout.splitlines() == [
        "Dry run: nothing was written. The merge would do this:",
        f"{alice}: would add 1, update 1, remove 1; 0 unchanged, 0 conflicts, 3 audit entries "
        "to copy (coders: alice)",
        "  add s:3 delays by alice", "  update s:2 trust by alice", "  remove s:1 trust by alice"]
    done = run_tipqual("merge", str(base), str(alice))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{alice}: 1 coding added, 1 updated, 0 unchanged, "
                                  "0 conflicts, 3 audit entries added, 1 removed")
    with Project.open(base) as p:
        assert sorted((c.segment, c.code, c.memo) for c in p.codings()) == [
            ("s:2", "trust", "sure"), ("s:3", "delays", None)]


def test_merge_a_removal_the_target_changed_meanwhile_is_a_conflict(tmp_path: Path) -> None:
    base = tmp_path / "study.db"
    build_study(base, ["one"], [Coding("s:1", "trust", "alice")]).close()
    (copy,) = _copies(tmp_path, base, "copy")
    with Project.open(copy) as p, p.atomic():
        p.delete_coding(Coding("s:1", "trust", "alice"))
    with Project.open(base) as p, p.atomic():
        p.put_coding(Coding("s:1", "trust", "alice", memo="agreed"))
    result = run_tipqual("merge", str(base), str(copy))
    assert result.returncode == 2
    assert ("  conflict s:1 trust by alice: kept the target's human (memo 'agreed'); the copy "
            "removed it") in result.stdout.splitlines()
    assert result.stderr.splitlines()[-1].startswith("Conflicts: 1; the target's version was "
                                                     "kept for each")
    with Project.open(base) as p:
        assert p.find_coding("s:1", "trust", "alice").memo == "agreed"


def test_merge_refuses_codes_the_target_lacks_unless_mapped(tmp_path: Path) -> None:
    from tipqual.codebook.model import Code, Codebook

    base = tmp_path / "study.db"
    with build_study(base, ["one", "two"], []) as p, p.atomic():
        p.set_codebook(Codebook("tip", "1", [Code("trust", "Trust"), Code("shame", "Shame")]))
    (copy,) = _copies(tmp_path, base, "copy")
    with Project.open(copy) as p, p.atomic():
        p.set_codebook(Codebook("tip", "2", [Code("trust", "Trust"), Code("stigma", "Stigma")]))
        p.put_coding(Coding("s:1", "stigma", "alice"))
        p.put_coding(Coding("s:2", "trust", "alice"))
    before = base.read_bytes()
    refused = run_tipqual("merge", str(base), str(copy))
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"Error: {copy}: nothing merged: the copy has codings of codes the target's codebook "
        "lacks: stigma (1 coding); map each to a target code with --map-code OLD=NEW (the "
        "target's codes: trust, shame), or add them to the target's codebook first\n")
    assert base.read_bytes() == before
    bad_map = run_tipqual("merge", str(base), str(copy), "--map-code", "stigma")
    assert bad_map.returncode == 1 and bad_map.stderr.startswith("Error: --map-code 'stigma' is")
    mapped = run_tipqual("merge", str(base), str(copy), "--map-code", "stigma=shame")
    assert mapped.returncode == 0, mapped.stderr
    with Project.open(base) as p:
        assert sorted((c.segment, c.code) for c in p.codings()) == [("s:1", "shame"),
                                                                    ("s:2", "trust")]


def test_merge_refuses_a_copy_with_a_coder_name_not_allowed(tmp_path: Path) -> None:
    base = tmp_path / "study.db"
    build_study(base, ["one"], []).close()
    (copy,) = _copies(tmp_path, base, "copy")
    with Project.open(copy) as p, p.atomic():
        p.put_coding(Coding("s:1", "trust", "eve\x1b[2J\nroot"))
    before = base.read_bytes()
    result = run_tipqual("merge", str(base), str(copy))
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "\x1b" not in result.stderr
    assert result.stderr.startswith(f"Error: {copy}: nothing merged: the copy has codings by a "
                                    "coder name the target would not accept: the coder name "
                                    "'eve\\x1b[2J\\nroot' is not allowed")
    assert base.read_bytes() == before


def _two_coders_and_two_suggesters(path: Path) -> None:
    """alice and bob coded; both suggesters suggested."""
    build_study(path, ["We trust SAPS.", "Funding is short."],
                [Coding("s:1", "trust", "alice"), Coding("s:1", "trust", "bob"),
                 Coding("s:2", "funding", "tipqual-rules", status="suggested", score=0.5),
                 Coding("s:2", "funding", "tipqual-model", status="suggested", score=0.5)]
                ).close()


def test_a_suggester_is_not_listed_as_a_coder_to_compare(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    _two_coders_and_two_suggesters(path)
    before = path.read_bytes()
    result = run_tipqual("agree", str(path), "--coders", "alice,carol")
    assert result.returncode == 1
    assert result.stderr.strip() == ("Error: unknown coder 'carol'; this study's coders: "
                                     "alice, bob")
    assert path.read_bytes() == before


@pytest.mark.parametrize("suggester", ["tipqual-rules", "tipqual-model", "Tipqual-Rules"])
def test_a_suggester_given_as_a_coder_is_refused_in_one_line(tmp_path: Path,
                                                             suggester: str) -> None:
    path = tmp_path / "study.db"
    _two_coders_and_two_suggesters(path)
    result = run_tipqual("agree", str(path), "--coders", f"alice,{suggester}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: {suggester!r} is one of tipqual's suggesters, not a coder: agreement "
        "compares people; give this study's coders (alice, bob), whose accepted suggestions "
        "count with --status human,accepted"]
