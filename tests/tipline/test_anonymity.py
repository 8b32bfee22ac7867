"""Rate limiting that forgets, and logs without tip text or client addresses."""

from __future__ import annotations

import logging

from tipline_server import serving

from pipeline.tipline.ratelimit import RateLimiter


def test_flood_gets_429_with_retry_after(rt, tmp_path):
    with serving(rt, tmp_path, submit_limit=3, lookup_limit=2) as t:
        codes = [t.http.post("/api/tips", json={"message": f"tip {i}"}).status_code for i in range(5)]
        assert codes == [201, 201, 201, 429, 429]
        r = t.http.post("/api/tips", json={"message": "again"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "wait" in r.json()["error"]
        form = t.http.post("/", data={"message": "again"})
        assert form.status_code == 429 and "tel:911" in form.text
        looks = [t.http.get("/api/tips/ABCDEFGHJK", headers={"X-Tip-Passphrase": "x"}).status_code for _ in range(3)]
        assert looks == [404, 404, 429]
        assert t.threads.count() == 3


def test_rate_limiter_forgets_clients_when_the_window_ends():
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.hit("10.0.0.1") is None and limiter.hit("10.0.0.1") is None
    assert limiter.hit("10.0.0.1") == 60
    assert limiter.hit("10.0.0.2") is None
    assert limiter.tracked() == 2
    # Keys are keyed hashes, never the address itself.
    assert all(b"10.0.0" not in key for key in limiter._counts)
    now[0] = 61
    assert limiter.tracked() == 0
    assert limiter.hit("10.0.0.1") is None


def test_logs_hold_neither_tip_text_nor_client_address(tipline, caplog):
    secret_text = "UNIQUE-TIP-TEXT-4711 he has a knife"
    with caplog.at_level(logging.DEBUG):
        body = tipline.http.post("/api/tips", json={"message": secret_text, "contact": "call-me-555"}).json()
        tipline.http.post(f"/api/tips/{body['code']}/messages", json={"message": secret_text + " again"},
                          headers={"X-Tip-Passphrase": body["passphrase"]})
        tipline.rt.bus.close()
        tipline.http.post("/api/tips", json={"message": secret_text})
    # httpx/httpcore are the test's own client, which naturally names the server address.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "tip accepted" in logged and "bus publish failed" in logged
    for leak in ("UNIQUE-TIP-TEXT", "call-me-555", "127.0.0.1", body["passphrase"]):
        assert leak not in logged


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(rt, tmp_path):
    def post(t, forwarded):
        return t.http.post("/api/tips", json={"message": "hi"}, headers={"X-Forwarded-For": forwarded}).status_code

    # Default: a client cannot buy a fresh quota by inventing addresses.
    with serving(rt, tmp_path, submit_limit=2) as t:
        assert [post(t, f"203.0.113.{i}") for i in range(3)] == [201, 201, 429]
    # Behind a trusted proxy each client has its own quota, and the proxy's own hop is what counts:
    # whatever the client wrote to the left of it proves nothing.
    with serving(rt, tmp_path, submit_limit=2, trusted_proxies=["127.0.0.0/8"]) as t:
        assert [post(t, "198.51.100.7") for _ in range(3)] == [201, 201, 429]
        assert post(t, "203.0.113.9, 198.51.100.7") == 429
        assert post(t, "203.0.113.9") == 201
