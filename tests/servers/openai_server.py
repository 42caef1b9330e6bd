"""A small scripted server that speaks the OpenAI completions/chat protocol on 127.0.0.1.

Tests queue faults (``429``, ``500``, ``slow``, ``garbage``, ``drop``, ``context``) that the next
generation requests receive in order; every other request gets a deterministic answer built from
its parameters, so a test can check what the client sent (seed, n, stop, prompt) from what it got.
Run it standalone (``python tests/servers/openai_server.py``) to point a real client at it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

FAULTS = ("ok", "429", "500", "slow", "garbage", "drop", "context", "no_n")


class ScriptedOpenAIServer:
    """Context manager: ``with ScriptedOpenAIServer(api_key="k") as srv: srv.base_url``.

    ``supports_n=False`` mimics servers that ignore ``n`` (one choice per reply); ``echo_stop``
    mimics servers that leave the stop string in the text; ``slow_s`` is how long ``slow`` waits;
    ``delay_s`` is how long every generation takes (a model's time, so a run can be cut mid-way).
    """

    def __init__(
        self,
        api_key: str | None = None,
        models: tuple[str, ...] = ("scripted-coder",),
        supports_n: bool = True,
        echo_stop: bool = False,
        slow_s: float = 2.0,
        delay_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.models = models
        self.supports_n = supports_n
        self.echo_stop = echo_stop
        self.slow_s = slow_s
        self.delay_s = delay_s
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def queue(self, *faults: str) -> None:
        for fault in faults:
            assert fault in FAULTS, fault
        self.faults.extend(faults)

    def next_fault(self) -> str:
        with self.lock:
            return self.faults.popleft() if self.faults else "ok"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def answer(body: dict[str, Any], index: int, echo_stop: bool) -> tuple[str, str]:
    """A deterministic completion: a tiny program naming the seed and sample index it came from."""
    seed = int(body.get("seed", 0))
    text = f"def f():\n    return {seed + index}\n"
    stops = body.get("stop") or []
    if "[DONE]" in stops:
        return (text + "[DONE]" if echo_stop else text), "stop"
    words = text.split()
    limit = int(body.get("max_tokens", 16))
    return (" ".join(words[:limit]), "length" if len(words) > limit else "stop")


def _handler_for(server: ScriptedOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def log_message(self, *_: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            return False

        def do_GET(self) -> None:  # http.server's naming
            if not self._authorised():
                return
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self._authorised():
                return
            chat = self.path.rstrip("/") == "/v1/chat/completions"
            if not chat and self.path.rstrip("/") != "/v1/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            with server.lock:
                server.requests.append({"path": self.path, **body})
            self._fault_or_answer(body, chat)

        def _fault_or_answer(self, body: dict[str, Any], chat: bool) -> None:
            fault = server.next_fault()
            if fault == "429":
                self._send(429, {"error": {"message": "Rate limit reached", "type": "requests"}})
            elif fault == "500":
                self._send(500, {"error": {"message": "internal error"}})
            elif fault == "garbage":
                self._send(200, None, raw=b"<html>definitely not json</html>")
            elif fault == "drop":
                self.close_connection = True
                self.connection.close()
            elif fault == "context":
                self._send(
                    400,
                    {
                        "error": {
                            "message": "This model's maximum context length is 64 tokens",
                            "code": "context_length_exceeded",
                        }
                    },
                )
            elif fault == "no_n" or (not server.supports_n and int(body.get("n", 1)) > 1):
                self._send(400, {"error": {"message": "'n' must be 1 for this model"}})
            else:
                if fault == "slow":
                    time.sleep(server.slow_s)
                time.sleep(server.delay_s)
                self._send(200, _reply(body, chat, server.echo_stop))

    return Handler


def _reply(body: dict[str, Any], chat: bool, echo_stop: bool) -> dict[str, Any]:
    n = int(body.get("n", 1))
    choices = []
    total = 0
    for i in range(n):
        text, reason = answer(body, i, echo_stop)
        total += len(text.split())
        content = f"Here is the code:\n```python\n{text}```\n" if chat else text
        choice: dict[str, Any] = {"index": i, "finish_reason": reason}
        choice.update({"message": {"role": "assistant", "content": content}} if chat else {"text": content})
        choices.append(choice)
    return {
        "id": "cmpl-scripted",
        "object": "chat.completion" if chat else "text_completion",
        "model": body.get("model"),
        "choices": choices,
        "usage": {"prompt_tokens": 1, "completion_tokens": total, "total_tokens": total + 1},
    }


if __name__ == "__main__":  # a server a test can kill: python openai_server.py [delay_s] [--host H] [--port P]
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("delay_s", nargs="?", type=float, default=0.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with ScriptedOpenAIServer(delay_s=args.delay_s, host=args.host, port=args.port) as srv:
        print(f"serving on {srv.base_url}", flush=True)
        threading.Event().wait()
