"""progsynth: measure and improve how well language models write programs.

The data flow is benchmarks -> prompts -> backends -> samples -> execution -> verdicts -> metrics ->
report; each stage talks to the next through small frozen dataclasses and versioned JSONL files.
"""

__version__ = "0.1.0"
