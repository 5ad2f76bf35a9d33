"""The Lighter connector (``LighterConnector``); importing it does not load lighter-sdk."""

from hedgectl.connectors.lighter.connector import LighterConnector
from hedgectl.connectors.lighter.nonce_ops import NonceRefresh, NonceStatus
from hedgectl.connectors.lighter.reads import LighterMarket

__all__ = ["LighterConnector", "LighterMarket", "NonceRefresh", "NonceStatus"]
