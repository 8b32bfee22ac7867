"""Failures nobody planned for still end in a human answer: a 503 that leaves nothing behind
for a publish that breaks, a 500 without a traceback or tip text in any log for everything else."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from tipline_server import serving

from pipeline.tipline.threads import SqliteThreadStore

SECRET = "UNIQUE-TIP-TEXT-9182 brings a knife"


class BrokenReads(SqliteThreadStore):
    def get(self, code):
        raise RuntimeError(f"unforeseen failure quoting the tip: {SECRET}")


@pytest.fixture
def server_log():
    """Everything uvicorn logs (its loggers do not propagate to the root logger caplog watches)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    for name in ("uvicorn", "threatline"):
        logging.getLogger(name).addHandler(handler)
    yield records
    for name in ("uvicorn", "threatline"):
        logging.getLogger(name).removeHandler(handler)


def formatted(records) -> str:
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)  # includes any traceback


def test_an_unexpected_error_is_a_human_500_without_traceback_or_tip_text(rt, tmp_path, server_log):
    with serving(rt, tmp_path, threads=BrokenReads(tmp_path / "t.sqlite3")) as t:
        api = t.http.get("/api/tips/ABCDEFGHJK", headers={"X-Tip-Passphrase": "x"})
        page = t.http.post("/check", data={"code": "ABCDEFGHJK", "passphrase": "x"})
    assert api.status_code == 500 and "try again" in api.json()["error"] and "911" in api.json()["emergency"]
    assert api.headers["cache-control"] == "no-store" and "default-src 'none'" in api.headers["content-security-policy"]
    assert page.status_code == 500 and "tel:911" in page.text and "try again" in page.text
    logged = formatted(server_log)
    assert "unexpected RuntimeError on GET /api/tips/{code}" in logged
    for leak in ("UNIQUE-TIP-TEXT", "Traceback", "ABCDEFGHJK"):
        assert leak not in logged


def test_a_publish_failing_in_an_unforeseen_way_is_a_503_and_leaves_nothing(rt, tmp_path, server_log):
    def publish(messages):
        raise AssertionError("a client library bug")

    with serving(rt, tmp_path) as t:
        rt.bus.publish = publish
        r = t.http.post("/api/tips", json={"message": SECRET})
        assert r.status_code == 503 and "not sent" in r.json()["error"]
        assert t.threads.count() == 0
    assert "bus publish failed (AssertionError)" in formatted(server_log)


@pytest.mark.kafka
def test_unreachable_kafka_is_a_503_with_the_banner_and_leaves_nothing(settings, tmp_path):
    from pipeline.bootstrap import Runtime, build_store
    from pipeline.bus.kafka import KafkaBus

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    rt = Runtime(settings, KafkaBus(f"127.0.0.1:{closed}", request_timeout_ms=2000), build_store(settings))
    try:
        with serving(rt, tmp_path) as t:
            started = time.monotonic()
            r = t.http.post("/api/tips", json={"message": SECRET})
            assert r.status_code == 503 and "not sent" in r.json()["error"] and "911" in r.json()["emergency"]
            assert time.monotonic() - started < 15
            assert t.threads.count() == 0
    finally:
        rt.close()
