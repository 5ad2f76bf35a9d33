"""hedgectl: operator toolkit for a tri-venue crypto hedge (Backpack + two Lighter accounts)."""

__version__ = "0.1.0.dev0"
