"""The tri-venue hedge: BP entry, L1 hedge, random wait, L2 entry, BP rebalance, monitor, flatten.

Modules: ``phases`` (the cycle's state table), ``sizing`` (a base size valid on every venue), ``status`` (what a live
view or telemetry shows), ``cycle`` (the strategy itself), ``recovery`` (reconciling the journal after a crash).
"""
