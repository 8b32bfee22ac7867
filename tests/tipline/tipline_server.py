"""A real uvicorn tip line on 127.0.0.1 and an ephemeral port, over a given runtime."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from pipeline.bootstrap import Runtime
from pipeline.bus import Bus
from pipeline.tipline import create_app
from pipeline.tipline.server import in_background
from pipeline.tipline.threads import SqliteThreadStore


def read_topic(bus: Bus, topic: str, expect: int = 1, timeout_s: float = 2.0) -> list:
    """Every message on ``topic`` (up to a few past ``expect``), read by a throwaway consumer group."""
    with bus.consumer(f"test-{uuid.uuid4().hex[:8]}", [topic]) as c:
        got, deadline = [], time.monotonic() + timeout_s
        while len(got) < expect and time.monotonic() < deadline:
            got += c.poll(100, 0.2)
        got += c.poll(100, 0.1)
        return got


def with_tipline(rt: Runtime, **changes) -> Runtime:
    """The same bus and store under settings whose ``tipline`` section has ``changes``."""
    s = rt.settings
    return dataclasses.replace(rt, settings=s.model_copy(update={"tipline": s.tipline.model_copy(update=changes)}))


@dataclass
class Tipline:
    url: str
    rt: Runtime
    threads: SqliteThreadStore
    http: httpx.Client

    def raw_tips(self, timeout_s: float = 2.0, expect: int = 1) -> list:
        return read_topic(self.rt.bus, self.rt.settings.topic("tips.raw"), expect, timeout_s)


@contextmanager
def serving(rt: Runtime, tmp_path, threads: SqliteThreadStore | None = None, *, configured_threads: bool = False,
            **tipline) -> Iterator[Tipline]:
    """Serve over ``rt`` with ``tipline`` settings changed. The thread file is ``threads``, or one in
    ``tmp_path``, or with ``configured_threads`` the app's own from settings (``Tipline.threads``
    is then a second connection to it)."""
    rt = with_tipline(rt, **tipline) if tipline else rt
    if configured_threads:
        app = create_app(rt)
        threads = SqliteThreadStore(rt.settings.data_dir / rt.settings.tipline.threads_file)
    else:
        threads = threads or SqliteThreadStore(tmp_path / "threads.sqlite3")
        app = create_app(rt, threads=threads)
    try:
        with in_background(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            yield Tipline(url, rt, threads, http)
    finally:
        threads.close()
