"""Strategies: the tri-venue hedge cycle and the diagnostic strategies (min-order probe, smoke test)."""
