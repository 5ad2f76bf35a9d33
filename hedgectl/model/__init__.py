"""The order model as plain values: the order state table and tracker, client order ids, and PnL from fills.

A leaf below the connectors: it imports only foundation modules, so connectors, services and the journal all
share one definition of an order.
"""
