"""Rehearsals of the hedge against paper venues: fleets of groups under faults, judged by the venues' own state."""
