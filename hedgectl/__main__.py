"""``python -m hedgectl`` runs the command line."""

from hedgectl.cli import run

run()
