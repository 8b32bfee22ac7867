"""The same durable-ack promise on the Kafka adapter (Tansu stand-in)."""

from __future__ import annotations

import pytest
from fixtures_kafka import TEST_MAX_POLL_INTERVAL_MS, TEST_SESSION_TIMEOUT_MS, unique_topic
from tipline_server import serving

from pipeline.bootstrap import Runtime
from pipeline.bus.kafka import KafkaBus
from pipeline.schema import Tip
from pipeline.store.embedded import EmbeddedStore


@pytest.mark.kafka
def test_tip_is_on_kafka_tips_raw_when_201_arrives(settings, kafka_bootstrap, tmp_path):
    prefixed = settings.model_copy(update={"bus": settings.bus.model_copy(
        update={"backend": "kafka", "topic_prefix": unique_topic("tl") + "."})})
    bus = KafkaBus(kafka_bootstrap, max_poll_interval_ms=TEST_MAX_POLL_INTERVAL_MS,
                   session_timeout_ms=TEST_SESSION_TIMEOUT_MS, partitions=1)
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    rt = Runtime(prefixed, bus, store)
    try:
        bus.setup([prefixed.topic("tips.raw")])
        with serving(rt, tmp_path) as t:
            r = t.http.post("/api/tips", json={"message": "he said he'd bring a gun tomorrow"})
            assert r.status_code == 201, r.text
            [msg] = t.raw_tips(timeout_s=30)
            assert Tip.from_bytes(msg.value).code == r.json()["code"]
    finally:
        rt.close()
