"""Training examples: the evaluation's own prompt, the reference code as the completion.

Each example is the prompt that ``progsynth run`` would send for the task (``bench.prompt`` with the
training configuration's ``PromptConfig``) followed by the target the model should have written:
the reference completion plus ``"\\n[DONE]"`` when the benchmark stops at ``[DONE]``. Prompt and
target are tokenized separately, exactly as at inference (llama.cpp tokenizes the prompt alone and
the model continues from its last token), and the loss covers the target's tokens only.

A sequence longer than ``max_len`` keeps its whole prompt and loses the end of its target (the
truncation is counted): dropping the prompt's start would train on prompts the evaluation never
shows.

With ``--target exec-predict`` (the prompt is an ``ExecPredictPrompt``) the examples are execution
predictions instead (``exec_predict.training``): one per usable assert of each task, the prompt of
the chosen condition followed by the output the reference really returns and the newline that ends
the answer.

Few-shot prompts share their shots: ``prefix_len`` marks the tokens of the worked examples when they
tokenize the same alone as inside the whole prompt, so training can compute them once per step
(``train``'s prefix cache) instead of once per example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from progsynth.benchmarks import Benchmark, get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig
from progsynth.errors import UsageError
from progsynth.experiments.finetune.config import ExecPredictPrompt
from progsynth.prompts import DONE
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import select_problems
from progsynth.types import Problem


@dataclass(frozen=True)
class Example:
    """One tokenized example; the loss is taken on ``input_ids[prompt_len:]``."""

    task_id: str
    input_ids: tuple[int, ...]
    prompt_len: int
    truncated: bool = False
    prefix_len: int = 0  # the shots: shared with other examples, 0 when none or not separable

    @property
    def target_tokens(self) -> int:
        return len(self.input_ids) - self.prompt_len


@dataclass(frozen=True)
class ExampleSet:
    """The examples of one split and what was done to fit them into ``max_len``."""

    split: str
    examples: tuple[Example, ...]
    truncated: int
    dropped: tuple[str, ...]  # prompts longer than max_len on their own

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)

    @property
    def target_tokens(self) -> int:
        return sum(e.target_tokens for e in self.examples)


def target_text(bench: Benchmark, problem: Problem, prompt: PromptConfig) -> str:
    """What the model should write after the prompt: the reference completion, then ``[DONE]``
    when the prompt format stops there (so the tuned model learns to end its answer)."""
    done = "\n" + DONE if DONE in bench.stop_sequences(prompt) else ""
    return problem.reference_completion + done


def select(bench: Benchmark, split: str, data: DataConfig, task_ids: Sequence[str] = (),
           limit: int | None = None) -> list[Problem]:
    """The problems of ``split``, filtered by task ids and limited, by the run's own rules."""
    cfg = RunConfig(benchmark=bench.name, split=split, task_ids=tuple(task_ids), limit=limit, data=data)
    problems = select_problems(bench, cfg)
    if not problems:
        raise UsageError(f"no {bench.name} tasks in split '{split}'")
    return problems


def encode(tokenizer: Any, text: str, *, special: bool) -> list[int]:
    """Token ids of ``text``; ``special`` adds the tokenizer's BOS as llama.cpp does for a prompt."""
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def tokenize(tokenizer: Any, task_id: str, prompt: str, target: str, max_len: int,
             shots: str = "") -> Example | None:
    """One example, or None when the prompt alone leaves no room for a target token. ``shots`` is
    the start of ``prompt`` that holds its worked examples (see ``prefix_len``)."""
    prompt_ids = encode(tokenizer, prompt, special=True)
    target_ids = encode(tokenizer, target, special=False)
    if len(prompt_ids) >= max_len or not target_ids:
        return None
    room = max_len - len(prompt_ids)
    prefix = encode(tokenizer, shots, special=True) if shots else []
    separable = prefix and prompt_ids[:len(prefix)] == prefix and len(prefix) < len(prompt_ids)
    return Example(task_id, tuple(prompt_ids + target_ids[:room]), len(prompt_ids), len(target_ids) > room,
                   len(prefix) if separable else 0)


def shots_text(bench: Benchmark, problem: Problem, prompt: PromptConfig, data: DataConfig, full: str) -> str:
    """The worked examples at the start of ``full`` (the prompt of ``problem``): what it has before
    the zero-shot prompt of the same task; empty when there are none or they are not a prefix."""
    alone = bench.prompt(problem, replace(prompt, shots=0, shot_ids=None), data)
    return full[: len(full) - len(alone)] if full.endswith(alone) and len(full) > len(alone) else ""


def build_examples(tokenizer: Any, benchmark: str, benchmark_options: dict[str, Any], split: str,
                   prompt: PromptConfig, data: DataConfig, *, task_ids: Sequence[str] = (),
                   limit: int | None = None, max_len: int = 1024) -> ExampleSet:
    """The tokenized examples of ``split`` in task order (for exec-predict: and assert order)."""
    bench = get_benchmark(benchmark, **benchmark_options)
    examples: list[Example] = []
    dropped: list[str] = []
    for task_id, text, target, shots in _texts(bench, select(bench, split, data, task_ids, limit), prompt, data):
        example = tokenize(tokenizer, task_id, text, target, max_len, shots)
        if example is None:
            dropped.append(task_id)
        else:
            examples.append(example)
    if not examples:
        raise UsageError(f"every prompt of split '{split}' is longer than --max-len {max_len}")
    return ExampleSet(split, tuple(examples), sum(e.truncated for e in examples), tuple(dropped))


def _texts(bench: Benchmark, problems: Sequence[Problem], prompt: PromptConfig,
           data: DataConfig) -> list[tuple[str, str, str, str]]:
    """(task id, prompt, target, shots) of each example, for the code or the exec-predict target."""
    if isinstance(prompt, ExecPredictPrompt):
        from progsynth.experiments.exec_predict.training import training_pairs

        pairs = training_pairs(bench, problems, prompt.condition, prompt.shots, data)
        return [(p.task_id, p.prompt, p.target, p.shots) for p in pairs]
    out = []
    for problem in problems:
        text = bench.prompt(problem, prompt, data)
        out.append((problem.task_id, text, target_text(bench, problem, prompt),
                    shots_text(bench, problem, prompt, data, text)))
    return out
