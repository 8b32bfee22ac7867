"""``threatline serve tipline``: uvicorn with access logs off, so no client address is ever logged.

``uvicorn_server`` and ``in_background`` serve any app; the review server uses them too."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from pipeline.bootstrap import runtime
from pipeline.config import Settings
from pipeline.errors import ServiceError
from pipeline.tipline.app import create_app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        """SIGTERM/Ctrl-C stop the server gracefully and the process exits 0. uvicorn itself
        re-raises the signal after shutting down, which makes a clean stop look like a kill
        (exit status 143) to systemd, Docker and `threatline run`."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def uvicorn_server(app, host: str = "127.0.0.1", port: int = 8080) -> uvicorn.Server:
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the
    # client; tipline.trusted_proxies decides that instead (pipeline/tipline/clients.py).
    config = uvicorn.Config(app, host=host, port=port, access_log=False, server_header=False,
                            proxy_headers=False, log_level="warning", lifespan="on")
    return _Server(config)


@contextlib.contextmanager
def in_background(app, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 10, *,
                  name: str = "the tip line") -> Iterator[str]:
    """Serve ``app`` from a thread of this process (port 0: an ephemeral one); yield its base URL.
    For `threatline run`, the demo, benchmarks and tests; signals stay with the main thread.
    ``name`` says which app in errors."""
    sock = socket.socket()
    # A restart rebinds at once: without this, connections of the process that just stopped
    # (TIME_WAIT) keep the port "in use" for a minute. Linux still refuses a second listener.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"{name} cannot listen on {host}:{port}: {exc.strerror}") from None
    server = uvicorn_server(app, host, sock.getsockname()[1])
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            sock.close()
            raise ServiceError(f"{name} did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGTERM/Ctrl-C; host and port default to ``settings.tipline``."""
    with runtime(settings) as rt:
        rt.setup()  # every topic and table the pipeline behind the tip line needs to page
        server = uvicorn_server(create_app(rt), host=host or settings.tipline.host,
                                port=port or settings.tipline.port)
        server.run()
