"""The SQLite journal of hedge cycles, their order intents and outcomes, and their phase changes."""

from hedgectl.journal.store import CycleRecord, Journal, OrderRecord, journal_path

__all__ = ["CycleRecord", "Journal", "OrderRecord", "journal_path"]
