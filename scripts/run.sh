#!/usr/bin/env bash
# Set up on first use, then run the bot: `./scripts/run.sh [serve options]`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
exec .venv/bin/missioncontrol serve "$@"
