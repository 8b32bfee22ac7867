"""The stage runner's two kinds of failure (issue 18): poison goes to dlq with its reason and the
stream goes on; anything transient (and in the alert stage, any error nobody foresaw) is retried
without committing, raises an alarm when it lasts, and loses nothing."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from pipeline.bootstrap import runtime
from pipeline.bus import BusError, OutMessage
from pipeline.schema import RawPost, Tip
from pipeline.stage_health import problems, read_all
from pipeline.store import StoreError, StoreUnavailable
from rosters import webhook_roster
from webhook_server import webhook_server

THREAT_TIP = "he said he'll shoot up Lincoln High tomorrow at lunch with his brothers rifle"


@pytest.fixture
def paging_settings(settings, monkeypatch, tmp_path):
    with webhook_server() as (address, recorder):
        monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(webhook_roster(tmp_path / "roster.yaml", address)))
        monkeypatch.setenv("THREATLINE_STAGES__STUCK_ALARM_S", "0.3")
        from pipeline.config import DEFAULT_CONFIG, load_settings

        yield load_settings(DEFAULT_CONFIG), recorder


def flagged_tip(rt) -> Tip:
    tip = Tip(message=THREAT_TIP, school="Lincoln High School")
    rt.bus.publish([OutMessage(rt.settings.topic("tips.raw"), tip.id, tip.to_bytes())])
    rt.runner("classify-tips").run()
    return tip


def dead_letters(rt) -> list:
    return list(rt.bus.scan(rt.settings.topic("dlq")))


class FlakyPager:
    """The real pager, with ``failures`` unforeseen errors (a bug, a library raising) first."""

    def __init__(self, pager, failures: int):
        self.pager, self.failures, self.calls = pager, failures, 0

    def page(self, item):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("apprise plugin blew up")
        return self.pager.page(item)

    def alerts_of(self, item):
        return self.pager.alerts_of(item)


def test_an_error_in_the_pager_is_retried_and_the_page_goes_out(paging_settings, caplog):
    settings, recorder = paging_settings
    with runtime(settings) as rt:
        rt.setup()
        tip = flagged_tip(rt)
        flaky = FlakyPager(rt.pager, failures=4)
        rt._pager = flaky
        with caplog.at_level(logging.WARNING, logger="pipeline.stages"):
            report = rt.runner("alert").run()

        assert flaky.calls == 5 and report.retries == 4 and report.dead_lettered == 0
        assert dead_letters(rt) == []
        [alert] = rt.store.search_alerts(item_id=tip.id)
        assert alert.doc["status"] == "sent" and len(recorder.posts_for(alert.id)) == 1
        assert rt.lag("alert") == 0
    # Retrying that long raised the alarm at ERROR, and the health file went back to normal.
    assert any(r.levelno == logging.ERROR and "stuck" in r.getMessage() for r in caplog.records)
    assert [h.state for h in read_all(settings.data_dir) if h.stage == "alert"] == ["stopped"]


def test_a_stuck_stage_shows_in_its_health_while_it_retries(paging_settings):
    settings, _ = paging_settings
    with runtime(settings) as rt:
        rt.setup()
        flagged_tip(rt)
        rt._pager = FlakyPager(rt.pager, failures=10_000)
        runner = rt.runner("alert", until_idle=False)
        thread = threading.Thread(target=runner.run)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not problems(settings.data_dir, settings.stages.stuck_alarm_s):
                time.sleep(0.1)
            [line] = problems(settings.data_dir, settings.stages.stuck_alarm_s)
            assert "stage alert has been retrying" in line and "RuntimeError: apprise plugin blew up" in line
        finally:
            runner.stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()
        assert rt.lag("alert") == 1  # nothing committed: the item is paged once the fault is gone
        assert dead_letters(rt) == []


class FailingStore:
    """A store whose writes fail ``failures`` times first: not set up, then unavailable."""

    def __init__(self, store, failures: int):
        self.store, self.failures = store, failures

    def __getattr__(self, name):
        return getattr(self.store, name)

    def index_items(self, docs):
        if self.failures:
            self.failures -= 1
            raise StoreError("sqlite store x is not set up (run `threatline setup`)") if self.failures % 2 else \
                StoreUnavailable("database is locked")
        return self.store.index_items(docs)


def test_a_store_not_set_up_is_waited_for_not_dead_lettered(settings):
    with runtime(settings) as rt:
        rt.setup()
        flagged_tip(rt)
        rt.store = FailingStore(rt.store, failures=3)
        report = rt.runner("index").run()
        assert report.retries == 3 and report.written == 1 and report.dead_lettered == 0
        assert dead_letters(rt) == []


def test_an_unknown_schema_version_is_dead_lettered_with_its_reason(settings):
    with runtime(settings) as rt:
        rt.setup()
        future = json.loads(RawPost(source="forum", native_id="f1", text="see you at the game").to_bytes())
        future["schema_version"] = 99
        good = RawPost(source="forum", native_id="g1", text="im bringing my dads glock to LHS tomorrow")
        raw = rt.settings.topic("posts.raw")
        rt.bus.publish([OutMessage(raw, "future", json.dumps(future).encode()),
                        OutMessage(raw, good.id, good.to_bytes())])
        report = rt.runner("classify").run()
        assert report.consumed == 2 and report.dead_lettered == 1
        [dead] = dead_letters(rt)
        assert dead.key == "future" and "unknown schema_version 99" in dead.headers["dlq.reason"]
        assert rt.lag("classify") == 0


class Rebalancing:
    """A bus whose consumers answer empty a few times first, as a Kafka member does while the
    partitions of a member that left are moving to it."""

    def __init__(self, bus, empty_polls: int):
        self.bus, self.empty_polls = bus, empty_polls

    def __getattr__(self, name):
        return getattr(self.bus, name)

    def consumer(self, group, topics, stop=None):
        inner = self.bus.consumer(group, topics, stop)
        outer = self

        class Slow:
            def poll(self, n, timeout_s):
                if outer.empty_polls:
                    outer.empty_polls -= 1
                    return []
                return inner.poll(n, timeout_s)

            def commit(self):
                inner.commit()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                inner.close()

        return Slow()


def test_a_bounded_stage_does_not_stop_as_idle_with_work_left(settings):
    """Two empty polls used to mean "idle" even while a rebalance was handing work over."""
    with runtime(settings) as rt:
        rt.setup()
        posts = [RawPost(source="forum", native_id=str(i), text=f"practice moved to {i}pm") for i in range(30)]
        rt.bus.publish([OutMessage(rt.settings.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])
        runner = rt.runner("classify")
        runner.bus = Rebalancing(rt.bus, empty_polls=5)
        report = runner.run()
        assert report.stopped_by == "idle" and report.consumed == 30 and rt.lag("classify") == 0


def test_group_ids_carry_the_topic_prefix(settings, monkeypatch):
    monkeypatch.setenv("THREATLINE_BUS__TOPIC_PREFIX", "district7.")
    from pipeline.config import DEFAULT_CONFIG, load_settings

    with runtime(load_settings(DEFAULT_CONFIG)) as rt:
        assert rt.runner("alert").group == "district7.threatline-alert"
        assert rt.runner("classify").stage.inputs == ("district7.posts.raw",)


class LosingBus:
    """Publishing fails once after the pager has already paged: the crash window that lost
    messages from the alerts topic."""

    def __init__(self, bus):
        self.bus, self.failed = bus, False

    def __getattr__(self, name):
        return getattr(self.bus, name)

    def publish(self, messages):
        if not self.failed and any(m.topic.endswith("alerts") for m in messages):
            self.failed = True
            raise BusError("broker went away")
        return self.bus.publish(messages)


def test_the_alerts_topic_gets_the_alert_even_when_the_first_publish_fails(paging_settings):
    settings, recorder = paging_settings
    with runtime(settings) as rt:
        rt.setup()
        tip = flagged_tip(rt)
        runner = rt.runner("alert")
        runner.bus = LosingBus(rt.bus)
        report = runner.run()
        assert report.retries == 1
        [alert] = rt.store.search_alerts(item_id=tip.id)
        assert len(recorder.posts_for(alert.id)) == 1  # the retry did not page again
        assert [m.key for m in rt.bus.scan(rt.settings.topic("alerts"))] == [alert.id]
