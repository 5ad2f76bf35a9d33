"""The venue contract check: every read hedgectl relies on, made once per connector, with each field hedgectl reads
checked for presence, type and range, so that a venue upgrade is named field by field before money moves.

It only reads: no order, cancel or leverage change is ever sent.
"""

from hedgectl.connectors.contract.report import CheckResult, ConnectorReport, Verdict, VenueCheckReport
from hedgectl.connectors.contract.runner import check_venues

__all__ = ["CheckResult", "ConnectorReport", "Verdict", "VenueCheckReport", "check_venues"]
