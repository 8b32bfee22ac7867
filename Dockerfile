# threatline image: `docker build -t threatline:0.1.0 .` (docker compose builds it for you).
# Two stages: the build stage turns the source into a virtualenv; the runtime stage carries only
# that virtualenv and the models, and runs as a non-root user.
#
# No config in any layer: config/roster.yaml holds channel credentials, and a layer (the build
# stage's too: the build cache, a cache export) keeps whatever was copied into it. The container
# reads its config from a read-only mount at /app/config (docker-compose.yml mounts ./config);
# without one it stops at start with "config error: /app/config/threatline.yaml: file not found".

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the package build needs, named one by one (.dockerignore lets nothing else in either).
COPY pyproject.toml README.md LICENSE ./
COPY pipeline ./pipeline
COPY flows ./flows
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    THREATLINE_CONFIG=/app/config/threatline.yaml \
    THREATLINE_GENERAL__DATA_DIR=/app/data \
    # Prefect's runner webserver answers /health while serve() keeps polling the Prefect server
    # (the escalation sweep runs there); the HEALTHCHECK below asks it. Loopback only (it can also
    # start and stop flow runs) and off the tip-line/review ports 8080/8081.
    PREFECT_RUNNER_SERVER_ENABLE=true \
    PREFECT_RUNNER_SERVER_HOST=127.0.0.1 \
    PREFECT_RUNNER_SERVER_PORT=8090
RUN groupadd --system --gid 10001 threatline \
    && useradd --system --uid 10001 --gid threatline --home-dir /app/data --no-create-home --shell /usr/sbin/nologin threatline
COPY --from=build /opt/venv /opt/venv
# Data and models are written by the service (models by retraining); config is mounted read-only.
COPY --chown=threatline:threatline models /app/models
RUN mkdir -p /app/data /app/config && chown threatline:threatline /app/data && chmod 0700 /app/data
WORKDIR /app
USER threatline
VOLUME ["/app/data", "/app/models"]
EXPOSE 8080 8081
# Fits the default command (`run`): the tip line's and the review server's /readyz (bus, store,
# tip threads and every stage heartbeating) and Prefect's runner (pipeline/healthcheck.py). A
# container running only `serve tipline` or `serve review` overrides it with
# `python -m pipeline.healthcheck tipline` (or `review`). One-shots (`setup`) end before it matters.
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
    CMD ["python", "-m", "pipeline.healthcheck"]
ENTRYPOINT ["threatline"]
CMD ["run"]
