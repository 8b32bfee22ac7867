"""``GET /metrics`` on the review server: every threatline metric in Prometheus's text format
(pipeline/metrics.py; docs/operations.md, "Metrics").

The metrics carry no item text, id, author or school, only counts by severity, category, stage
and channel type, and the model version. Counts of threats by severity are still nobody's
business outside operations, and this server is the one published through the reverse proxy.
So there is no login (Prometheus scrapes without one) but the route answers only a TCP peer in
``review.metrics_from`` (empty, the default: nobody), and never a request that came through a
proxy (it carries X-Forwarded-For or Forwarded): a public request relayed by a proxy on this
host would otherwise arrive from an allowed loopback address. Everyone else gets the plain 404
of an address that does not exist.
"""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from pipeline import metrics, stage_health
from pipeline.bootstrap import STAGE_NAMES, Runtime
from pipeline.dead_letters import DeadLetters

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def install_metrics(app: FastAPI, rt: Runtime) -> None:
    settings = rt.settings
    allowed = [ipaddress.ip_network(n, strict=False) for n in settings.review.metrics_from]
    state = metrics.PipelineState(
        lag=lambda: {name: rt.lag(name) for name in STAGE_NAMES},
        dead_letters=lambda: DeadLetters(rt.bus, rt.store, settings, via="metrics").waiting(),
        health=lambda: stage_health.read_all(settings.data_dir), stages=STAGE_NAMES)

    def may_scrape(request: Request) -> bool:
        if not allowed or any(h in request.headers for h in FORWARDING_HEADERS) or request.client is None:
            return False
        try:
            peer = ipaddress.ip_address(request.client.host)
        except ValueError:
            return False
        return any(peer in network for network in allowed)

    @app.get("/metrics", include_in_schema=False)
    async def scrape(request: Request):
        if not may_scrape(request):
            raise HTTPException(404)
        body = await run_in_threadpool(metrics.exposition, state)  # reads the bus and files
        return Response(body, media_type=metrics.CONTENT_TYPE)
