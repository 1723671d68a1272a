"""``python -m tipqual`` runs the command line."""

from tipqual.cli import main

main()
