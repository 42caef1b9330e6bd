"""``RayExecutor``'s bookkeeping against a stand-in for Ray (fast, no cluster): batches spread over
nodes, a lost node's batches resubmitted and answered once, a batch that kills every node it
touches answered KILLED, protections per node; and the single-machine path never importing Ray.
(``test_ray_cluster`` runs the real thing.)"""

from __future__ import annotations

import itertools
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from progsynth.errors import ExecutionError, UsageError
from progsynth.execution.api import ExecRequest, Limits
from progsynth.execution.ray import executor as ray_executor
from progsynth.execution.ray.executor import MAX_ATTEMPTS, merge_nodes, node_table
from progsynth.execution.ray.node import BatchResult, NodeReport
from progsynth.execution.sandbox.config import SandboxConfig
from progsynth.execution.sandbox.protections import Protection, ProtectionStatus
from progsynth.run.config import RunConfig
from progsynth.verdicts import Status, Verdict


class RayError(Exception):
    pass


class ActorDiedError(RayError):
    pass


class Ref:
    ids = itertools.count()

    def __init__(self, compute: Callable[[], Any]) -> None:
        self.id = next(self.ids)
        self.compute = compute


class Method:
    def __init__(self, actor: Actor, name: str) -> None:
        self.actor, self.name = actor, name

    def remote(self, *args: Any) -> Ref:
        actor, name = self.actor, self.name

        def compute() -> Any:
            if actor.dead or actor.dies_on(args):
                actor.dead = True
                raise ActorDiedError(f"actor on {actor.node_id} died")
            if name == "run_batch" and actor.node_id in FakePool.broken:
                raise RayError("RayTaskError(ExecutionError): every executor thread has stopped")
            return getattr(actor.body, name)(*args)
        return Ref(compute)


class Actor:
    def __init__(self, body: Any, node_id: str, dies_on: Callable[[tuple[Any, ...]], bool]) -> None:
        self.body, self.node_id, self.dies_on, self.dead = body, node_id, dies_on, False

    def __getattr__(self, name: str) -> Method:
        return Method(self, name)


class FakeRay(types.ModuleType):
    """Just what RayExecutor calls; ``death`` decides, per node, which calls kill its actor."""

    def __init__(self, nodes: int, death: Callable[[str, tuple[Any, ...]], bool]) -> None:
        super().__init__("ray")
        self.exceptions = types.SimpleNamespace(RayError=RayError, RayActorError=ActorDiedError)
        self.node_ids = [f"node{i}" for i in range(nodes)]
        self.death = death
        self.actors: list[Actor] = []
        self.killed: list[Actor] = []
        self.placements: list[tuple[str, bool]] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **_: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def nodes(self) -> list[dict[str, Any]]:
        return [{"NodeID": n, "Alive": True, "Resources": {"CPU": 1.0}} for n in self.node_ids] + \
               [{"NodeID": "gpu-only", "Alive": True, "Resources": {"GPU": 1.0}}]

    def remote(self, cls: type) -> Any:
        ray = self

        class Options:
            def __init__(self, strategy: Any) -> None:
                self.strategy = strategy

            def remote(self, *args: Any) -> Actor:
                ray.placements.append((self.strategy.node_id, self.strategy.soft))
                node_id = self.strategy.node_id
                actor = Actor(cls(*args), node_id, lambda call: ray.death(node_id, call))
                ray.actors.append(actor)
                return actor

        return types.SimpleNamespace(options=lambda **kw: Options(kw["scheduling_strategy"]))

    def get(self, refs: Any, timeout: float | None = None) -> Any:
        return [r.compute() for r in refs] if isinstance(refs, list) else refs.compute()

    def wait(self, refs: list[Ref], num_returns: int = 1, timeout: float | None = None) -> tuple[list[Ref], list[Ref]]:
        ordered = sorted(refs, key=lambda r: r.id)
        return ordered[:num_returns], ordered[num_returns:]

    def kill(self, actor: Actor) -> None:
        self.killed.append(actor)


class FakePool:
    """The node actor's stand-in: every program passes; records which node ran which key."""

    ran: list[tuple[str, str]] = []
    broken: set[str] = set()

    def __init__(self, node_id: str, limits: Limits, workers: int, sandbox: SandboxConfig) -> None:
        self.node_id, self.workers = node_id, workers

    def report(self) -> NodeReport:
        seccomp = ProtectionStatus(Protection.SECCOMP, self.node_id != "node1", "denylist")
        return NodeReport(self.node_id, "host", 1, self.workers, {"seccomp": seccomp})

    def run_batch(self, requests: list[ExecRequest]) -> BatchResult:
        FakePool.ran.extend((self.node_id, r.key) for r in requests)
        return BatchResult([(r.key, Verdict(Status.PASSED)) for r in requests], 0.001)

    def close(self) -> None:
        pass


def _executor(monkeypatch: pytest.MonkeyPatch, nodes: int, death: Callable[[str, tuple[Any, ...]], bool],
              batch_size: int = 2) -> tuple[ray_executor.RayExecutor, FakeRay]:
    fake = FakeRay(nodes, death)
    strategies = types.ModuleType("ray.util.scheduling_strategies")
    strategies.NodeAffinitySchedulingStrategy = lambda node_id, soft: types.SimpleNamespace(node_id=node_id, soft=soft)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray.util", types.ModuleType("ray.util"))
    monkeypatch.setitem(sys.modules, "ray.util.scheduling_strategies", strategies)
    monkeypatch.setattr(ray_executor, "NodePool", FakePool)
    FakePool.ran = []
    FakePool.broken = set()
    return ray_executor.RayExecutor("auto", Limits(), 2, SandboxConfig(), batch_size=batch_size), fake


def _requests(n: int) -> list[ExecRequest]:
    return [ExecRequest(f"k{i}", f"x = {i}", ("assert True",)) for i in range(n)]


def test_batches_go_to_every_node_pinned_hard(monkeypatch: pytest.MonkeyPatch) -> None:
    executor, fake = _executor(monkeypatch, 3, lambda node, call: False)
    with executor:
        keys = [k for k, _ in executor.run(_requests(20))]
    assert sorted(keys) == sorted(f"k{i}" for i in range(20))
    assert fake.placements == [("node0", False), ("node1", False), ("node2", False)]  # the GPU-only node runs nothing
    assert {node for node, _ in FakePool.ran} == {"node0", "node1", "node2"}
    assert executor.stats.programs == 20 and executor.stats.resubmitted == 0
    assert len(fake.killed) == 3  # close() stops every actor


def test_a_node_lost_mid_run_loses_no_request_and_answers_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = itertools.count()
    executor, _ = _executor(monkeypatch, 2, lambda node, call: node == "node1" and next(calls) >= 2)
    keys = [k for k, _ in executor.run(_requests(30))]
    assert sorted(keys) == sorted(f"k{i}" for i in range(30))  # every request answered, none twice
    assert [r.node_id for r in executor.lost] == ["node1"] and executor.stats.resubmitted > 0
    assert [r.node_id for r in executor.nodes] == ["node0"]
    assert sorted(k for node, k in FakePool.ran if node == "node0") != []
    executor.close()


def test_a_batch_that_kills_every_node_it_meets_is_answered_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    def poison(node: str, call: tuple[Any, ...]) -> bool:
        return bool(call) and any(r.key == "k3" for r in call[0])

    executor, _ = _executor(monkeypatch, MAX_ATTEMPTS + 1, poison, batch_size=1)
    verdicts = dict(executor.run(_requests(8)))
    assert sorted(verdicts) == sorted(f"k{i}" for i in range(8))
    assert verdicts["k3"].status is Status.KILLED and verdicts["k3"].error_type == "NodeLost"
    assert all(v.status is Status.PASSED for k, v in verdicts.items() if k != "k3")
    assert len(executor.lost) == MAX_ATTEMPTS
    executor.close()


def test_a_node_whose_pool_fails_is_retired_and_its_work_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    executor, fake = _executor(monkeypatch, 2, lambda node, call: False)
    FakePool.broken = {"node0"}
    verdicts = dict(executor.run(_requests(12)))
    assert sorted(verdicts) == sorted(f"k{i}" for i in range(12))
    assert all(v.status is Status.PASSED for v in verdicts.values())  # not KILLED: run elsewhere
    assert [r.node_id for r in executor.lost] == ["node0"] and [a.node_id for a in fake.killed] == ["node0"]
    executor.close()


def test_losing_every_node_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    executor, _ = _executor(monkeypatch, 2, lambda node, call: bool(call))
    with pytest.raises(ExecutionError, match="every Ray node was lost"):
        list(executor.run(_requests(10)))
    executor.close()


def test_each_nodes_protections_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    executor, _ = _executor(monkeypatch, 2, lambda node, call: False)
    seccomp = executor.protections["seccomp"]
    assert not seccomp.active  # node1 lacks it: a protection counts only if every node has it
    assert "node0" in seccomp.detail and "node1" in seccomp.detail and "OFF" in seccomp.detail
    assert node_table(executor.reports)[0]["active"] == ["seccomp"]
    executor.close()
    same = [NodeReport(f"n{i}", "h", 1, 2, {"uid": ProtectionStatus(Protection.UID, True, "own uid")}) for i in range(2)]
    assert merge_nodes(same)["uid"] == ProtectionStatus(Protection.UID, True, "own uid (on all 2 Ray nodes: h/n0, h/n1)")


def test_ray_address_is_checked_at_the_edge() -> None:
    assert RunConfig(ray_address="auto").ray_address == "auto"
    assert RunConfig(ray_address="10.0.0.1:6379").ray_address == "10.0.0.1:6379"
    with pytest.raises(UsageError, match="--ray"):
        RunConfig(ray_address="somewhere")


def test_the_cli_passes_ray_to_the_run_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from progsynth.cli import run as cli_run
    from progsynth.run import pipeline

    seen: list[RunConfig] = []

    def fake_evaluate(path: Path, cfg: RunConfig, **_: Any) -> None:
        seen.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr(pipeline, "evaluate", fake_evaluate)
    CliRunner().invoke(cli_run.evaluate, ["--samples", __file__, "--ray", "127.0.0.1:6379"])
    assert [c.ray_address for c in seen] == ["127.0.0.1:6379"]


def test_the_single_machine_path_never_imports_ray(tmp_path: Path) -> None:
    """A whole local evaluation (CLI, pipeline, sandbox pool) with Ray installed or not: no ``ray``
    module is loaded."""
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": 11, "completion": "def remove_Occ(s, ch):\\n    return s.replace(ch, \\"\\", 1)"}\n')
    code = ("import sys\nfrom progsynth.cli.main import main\n"
            f"try:\n    main(['evaluate', '--samples', {str(samples)!r}, '--task-id', '11', '--fixed-timeouts', "
            "'--workers', '1', '--quiet'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray was imported'\n"
            "assert 'progsynth.execution.ray' not in sys.modules\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-1500:] + out.stderr[-1500:]


def test_without_ray_installed_the_option_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from progsynth.execution.ray import create_ray_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UsageError, match=r"pip install 'progsynth\[ray\]'"):
        create_ray_executor("auto")
