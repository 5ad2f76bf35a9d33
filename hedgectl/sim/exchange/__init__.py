"""The paper venues' shared matching engine: one ``Exchange`` per venue over the shared paper market.

``engine`` holds the ``Exchange`` (books, matching, margin, liquidation), ``records`` the orders, fills, trades,
positions and accounts it keeps, ``state`` those records as data for the state file and ``/_sim/state``.
"""

from hedgectl.sim.exchange.engine import Exchange

__all__ = ["Exchange"]
