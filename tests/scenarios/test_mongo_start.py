"""`serve` while MongoDB does not answer: it retries with one log line per attempt, then exits 1 with one line."""

from __future__ import annotations

import json
import subprocess
import sys

from bot.mongo_wait import redact_uri, replica_set_advice
from tests.conftest import ROOT
from tests.scenarios.test_local_mode_process import free_port, local_env


def serve_without_mongodb(log_format: str) -> subprocess.CompletedProcess[str]:
    port = free_port()
    env = local_env(free_port())
    env.update(
        MONGODB_URI=f"mongodb://operator:hunter2@127.0.0.1:{port}/?replicaSet=rs0",
        MONGODB_START_TIMEOUT_SECONDS="1.5",
        LOG_FORMAT=log_format,
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_serve_retries_then_exits_with_one_line() -> None:
    result = serve_without_mongodb("text")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    retries = [line for line in lines if "MongoDB is not responding yet" in line]
    assert retries, result.stderr
    assert "Connect call failed" in retries[0]
    assert "retrying in" in retries[0]
    last = lines[-1]
    assert last.startswith("missioncontrol: MongoDB at MONGODB_URI=mongodb://operator:***@127.0.0.1:")
    assert "did not respond within 1.5 seconds (" in last
    assert "rs.initiate()" in last
    assert "hunter2" not in result.stderr


def test_serve_json_logs_fatal_error_as_json() -> None:
    result = serve_without_mongodb("json")
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert any("MongoDB is not responding yet" in record["message"] for record in records)
    assert records[-1]["level"] == "CRITICAL"
    assert "MONGODB_URI=" in records[-1]["message"]


def test_redact_uri_hides_password() -> None:
    assert redact_uri("mongodb://user:p%40ss@db:27017/x") == "mongodb://user:***@db:27017/x"
    assert redact_uri("mongodb://db:27017/?replicaSet=rs0") == "mongodb://db:27017/?replicaSet=rs0"


def test_advice_mentions_replica_set_only_when_relevant() -> None:
    assert "rs.initiate()" in replica_set_advice("mongodb://db/?replicaSet=rs0", "timed out")
    assert "rs.initiate()" not in replica_set_advice("mongodb://db/", "Connection refused")
