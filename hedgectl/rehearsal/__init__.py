"""The chaos rehearsal (``hedgectl sim chaos``): complete hedge cycles against embedded paper venues under seeded
fault schedules, judged from the venues' own books.

``plan`` draws a cycle from its seed, ``signals`` the operator's stop signal, ``checks`` judges a cycle's end,
``report`` sums a run up, and ``runner`` drives it.
"""
