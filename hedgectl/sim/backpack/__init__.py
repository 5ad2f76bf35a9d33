"""Paper Backpack: a local server that speaks Backpack's perpetuals REST API over the shared paper market.

``PaperBackpack`` (``venue``) is the venue the runner starts and holds its routes; ``signature`` the signing string and
its check, ``accounts`` the API keys, ``wire`` the venue's names, error answers and number text, ``params`` request
parameter parsing, ``documents`` the JSON answers.
"""

from hedgectl.sim.backpack.venue import PaperBackpack

__all__ = ["PaperBackpack"]
