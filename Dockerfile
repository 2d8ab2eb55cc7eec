# Mission Control for Slack: the bot as a container image.
#
#   docker build -t missioncontrol-slack .
#   docker run --rm -p 3000:3000 missioncontrol-slack          # local mode: messages go to the log
#
# docker-compose.yml runs it next to MongoDB; docs/operations.md lists the variables.

ARG PYTHON_VERSION=3.11

# Build stage: a virtual environment with the project and its dependencies. Every dependency ships
# manylinux wheels for this base, so no compiler is installed here either.
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md manifest.yml ./
COPY bot ./bot
COPY handlers ./handlers
COPY houston ./houston
COPY storage ./storage
COPY views ./views
COPY examples ./examples
# An editable install, because the code reads manifest.yml (check, manifest) and examples/ (local mode)
# beside its packages; the final stage keeps both paths unchanged.
RUN /opt/venv/bin/pip install --editable . \
    && find /app -name "__pycache__" -prune -exec rm -rf {} +

# Final stage: the slim base, the environment and the source, run as an unprivileged user. The code is
# read-only for that user, so matplotlib (digest charts) keeps its cache under /tmp.
FROM python:${PYTHON_VERSION}-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 missioncontrol \
    && useradd --system --uid 10001 --gid missioncontrol --home-dir /app --shell /usr/sbin/nologin missioncontrol
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
USER missioncontrol
EXPOSE 3000
# The slim image has no curl: the check uses Python's standard library against /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=4).status == 200 else 1)"]
CMD ["missioncontrol", "serve"]
