"""The generation stage: ask the backend for each task's missing samples and store them as they come.

Samples are appended to the samples file the moment a task's completions arrive, so an interrupted
run loses at most the task in flight, and a resumed run asks only for the samples a task lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from progsynth.backends.base import Backend
from progsynth.benchmarks.base import Benchmark, PromptStyle
from progsynth.prompts import prompt_hash
from progsynth.protocols import reply_prefix
from progsynth.store.samples import SampleStore
from progsynth.types import Completion, FinishReason, GenerationRequest, Problem, Sample, SamplingParams


def to_sample(bench: Benchmark, style: PromptStyle, problem: Problem, comp: Completion, idx: int, model: str,
              phash: str) -> Sample:
    """A stored sample from a raw completion: the benchmark extracts the code, the raw text is kept."""
    if comp.finish_reason is FinishReason.REFERENCE:
        completion = comp.text
    elif comp.finish_reason is FinishReason.ERROR:
        completion = ""
    else:
        completion = bench.extract(problem, comp.text, style)
    raw = comp.text if comp.error is None else f"{comp.text}\n[generation error] {comp.error}"
    return Sample(problem.task_id, completion, idx, model, phash, raw, comp.finish_reason, comp.tokens, comp.endpoint)


def generate(
    backend: Backend,
    bench: Benchmark,
    work: Iterable[tuple[Problem, str]],
    params: SamplingParams,
    store: SampleStore,
    style: PromptStyle = PromptStyle.PAPER,
) -> Iterator[tuple[Problem, list[Sample]]]:
    """Generate the missing samples of each (problem, prompt) and store them as they arrive.

    Yields each task's new samples so the caller can queue them for judging. Tasks that already
    have ``params.n`` samples are skipped (resume), and a task never gets more than ``n``.
    """
    requests = []
    prefix = reply_prefix(style) if backend.prefills_reply() else ""
    for problem, prompt in work:
        have = store.count(problem.task_id)
        if have < params.n:
            requests.append(GenerationRequest(problem, prompt, replace(params, n=params.n - have), have, prefix))
    for request, completions in backend.generate_many(requests):
        phash = prompt_hash(request.prompt)
        samples = [
            to_sample(bench, style, request.problem, comp, request.first_idx + i, backend.name, phash)
            for i, comp in enumerate(completions[: request.params.n])
        ]
        store.extend(samples)
        yield request.problem, samples


def stored_samples(store: SampleStore, problems: Mapping[str, Problem], n: int) -> list[Sample]:
    """Stored samples of the selected tasks, at most ``n`` per task (for resumed judging)."""
    return [s for (tid, idx), s in sorted(store.samples.items()) if tid in problems and idx < n]
