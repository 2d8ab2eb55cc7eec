"""Local mode as a user meets it: `missioncontrol serve` in a real process, `send-event` in another."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_env(port: int) -> dict[str, str]:
    # Only what a fresh shell has: no Slack credentials, no MongoDB, no events secret.
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(PORT=str(port), PYTHONUNBUFFERED="1")
    return env


def wait_until_listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"serve did not listen on port {port} within {STARTUP_TIMEOUT} seconds")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Path]]:
    # One server for the module: starting a Python process is most of each test's time.
    tmp_path = tmp_path_factory.mktemp("serve")
    port = free_port()
    stdout_path = tmp_path / "stdout.txt"
    stderr_path = tmp_path / "stderr.txt"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=ROOT,
            env=local_env(port),
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        try:
            wait_until_listening(port, process)
            yield port, stdout_path, stderr_path
        finally:
            process.terminate()
            assert process.wait(timeout=15) == 0, stderr_path.read_text()


def send_event(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "send-event", *args],
        cwd=ROOT,
        env=local_env(port),
        capture_output=True,
        text=True,
        timeout=30,
    )


def wait_for_text(path: Path, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text()
        if needle in text:
            return text
        time.sleep(0.02)
    raise AssertionError(f"{needle!r} did not appear within {timeout} seconds; output so far:\n{path.read_text()}")


def test_send_event_prints_outlier_within_a_second(server: tuple[int, Path, Path]) -> None:
    port, stdout_path, stderr_path = server
    started = time.monotonic()
    result = send_event(port, "--new-id", "examples/events/outlier_detected.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("202")
    assert '"accepted": 1' in result.stdout
    output = wait_for_text(stdout_path, "[Ask Houston]", timeout=1.0)
    assert time.monotonic() - started < 5  # the process start of send-event itself is most of this
    assert "C0ALERTS" in output
    assert '"action_id": "houston_ask_outlier"' in output
    # Logs go to standard error, messages to standard output.
    assert "Local mode" in stderr_path.read_text()
    assert "Local mode" not in output


def test_send_event_twice_without_new_id_is_duplicate(server: tuple[int, Path, Path]) -> None:
    port, _, _ = server
    first = send_event(port, "examples/events/task_failed.json")
    second = send_event(port, "examples/events/task_failed.json")
    assert '"accepted": 1' in first.stdout
    assert '"duplicates": 1' in second.stdout
    assert second.returncode == 0


def test_send_event_reports_bad_event(server: tuple[int, Path, Path], tmp_path: Path) -> None:
    port, _, _ = server
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "e1", "type": "outlier.exploded"}', encoding="utf-8")
    result = send_event(port, str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith("400")
    assert "type" in result.stdout
