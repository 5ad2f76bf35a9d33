"""GRVT: the connector for GRVT perpetuals (API-key sessions, EIP-712 signed orders)."""

from hedgectl.connectors.grvt.connector import GrvtConnector

__all__ = ["GrvtConnector"]
