"""Sweep configuration: checked once (unknown keys name themselves), expanded into cells with stable
directories, ordered so a partial sweep shows the trend, costed before it starts; the model registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from progsynth.backends import models
from progsynth.errors import DataError
from progsynth.experiments.sweep.cells import expand, order
from progsynth.experiments.sweep.config import ModelChoice, RandomShots, load_sweep
from progsynth.experiments.sweep.cost import CellWork, estimate, registry_speed
from progsynth.protocols import get_protocol

MOCKS = """
[grid]
model = [{backend = "mock", model = "big", params = 400_000_000, family = "m"},
         {backend = "mock", model = "small", params = 100_000_000, family = "m"}]
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_expands_with_fixed_keys_and_random_shot_sets(tmp_path: Path) -> None:
    path = write(tmp_path, 'benchmark = "mbpp"\nlimit = 2\n' + MOCKS +
                 "shot_ids = [[2, 3, 4], {random = 3, size = 3, seed = 7}]\nasserts_shown = [0, 3]\n")
    config = load_sweep(path)
    assert config.fixed == {"benchmark": "mbpp", "limit": 2}
    assert config.axes == ("model", "shot_ids", "asserts_shown")
    assert isinstance(config.grid[1][1][1], RandomShots)
    cells = expand(config, tmp_path / "out")
    assert len(cells) == 2 * 4 * 2
    shot_sets = {tuple(c.values["shot_ids"]) for c in cells}
    assert ("Mbpp/2", "Mbpp/3", "Mbpp/4") in shot_sets and len(shot_sets) == 4
    assert all(len(s) == 3 and set(s) <= {f"Mbpp/{i}" for i in range(1, 11)} for s in shot_sets)
    again = expand(load_sweep(path), tmp_path / "out")
    assert [c.name for c in again] == [c.name for c in cells]  # the seed makes the draw repeatable
    reseeded = expand(load_sweep(write(tmp_path, 'limit = 2\n' + MOCKS + "shot_ids = [{random = 3, seed = 8}]\n",
                                       "other.toml")), tmp_path / "out")
    assert {tuple(c.values["shot_ids"]) for c in reseeded} != shot_sets - {("Mbpp/2", "Mbpp/3", "Mbpp/4")}
    cell = cells[0]
    assert cell.out_dir == tmp_path / "out" / "cells" / cell.name
    assert cell.name.startswith("mock-big-shots2.3.4-a0-") and cell.run.limit == 2
    assert cell.run.prompt.asserts_shown == 0 and cell.run.backend == "mock"


def test_cell_names_depend_only_on_the_run_identity(tmp_path: Path) -> None:
    a = expand(load_sweep(write(tmp_path, MOCKS + "samples = [1]\n", "a.toml")), tmp_path)
    b = expand(load_sweep(write(tmp_path, MOCKS + "samples = [1, 5]\ntemperature = [0.5]\n", "b.toml")), tmp_path)
    assert len(b) == 4
    greedy = {c.name.rsplit("-", 1)[1] for c in a}
    assert greedy.isdisjoint({c.name.rsplit("-", 1)[1] for c in b})  # temperature 0.5 is another run
    c = expand(load_sweep(write(tmp_path, "temperature = 0.5\n" + MOCKS + "samples = [1, 5]\n", "c.toml")), tmp_path)
    assert {x.name.rsplit("-", 1)[1] for x in c} == {x.name.rsplit("-", 1)[1] for x in b}


@pytest.mark.parametrize(("text", "message"), [
    ("benchmrk = 'mbpp'\n", "unknown key 'benchmrk'"),
    ("[grid]\nasserts = [1, 2]\n", "unknown key 'grid.asserts'"),
    ("[grid]\nsamples = 3\n", "key 'grid.samples': expected a non-empty list"),
    ("limit = 'three'\n", "key 'limit': expected an integer"),
    ("[grid]\nmodel = [{backend = 'mock', size = 3}]\n", "unknown key 'grid.model.size'"),
    ("[grid]\nshot_ids = [{random = 3, sed = 1}]\n", "unknown key 'grid.shot_ids.sed'"),
    ("[[cells]]\nprotocl = 'paper'\n", r"unknown key 'cells\[0\]\.protocl'"),
    ("limit = \n", "not valid TOML"),
])
def test_bad_files_are_one_line_errors_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=message) as info:
        load_sweep(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_impossible_cells_name_the_cell(tmp_path: Path) -> None:
    path = write(tmp_path, 'backend = "mock"\n[grid]\nsamples = [1, 4]\ntemperature = [0.0]\n')
    with pytest.raises(DataError, match=r"cell samples=4, temperature=0.0: --samples > 1 needs"):
        expand(load_sweep(path), tmp_path)
    path = write(tmp_path, 'backend = "mock"\n[grid]\nshot_ids = [{random = 200}]\n')
    with pytest.raises(DataError, match="only 120"):
        expand(load_sweep(path), tmp_path)


def test_yaml_files_and_listed_cells(tmp_path: Path) -> None:
    path = write(tmp_path, "backend: mock\nlimit: 1\ncells:\n  - protocol: paper\n  - protocol: bigcode\n", "s.yaml")
    cells = expand(load_sweep(path), tmp_path)
    assert [c.protocol for c in cells] == ["paper", "bigcode"]
    assert cells[1].run.prompt == get_protocol("bigcode").prompt_config()
    assert "--protocol bigcode" in cells[1].command()


def test_protocol_axis_records_presets_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, 'backend = "mock"\n[grid]\nprotocol = ["paper", "evalplus", "lm-eval"]\n')
    cells = expand(load_sweep(path), tmp_path)
    assert [c.protocol for c in cells] == ["paper", "evalplus", "lm-eval"]
    assert cells[1].run.prompt.style.is_chat
    custom = expand(load_sweep(write(tmp_path, 'backend = "mock"\nprotocol = "bigcode"\nasserts_shown = 3\n',
                                     "c.toml")), tmp_path)
    assert custom[0].protocol == "custom" and custom[0].run.prompt.asserts_shown == 3


def test_order_shows_one_cell_per_model_smallest_first(tmp_path: Path) -> None:
    path = write(tmp_path, MOCKS + "asserts_shown = [3, 1, 0]\n")
    ordered = order(expand(load_sweep(path), tmp_path))
    assert [c.model_name for c in ordered[:2]] == ["mock-small", "mock-big"]
    assert [c.model_name for c in ordered[2:4]] == ["mock-small", "mock-big"]  # then models take turns
    assert ordered[0].values["asserts_shown"] == 3


def test_cost_estimate_uses_measured_then_registry_speeds() -> None:
    work = [CellWork("a", "qwen2.5-coder-0.5b", "llamacpp", 10, 1, 1400, False),
            CellWork("b", "qwen2.5-coder-0.5b", "llamacpp", 10, 1, 1400, True),
            CellWork("c", "mock-x", "mock", 10, 2, 100, False, delay_s=0.5)]
    cost = estimate(work, {})
    assert (cost.cells, cost.todo_cells, cost.todo_samples) == (3, 2, 30)
    assert cost.seconds is not None and 40 < cost.seconds < 120
    assert "estimate" in cost.text() and "registry" in cost.basis["qwen2.5-coder-0.5b"]
    measured = estimate(work, {"qwen2.5-coder-0.5b": 2.0})
    assert measured.basis["qwen2.5-coder-0.5b"] == "measured by this sweep" and measured.seconds == 20 + 5 + 1
    speed, basis = registry_speed("qwen2.5-coder-1.5b")
    assert speed is not None and "scaled" in basis
    assert estimate([CellWork("d", "my.gguf", "llamacpp", 1, 1, 10, False)], {}).seconds is None


def test_registry_resolves_names_without_assembling() -> None:
    names = {"smollm2-135m": 135_000_000, "gemma3-270m": 268_000_000, "qwen2.5-coder-0.5b": 494_000_000,
             "qwen2.5-coder-1.5b": 1_540_000_000}
    for name, params in names.items():
        spec = models.registered(name)
        assert spec is not None and spec.params == params and len(spec.sha256) == 64 and spec.license
        assert models.ALIASES[name] is spec
    assert models.registered(None) is models.DEFAULT_MODEL and models.registered("default") is models.DEFAULT_MODEL
    assert models.registered("QWEN2.5-CODER-0.5B") is models.DEFAULT_MODEL
    assert models.registered("/some/file.gguf") is None
    assert [s.params for s in models.REGISTRY] == sorted(s.params for s in models.REGISTRY)
    assert models.SMOLLM2_MODEL.assembly is models.Assembly.COPY
    assert models.SMOLLM2_MODEL.to_json()["name"] == "smollm2-135m"


def test_model_names_in_sweeps_use_the_registry(tmp_path: Path) -> None:
    path = write(tmp_path, '[grid]\nmodel = ["gemma3-270m", "qwen2.5-coder-0.5b", "smollm2-135m"]\n')
    cells = order(expand(load_sweep(path), tmp_path))
    assert [c.model_name for c in cells] == ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"]
    assert [c.params for c in cells] == [135_000_000, 268_000_000, 494_000_000]
    assert cells[0].run.backend_options == {"model": "smollm2-135m"} and cells[0].family == "smollm2"
    assert isinstance(load_sweep(path).grid[0][1][0], str) and ModelChoice("mock").to_json()["backend"] == "mock"
