"""The ``tipqual`` console script's own process: how it starts and how it ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tipqual import __version__

# Runs the console script's entry point as the process's main program; an atexit handler
# registered first runs last, after the command, and reports what the interpreter's shutdown
# will find.
_PROBE = """
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(f"frozen={gc.get_freeze_count()}\\n"))
sys.argv = ["tipqual", *sys.argv[1:]]
from tipqual.__main__ import run
run()
"""


def _probe(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, check=False)


def test_a_command_ends_with_its_heap_frozen_and_its_output_whole():
    done = _probe("--version")
    assert done.returncode == 0
    assert done.stdout.strip().endswith(__version__)
    assert int(done.stderr.strip().rsplit("frozen=", 1)[1]) > 1000


def test_a_failing_command_also_ends_frozen_with_its_message(tmp_path: Path):
    done = _probe("status", str(tmp_path / "missing.db"))
    assert done.returncode != 0
    assert "missing.db" in done.stderr and "Traceback" not in done.stderr
    assert int(done.stderr.strip().rsplit("frozen=", 1)[1]) > 1000


def test_the_library_leaves_the_collector_alone():
    import contextlib
    import gc

    from tipqual.cli import main

    before = gc.get_freeze_count()
    with contextlib.suppress(SystemExit):
        main(["--version"])
    assert gc.get_freeze_count() == before


def test_help_and_usage_errors_stay_light() -> None:
    """``--help``, a command's help and a usage error load no heavy library."""
    code = ("import sys\nfrom tipqual.cli import main\n"
            "for argv in (['--help'], ['report', '--help'], ['code', 'add', '--help'],\n"
            "             ['report', 'x.db', '--outt'], ['code', 'ad'], ['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('spacy', 'pandas', 'sklearn', 'matplotlib', 'networkx', "
            "'numpy', 'openpyxl', 'docx', 'jinja2', 'markdown_it') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY=", done.stdout + done.stderr
    assert "Error: no such option: --outt" in done.stderr
    assert "Usage:" not in done.stderr.split("Error:", 1)[1]
