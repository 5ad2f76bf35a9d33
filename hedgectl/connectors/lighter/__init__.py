"""The Lighter connector (``LighterConnector``); importing it does not load lighter-sdk."""

from hedgectl.connectors.lighter.connector import LighterConnector, LighterMarket, NonceRefresh, NonceStatus

__all__ = ["LighterConnector", "LighterMarket", "NonceRefresh", "NonceStatus"]
