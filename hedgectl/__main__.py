"""``python -m hedgectl`` runs the command line."""

import gc

gc.disable()  # already while the command line loads: see hedgectl.cli.lazy.hold_collector, which ``run`` calls

from hedgectl.cli import run  # noqa: E402

run()
