"""SIGTERM to a real `missioncontrol serve` while events arrive: it stops accepting and exits 0 within the timeout.

Local mode (no Slack credentials, in-memory store) keeps the process self-contained; that the accepted
events survive the stop is shown in-process by test_graceful_shutdown.py, because the in-memory store ends
with the process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.server import SHUTDOWN_TIMEOUT_SECONDS
from bot.settings import LOCAL_EVENTS_SECRET
from bot.signing import signed_headers
from tests.conftest import ROOT
from tests.scenarios.load import outlier_events
from tests.scenarios.test_local_mode_process import free_port, local_env, wait_until_listening


def post(port: int, events: list[dict[str, object]]) -> int:
    body = json.dumps({"events": events}).encode()
    headers = {**signed_headers(LOCAL_EVENTS_SECRET, body, now=time.time()), "Content-Type": "application/json"}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/platform/events", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_sigterm_during_load_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=ROOT,
            env=local_env(port),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
        try:
            wait_until_listening(port, process)
            events = outlier_events(200, prefix="term")
            statuses = [post(port, events[start : start + 50]) for start in range(0, 200, 50)]
            assert statuses == [202, 202, 202, 202]
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS + 10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    log = stderr_path.read_text()
    assert code == 0, log
    assert "Shutting down" in log
    assert "Stopped" in log
    assert "Traceback" not in log
