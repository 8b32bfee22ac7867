"""The admin banner: admins see dead letters waiting and stuck stages at the top of every page,
escaped; no other role ever does; the dead-letter count is cached so pages stay fast."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest
from console_support import AuditSpy, logged_in

from pipeline.bus import BusError, OutMessage
from pipeline.dead_letters import DeadLetters
from pipeline.review.console.banner import AdminBanner, CachedCount
from pipeline.stage_health import StageHealth, health_dir

HOSTILE = '<script>alert("pwned")</script>'


def dead_letter(rt, n: int, reason: str = "1 validation error for Tip") -> None:
    s = rt.settings
    rt.bus.publish([OutMessage(s.topic("dlq"), f"tip-{n}", b'{"not": "a tip"}', {
        "dlq.reason": reason, "dlq.stage": "classify-tips", "dlq.topic": s.topic("tips.raw"),
        "dlq.partition": "0", "dlq.offset": str(n)})])


def stuck_stage(rt, reason: str) -> None:
    """A health file as a stage writes it while it has been retrying far longer than the alarm."""
    now = time.time()
    health = StageHealth(stage="index", pid=4242, state="retrying", heartbeat=now,
                         retrying_since=now - 10 * rt.settings.stages.stuck_alarm_s, reason=reason)
    folder = health_dir(rt.settings.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.json").write_text(json.dumps(asdict(health)))


def banner_of(html: str) -> str:
    if 'class="admin-banner"' not in html:
        return ""
    start = html.index('class="admin-banner"')
    return html[start:html.index("</div>", start)]


@pytest.mark.parametrize("path", ["/", "/models", "/admin/users"])
def test_admins_see_the_dead_letters_waiting_on_every_page(console, rt, path):
    dead_letter(rt, 1)
    dead_letter(rt, 2, reason=HOSTILE)
    page = logged_in(console, "ada").get(path)
    assert page.status_code == 200, page.text
    banner = banner_of(page.text)
    assert "<strong>2 dead letters waiting</strong>: run <code>threatline dlq list</code>" in banner
    assert "pwned" not in page.text  # the count only: no reason, no content on the page


def test_one_dead_letter_is_singular_and_an_empty_dlq_shows_no_banner(console, rt):
    admin = logged_in(console, "ada")
    assert banner_of(admin.get("/").text) == ""
    dead_letter(rt, 1)
    admin.app.state.console.banner.count.ttl_s = 0  # no waiting for the cache here
    admin.get("/")
    time.sleep(0.3)
    assert "<strong>1 dead letter waiting</strong>" in banner_of(admin.get("/").text)


@pytest.mark.parametrize("who", ["reyes", "cole", "ana"])
def test_other_roles_never_see_it(console, rt, who):
    dead_letter(rt, 1)
    stuck_stage(rt, "store unavailable")
    html = logged_in(console, who).get("/").text
    assert banner_of(html) == "" and "dead letter" not in html and "stage index" not in html


def test_stuck_stages_are_shown_escaped(console, rt):
    stuck_stage(rt, f"StoreUnavailable: {HOSTILE}")
    page = logged_in(console, "ada").get("/")
    banner = banner_of(page.text)
    assert "stage index has been retrying for" in banner and "nothing lost, nothing committed" in banner
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in banner
    assert HOSTILE not in page.text
    assert "dead letter" not in banner  # none waiting


def test_replayed_dead_letters_no_longer_count(console, rt, monkeypatch):
    dead_letter(rt, 1)
    dead_letter(rt, 2)
    letters = DeadLetters(rt.bus, rt.store, rt.settings)
    first = letters.all()[0]
    letters.replay(first.id, actor="ada")
    assert letters.waiting() == 1
    spy = AuditSpy(rt.store, monkeypatch)
    assert "<strong>1 dead letter waiting</strong>" in banner_of(logged_in(console, "ada").get("/").text)
    assert not [r for r in spy.records if r["event"]["action"].startswith("dlq")]  # counting is not a read


def test_a_count_that_fails_says_so_escaped_and_the_page_still_loads(console, rt):
    def broken() -> int:
        raise BusError(f"Kafka at 127.0.0.1:9 is unreachable: {HOSTILE}")

    console.app.state.console.banner = AdminBanner(broken, lambda: [])
    page = logged_in(console, "ada").get("/")
    assert page.status_code == 200
    banner = banner_of(page.text)
    assert "Dead letters could not be counted: Kafka at 127.0.0.1:9 is unreachable: &lt;script&gt;" in banner


def test_json_requests_do_not_count(console, rt):
    calls = []
    console.app.state.console.banner = AdminBanner(lambda: calls.append(1) or 0, lambda: [])
    admin = logged_in(console, "ada")
    admin.get("/", headers={"Accept": "application/json"})
    assert calls == []
    admin.get("/")
    assert calls == [1]


# --- the cache ------------------------------------------------------------------------------------


class Ticks:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_count_is_cached_and_refreshed_in_the_background_when_stale():
    clock, calls = Ticks(), []

    def count() -> int:
        calls.append(clock.now)
        return len(calls)

    cached = CachedCount(count, ttl_s=30, wait_s=2, clock=clock)
    assert cached.get() == (1, "")  # the first page waits for the first count
    clock.now += 29
    assert cached.get() == (1, "") and len(calls) == 1
    clock.now += 2
    stale = cached.get()  # stale: served at once while a refresh runs
    assert stale in ((1, ""), (2, ""))
    deadline = time.monotonic() + 5
    while cached.get() != (2, "") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cached.get() == (2, "") and len(calls) == 2


def test_a_slow_first_count_does_not_hold_the_page_long():
    def slow() -> int:
        time.sleep(1.0)
        return 7

    cached = CachedCount(slow, wait_s=0.05)
    started = time.monotonic()
    assert cached.get() == (0, "")
    assert time.monotonic() - started < 0.5
    time.sleep(1.2)
    assert cached.get() == (7, "")
