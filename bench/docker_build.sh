#!/usr/bin/env bash
# Build the container image, then start it in local mode and wait for its HEALTHCHECK to pass.
# Prints the build time, the image size and the user it runs as. Needs a Docker engine, and network
# access for the python:3.11-slim base image, so the default test run does not call it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  echo "No Docker engine is reachable (docker info failed): start one, or run this where one runs." >&2
  exit 2
fi
tag="${1:-missioncontrol-slack:bench}"
started=$(date +%s)
docker build --tag "$tag" .
echo "build: $(( $(date +%s) - started )) s"
echo "image size: $(docker image inspect --format '{{.Size}}' "$tag") bytes"
echo "runs as uid: $(docker run --rm --entrypoint id "$tag" -u)"

container=$(docker run --detach --publish 127.0.0.1::3000 "$tag")
trap 'docker rm --force "$container" >/dev/null' EXIT
for _ in $(seq 1 60); do
  health=$(docker inspect --format '{{.State.Health.Status}}' "$container")
  if [ "$health" = "healthy" ]; then
    echo "health: healthy"
    exit 0
  fi
  sleep 2
done
echo "health: $health after 120 s; the container log follows" >&2
docker logs "$container" >&2
exit 1
