"""Paper venues: local HTTP servers that speak the Backpack, Lighter and Telegram wire protocols over one shared market.

The market engine lives in ``market``, fault injection in ``faults``, the shared aiohttp base in ``server`` and the
runner that starts everything in ``runner``.
"""
