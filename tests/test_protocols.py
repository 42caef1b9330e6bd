"""Protocol presets: each reproduces its harness's documented prompt and extraction for a known task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from progsynth.backends.base import Backend
from progsynth.backends.managed import Managed
from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.cli.main import cli
from progsynth.errors import UsageError
from progsynth.protocols import (
    BIGCODE_STOPS,
    EVALPLUS_RESPONSE,
    LM_EVAL_FUTURE,
    Protocol,
    evalplus_sanitize,
    get_protocol,
    longest_parsing_span,
    protocol_of,
    reply_prefix,
)
from progsynth.run.generation import generate
from progsynth.store.samples import SampleStore
from progsynth.types import Completion, FinishReason, GenerationRequest, Problem, SamplingParams

TASK11_TEXT = "Write a python function to remove first and last occurrence of a given character from the string."
TASK11_FIRST = 'assert remove_Occ("hello","l") == "heo"'
DOCSTRING = f'"""\n{TASK11_TEXT}\n{TASK11_FIRST}\n"""\n'


@pytest.fixture(scope="module")
def data() -> DataConfig:
    return data_config_from_env()


@pytest.fixture(scope="module")
def task11(data: DataConfig) -> Problem:
    return next(p for p in get_benchmark("mbpp").load("test", data) if p.task_id == "Mbpp/11")


def _prompt(protocol: str, problem: Problem, data: DataConfig, benchmark: str = "mbpp") -> str:
    return get_benchmark(benchmark).prompt(problem, get_protocol(protocol).prompt_config(), data)


def test_paper_protocol_is_the_default_prompt(task11: Problem, data: DataConfig) -> None:
    bench = get_benchmark("mbpp")
    assert _prompt("paper", task11, data) == bench.prompt(task11, PromptConfig(), data)
    assert bench.stop_sequences(get_protocol("paper").prompt_config()) == ("[DONE]",)
    assert protocol_of(PromptConfig()) == "paper"


def test_evalplus_mbpp_prompt_and_sanitizer(task11: Problem, data: DataConfig) -> None:
    instruction = ("Please provide a self-contained Python script that solves the following problem in a "
                   "markdown code block:")
    assert _prompt("evalplus", task11, data) == f"{instruction}\n```\n{DOCSTRING.strip()}\n```\n"
    spec = get_protocol("evalplus")
    assert spec.style.is_chat and spec.shots == 0
    raw = ("Here is the script:\n```python\nimport re\n\ndef helper(s):\n    return s\n\n"
           "def unused():\n    return 1\n\ndef remove_Occ(s, ch):\n    return helper(s).replace(ch, '', 1)\n\n"
           "print(remove_Occ('a', 'b'))\n```\nThis works because...")
    code = get_benchmark("mbpp").extract(task11, raw, PromptStyle.EVALPLUS)
    assert code == ("import re\ndef helper(s):\n    return s\n"
                    "def remove_Occ(s, ch):\n    return helper(s).replace(ch, '', 1)\n")


def test_evalplus_humaneval_prompt_wraps_the_task_prompt(data: DataConfig) -> None:
    problem = get_benchmark("humaneval").load("test", data)[0]
    prompt = _prompt("evalplus", problem, data, "humaneval")
    assert prompt.startswith("Please provide a self-contained Python script")
    assert f"```\n{problem.prompt_prefix.strip()}\n```\n" in prompt


def test_lm_eval_prompt_keeps_published_code_and_blank_line_separators(task11: Problem, data: DataConfig) -> None:
    prompt = _prompt("lm-eval", task11, data)
    first_shot_code = ("def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & "
                       "set(test_tup2))\r\n  return (res) \n[DONE]\n\nYou are an expert Python programmer")
    assert first_shot_code in prompt
    assert prompt.count("[DONE]\n\n") == 3 and prompt.endswith('assert remove_Occ("PHP","P") == "H"\n[BEGIN]\n')
    bench = get_benchmark("mbpp")
    assert bench.stop_sequences(get_protocol("lm-eval").prompt_config()) == ("[DONE]",)
    assert bench.extract(task11, "def f():\n    return 1\n[DONE]", PromptStyle.LM_EVAL) == (
        LM_EVAL_FUTURE + "def f():\n    return 1\n")
    # lm-eval prepends an opening fence (its instruct variant's generation prefix opens one), so an
    # answer that closes a fence is read up to it; one that opens its own fence reads as empty there too
    closing = "\ndef f():\n    return 2\n```\nmore"
    assert bench.extract(task11, closing, PromptStyle.LM_EVAL) == LM_EVAL_FUTURE + "def f():\n    return 2"
    assert bench.extract(task11, "```python\ndef f():\n    pass\n```", PromptStyle.LM_EVAL) == LM_EVAL_FUTURE


def test_bigcode_prompt_stops_and_extraction(task11: Problem, data: DataConfig) -> None:
    assert _prompt("bigcode", task11, data) == DOCSTRING
    bench = get_benchmark("mbpp")
    assert bench.stop_sequences(get_protocol("bigcode").prompt_config()) == BIGCODE_STOPS
    raw = "def remove_Occ(s, ch):\n    return s\nassert remove_Occ('a','a') == ''\n"
    assert bench.extract(task11, raw, PromptStyle.BIGCODE) == "def remove_Occ(s, ch):\n    return s"


def test_protocol_names_and_benchmark_checks() -> None:
    assert [p.value for p in Protocol] == ["paper", "evalplus", "lm-eval", "bigcode"]
    assert protocol_of(get_protocol("bigcode").prompt_config()) == "bigcode"
    assert protocol_of(PromptConfig(shots=2)) == "custom"
    with pytest.raises(UsageError, match="unknown protocol 'helm'"):
        get_protocol("helm")
    with pytest.raises(UsageError, match="not humaneval"):
        get_protocol("bigcode").check("humaneval")
    for spec in (get_protocol(p.value) for p in Protocol):
        assert spec.source and spec.summary


def test_longest_parsing_span_skips_prose() -> None:
    text = "Sure! Here it is:\ndef f(x):\n    return x\n\nHope this helps."
    assert longest_parsing_span(text) == "def f(x):\n    return x\n"
    assert evalplus_sanitize("no code here at all", "f") == "no code here at all\n"


def test_cli_prompt_with_protocol(data: DataConfig) -> None:
    result = CliRunner().invoke(cli, ["prompt", "--task-id", "11", "--protocol", "bigcode"])
    assert result.exit_code == 0, result.output
    assert result.output == DOCSTRING
    bad = CliRunner().invoke(cli, ["prompt", "-b", "humaneval", "--task-id", "0", "--protocol", "lm-eval"])
    assert bad.exit_code != 0


@pytest.mark.parametrize(("args", "name"), [((), "paper"), (("--protocol", "lm-eval"), "lm-eval"),
                                            (("--shots", "1"), "custom")])
def test_results_record_the_protocol_their_prompt_equals(tmp_path: Path, args: tuple[str, ...], name: str) -> None:
    result = CliRunner().invoke(cli, ["run", "--backend", "reference", "-s", "test", "--limit", "2", *args,
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "results.json").read_text())["config"]["protocol"] == name
    assert f"protocol {name}" in result.output


class _Recorder(Backend):
    """Records the requests it gets; answers the way a chat model under EvalPlus's prefill would
    (the code, then the closing fence EvalPlus stops at)."""

    label = "recorder"
    supports_chat = True

    def __init__(self) -> None:
        self.name = "recorder"
        self.requests: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest) -> list[Completion]:
        self.requests.append(request)
        body = 'def remove_Occ(s, ch):\n    return s.replace(ch, "", 1)[::-1].replace(ch, "", 1)[::-1]'
        return [Completion(body + "\n", FinishReason.STOP)]


class _TemplateRecorder(_Recorder):
    supports_reply_prefix = True


@pytest.mark.parametrize("prefills", [True, False])
def test_evalplus_prefill_reaches_only_backends_that_render_the_template(
    tmp_path: Path, task11: Problem, data: DataConfig, prefills: bool
) -> None:
    bench, config = get_benchmark("mbpp"), get_protocol("evalplus").prompt_config()
    backend = _TemplateRecorder() if prefills else _Recorder()
    store = SampleStore(tmp_path / "samples.jsonl", {"run": "t"})
    params = SamplingParams(max_tokens=64, stop=bench.stop_sequences(config))
    work = [(task11, bench.prompt(task11, config, data))]
    managed = Managed(backend)  # the wrapper every run uses asks the backend it wraps
    ((_, (sample,)),) = list(generate(managed, bench, work, params, store, config.style))
    (request,) = backend.requests
    assert request.reply_prefix == (EVALPLUS_RESPONSE + "\n```python\n" if prefills else "")
    assert reply_prefix(PromptStyle.PAPER) == "" and request.params.stop[0] == "\n```\n"
    assert sample.completion.startswith("def remove_Occ(s, ch):") and "```" not in sample.completion
    # a paper-format run never sends a prefix, whatever the backend can do
    other = tmp_path / "paper.jsonl"
    list(generate(managed, bench, work, params, SampleStore(other, {"run": "p"}), PromptStyle.PAPER))
    assert len(backend.requests) == 2 and backend.requests[1].reply_prefix == ""
