"""The API the CLI and the Prefect flow call: crawl_in_subprocess with live progress, errors
raised as the parent's exceptions, and the same crawl onto the Kafka bus (Tansu)."""

from __future__ import annotations

import time

import pytest
from fixtures_kafka import TEST_MAX_POLL_INTERVAL_MS, TEST_SESSION_TIMEOUT_MS, unique_group, unique_topic

from pipeline.bus.kafka import KafkaBus
from pipeline.config import DEFAULT_CONFIG, ConfigError
from pipeline.ingest.runner import crawl_in_subprocess
from pipeline.schema import RawPost


def test_progress_events_stream_while_the_child_crawls(crawl, monkeypatch):
    monkeypatch.setenv("THREATLINE_STAGES__BATCH_SIZE", "2")
    events = []
    result = crawl("reddit:riverton", "rss:slow", on_progress=lambda e: events.append((time.monotonic(), e)))
    returned = time.monotonic()
    reddit = [e for _, e in events if e["source"] == "reddit:riverton"]
    assert [e["pages"] for e in reddit if e["event"] == "page"] == [1, 2]
    # batches of two: a3+a2 after page 1, then c1 (queued) + a1 after page 2
    assert [e["produced"] for e in reddit if e["event"] == "batch"] == [2, 4]
    closed = reddit[-1]
    assert closed["event"] == "closed" and closed["state_saved"]
    for key, value in result["reddit:riverton"].items():
        assert closed[key] == value
    # streamed, not replayed at exit: reddit had finished while rss:slow still waited on its timeout
    reddit_done = next(t for t, e in events if e["source"] == "reddit:riverton" and e["event"] == "closed")
    assert returned - reddit_done > 0.5
    assert {e["source"] for _, e in events} == {"reddit:riverton", "rss:slow"}


def test_a_child_that_cannot_start_raises_a_config_error(sources_file, settings):
    with pytest.raises(ConfigError, match="unknown source.*nope"):
        crawl_in_subprocess(DEFAULT_CONFIG, sources_file, ["nope"], timeout_s=60)


@pytest.mark.kafka
def test_spiders_publish_onto_kafka(crawl, settings, kafka_bootstrap, monkeypatch):
    prefix = unique_topic("ingest") + "."
    for key, value in {"BACKEND": "kafka", "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TOPIC_PREFIX": prefix,
                       "KAFKA_PARTITIONS": "1"}.items():
        monkeypatch.setenv(f"THREATLINE_BUS__{key}", value)
    result = crawl("reddit:riverton", "bluesky:search")
    assert result["reddit:riverton"]["produced"] == 4 and result["bluesky:search"]["produced"] == 3
    assert all(r["failed"] == 0 and r["state_saved"] for r in result.values())
    assert not (settings.data_dir / settings.bus.sqlite_file).exists()  # nothing went to the embedded bus

    bus = KafkaBus(kafka_bootstrap, max_poll_interval_ms=TEST_MAX_POLL_INTERVAL_MS,
                   session_timeout_ms=TEST_SESSION_TIMEOUT_MS, partitions=1)
    try:
        with bus.consumer(unique_group("ingest"), [prefix + "posts.raw"]) as consumer:
            messages, deadline = [], time.monotonic() + 30
            while len(messages) < 7 and time.monotonic() < deadline:
                messages += consumer.poll(100, 1.0)
    finally:
        bus.close()
    posts = [RawPost.from_bytes(m.value) for m in messages]
    assert len(posts) == 7 and [m.key for m in messages] == [p.id for p in posts]
    assert {p.native_id for p in posts if p.source == "reddit:riverton"} == {"t3_rv0a1", "t1_rvc01", "t3_rv0a2", "t3_rv0a3"}
    assert all(m.headers["source"] == p.source for m, p in zip(messages, posts, strict=True))
