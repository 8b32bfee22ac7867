"""``threatline serve review``: the review server on uvicorn, access logs off (the URL of an
acknowledge link is a credential). Serving is the tip line's generic code."""

from __future__ import annotations

from pipeline.bootstrap import runtime
from pipeline.config import Settings
from pipeline.review.app import create_review_app
from pipeline.tipline.server import uvicorn_server


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGTERM/Ctrl-C; host and port default to ``settings.review``."""
    with runtime(settings) as rt:
        rt.setup()  # a brand-new data dir needs no `threatline setup` first
        server = uvicorn_server(create_review_app(rt), host=host or settings.review.host,
                                port=port or settings.review.port)
        server.run()
