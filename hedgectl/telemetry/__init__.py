"""Telemetry: heartbeats from the hedge legs, the collector that stores them, and the Rich board that shows them."""
