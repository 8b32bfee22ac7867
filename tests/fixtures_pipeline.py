"""Fixtures for pipeline-level tests: settings on a temporary data dir, and a runtime on them."""

from __future__ import annotations

import pytest

from pipeline.config import DEFAULT_CONFIG, load_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """The shipped config on embedded backends in a fresh data dir, with quick polls."""
    for key in list(__import__("os").environ):
        if key.startswith("THREATLINE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("THREATLINE_GENERAL__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("THREATLINE_STAGES__POLL_TIMEOUT_S", "0.1")
    monkeypatch.setenv("THREATLINE_STAGES__IDLE_POLLS_BEFORE_EXIT", "1")
    monkeypatch.setenv("THREATLINE_STAGES__BACKOFF_INITIAL_S", "0.05")
    monkeypatch.setenv("THREATLINE_STAGES__BACKOFF_MAX_S", "0.2")
    monkeypatch.setenv("THREATLINE_ALERTS__DELIVERY_BACKOFF_S", "0")
    return load_settings(DEFAULT_CONFIG)
