"""Execution-prediction training pairs: the evaluation's own prompt, the real output as the target.

``progsynth finetune --target exec-predict`` trains on these: for every usable fact of the training
split (computed in the sandbox exactly as ``progsynth exec-predict`` computes them), the prompt of
the chosen condition and the output's repr followed by the newline that ends an answer, so the tuned
model is scored in the format it learnt. FEW_SHOT examples come from the prompt pool, as at
evaluation; ``shots`` is then the part of the prompt shared by every example of a task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from progsynth.benchmarks.base import Benchmark, DataConfig
from progsynth.experiments.exec_predict.facts import Fact, compute_facts
from progsynth.experiments.exec_predict.prompts import Condition, ShotExample, build_prompt
from progsynth.prompts import choose_shots
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import default_executor
from progsynth.types import Problem


@dataclass(frozen=True)
class Pair:
    """One training pair before tokenization; ``shots`` is the start of ``prompt`` (or empty)."""

    task_id: str
    prompt: str
    target: str
    shots: str = ""


def usable_facts(bench: Benchmark, problems: Sequence[Problem], data: DataConfig) -> dict[str, list[Fact]]:
    """Each task's LITERAL facts, computed in the sandbox (the data hidden from the programs)."""
    out: dict[str, list[Fact]] = {p.task_id: [] for p in problems}
    cfg = RunConfig(data=data)
    with default_executor(cfg, bench.data_paths(data)) as executor:
        for fact in compute_facts(executor, problems, cfg.limits):
            if fact.kind.usable:
                out[fact.task_id].append(fact)
    return {task: sorted(facts, key=lambda f: f.index) for task, facts in out.items()}


def training_pairs(bench: Benchmark, problems: Sequence[Problem], condition: Condition, shots: int,
                   data: DataConfig) -> list[Pair]:
    """One pair per usable fact of ``problems``, in task and assert order."""
    pool: dict[str, Problem] = {}
    if condition is Condition.FEW_SHOT:
        everything = {p.task_id: p for p in bench.all_problems(data)}
        pool = {t: everything[t] for t in bench.shot_pool("train", data)[: shots + 1] if t in everything}
    known = {p.task_id for p in problems}
    facts = usable_facts(bench, [*problems, *(p for t, p in pool.items() if t not in known)], data)
    pairs = []
    for problem in problems:
        examples: list[ShotExample] = []
        if pool:
            chosen = choose_shots(problem.task_id, list(pool), None, min(shots, len(pool) - 1))
            examples = [ShotExample(pool[t], facts[t][0]) for t in chosen if facts.get(t)]
        for fact in facts[problem.task_id]:
            prompt = build_prompt(problem, fact, condition, others=facts[problem.task_id], shots=examples)
            shared = prompt[: prompt.rfind(build_prompt(problem, fact, Condition.CODE))] if examples else ""
            pairs.append(Pair(problem.task_id, prompt, f"{fact.output}\n", shared))
    return pairs
