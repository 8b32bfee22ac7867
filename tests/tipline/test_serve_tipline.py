"""`threatline serve tipline` as an operator runs it: a real process on an ephemeral loopback
port, a temporary data dir by environment, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tipline_server import read_topic

from pipeline.bus.embedded import EmbeddedBus
from pipeline.schema import Tip

REPO = Path(__file__).resolve().parents[2]
THREATLINE = str(Path(sys.executable).with_name("threatline"))
TEXT = "UNIQUE-CLI-TIP-5521 says he has a gun in his locker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], data_dir: Path, **env) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith("THREATLINE_")}
    # PYTHONPATH: this checkout's code, whichever checkout the venv was installed from.
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**base, "PYTHONPATH": str(REPO), "THREATLINE_GENERAL__DATA_DIR": str(data_dir), **env})


def wait_until_serving(proc: subprocess.Popen, url: str, timeout_s: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.communicate()[1]}")
        try:
            return httpx.get(url + "/", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the tip line did not start")


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, stderr


def test_serve_tipline_takes_a_tip_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    proc = start([THREATLINE, "serve", "tipline", "--host", "127.0.0.1", "--port", str(port)], tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        page = wait_until_serving(proc, url)
        assert page.status_code == 200 and "tel:911" in page.text
        r = httpx.post(url + "/api/tips", json={"message": TEXT}, timeout=30)
        assert r.status_code == 201, r.text
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "UNIQUE-CLI-TIP" not in stderr and "127.0.0.1" not in stderr
    with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        [msg] = read_topic(bus, "tips.raw")
    assert Tip.from_bytes(msg.value).code == r.json()["code"]
    assert (tmp_path / "tipline.sqlite3").exists()


def test_serve_takes_host_and_port_from_settings_when_not_given(tmp_path):
    port = free_port()
    code = ("from pipeline.config import load_settings; from pipeline.tipline.server import serve; "
            "serve(load_settings())")
    proc = start([sys.executable, "-c", code], tmp_path, THREATLINE_TIPLINE__HOST="127.0.0.1",
                 THREATLINE_TIPLINE__PORT=str(port))
    try:
        assert wait_until_serving(proc, f"http://127.0.0.1:{port}").status_code == 200
    finally:
        exit_code, stderr = stop(proc)
    assert exit_code == 0, stderr
