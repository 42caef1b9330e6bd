"""Hostile programs for the executor: escapes, resource abuse, cheats, crashes, and benign programs
that look suspicious. ``cases.CASES`` lists them; tests/test_execution_hostile.py runs them all."""
