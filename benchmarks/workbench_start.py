"""How long the workbench takes to show its first screen on a given study, and its memory.

The workbench runs headlessly (Textual's ``run_test``) at 100×30 in this process: the time is
from the start of this script (Python's start-up excepted; tipqual's and Textual's imports
included) to the first screen drawn, then the time to open the next transcript (``n``); the
peak memory is this process's (``getrusage``). Make a study with ``benchmarks.scale --work DIR``
(``DIR/scale-5000.db``) and copy it first: opening it may migrate it.

Run: ``python -m benchmarks.workbench_start STUDY [--coder NAME]``. Prints figures; not a test.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402 - timed from the first line
import asyncio  # noqa: E402
import resource  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--coder", default="bench-reader")
    args = parser.parse_args(argv)

    from tipqual.store.project import Project
    from tipqual.tui.app import WorkbenchApp
    from tipqual.tui.session import WorkbenchSession

    async def run() -> tuple[float, float]:
        with Project.open(args.study, command="workbench") as project:
            session = WorkbenchSession(project, args.coder)
            start, at = session.start(None, None)
            app = WorkbenchApp(session, start, at)
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.pause()
                first = time.perf_counter() - T0
                t1 = time.perf_counter()
                await pilot.press("n")
                await pilot.pause()
                return first, time.perf_counter() - t1

    first, step = asyncio.run(run())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"first screen {first:.2f} s (imports included); next transcript {step:.2f} s; "
          f"peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
