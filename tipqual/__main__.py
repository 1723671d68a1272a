"""``python -m tipqual`` and the ``tipqual`` console script.

The command line is imported inside :func:`run`, so a Ctrl-C that arrives while Python is still
loading it ends quietly (exit 130) instead of printing a traceback.
"""

from __future__ import annotations

import sys


def run() -> None:
    """Load the command line and run it."""
    try:
        from tipqual.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        raise SystemExit(130) from None
    try:
        main()
    finally:
        _before_exit()


def _before_exit() -> None:
    """Spare the interpreter's shutdown a walk over every object the command loaded.

    When a command ends, its study is committed and closed and its files are written and
    closed. Python's shutdown would still run the cycle collector over all that spaCy, pandas
    and scikit-learn built: 0.2-0.3 s after a command that loaded spaCy. Frozen objects are
    skipped by that collector; they are still released by reference counting, and ``atexit``
    handlers still run. Only this process's own exit does it (the library and in-process
    callers are untouched).
    """
    import gc

    gc.freeze()


if __name__ == "__main__":
    run()
