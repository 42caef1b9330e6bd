"""The run directory's files, each with one owner: ``samples.jsonl`` (``samples``), ``verdicts.jsonl``
(``verdicts``), ``results.json`` (``results``), all written through ``jsonl`` so that a run killed at any
instant leaves whole records behind."""

SAMPLES_FILE = "samples.jsonl"
VERDICTS_FILE = "verdicts.jsonl"
RESULTS_FILE = "results.json"

__all__ = ["RESULTS_FILE", "SAMPLES_FILE", "VERDICTS_FILE"]
