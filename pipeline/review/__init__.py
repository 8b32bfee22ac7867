"""The review server (`threatline serve review`): acknowledge links now; the SRO console joins it
in issue 6. Entry points: ``app.create_review_app(rt)`` and ``server.serve(settings, host, port)``.
See docs/alerts-ack-digest.md."""

from pipeline.review.app import create_review_app

__all__ = ["create_review_app"]
