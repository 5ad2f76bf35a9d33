"""Services over the ``Connector`` interface: one order and its outcome, flattening, the tracking-limit chaser and
position snapshots."""
