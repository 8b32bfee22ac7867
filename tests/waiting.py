"""Waiting in tests for something another process or thread does."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 60, interval: float = 0.02) -> bool:
    """True as soon as ``predicate()`` is; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
