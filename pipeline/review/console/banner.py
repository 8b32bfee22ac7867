"""The admin banner: what an administrator must look at, at the top of every console page.

Two things: dead letters nobody has replayed yet (``pipeline.dead_letters``; the count only, no
content, so showing it is not audited) and stages stuck retrying or gone silent
(``pipeline.stage_health``). Other roles never see it. Counting dead letters reads the whole
``dlq`` topic, so the count is cached for ``ttl_s`` and refreshed in the background: a page waits
for it only the first time, and then at most ``wait_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("threatline.review")

TTL_S = 30.0
FIRST_WAIT_S = 2.0


@dataclass(frozen=True)
class Banner:
    dead_letters: int = 0          # waiting, not replayed
    count_error: str = ""          # the count could not be had: why (one line)
    stages: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.dead_letters or self.count_error or self.stages)


class CachedCount:
    """``count()`` at most every ``ttl_s``; stale values are served while a refresh runs."""

    def __init__(self, count: Callable[[], int], *, ttl_s: float = TTL_S, wait_s: float = FIRST_WAIT_S,
                 clock: Callable[[], float] = time.monotonic):
        self._count, self.ttl_s, self.wait_s, self._clock = count, ttl_s, wait_s, clock
        self._lock = threading.Lock()
        self._value: tuple[int, str] | None = None
        self._at = 0.0
        self._refresh: threading.Thread | None = None

    def get(self) -> tuple[int, str]:
        """(count, error): the latest count, or 0 and why it could not be had."""
        with self._lock:
            stale = self._value is None or self._clock() - self._at >= self.ttl_s
            if stale and (self._refresh is None or not self._refresh.is_alive()):
                self._refresh = threading.Thread(target=self._run, name="dlq-count", daemon=True)
                self._refresh.start()
            refresh, first = self._refresh, self._value is None
        if first and refresh is not None:
            refresh.join(self.wait_s)
        with self._lock:
            return self._value if self._value is not None else (0, "")

    def _run(self) -> None:
        try:
            value = (self._count(), "")
        except Exception as exc:  # noqa: BLE001 - the banner says so; pages must still load
            log.warning("console banner: cannot count dead letters: %s", exc)
            value = (0, " ".join(str(exc).split())[:300] or type(exc).__name__)
        with self._lock:
            self._value, self._at = value, self._clock()


class AdminBanner:
    def __init__(self, count: Callable[[], int], stage_problems: Callable[[], list[str]], **cache):
        self.count = CachedCount(count, **cache)
        self.stage_problems = stage_problems

    def current(self) -> Banner:
        """Call it off the event loop: it may read files and wait for the first count."""
        waiting, error = self.count.get()
        try:
            stages = list(self.stage_problems())
        except OSError as exc:
            stages = [f"stage health files unreadable: {exc}"]
        return Banner(dead_letters=waiting, count_error=error, stages=stages)
