"""The paper's dialog with feedback (Austin et al., 2021, sec. 6): the model writes a program, someone
(a person at the terminal, a scripted file or the test results themselves) says what is wrong, and
the model revises with the whole dialog in its prompt, for up to N turns.

Modules: ``format`` (the dialog prompt), ``feedback`` (where feedback comes from), ``transcript``
(the append-only record of every turn), ``config``, ``session`` (the loop) and ``results`` (the typed
``dialog.json``). The terminal and HTML views are in ``progsynth.report.dialog``; the command is
``progsynth dialog`` (``progsynth.cli.dialog``). Nothing is imported here so that the report can
import ``results`` without pulling in the session.
"""
