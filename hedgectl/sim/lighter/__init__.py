"""Paper Lighter: a local server that the unmodified lighter-sdk trades against, over the shared paper market.

``PaperLighter`` is the venue the runner starts; ``wire`` holds the venue's codes and tx parsing, ``keys`` api keys,
nonces and auth tokens, ``ledger`` the sequencer and Lighter's records, ``records`` the JSON documents.
"""

from hedgectl.sim.lighter.venue import PaperLighter

__all__ = ["PaperLighter"]
