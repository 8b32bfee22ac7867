"""The anonymous two-way tip line: form, JSON API, passphrase-protected threads (DESIGN.md §4).

Entry points: ``server.serve(settings, host, port)`` (``threatline serve tipline``),
``server.uvicorn_server(app, host, port)`` + ``app.create_app(rt)`` (embedding it),
``retention.purge_threads(settings)`` (the scheduled purge), and ``threads.ThreadStore`` for
staff replies from the review console. See docs/tipline.md.
"""

from pipeline.tipline.app import create_app

__all__ = ["create_app"]
