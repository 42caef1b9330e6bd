"""Generation across several OpenAI-compatible servers: the routing policy on its own (least loaded,
bounded, health with recheck, one release per acquire), then two real servers on 127.0.0.1, one of
them a separate process killed mid-run."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from progsynth.backends import create_backend
from progsynth.backends.endpoints import EndpointPool, parse_endpoints
from progsynth.errors import UsageError
from progsynth.store.samples import read_samples, sample_to_json
from progsynth.types import Completion, FinishReason, GenerationRequest, Problem, Sample, SamplingParams

pytest.importorskip("httpx", reason="the openai extra is not installed")

from servers.openai_server import ScriptedOpenAIServer

SERVER_SCRIPT = Path(__file__).parent / "servers" / "openai_server.py"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_endpoint_list_and_per_endpoint_concurrency_are_checked_once() -> None:
    specs = parse_endpoints("http://a:1/v1/, http://b:2/v1", "8,2", 4)
    assert [(s.url, s.concurrency) for s in specs] == [("http://a:1/v1", 8), ("http://b:2/v1", 2)]
    assert [s.concurrency for s in parse_endpoints("http://a/v1,http://b/v1", "3", 4)] == [3, 3]
    assert [s.concurrency for s in parse_endpoints("http://a/v1", None, 4)] == [4]
    for urls, conc in (("http://a/v1,ftp://b", None), ("http://a/v1,http://a/v1", None), ("", None),
                       ("http://a/v1,http://b/v1", "1,2,3"), ("http://a/v1", "0"), ("http://a/v1", "x")):
        with pytest.raises(UsageError):
            parse_endpoints(urls, conc, 4)


def test_least_loaded_relative_to_each_endpoints_concurrency() -> None:
    pool = EndpointPool(parse_endpoints("http://a/v1,http://b/v1", "4,2", 4))
    leases = [pool.acquire() for _ in range(6)]
    assert sorted(lease.url for lease in leases if lease) == ["http://a/v1"] * 4 + ["http://b/v1"] * 2
    assert pool.capacity == 6
    freed = threading.Event()

    def release_one_later() -> None:
        freed.wait()
        assert leases[0] is not None
        pool.release(leases[0], ok=True)

    threading.Thread(target=release_one_later).start()
    freed.set()
    lease = pool.acquire()  # full: waits for the slot released above, never oversubscribes
    assert lease is not None and lease.url == leases[0].url
    assert sum(s["served"] for s in pool.snapshot()) == 1  # type: ignore[misc]


def test_a_failed_endpoint_gets_no_work_until_its_recheck_and_failover_skips_it() -> None:
    clock = Clock()
    pool = EndpointPool(parse_endpoints("http://a/v1,http://b/v1", "1", 4), recheck_s=5.0, clock=clock)
    first = pool.acquire()
    assert first is not None and first.url == "http://a/v1"
    pool.release(first, ok=False)  # a transient failure: retried elsewhere
    retry = pool.acquire(exclude={"http://a/v1"})
    assert retry is not None and retry.url == "http://b/v1"
    assert pool.acquire(exclude={"http://a/v1", "http://b/v1"}) is None  # tried them all: caller backs off
    pool.release(retry, ok=True)
    nxt = pool.acquire()
    assert nxt is not None and nxt.url == "http://b/v1" and not nxt.recheck  # a is cooling down
    pool.release(nxt, ok=True)
    clock.now += 5.0
    probe = pool.acquire()
    assert probe is not None and probe.url == "http://a/v1" and probe.recheck
    pool.release(probe, ok=True)
    state = {s["url"]: s for s in pool.snapshot()}
    assert state["http://a/v1"] == {"url": "http://a/v1", "concurrency": 1, "served": 1, "failures": 1,
                                    "healthy": True}
    assert state["http://b/v1"]["served"] == 2
    with pytest.raises(KeyError):
        pool.release(probe, ok=True)  # a lease is given back once; a second release is a bug, not a count


def test_with_every_endpoint_down_the_least_recently_failed_is_still_tried() -> None:
    clock = Clock()
    pool = EndpointPool(parse_endpoints("http://a/v1,http://b/v1", "1", 4), recheck_s=60.0, clock=clock)
    for url in ("http://a/v1", "http://b/v1"):
        pool.mark_failed(url)
        clock.now += 1
    lease = pool.acquire()
    assert lease is not None and lease.url == "http://a/v1" and lease.recheck


def _request(task: str) -> GenerationRequest:
    problem = Problem(task_id=task, benchmark="mbpp", split="test", text="", reference="", tests=())
    return GenerationRequest(problem, "prompt [BEGIN]\n", SamplingParams(n=1, max_tokens=64, seed=7))


@pytest.fixture()
def killable_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A scripted server in its own process (so it can really die), answering after 50 ms."""
    proc = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), "0.05"], stdout=subprocess.PIPE, text=True,
                            cwd=SERVER_SCRIPT.parent)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        yield proc, line.split()[-1]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_two_servers_one_killed_mid_run_loses_nothing_and_matches_one_server(
        killable_server: tuple[subprocess.Popen[str], str]) -> None:
    proc, doomed_url = killable_server
    tasks = [f"Mbpp/{i}" for i in range(11, 71)]
    with ScriptedOpenAIServer(delay_s=0.05) as alone:
        single = create_backend("openai", base_url=alone.base_url, concurrency=4, backoff=0.01)
        expected = {r.problem.task_id: c[0].text for r, c in single.generate_many(map(_request, tasks))}
        single.close()
    with ScriptedOpenAIServer(delay_s=0.05) as survivor:
        backend = create_backend("openai", base_url=f"{survivor.base_url},{doomed_url}", endpoint_concurrency="2",
                                 recheck_s=0.1, concurrency=4, backoff=0.01)
        got: dict[str, Completion] = {}
        for request, completions in backend.generate_many(map(_request, tasks)):
            assert len(completions) == 1 and request.problem.task_id not in got
            got[request.problem.task_id] = completions[0]
            if len(got) == 10:
                proc.kill()  # mid-run, with requests in flight on it
        endpoints = {e["url"]: e for e in backend.describe()["endpoints"]}
        backend.close()
    assert {t: c.text for t, c in got.items()} == expected  # greedy: the same text whichever server answered
    assert all(c.finish_reason is FinishReason.STOP for c in got.values())
    by_endpoint = {url: sum(c.endpoint == url for c in got.values()) for url in endpoints}
    assert by_endpoint[doomed_url] >= 2 and by_endpoint[survivor.base_url] >= 30
    assert sum(by_endpoint.values()) == len(tasks)
    assert {url: e["served"] for url, e in endpoints.items()} == by_endpoint  # each success counted once
    assert endpoints[doomed_url]["failures"] >= 1 and not endpoints[doomed_url]["healthy"]
    assert len(survivor.requests) == by_endpoint[survivor.base_url]  # failover sent each task there once


def test_an_endpoint_down_at_start_is_left_for_its_recheck() -> None:
    with ScriptedOpenAIServer() as up, pytest.warns(RuntimeWarning, match="left out until it answers"):
        backend = create_backend("openai", base_url=f"http://127.0.0.1:9/v1,{up.base_url}", recheck_s=60.0)
        out = backend.generate(_request("Mbpp/11"))
    assert out[0].endpoint == up.base_url
    assert backend.describe()["base_url"] == f"http://127.0.0.1:9/v1,{up.base_url}"
    assert backend.describe()["concurrency"] == 8  # every endpoint kept busy: 4 each unless told


def test_the_total_in_flight_follows_the_endpoints_unless_given() -> None:
    with ScriptedOpenAIServer() as one, ScriptedOpenAIServer() as other:
        urls = f"{one.base_url},{other.base_url}"
        for options, total in (({"base_url": urls, "endpoint_concurrency": "3,5"}, 8),
                               ({"base_url": one.base_url}, 4), ({"base_url": urls, "concurrency": 2}, 2)):
            with create_backend("openai", **options) as backend:
                assert backend.describe()["concurrency"] == total


def test_replicas_must_serve_the_same_model() -> None:
    with ScriptedOpenAIServer(models=("a",)) as one, ScriptedOpenAIServer(models=("b",)) as other, \
            pytest.raises(UsageError, match="every endpoint must serve the same model"):
        create_backend("openai", base_url=f"{one.base_url},{other.base_url}")


def test_the_endpoint_is_recorded_per_sample_and_old_files_still_load(tmp_path: Path) -> None:
    new = Sample("Mbpp/11", "x = 1", 0, "openai:m", "h", endpoint="http://127.0.0.1:8000/v1")
    old = Sample("Mbpp/12", "y = 2", 0, "openai:m", "h")
    assert sample_to_json(new)["endpoint"] == "http://127.0.0.1:8000/v1" and "endpoint" not in sample_to_json(old)
    path = tmp_path / "samples.jsonl"
    import json

    path.write_text("".join(json.dumps(sample_to_json(s)) + "\n" for s in (new, old)))
    assert [line.sample for line in read_samples(path)] == [new, old]


def test_a_generated_sample_keeps_its_completions_endpoint() -> None:
    from progsynth.benchmarks import get_benchmark
    from progsynth.benchmarks.base import PromptStyle
    from progsynth.run.generation import to_sample

    problem = _request("Mbpp/11").problem
    comp = Completion("def f():\n    return 1\n", FinishReason.STOP, 4, endpoint="http://127.0.0.1:8001/v1")
    sample = to_sample(get_benchmark("mbpp"), PromptStyle.PAPER, problem, comp, 0, "openai:m", "h")
    assert sample.endpoint == "http://127.0.0.1:8001/v1"


@pytest.mark.slow
def test_a_run_over_two_servers_one_killed_records_endpoints_and_matches_one_server(
        tmp_path: Path, killable_server: tuple[subprocess.Popen[str], str]) -> None:
    """The whole pipeline (samples file, verdicts, results) on two servers, one killed once a few
    samples are stored, against the same run on one server."""
    import json
    import time
    from dataclasses import replace

    from progsynth.benchmarks.sources import data_config_from_env
    from progsynth.run.config import RunConfig
    from progsynth.run.pipeline import run

    proc, doomed_url = killable_server
    data = replace(data_config_from_env(None), allow_download=False)  # local data only: no network

    def config(out: str, base_url: str) -> RunConfig:
        options = {"base_url": base_url, "endpoint_concurrency": "2", "concurrency": 4, "recheck_s": 0.2,
                   "backoff": 0.01}
        return RunConfig(out_dir=tmp_path / out, limit=24, backend="openai", backend_options=options,
                         workers=1, adaptive_timeouts=False, challenge=False, data=data)

    with ScriptedOpenAIServer(delay_s=0.05) as alone:
        single = run(config("one", alone.base_url), show_progress=False)
    samples = tmp_path / "two" / "samples.jsonl"

    def kill_after_some_samples() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if samples.exists() and len(samples.read_text().splitlines()) >= 6:
                proc.kill()
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_after_some_samples)
    with ScriptedOpenAIServer(delay_s=0.05) as survivor:
        killer.start()
        both = run(config("two", f"{survivor.base_url},{doomed_url}"), show_progress=False)
        killer.join()
    assert proc.poll() is not None  # it really died mid-run
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    first = [json.loads(line) for line in (tmp_path / "one" / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 24 and {line["endpoint"] for line in lines} == {survivor.base_url, doomed_url}
    strip = lambda rows: sorted((r["task_id"], r["completion"], r["raw"]) for r in rows)  # noqa: E731
    assert strip(lines) == strip(first)
    assert single.document.per_task == both.document.per_task
    endpoints = {e["url"]: e for e in both.results["backend"]["endpoints"]}
    assert {url: e["served"] for url, e in endpoints.items()} == \
        {url: sum(line["endpoint"] == url for line in lines) for url in endpoints}
    assert endpoints[doomed_url]["failures"] >= 1 and endpoints[survivor.base_url]["served"] >= 12, endpoints
