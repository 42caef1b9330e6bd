"""How well MathQA's own DSL programs execute, and why records do not become MathQA-Python problems.

For each split: records, problems kept under the paper's rules (and the paper's published count),
the DSL-execution accuracy (share of records whose ``linear_formula``, run with the full operation
table, gives the gold answer within the tolerance), and the drop reasons by count and category.
Usable as ``python -m progsynth.benchmarks.mathqa.stats --split validation [--json]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.benchmarks.base import DataConfig
from progsynth.benchmarks.mathqa.convert import ConversionRules, DropReason
from progsynth.benchmarks.mathqa.data import Split, load_split, split_path
from progsynth.errors import ProgsynthError

#: MathQA-Python sizes in the paper (train: 19,209, validation: 2,822, test: 1,883; challenge: 403)
PAPER_SIZES: Mapping[Split, int] = {
    Split.TRAIN: 19209,
    Split.VALIDATION: 2822,
    Split.TEST: 1883,
    Split.CHALLENGE: 403,
}


@dataclass(frozen=True)
class SplitStats:
    """Conversion figures of one split; ``dropped`` counts each reason (first failing check)."""

    split: Split
    source: str
    records: int
    kept: int
    dsl_correct: int
    dropped: Mapping[DropReason, int]
    categories: Mapping[str, tuple[int, int]]  # category -> (kept, records)

    @property
    def dsl_accuracy(self) -> float:
        return self.dsl_correct / self.records if self.records else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "split": self.split.value,
            "source": self.source,
            "records": self.records,
            "kept": self.kept,
            "paper_kept": PAPER_SIZES[self.split],
            "dsl_correct": self.dsl_correct,
            "dsl_accuracy": round(self.dsl_accuracy, 4),
            "dropped": {reason.value: n for reason, n in self.dropped.items()},
            "categories": {c: {"kept": k, "records": n} for c, (k, n) in self.categories.items()},
        }


def split_stats(split: Split, data: DataConfig, rel_tol: float = 0.01) -> SplitStats:
    """Convert ``split`` twice: with the paper's operation set (what is kept) and with the full
    table (what the DSL itself gets right)."""
    paper = load_split(split, data, ConversionRules(rel_tol=rel_tol, paper_ops_only=True))
    full = load_split(split, data, ConversionRules(rel_tol=rel_tol, paper_ops_only=False))
    dropped = collections.Counter(o.reason for o in paper.outcomes if o.reason is not None)
    totals: collections.Counter[str] = collections.Counter(o.category for o in paper.outcomes)
    kept: collections.Counter[str] = collections.Counter(o.category for o in paper.outcomes if o.item)
    return SplitStats(
        split=split,
        source=split_path(split, data).name,
        records=len(paper.outcomes),
        kept=len(paper.items),
        dsl_correct=sum(1 for o in full.outcomes if o.reason in (None, DropReason.PYTHON_MISMATCH)),
        dropped={r: dropped[r] for r in DropReason if dropped[r]},
        categories={c: (kept[c], totals[c]) for c in sorted(totals)},
    )


def format_stats(stats: Sequence[SplitStats]) -> str:
    """A plain-text report, one block per split."""
    lines: list[str] = []
    for s in stats:
        lines.append(f"MathQA-Python {s.split.value} (from {s.source}): {s.records} records")
        lines.append(f"  kept                   {s.kept:6d}  (paper: {PAPER_SIZES[s.split]})")
        lines.append(f"  DSL execution accuracy {s.dsl_correct:6d}  ({100 * s.dsl_accuracy:.1f}% of records)")
        lines.append("  dropped, by first failing check:")
        lines += [f"    {reason.value:22s} {n:6d}" for reason, n in s.dropped.items()]
        lines.append("  kept / records by category:")
        lines += [f"    {c:22s} {k:6d} / {n}" for c, (k, n) in s.categories.items()]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (the CLI may expose the same report)."""
    from progsynth.benchmarks.sources import data_config_from_env

    parser = argparse.ArgumentParser(prog="python -m progsynth.benchmarks.mathqa.stats", description=__doc__)
    parser.add_argument(
        "--split",
        action="append",
        choices=[s.value for s in Split],
        help="split to report (repeatable; default: validation, test, challenge)",
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    names = args.split or [Split.VALIDATION.value, Split.TEST.value, Split.CHALLENGE.value]
    try:
        data = data_config_from_env(args.data_dir)
        stats = [split_stats(Split(name), data) for name in names]
    except ProgsynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps([s.to_json() for s in stats], indent=2) if args.json else format_stats(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
