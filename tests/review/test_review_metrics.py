"""GET /metrics on the review server: who may scrape it, and that what the stages and the pager
did shows up in it (classify, index and alert run for real on the embedded bus and store)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from heartbeats import all_running
from prometheus_client.parser import text_string_to_metric_families

from pipeline.bus import OutMessage
from pipeline.review import create_review_app
from pipeline.schema import RawPost

THREAT = "I'm bringing my dad's gun to Lincoln High tomorrow and shooting everyone in the cafeteria"
BENIGN = "this math test is killing me lol"


def scraping(settings, *networks):
    return settings.model_copy(update={"review": settings.review.model_copy(update={"metrics_from": list(networks)})})


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def counted(found: dict, name: str, **labels) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


@pytest.fixture
def scraper(rt, pager):
    def open_as(peer: str, *networks: str) -> TestClient:
        rt.settings = scraping(rt.settings, *networks)
        return TestClient(create_review_app(rt, pager=pager), client=(peer, 40000))
    return open_as


def test_nobody_may_scrape_by_default_not_even_loopback(scraper):
    with scraper("127.0.0.1") as c:
        assert c.get("/metrics").status_code == 404


def test_only_the_listed_networks_and_never_through_a_proxy(scraper):
    with scraper("10.0.0.7", "10.0.0.0/24") as c:
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        # A request a proxy relayed comes from an allowed address but is someone else's.
        for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}, {"X-Real-IP": "1.2.3.4"}):
            assert c.get("/metrics", headers=header).status_code == 404, header
    with scraper("10.0.1.7", "10.0.0.0/24") as c:
        assert c.get("/metrics").status_code == 404


def test_a_scrape_shows_what_the_stages_and_the_pager_did(rt, pager, scraper):
    s = rt.settings
    rt.setup()
    rt._pager = pager  # the alert stage pages through the fixture's channels, which all deliver
    all_running(s.data_dir)
    with scraper("127.0.0.1", "127.0.0.1/32") as c:
        before = samples(c.get("/metrics").text)
        posts = [RawPost(source="forum", source_kind="page", native_id=f"m{i}", text=text)
                 for i, text in enumerate([THREAT, BENIGN, BENIGN])]
        rt.bus.publish([OutMessage(s.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])
        rt.bus.publish([OutMessage(s.topic("posts.raw"), "broken", b"{not json")])
        waiting = samples(c.get("/metrics").text)
        assert waiting[("threatline_consumer_lag", (("stage", "classify"),))] == 4

        for stage in ("classify", "index", "alert"):
            rt.runner(stage).run()
        after = samples(c.get("/metrics").text)

    def grew(name: str, **labels) -> float:
        return counted(after, name, **labels) - counted(before, name, **labels)

    assert grew("threatline_items_in_total", kind="post") == 4
    assert grew("threatline_items_scored_total", kind="post") == 3
    assert grew("threatline_items_flagged_total", kind="post", severity="P1") == 1
    assert grew("threatline_dead_letters_total", stage="classify") == 1
    assert after[("threatline_dead_letters_waiting", ())] == 1
    assert grew("threatline_pages_sent_total", severity="P1") >= 1
    assert after[("threatline_consumer_lag", (("stage", "classify"),))] == 0
    assert counted(after, "threatline_model_info", stage="classify") == 1
    assert all(after[("threatline_metrics_source_up", (("source", src),))] == 1
               for src in ("bus_lag", "dead_letters", "stage_health"))
    # The bounded runs above ended, and their health files say so.
    assert waiting[("threatline_stage_state", (("stage", "alert"), ("state", "running")))] == 1
    assert after[("threatline_stage_state", (("stage", "alert"), ("state", "stopped")))] == 1
    # Labels are bounded sets: no text, id or school ever reaches a series.
    text = " ".join(f"{n} {ls}" for n, ls in after)
    assert "Lincoln" not in text and "m0" not in text and "cafeteria" not in text
