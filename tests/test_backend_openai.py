"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (tests/servers)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from progsynth.backends import create_backend
from progsynth.backends.common import task_seed
from progsynth.errors import BackendError, UsageError
from progsynth.types import FinishReason, GenerationRequest, Problem, SamplingParams

pytest.importorskip("httpx", reason="the openai extra is not installed")

from servers.openai_server import ScriptedOpenAIServer

KEY_ENV = "PROGSYNTH_TEST_API_KEY"


@pytest.fixture()
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(api_key="right-key") as srv:
        yield srv


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "right-key")


def _backend(srv: ScriptedOpenAIServer, **options: object) -> object:
    return create_backend("openai", base_url=srv.base_url, api_key_env=KEY_ENV, backoff=0.01, **options)


def _request(task: str = "Mbpp/11", n: int = 1, temperature: float = 0.0, first: int = 0) -> GenerationRequest:
    problem = Problem(task_id=task, benchmark="mbpp", split="test", text="", reference="", tests=())
    params = SamplingParams(n=n, temperature=temperature, max_tokens=64, seed=99)
    return GenerationRequest(problem, "You are an expert Python programmer...[BEGIN]\n", params, first)


def test_completions_with_n_seeds_and_stop(server: ScriptedOpenAIServer) -> None:
    backend = _backend(server)
    assert backend.name == "openai:scripted-coder"  # the first model /models lists
    out = backend.generate(_request(n=3, temperature=0.5, first=4))
    base = task_seed(99, "Mbpp/11") + 4
    assert [c.text for c in out] == [f"def f():\n    return {base + i}\n" for i in range(3)]
    assert all(c.finish_reason is FinishReason.STOP for c in out)
    sent = server.requests[-1]
    assert sent["n"] == 3 and sent["seed"] == base and sent["stop"] == ["[DONE]"] and sent["model"] == "scripted-coder"
    assert sent["temperature"] == 0.5 and sent["max_tokens"] == 64 and "prompt" in sent
    assert "right-key" not in str(backend.describe())
    backend.close()


def test_samples_split_across_requests_keep_their_seeds(server: ScriptedOpenAIServer) -> None:
    backend = _backend(server, max_n=2)
    out = backend.generate(_request(n=5, temperature=0.5))
    base = task_seed(99, "Mbpp/11")
    assert [c.text for c in out] == [f"def f():\n    return {base + i}\n" for i in range(5)]
    assert [r["n"] for r in server.requests] == [2, 2, 1]


def test_greedy_asks_once_and_copies(server: ScriptedOpenAIServer) -> None:
    out = _backend(server).generate(_request(n=3))
    assert len(out) == 3 and len({c.text for c in out}) == 1 and server.requests[-1]["n"] == 1
    assert out[0].tokens == 4  # one choice: usage.completion_tokens is that sample's count


def test_retries_429_500_and_dropped_connections(server: ScriptedOpenAIServer) -> None:
    backend = _backend(server)
    server.queue("429", "500", "drop", "429")
    out = backend.generate(_request())
    assert out[0].finish_reason is FinishReason.STOP and out[0].text.startswith("def f()")
    assert len(server.requests) == 5


def test_persistent_5xx_stops_the_run_with_one_line(server: ScriptedOpenAIServer) -> None:
    backend = _backend(server, retries=2)
    server.queue("500", "500", "500")
    with pytest.raises(BackendError) as err:
        backend.generate(_request())
    assert "HTTP 500 after 3 attempt(s)" in str(err.value) and "\n" not in str(err.value)


def test_slow_reply_times_out_then_succeeds(server: ScriptedOpenAIServer) -> None:
    server.slow_s = 1.5
    backend = _backend(server, timeout=0.5, retries=1)
    server.queue("slow")
    started = time.monotonic()
    out = backend.generate(_request())
    assert out[0].text.startswith("def f()") and time.monotonic() - started >= 0.5
    server.queue("slow", "slow")
    with pytest.raises(BackendError, match="no reply from"):
        backend.generate(_request())


def test_garbage_reply_is_a_one_line_error(server: ScriptedOpenAIServer) -> None:
    backend = _backend(server)
    server.queue("garbage")
    with pytest.raises(BackendError) as err:
        backend.generate(_request())
    assert "not JSON" in str(err.value) and "\n" not in str(err.value)


def test_context_overflow_is_a_failed_generation_not_an_error(server: ScriptedOpenAIServer) -> None:
    backend = _backend(server)
    server.queue("context")
    out = backend.generate(_request(n=2, temperature=0.5))
    assert [c.finish_reason for c in out] == [FinishReason.ERROR] * 2
    assert out[0].error is not None and "maximum context length" in out[0].error


def test_wrong_or_missing_api_key(server: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    with pytest.raises(BackendError) as err:
        _backend(server)
    assert "rejected the API key (HTTP 401)" in str(err.value) and "wrong-key" not in str(err.value)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(BackendError, match=f"set \\${KEY_ENV}"):
        _backend(server)


def test_unreachable_server_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        create_backend("openai", base_url=f"http://127.0.0.1:{port}/v1", model="m")
    assert str(err.value).startswith("cannot connect to") and time.monotonic() - started < 10


def test_bad_options_are_usage_errors(server: ScriptedOpenAIServer) -> None:
    with pytest.raises(UsageError):
        create_backend("openai", base_url="127.0.0.1:8080")
    with pytest.raises(UsageError):
        _backend(server, concurrency=0)
    with pytest.raises(UsageError):
        _backend(server, colour="blue")


def test_server_without_n_falls_back_to_one_sample_per_request() -> None:
    with ScriptedOpenAIServer(supports_n=False) as srv:
        backend = create_backend("openai", base_url=srv.base_url, model="m", backoff=0.01)
        out = backend.generate(_request(n=3, temperature=0.5))
        assert len({c.text for c in out}) == 3
        assert [r["n"] for r in srv.requests] == [3, 1, 1, 1]


def test_chat_endpoint_and_echoed_stop_string() -> None:
    with ScriptedOpenAIServer(echo_stop=True) as srv:
        backend = create_backend("openai", base_url=srv.base_url, chat=True, system_prompt="Be brief.")
        out = backend.generate(_request())
        assert out[0].text.startswith("Here is the code:\n```python\ndef f()") and "[DONE]" not in out[0].text
        assert out[0].finish_reason is FinishReason.STOP
        sent = srv.requests[-1]
        assert sent["path"] == "/v1/chat/completions"
        assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_generate_many_runs_tasks_concurrently(server: ScriptedOpenAIServer) -> None:
    server.slow_s = 0.4
    backend = _backend(server, concurrency=4)
    requests = [_request(task=f"Mbpp/{i}") for i in range(11, 19)]
    server.queue(*["slow"] * 8)
    started = time.monotonic()
    got = {req.problem.task_id: out for req, out in backend.generate_many(requests)}
    elapsed = time.monotonic() - started
    assert sorted(got) == sorted(r.problem.task_id for r in requests)
    assert elapsed < 8 * 0.4  # 8 slow replies, 4 at a time: about 0.8 s, far below one after another
    seeds = {task: int(out[0].text.split()[-1]) for task, out in got.items()}
    assert seeds == {task: task_seed(99, task) for task in got}


@pytest.mark.model
def test_against_a_real_llama_cpp_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real protocol: llama.cpp's own server (xllamacpp) with the packaged Gemma or Qwen model."""
    xllamacpp = pytest.importorskip("xllamacpp", reason="the llamacpp extra is not installed")
    from progsynth.backends.models import resolve_model

    try:
        model = resolve_model("gemma3-270m")
    except BackendError:
        try:
            model = resolve_model(None)
        except BackendError as exc:
            pytest.skip(f"no packaged model installed: {exc}")
    params = xllamacpp.CommonParams()
    params.model.path = str(model.path)
    params.n_ctx, params.n_parallel, params.kv_unified = 2048, 2, True
    params.port, params.hostnames, params.api_keys = 0, ["127.0.0.1"], ["real-key"]
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.warmup, params.verbosity = False, -1
    server = xllamacpp.Server(params)
    monkeypatch.setenv(KEY_ENV, "real-key")
    base = f"{server.listening_address}/v1"
    backend = create_backend("openai", base_url=base, api_key_env=KEY_ENV, backoff=0.01)
    out = backend.generate(_request(n=2, temperature=0.7))
    assert len(out) == 2 and all(c.finish_reason in (FinishReason.STOP, FinishReason.LENGTH) for c in out)
    assert all("[DONE]" not in c.text for c in out)
    chat = create_backend("openai", base_url=base, api_key_env=KEY_ENV, chat=True, model=backend.describe()["model"])
    (reply,) = chat.generate(_request())
    assert reply.finish_reason in (FinishReason.STOP, FinishReason.LENGTH) and reply.text.strip()
    huge = GenerationRequest(_request().problem, "word " * 3000, SamplingParams(n=2, temperature=0.5))
    assert [c.finish_reason for c in backend.generate(huge)] == [FinishReason.ERROR] * 2
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    with pytest.raises(BackendError, match="rejected the API key"):
        create_backend("openai", base_url=base, api_key_env=KEY_ENV, model="m").generate(_request())
    del server
