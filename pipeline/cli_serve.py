"""`threatline serve tipline|review`: the web apps, each on its own host and port."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.cli import ConfigOption, app, settings

serve_app = typer.Typer(help="Serve a web app.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")


@serve_app.command("tipline")
def serve_tipline(host: Annotated[Optional[str], typer.Option("--host", help="default: tipline.host")] = None,
                  port: Annotated[Optional[int], typer.Option("--port", help="default: tipline.port")] = None,
                  config: ConfigOption = None) -> None:
    """Serve the anonymous tip line (form at /, JSON API at /api/tips) until SIGTERM/Ctrl-C."""
    from pipeline.tipline.server import serve

    serve(settings(config), host, port)


@serve_app.command("review")
def serve_review(host: Annotated[Optional[str], typer.Option("--host", help="default: review.host")] = None,
                 port: Annotated[Optional[int], typer.Option("--port", help="default: review.port")] = None,
                 config: ConfigOption = None) -> None:
    """Serve the review server (the review console at /, acknowledge links at /ack/<token>) until SIGTERM/Ctrl-C."""
    from pipeline.review.server import serve

    serve(settings(config), host, port)
