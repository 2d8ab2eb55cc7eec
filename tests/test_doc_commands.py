"""Every shell command in the README and docs/ is checked: parsed, run, or matched to what it names.

The commands come from fenced blocks marked sh, bash, shell or console, and from indented code lines that
start with `missioncontrol`. Each is checked by its program:

- `missioncontrol …` (also `.venv/bin/missioncontrol`, `python -m bot`): parsed by the real argument parser;
  `manifest`, `schema`, `check` and `grant` also run, because they need no server.
- `./scripts/*.sh`: the script exists; `test.sh` is what `.ci/run` runs, `run.sh` runs with `--help`.
- `export NAME=…` and leading `NAME=…`: each upper-case name is a setting the bot reads.
- `docker compose …`: the compose file exists, the service it names is defined, and a `missioncontrol`
  command run in a container is checked as above. Docker itself is not run: the build needs a Docker engine
  and network access for the base image (`bench/docker_build.sh` does both where they exist).
- `python -c …`: runs.
- The curl and openssl example is run as a whole against a bot on 127.0.0.1, and must be accepted.

A command no rule covers fails the test, so a new kind of command in the docs needs a check here first.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser, main
from bot.settings import Settings
from tests.conftest import ROOT, BotFactory

DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
# Lower-case shell variables set by a multi-line example; the example is run as a whole.
SHELL_ASSIGNMENT = re.compile(r"^[a-z_][a-z0-9_]*=")
MISSIONCONTROL = ("missioncontrol", ".venv/bin/missioncontrol")
# Subcommands that need no server and change nothing, so the test runs them.
RUNNABLE = {"manifest", "schema", "check", "grant"}


@dataclass(frozen=True)
class DocCommand:
    path: Path
    line: int
    text: str
    block: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"


def shell_blocks(path: Path) -> list[tuple[int, list[str]]]:
    """Return the fenced shell blocks of a Markdown file: the first line number and the lines."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    indent = 0
    start = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if current is None and fence and fence.group(2) in SHELL_LANGUAGES:
            current, indent, start = [], len(fence.group(1)), number + 1
        elif current is not None and fence:
            blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line[indent:])
    return blocks


def indented_commands(path: Path) -> list[DocCommand]:
    """Return the `missioncontrol` lines of indented code blocks (four spaces, outside fenced blocks)."""
    commands = []
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("    missioncontrol "):
            commands.append(DocCommand(path, number, line.strip(), (line.strip(),)))
    return commands


def doc_commands() -> list[DocCommand]:
    """Return every command of every shell block, with continued lines joined and comments dropped."""
    commands = []
    for path in DOC_FILES:
        commands.extend(indented_commands(path))
        for start, lines in shell_blocks(path):
            joined: list[tuple[int, str]] = []
            pending = ""
            for offset, line in enumerate(lines):
                pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
                if not line.endswith("\\"):
                    joined.append((start + offset, pending.strip()))
                    pending = ""
            block = tuple(text for _, text in joined if text and not text.startswith("#"))
            for number, text in joined:
                if text and not text.startswith("#"):
                    commands.append(DocCommand(path, number, text, block))
    return commands


def words_of(text: str) -> list[str]:
    """Split a command line, dropping comments and anything after a redirection or a pipe."""
    words = []
    for word in shlex.split(text, comments=True):
        if word in {">", "<", "|", "&&", ";"}:
            break
        words.append(word)
    return words


def check_settings_names(names: list[str], where: DocCommand) -> None:
    unknown = [name for name in names if name.isupper() and name not in Settings.model_fields]
    assert unknown == [], f"{where}: not a setting: {unknown}"


def check_missioncontrol(arguments: list[str], where: DocCommand, monkeypatch: pytest.MonkeyPatch) -> str:
    """Parse a `missioncontrol` command line; run it when it is safe offline. Return how it was checked."""
    # A synopsis marks optional parts with brackets, such as `send-event FILE [--url URL]`.
    arguments = [word.strip("[]") for word in arguments if word.strip("[]")]
    try:
        build_parser().parse_args(arguments)
    except SystemExit as error:
        if arguments[-1:] == ["--help"] and error.code == 0:
            return "help"
        raise AssertionError(f"{where}: the argument parser rejects it") from None
    if arguments[0] not in RUNNABLE:
        return "parsed"
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MISSIONCONTROL_INSTALL_SECRET", "doc-install-secret")
    monkeypatch.chdir(ROOT)
    code = main(arguments)
    assert code == 0, f"{where}: exited with {code}"
    return "run"


def check_docker(words: list[str], where: DocCommand, monkeypatch: pytest.MonkeyPatch) -> str:
    assert words[:2] == ["docker", "compose"], f"{where}: only docker compose commands are documented"
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    rest = [word for word in words[2:] if not word.startswith("-")]
    action = rest[0]
    assert action in {"up", "run", "exec"}, f"{where}: unknown compose action {action}"
    if action == "up":
        targets = rest[1:]
        assert all(target in services for target in targets), f"{where}: unknown service in {targets}"
        return "compose file checked"
    service, command = rest[1], words[words.index(rest[1]) + 1 :]
    assert service in services, f"{where}: no service {service}"
    if command[0] == "missioncontrol":
        return check_missioncontrol(command[1:], where, monkeypatch) + " (in the bot container)"
    assert command[0] in {"mongodump", "mongorestore", "mongosh"}, f"{where}: unknown tool {command[0]}"
    assert services[service]["image"].startswith("mongo:"), f"{where}: {service} is not the MongoDB service"
    return "compose service checked"


def check_script(words: list[str], where: DocCommand) -> str:
    script = ROOT / words[0]
    assert script.is_file(), f"{where}: {script} does not exist"
    assert os.access(script, os.X_OK), f"{where}: {script} is not executable"
    if words[0] == "./scripts/test.sh":
        assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
        return "run by .ci/run"
    result = subprocess.run([str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{where}: --help exited with {result.returncode}: {result.stderr}"
    return "run with --help"


def check_command(command: DocCommand, monkeypatch: pytest.MonkeyPatch) -> str:
    """Check one command by its program; return how, or raise AssertionError naming the command."""
    if SHELL_ASSIGNMENT.match(command.text) or command.text.startswith(("curl ", "|")):
        assert any(line.startswith("curl ") for line in command.block), f"{command}: not part of the curl example"
        return "run with the curl example"
    words = words_of(command.text)
    if words[0] == "export":
        check_settings_names([word.partition("=")[0] for word in words[1:]], command)
        return "names checked"
    while words and re.match(r"^[A-Z_]+=", words[0]):
        check_settings_names([words.pop(0).partition("=")[0]], command)
    if words[0] in MISSIONCONTROL:
        return check_missioncontrol(words[1:], command, monkeypatch)
    if words[:3] in (["python", "-m", "bot"], [".venv/bin/python", "-m", "bot"]):
        return check_missioncontrol(words[3:], command, monkeypatch)
    if words[:2] == ["python", "-c"]:
        result = subprocess.run([sys.executable, "-c", words[2]], capture_output=True, timeout=60, check=False)
        assert result.returncode == 0, f"{command}: exited with {result.returncode}"
        return "run"
    if words[0].startswith("./scripts/"):
        return check_script(words, command)
    if words[0] == "docker":
        return check_docker(words, command, monkeypatch)
    raise AssertionError(f"{command}: no check covers this program; add one to tests/test_doc_commands.py")


def test_docs_have_commands() -> None:
    commands = doc_commands()
    files = {command.path.name for command in commands}

    assert {"README.md", "operations.md", "troubleshooting.md"} <= files
    assert len(commands) >= 15


def test_every_doc_command_checked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = {}
    for command in doc_commands():
        with monkeypatch.context() as scoped:
            outcomes[str(command)] = check_command(command, scoped)
        capsys.readouterr()

    run = [command for command, outcome in outcomes.items() if outcome.startswith("run")]
    assert run, outcomes


def test_unknown_program_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    command = DocCommand(ROOT / "README.md", 1, "make deploy", ("make deploy",))

    with pytest.raises(AssertionError, match="no check covers this program"):
        check_command(command, monkeypatch)


def test_wrong_option_rejected(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    command = DocCommand(ROOT / "README.md", 1, "missioncontrol rules export --teams T1", ())

    with pytest.raises(AssertionError, match="argument parser rejects it"):
        check_command(command, monkeypatch)


async def test_curl_example_accepted(start_bot: BotFactory, tmp_path: Path) -> None:
    [block] = [block for command in doc_commands() for block in [command.block] if command.text.startswith("curl ")]
    bot = await start_bot({"MISSIONCONTROL_EVENTS_SECRET": "example-secret"})
    base_url = str(bot.http.make_url("")).rstrip("/")
    script = "\n".join(block).replace("http://127.0.0.1:3000", base_url)
    assert script != "\n".join(block), "the example no longer posts to http://127.0.0.1:3000"

    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, stderr.decode()
    assert json.loads(stdout) == {"accepted": 1, "duplicates": 0}
