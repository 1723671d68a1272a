"""The HTML report in a real browser: headless Chromium loads it, nothing in it runs.

Skipped when no ``chromium`` is installed (CI installs it in ``.ci/run``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.report.report_study import build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed"),
              pytest.mark.slow]  # a real browser
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--mute-audio"]
CORE = ("Trust and distrust", "Corruption and collusion", "Capacity and resources", "Funding",
        "Delays and waiting")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small study's HTML report (its transcripts carry script and onerror markup)."""
    from tipqual.nlp.mentions import study_mentions
    from tipqual.report.writer import write_report

    folder = tmp_path_factory.mktemp("browser")
    with build(folder / "study.db") as project:
        write_report(project, folder / "findings.html", mentions=study_mentions(project))
    return folder / "findings.html"


def _chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra,
                           page.as_uri()], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def test_page_renders_and_runs_nothing(page: Path, tmp_path: Path) -> None:
    done = _chromium(page, tmp_path, "--dump-dom")
    dom = done.stdout
    assert done.returncode == 0 and "</html>" in dom, done.stderr[-2000:]
    assert "<title>Findings: Report fixture study</title>" in dom
    for name in CORE:
        assert f"<h3>{name}</h3>" in dom
    # the transcript's script would have renamed the page and marked the root element
    assert "pwned" not in dom.split("</title>")[0]
    assert "data-pwned=" not in dom
    assert "<script" not in dom.lower() and "<img" not in dom.lower()
    assert "&lt;script&gt;document.title='pwned'" in dom
    assert dom.count("<svg") == 2


def test_page_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    done = _chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 1400)
