"""Per-client rate limit that cannot be turned into a log of who visited.

Fixed windows: each window has a fresh random salt, and clients are counted under
``blake2b(salt, address)``. When the window ends the counts and the salt are thrown away, so
nothing kept in memory links an address to earlier activity for longer than one window.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._window_end = 0.0
        self._salt = b""
        self._counts: dict[bytes, int] = {}

    def hit(self, client: str) -> float | None:
        """Count one request; None if allowed, else seconds until the client may retry."""
        with self._lock:
            now = self._clock()
            if now >= self._window_end:
                self._window_end = now + self.window_s
                self._salt = secrets.token_bytes(16)
                self._counts = {}
            key = hashlib.blake2b(client.encode("utf-8", "replace"), key=self._salt, digest_size=16).digest()
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            if count > self.limit:
                return max(1.0, math.ceil(self._window_end - now))
            return None

    def tracked(self) -> int:
        """How many clients the current window remembers (for tests of forgetting)."""
        with self._lock:
            return 0 if self._clock() >= self._window_end else len(self._counts)
