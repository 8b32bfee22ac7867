"""A real uvicorn tip line on 127.0.0.1 and an ephemeral port, over a given runtime."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from pipeline.bootstrap import Runtime
from pipeline.tipline import TiplineOptions, create_app
from pipeline.tipline.server import uvicorn_server
from pipeline.tipline.threads import SqliteThreadStore


@dataclass
class Tipline:
    url: str
    rt: Runtime
    threads: SqliteThreadStore
    http: httpx.Client

    def raw_tips(self, timeout_s: float = 2.0, expect: int = 1) -> list:
        """Every message on tips.raw, read by a throwaway consumer group."""
        import uuid
        with self.rt.bus.consumer(f"test-{uuid.uuid4().hex[:8]}", [self.rt.settings.topic("tips.raw")]) as c:
            got, deadline = [], time.monotonic() + timeout_s
            while len(got) < expect and time.monotonic() < deadline:
                got += c.poll(100, 0.2)
            got += c.poll(100, 0.1)
            return got


@contextmanager
def serving(rt: Runtime, tmp_path, options: TiplineOptions | None = None) -> Iterator[Tipline]:
    threads = SqliteThreadStore(tmp_path / "threads.sqlite3")
    server = uvicorn_server(create_app(rt, threads=threads, options=options))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runner = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    runner.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not runner.is_alive():
            raise RuntimeError("tip line server did not start")
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield Tipline(url, rt, threads, http)
    finally:
        server.should_exit = True
        runner.join(10)
        sock.close()
        threads.close()
