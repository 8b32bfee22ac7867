# threatline image: `docker build -t threatline:0.1.0 .` (docker compose builds it for you).
# Two stages: the build stage turns the source into a virtualenv; the runtime stage carries only
# that virtualenv, the config and the models, and runs as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The context is filtered by .dockerignore (no .venv, data, tests, .git, .env).
COPY . .
RUN /opt/venv/bin/pip install . \
    # models/ may be empty (git does not keep empty folders): make sure the runtime COPY finds it.
    && mkdir -p /src/models

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    THREATLINE_CONFIG=/app/config/threatline.yaml \
    THREATLINE_GENERAL__DATA_DIR=/app/data \
    # Prefect's runner webserver answers /health while serve() keeps polling the Prefect server;
    # the HEALTHCHECK below asks it. Loopback only (it can also start and stop flow runs) and off
    # the tip-line/review ports 8080/8081.
    PREFECT_RUNNER_SERVER_ENABLE=true \
    PREFECT_RUNNER_SERVER_HOST=127.0.0.1 \
    PREFECT_RUNNER_SERVER_PORT=8090
RUN groupadd --system --gid 10001 threatline \
    && useradd --system --uid 10001 --gid threatline --home-dir /app/data --no-create-home --shell /usr/sbin/nologin threatline
COPY --from=build /opt/venv /opt/venv
# Config is read-only to the service; data and models are written by it (models by retraining).
COPY --from=build /src/config /app/config
COPY --from=build --chown=threatline:threatline /src/models /app/models
RUN mkdir -p /app/data && chown threatline:threatline /app/data
WORKDIR /app
USER threatline
VOLUME ["/app/data", "/app/models"]
EXPOSE 8080 8081
# Fits the default command (`run`). One-shot commands (`setup`) end before it matters; a
# container running only `serve tipline|review` should override it with a probe of its port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['PREFECT_RUNNER_SERVER_PORT'], timeout=4)"]
ENTRYPOINT ["threatline"]
CMD ["run"]
