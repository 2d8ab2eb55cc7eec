"""The container files, parsed: Dockerfile, .dockerignore and docker-compose.yml.

No Docker engine is needed. `bench/docker_build.sh` builds and starts the image where an engine runs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.settings import Settings
from tests.conftest import ROOT

# Packages that would bring a compiler or build tools into the final image.
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "cargo", "rustc", "python3-dev", "libc6-dev")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, keyword: str) -> list[str]:
        return [argument for name, argument in self.instructions if name == keyword]


def dockerfile_stages() -> list[Stage]:
    """Parse the Dockerfile into stages of (instruction, argument), joining continued lines."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n\s*", " ", text)
    stages: list[Stage] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = argument.split()
            stages.append(Stage(base=parts[0], name=parts[2] if len(parts) > 2 else None))
        elif stages:
            stages[-1].instructions.append((keyword, argument.strip()))
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    variables: dict[str, str] = {}
    for argument in stage.values("ENV"):
        for assignment in shlex.split(argument):
            name, _, value = assignment.partition("=")
            variables[name] = value
    return variables


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


# Dockerfile.


def test_dockerfile_is_multi_stage_slim() -> None:
    stages = dockerfile_stages()

    assert len(stages) >= 2
    assert stages[-1].base.endswith("-slim"), stages[-1].base
    assert all(stage.base.startswith("python:") for stage in stages)


def test_final_stage_user_not_root() -> None:
    final = dockerfile_stages()[-1]
    users = final.values("USER")

    assert users, "the final stage sets no USER, so it would run as root"
    assert users[-1] not in {"root", "0", "0:0"}


def test_final_stage_listens_everywhere() -> None:
    variables = env_of(dockerfile_stages()[-1])

    assert variables["HOST"] == "0.0.0.0"
    assert variables["PORT"] == "3000"
    assert "3000" in dockerfile_stages()[-1].values("EXPOSE")


def test_healthcheck_uses_python_on_healthz() -> None:
    final = dockerfile_stages()[-1]
    [healthcheck] = final.values("HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())

    assert command[0] == "python"
    assert "/healthz" in command[-1]
    # The slim base has no curl, and the final stage installs none.
    assert not any("curl" in run for run in final.values("RUN"))


def test_final_stage_has_no_build_tools() -> None:
    final = dockerfile_stages()[-1]
    runs = " ".join(final.values("RUN"))

    assert "apt-get install" not in runs
    for tool in BUILD_TOOLS:
        assert not re.search(rf"\b{re.escape(tool)}\b", runs), tool


def test_dockerfile_serves() -> None:
    [command] = dockerfile_stages()[-1].values("CMD")

    assert json.loads(command) == ["missioncontrol", "serve"]


def test_copied_paths_exist_and_not_ignored() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    build = dockerfile_stages()[0]
    sources = []
    for argument in build.values("COPY"):
        parts = [part for part in argument.split() if not part.startswith("--")]
        sources.extend(parts[:-1])

    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    for secret_file in (".env", ".git", ".venv"):
        assert secret_file in ignored


# docker-compose.yml.


def test_compose_mongo_is_replica_set() -> None:
    services = load_compose()["services"]
    mongo = services["mongo"]

    assert mongo["image"] == "mongo:7"
    assert mongo["command"][mongo["command"].index("--replSet") + 1] == "rs0"
    assert "healthcheck" in mongo
    init = " ".join(services["mongo-init"]["command"])
    assert 'rs.initiate({_id: "rs0", members: [{_id: 0, host: "mongo:27017"}]})' in init
    assert services["mongo-init"]["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_compose_bot_waits_for_init() -> None:
    bot = load_compose()["services"]["bot"]

    assert bot["build"] == "."
    assert bot["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
    assert bot["environment"]["MONGODB_URI"] == "mongodb://mongo:27017/?replicaSet=rs0"


def test_compose_variables_are_settings() -> None:
    environment = load_compose()["services"]["bot"]["environment"]

    unknown = sorted(set(environment) - set(Settings.model_fields))
    assert unknown == []
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    undocumented = sorted(name for name in environment if f"`{name}`" not in operations)
    assert undocumented == []


def test_compose_passes_every_setting() -> None:
    environment = load_compose()["services"]["bot"]["environment"]
    image_env = env_of(dockerfile_stages()[-1])

    missing = sorted(name for name in Settings.model_fields if name not in environment and name not in image_env)
    assert missing == []


def test_compose_requires_events_secret() -> None:
    environment = load_compose()["services"]["bot"]["environment"]

    assert environment["MISSIONCONTROL_EVENTS_SECRET"].startswith("${MISSIONCONTROL_EVENTS_SECRET:?")


def test_compose_publishes_on_loopback_by_default() -> None:
    ports = load_compose()["services"]["bot"]["ports"]

    assert ports == ["${BIND_ADDRESS:-127.0.0.1}:${PORT:-3000}:3000"]


def test_compose_init_waits_for_primary() -> None:
    init = " ".join(load_compose()["services"]["mongo-init"]["command"])

    assert "db.hello().isWritablePrimary" in init
    assert "quit(1)" in init


def test_compose_comment_matches_local_mode() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")

    assert "starts with no rules" in text
    assert "prints messages to its log" not in text
