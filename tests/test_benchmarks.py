"""The throughput benchmark itself: it runs end to end, measures child processes, and judges
on the median run (benchmarks/throughput.py; its figures are in benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import throughput
from tests.helpers import SAMPLE, TIP_CODEBOOK

pytestmark = pytest.mark.skipif(not (SAMPLE / "transcripts").is_dir() or not TIP_CODEBOOK.exists(),
                                reason="needs the sample study and the TIP codebook")


def _result(n: int, run: int, tok: float, total: float) -> throughput.Throughput:
    step = throughput.Run(seconds=total / 2, cpu=total / 2, peak_mb=10, stdout="")
    return throughput.Throughput(n=n, words=1000, run=run,
                                 tokenize=throughput.Run(tok, tok, 10, ""), import_=step,
                                 suggest=step, resuggest=throughput.Run(0.1, 0.1, 10, ""))


def test_verdicts_are_judged_on_each_sizes_median_run():
    runs = [_result(100, 1, 1.0, 9.0), _result(100, 2, 1.0, 3.0), _result(100, 3, 1.0, 5.0),
            _result(300, 1, 1.0, 2.0), _result(300, 2, 1.0, 8.0)]
    middle = throughput.medians(runs)
    assert [(r.n, r.run) for r in middle] == [(100, 3), (300, 1)]  # lower middle of two
    assert "worst 5.00x wall" in throughput.verdicts(runs)[0]
    assert "NOT met" in throughput.verdicts(runs)[0]


@pytest.mark.slow
def test_a_commands_worker_processes_are_measured(tmp_path: Path):
    """CPU seconds include the children a command waits for; memory of all its processes
    together is at least that of its largest one plus the other's."""
    script = tmp_path / "two.py"
    script.write_text(textwrap.dedent("""
        import os, time
        pid = os.fork()
        ballast = bytearray(80 * 2**20)  # both processes touch 80 MB of their own
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        end = time.process_time() + 0.4
        while time.process_time() < end:
            pass
        time.sleep(0.3)
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    """), encoding="utf-8")
    # Measured from a small process, as the benchmark does: Linux keeps a forked child's
    # peak memory from before its exec, so a large parent (this test run) would inflate it.
    measure = ("import json, sys; from benchmarks import throughput; "
               "r = throughput.run_measured(sys.argv[1:]); "
               "print(json.dumps([r.cpu, r.peak_mb, r.tree_mb]))")
    done = subprocess.run([sys.executable, "-c", measure, sys.executable, str(script)],
                          cwd=throughput.REPO, capture_output=True, text=True, check=True)
    cpu, peak_mb, tree_mb = json.loads(done.stdout)
    assert cpu >= 0.7  # 0.4 s of busy loop in each process
    assert 80 <= peak_mb < tree_mb
    assert tree_mb >= 160


@pytest.mark.slow
def test_throughput_runs_end_to_end_on_a_tiny_corpus(tmp_path: Path):
    results = throughput.run([3], tmp_path, words=300, repeat=2)
    assert [(r.n, r.run) for r in results] == [(3, 1), (3, 2)]
    for r in results:
        assert r.words > 600 and r.ratio > 0 and r.cpu_ratio > 0
        # The stricter yardstick tokenised every stored segment: fewer tokens than the files
        # (no speaker labels), but most of them.
        seg_tokens, file_tokens = int(r.tokenize_segments.stdout), int(r.tokenize.stdout)
        assert 0.8 * file_tokens < seg_tokens < file_tokens
        assert r.segment_ratio == pytest.approx(
            (r.import_.seconds + r.suggest.seconds) / r.tokenize_segments.seconds)
        assert r.suggest.peak_mb > 50  # the suggest process held spaCy
        assert "looked at for codes" in r.suggest.stdout
        assert "0 respondent segments looked at" in r.resuggest.stdout  # nothing redone
    table = throughput.format_table(results).splitlines()
    assert len(table) == 4 and table[2].split()[:2] == ["3", "1"]
    verdicts = throughput.verdicts(results)
    assert len(verdicts) == 4 and "segment texts (not the target)" in verdicts[1]
    assert (tmp_path / "corpus-3" / "cases.csv").exists()


@pytest.mark.slow
def test_scale_harness_quick_mode_runs_every_command(tmp_path: Path, capsys):
    """The scale harness (benchmarks/scale.py) end to end at a tiny size, as --quick runs it."""
    from benchmarks import scale

    out = tmp_path / "scale.json"
    scale.main(["--quick", "--sizes", "2", "4", "--words", "250", "--work", str(tmp_path / "w"),
                "--json", str(out)])
    table = capsys.readouterr().out.splitlines()
    assert "4/2 (linear 2)" in table[0] and "x wall" in table[1]
    assert [line.split("  ")[0].strip() for line in table[3:3 + len(scale.COMMANDS)]] == \
        list(scale.COMMANDS)
    assert table[-2].startswith("import vs segmentation") and "N=4" in table[-1]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert [f["n"] for f in figures] == [2, 4]
    for f in figures:
        assert f["segments"] > 2 * f["n"] and f["import_ratio"] > 0
        for name in scale.COMMANDS:
            assert f[name]["s"] > 0 and f[name]["cpu_s"] > 0 and f[name]["peak_mb"] > 10
        assert f["suggest"]["peak_mb"] > 50  # the suggest process held spaCy
    written = sorted(p.name for p in (tmp_path / "w" / "out-4").iterdir())
    assert written == ["matrices.xlsx", "network.graphml", "ranking.csv", "report.docx",
                       "report.html", "study.qdpx"]


def test_scale_quick_mode_sizes_and_growth_columns():
    from benchmarks import scale

    def fake(n: int, cpu: float) -> scale.Scale:
        run = throughput.Run(seconds=cpu, cpu=cpu, peak_mb=20, stdout="", tree_mb=30)
        return scale.Scale(n=n, words=n * 10, segments=n * 4,
                           runs={name: run for name in scale.COMMANDS})

    table = scale.format_table([fake(5000, 10.0), fake(1000, 2.0)]).splitlines()
    assert "5,000/1,000 (linear 5)" in table[0]
    assert table[3].split()[-2:] == ["5.0", "5.0"]  # sorted by size: 10 s over 2 s
    assert scale.QUICK_SIZES == [20, 100]
    assert "met" in scale.verdicts([fake(1000, 2.0)])[0]


@pytest.mark.slow
def test_the_wide_codebook_benchmark_runs_and_keeps_its_shape(capsys):
    """benchmarks/suggest_wide.py on a small survey: the shape it promises (codes spread over
    the questions, one to three codes an answer, each answer's question as context) and one
    row of figures per split."""
    from benchmarks import suggest_wide

    data = suggest_wide.make_survey(questions=3, codes=20, answers=60, seed=0)
    assert len(data.codebook.codes) == 20 and len(data.items) == 60
    assert all(1 <= len(labels) <= 3 for labels in data.labels)
    for item, labels in zip(data.items, data.labels, strict=True):
        question = item.context.split(":")[0].split()[-1]
        assert all(code.startswith(f"q{question}-") for code in labels)
    assert suggest_wide.main(["--questions", "3", "--codes", "20", "--answers", "60",
                              "--seeds", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(rows) == 1 and len(rows[0]) == 10
    assert all(0.0 <= float(v) <= 1.0 for v in rows[0][1:3] + rows[0][4:6])
