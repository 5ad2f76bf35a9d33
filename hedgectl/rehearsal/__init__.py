"""Rehearsals of the hedge against paper venues, judged from the venues' own books.

``plan`` draws a cycle from its seed, ``signals`` the operator's stop signal, ``checks`` judges a cycle's end,
``report`` sums a run up, ``runner`` drives it, and ``fleet`` runs a fleet of groups under faults.
"""
