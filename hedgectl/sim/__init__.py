"""Paper venues: local HTTP servers that speak the Backpack, Lighter, GRVT and Telegram wire protocols over one shared
market.

The shared price walk lives in ``market``, the matching engine every venue trades on in ``exchange``, fault injection
in ``faults``, the shared aiohttp base in ``server``, the venues in ``backpack``, ``lighter``, ``grvt`` and
``telegram``, and the runner that starts everything in ``runner``.
"""
