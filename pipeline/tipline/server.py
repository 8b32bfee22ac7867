"""``threatline serve tipline``: uvicorn with access logs off, so no client address is ever logged."""

from __future__ import annotations

import uvicorn

from pipeline.bootstrap import runtime
from pipeline.config import Settings
from pipeline.tipline.app import TiplineOptions, create_app


def uvicorn_server(app, host: str = "127.0.0.1", port: int = 8080) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, access_log=False, server_header=False,
                            proxy_headers=False, log_level="warning", lifespan="on")
    return uvicorn.Server(config)


def serve(settings: Settings, host: str, port: int, options: TiplineOptions | None = None) -> None:
    with runtime(settings) as rt:
        rt.bus.setup([settings.topic("tips.raw")])
        uvicorn_server(create_app(rt, options=options), host=host, port=port).run()
