"""The Backpack connector (perpetuals, Ed25519-signed REST); ``BackpackConnector`` is what the registry builds."""

from hedgectl.connectors.backpack.connector import BackpackConnector

__all__ = ["BackpackConnector"]
