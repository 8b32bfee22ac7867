"""Concurrent requests share one bus and one thread store through the thread pool: nothing is
lost, mixed up or half-written, on either bus."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from tipline_server import serving

from pipeline.schema import Tip

N = 20


def test_concurrent_submits_all_land_on_tips_raw_and_in_the_thread_store(any_bus_rt, tmp_path):
    with serving(any_bus_rt, tmp_path, submit_limit=100) as t:

        def submit(i: int) -> httpx.Response:
            with httpx.Client(base_url=t.url, timeout=60) as http:  # one connection each: truly parallel
                return http.post("/api/tips", json={"message": f"concurrent tip number {i}"})

        with ThreadPoolExecutor(N) as pool:
            answers = list(pool.map(submit, range(N)))
        assert [r.status_code for r in answers] == [201] * N, [r.text for r in answers if r.status_code != 201]
        receipts = [r.json() for r in answers]
        assert len({r["code"] for r in receipts}) == N

        on_bus = {m.key: Tip.from_bytes(m.value) for m in t.raw_tips(expect=N, timeout_s=30)}
        assert set(on_bus) == {r["tip_id"] for r in receipts}
        for i, receipt in enumerate(receipts):
            assert on_bus[receipt["tip_id"]].message == f"concurrent tip number {i}"
            assert on_bus[receipt["tip_id"]].code == receipt["code"]
            thread = t.threads.get(receipt["code"])
            assert thread.tip_id == receipt["tip_id"] and thread.messages[0].text == f"concurrent tip number {i}"
        assert t.threads.count() == N

        # Follow-ups racing on one thread get distinct places in it.
        code, secret = receipts[0]["code"], receipts[0]["passphrase"]

        def follow(i: int) -> int:
            with httpx.Client(base_url=t.url, timeout=60) as http:
                return http.post(f"/api/tips/{code}/messages", json={"message": f"detail {i}"},
                                 headers={"X-Tip-Passphrase": secret}).status_code

        with ThreadPoolExecutor(5) as pool:
            assert list(pool.map(follow, range(5))) == [201] * 5
        messages = t.threads.get(code).messages
        assert [m.seq for m in messages] == [1, 2, 3, 4, 5, 6]
        assert sorted(m.text for m in messages[1:]) == [f"detail {i}" for i in range(5)]
        assert len(t.raw_tips(expect=N + 5, timeout_s=30)) == N + 5
