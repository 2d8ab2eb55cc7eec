"""Commands that read stored data, against a MONGODB_URI whose port nothing listens on: one line, exit 1.

Each command runs as a separate process, as a user runs it: pymongo's monitor can leave a socket to the
closed port for the garbage collector, which pytest would report in a later test (see tests/bot/test_check.py).
The processes run side by side, since each waits for the connect timeout (`CONNECT_TIMEOUT_SECONDS`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.conftest import ROOT

COMMANDS = [
    ["deliveries", "list", "--failed"],
    ["deliveries", "retry", "--all"],
    ["rules", "list"],
    ["rules", "add", "--team", "T0001", "--channel", "C0OPS", "--type", "system_errors"],
    ["rules", "remove", "rule_1"],
    ["rules", "export"],
    ["rotate-key"],
]


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago, so a connection to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_mongodb_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nworkspaces: []\n", encoding="utf-8")
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "MONGODB_URI": f"mongodb://operator:hunter2@127.0.0.1:{port}",
        "MISSIONCONTROL_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    commands = [*COMMANDS, ["rules", "import", str(rules)]]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", *argv],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in commands
    ]
    for argv, process in zip(commands, processes, strict=True):
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1, (argv, err)
        assert out == "", argv
        assert err.count("\n") == 1, (argv, err)
        assert err.startswith("missioncontrol: MongoDB at MONGODB_URI=mongodb://operator:***@127.0.0.1:"), err
        # The driver's one-line reason names the address, without pymongo's topology description.
        assert f"(127.0.0.1:{port}: [Errno" in err, err
        assert "hunter2" not in err
        assert "Traceback" not in err
