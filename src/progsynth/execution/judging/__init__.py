"""Judging a program across the sandbox boundary.

``child`` runs inside the program's process: it runs the program and then only answers requests
for values. ``judge``, ``remote`` and ``split`` run in the caller's (trusted) process: they execute
the tests, send the program the parts of them that hold no expected value, and decide every
comparison. ``encoding`` is the plain-data form values cross in, both ways; ``errors`` the form
exceptions cross in.
"""
