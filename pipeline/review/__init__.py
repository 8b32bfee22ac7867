"""The review server (`threatline serve review`): acknowledge links and the review console.
Entry points: ``app.create_review_app(rt)`` and ``server.serve(settings, host, port)``.
See docs/alerts-ack-digest.md and docs/review.md."""

from pipeline.review.app import create_review_app

__all__ = ["create_review_app"]
