"""The GPU-server recipe of docs/scale.md, run as written: its ``serve_on_ray.py`` (taken from the
document) starts one ``ModelServer`` actor per declared GPU on a real local Ray cluster, each
running a server command from a ``servers.toml``; the OpenAI backend then generates across the
URLs it prints. The command is the scripted test server instead of vLLM or llama.cpp, and the two
"GPUs" are Ray resources declared with ``--num-gpus=2`` (Ray gives each actor its own
``CUDA_VISIBLE_DEVICES`` all the same). As in ``test_ray_cluster``, the cluster lives in a
loopback-only network namespace of its own and every Ray process is stopped in ``finally``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as a script too: tests/servers importable
from servers import netns  # noqa: E402

HERE = Path(__file__).resolve()
DOC = HERE.parent.parent / "docs" / "scale.md"
BIN = Path(sys.executable).parent
PORT = 6389
SERVER = HERE.parent / "servers" / "openai_server.py"


def recipe() -> str:
    """The ``serve_on_ray.py`` code block of docs/scale.md, verbatim."""
    match = re.search(r"`serve_on_ray\.py`:\n\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, "docs/scale.md lost its serve_on_ray.py recipe"
    return match.group(1)


@pytest.mark.slow
def test_the_documented_recipe_serves_one_model_server_per_gpu(tmp_path: Path) -> None:
    prefix = netns.ray_cluster_prefix()
    report = tmp_path / "servers.json"
    inner = subprocess.run([*prefix, sys.executable, str(HERE), "servers", str(tmp_path), str(report),
                            os.readlink("/proc/self/ns/net")], capture_output=True, text=True, timeout=300)
    assert inner.returncode == 0, inner.stdout[-3000:] + inner.stderr[-3000:]
    facts = json.loads(report.read_text())
    assert facts.get("error") is None, facts
    urls = facts["urls"]
    assert len(urls) == 2 and all(u.startswith("http://127.0.0.1:") for u in urls), urls
    assert sorted(facts["served"]) == sorted(urls) and sum(facts["served"].values()) == 8, facts
    assert all(count > 0 for count in facts["served"].values()), facts  # both servers took work
    assert len(set(facts["texts"])) == 8  # one answer per task, whichever server it came from


def servers_main(work: Path, report: Path, outer_netns: str) -> None:
    netns.loopback_up()
    netns.check_isolated(outer_netns)
    here = os.readlink("/proc/self/ns/net")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": f"127.0.0.1:{PORT}"}
    facts: dict[str, Any] = {}
    try:
        subprocess.run([str(BIN / "ray"), "start", "--head", f"--port={PORT}", "--num-cpus=2", "--num-gpus=2",
                        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                       check=True, capture_output=True, timeout=120, env=env)
        (work / "serve_on_ray.py").write_text(recipe())
        command = json.dumps([sys.executable, str(SERVER), "--host", "{host}", "--port", "{port}"])
        (work / "servers.toml").write_text(f"[servers]\ncount = 2\nport = 18000\ncommand = {command}\n")
        out = subprocess.run([sys.executable, str(work / "serve_on_ray.py"), str(work / "servers.toml")],
                             capture_output=True, text=True, timeout=180, env=env, cwd=work)
        facts["script_stderr"] = out.stderr[-2000:]
        facts["urls"] = out.stdout.strip().splitlines()[-1].split(",") if out.stdout.strip() else []
        facts.update(generate(facts["urls"]))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
        facts["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        netns.stop_ray(BIN / "ray", here, temp)
        for port in (18000, 18001):  # the recipe's server logs
            Path(f"/tmp/model-server-{port}.log").unlink(missing_ok=True)
        report.write_text(json.dumps(facts))


def generate(urls: list[str]) -> dict[str, Any]:
    from progsynth.backends import create_backend
    from progsynth.types import GenerationRequest, Problem, SamplingParams

    backend = create_backend("openai", base_url=",".join(urls), endpoint_concurrency="2", concurrency=4)
    requests = [GenerationRequest(Problem(f"Mbpp/{i}", "mbpp", "test", "", "", ()), "p", SamplingParams(max_tokens=64))
                for i in range(11, 19)]
    texts = [c[0].text for _, c in backend.generate_many(requests)]
    served = {e["url"]: e["served"] for e in backend.describe()["endpoints"]}
    backend.close()
    return {"texts": texts, "served": served}


if __name__ == "__main__" and sys.argv[1:2] == ["servers"]:
    servers_main(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
