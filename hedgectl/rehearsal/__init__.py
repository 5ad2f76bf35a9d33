"""The chaos rehearsal (``hedgectl sim chaos``): complete hedge cycles against embedded paper venues under seeded
fault schedules, judged from the venues' own books."""
