"""Paper Backpack: a local server that speaks Backpack's perpetuals REST API over the shared paper market."""

from hedgectl.sim.backpack.venue import PaperBackpack

__all__ = ["PaperBackpack"]
