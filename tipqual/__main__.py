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
    main()


if __name__ == "__main__":
    run()
