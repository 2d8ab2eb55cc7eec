#!/usr/bin/env bash
# Set up on first use, then run the test suite: `./scripts/test.sh [pytest options]`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
exec .venv/bin/python -m pytest "$@"
