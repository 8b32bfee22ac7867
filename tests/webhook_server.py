"""The webhook receiver the tests use lives with the demo that also needs it."""

from pipeline.alerts.inbox import Recorder, webhook_server

__all__ = ["Recorder", "webhook_server"]
