"""Paper GRVT: a local server that speaks GRVT's login, trading and market data API over the shared paper market.

``PaperGrvt`` (``venue``) is the venue the runner starts and holds its routes; ``signature`` is paper GRVT's own
EIP-712 check of an order, ``accounts`` the sub accounts' keys, ``markets`` the listed perpetuals, ``orders`` the
accepted orders as the venue shows them, ``documents`` the other JSON answers, ``wire`` the error codes and number
text.
"""

from hedgectl.sim.grvt.venue import PaperGrvt

__all__ = ["PaperGrvt"]
