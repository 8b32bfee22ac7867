"""A local HTTP server that replays hand-written source pages, and records every request.

Routes map a path to a handler ``(query, headers, hit) -> (status, headers, body)``; ``hit`` counts
the requests to that path+query so a route can fail first and recover later.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ROBOTS = "User-agent: *\nDisallow: /private/\n"


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class FixtureServer:
    def __init__(self):
        self.routes: dict[str, object] = {"/robots.txt": lambda q, h, n: (200, {"Content-Type": "text/plain"}, ROBOTS)}
        self.requests: list[Seen] = []
        self.hits: Counter[str] = Counter()
        self.phase = 1  # tests bump this to make "new items appear" between runs
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                server.requests.append(Seen(parts.path, query, dict(self.headers), time.monotonic()))
                server.hits[self.path] += 1
                route = server.routes.get(parts.path)
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, "not here"
                else:
                    status, headers, body = route(query, self.headers, server.hits[self.path])
                data = body.encode("utf-8") if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up: that is what the slow route tests

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A handler still sleeping for a timed-out client must not hold up the test's teardown.
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]
