"""A loopback HTTP server that records what apprise's json:// webhooks post to it: the demo's
stand-in for phones and inboxes, and the tests' webhook receiver."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    def __init__(self):
        self.bodies: list[dict] = []
        self.paths: list[str] = []  # the URL path each body was posted to, in the same order
        self.lock = threading.Lock()
        self.fail_next = 0

    def posts_for(self, needle: str) -> list[dict]:
        with self.lock:
            return [b for b in self.bodies if needle in b.get("message", "")]


@contextmanager
def webhook_server():
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with recorder.lock:
                failing = recorder.fail_next > 0
                recorder.fail_next -= failing
                if not failing:
                    recorder.bodies.append(json.loads(body))
                    recorder.paths.append(self.path)
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
