"""The HTML report of a real run, opened in headless Chromium (Debian's ``chromium`` package; the CI
script installs it): the headline numbers are on the page, clicking a task opens its view, and no
request leaves the page. A screenshot is saved (``$PROGSYNTH_SCREENSHOT_DIR``, else the test's tmp
dir) for a person to look at.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages
ending in NUL on fds 3 and 4), so no driver package, browser download or TCP port is needed.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_data import report_runs  # noqa: F401 - the shared session fixture

from progsynth.report.html import write_report
from progsynth.report.load import RunData

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--remote-debugging-pipe", "--window-size=1280,1600"]


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe, every wait bounded."""

    def __init__(self, user_dir: Path, timeout: float = 30.0) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        assert exe, "chromium is missing: scripts/test.sh installs Debian's chromium package"
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        # bash (dash takes one-digit fds only) puts the pipes on fds 3 and 4 for --remote-debugging-pipe
        wire = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w}'
        self.proc = subprocess.Popen(["bash", "-c", wire, exe, *FLAGS, f"--user-data-dir={user_dir}", "about:blank"],
                                     pass_fds=(to_child_r, from_child_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.timeout = timeout
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, "chromium did not answer in time"
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                assert chunk, "chromium closed the debugging pipe"
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> dict[str, Any]:
        """Call a DevTools method and wait for its answer; events that arrive meanwhile are kept."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def evaluate(self, expression: str) -> Any:
        out = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        assert "exceptionDetails" not in out, out["exceptionDetails"]
        return out["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 15.0) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")

    def open_page(self) -> None:
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the element's centre, as a person would."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                            "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def requests(self) -> list[str]:
        return [ev["params"]["request"]["url"] for ev in self.events if ev.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(tmp_path / "chromium-profile")
    try:
        b.open_page()
        yield b
    finally:
        b.close()


def _shot_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("PROGSYNTH_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.slow
def test_report_opens_in_chromium(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    runs: tuple[RunData, RunData] = request.getfixturevalue("report_runs")
    reference, handmade = runs
    files = write_report([handmade, reference], tmp_path / "report.html")
    url = files.html.resolve().as_uri()
    browser.send("Page.navigate", {"url": url})
    browser.wait_event("Page.loadEventFired")
    text = browser.evaluate("document.body.innerText")
    assert handmade.results is not None
    for run in (handmade, reference):
        assert run.results is not None
        pass1 = run.results.overall.metrics["pass@1"].value
        assert f"{100 * pass1:.1f}%" in text, f"headline pass@1 of {run.label} missing"
    assert "samples that pass" in text and "tasks solved (any sample)" in text
    assert browser.evaluate("document.querySelectorAll('#task-table tbody tr').length") == len(handmade.tasks)
    assert browser.evaluate("document.getElementById('hardcoded-0').textContent.trim()") != "0"
    assert browser.evaluate("document.getElementById('challenge-misses-0').textContent.trim()") != "0"

    visible = "Array.from(document.querySelectorAll('#task-table tbody tr')).filter(r => !r.hidden).map(r => r.dataset.task)"
    choose = "{{ const f = document.getElementById('task-flag'); f.value = '{}'; f.dispatchEvent(new Event('change')); }}"
    browser.evaluate(choose.format("hardcoded"))
    assert browser.evaluate(visible) == ["Mbpp/11"]
    browser.evaluate(choose.format(""))
    browser.click("#task-table thead th:nth-child(3)")  # the hand-made run's "passed" column: ascending
    assert browser.evaluate(visible)[-1] == "Mbpp/11"  # the only task with 3 of 3 passing
    browser.click('#task-table tbody tr[data-task="Mbpp/11"]')
    assert browser.wait_for("(document.getElementById('task-title') || {}).textContent") == "Mbpp/11"
    assert browser.evaluate("document.getElementById('task-view').hidden") is False
    view = browser.evaluate("document.getElementById('task-body').innerText")
    assert "Reference solution" in view and "remove_Occ" in view and "hard-coded" in view
    assert browser.evaluate("document.querySelectorAll('#task-body .tk-kw').length") > 0  # highlighted
    shot = browser.send("Page.captureScreenshot", {"format": "png"})
    (_shot_dir(tmp_path) / "report-task-view.png").write_bytes(base64.b64decode(shot["data"]))

    browser.click("#task-close")
    browser.wait_for("document.getElementById('task-view').hidden")
    browser.send("Runtime.evaluate", {"expression": "window.scrollTo(0, 0)"})
    shot = browser.send("Page.captureScreenshot", {"format": "png"})
    (_shot_dir(tmp_path) / "report-top.png").write_bytes(base64.b64decode(shot["data"]))

    outside = [u for u in browser.requests() if u != url and not u.startswith("data:")]
    assert outside == [], f"the page made requests: {outside}"
