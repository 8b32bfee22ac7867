"""Fixtures: a runtime on the embedded bus (or on either bus), a real tip line server over it,
and the champion classifier loaded once for the session."""

from __future__ import annotations

import pytest
from fixtures_kafka import TEST_MAX_POLL_INTERVAL_MS, TEST_SESSION_TIMEOUT_MS, unique_topic
from tipline_server import serving

from pipeline.bootstrap import Runtime, build_bus, build_classifier, build_store, runtime
from pipeline.bus import TOPICS
from pipeline.config import DEFAULT_CONFIG, load_settings


@pytest.fixture
def rt(settings):
    with runtime(settings) as r:
        r.bus.setup([settings.topic("tips.raw")])
        yield r


@pytest.fixture
def tipline(rt, tmp_path):
    with serving(rt, tmp_path) as t:
        yield t


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def any_bus_rt(request, settings):
    """A runtime on the embedded bus or on Kafka (Tansu, topics of its own), every topic set up."""
    if request.param == "kafka":
        from pipeline.bus.kafka import KafkaBus

        settings = settings.model_copy(update={"bus": settings.bus.model_copy(
            update={"backend": "kafka", "topic_prefix": unique_topic("tl") + "."})})
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), max_poll_interval_ms=TEST_MAX_POLL_INTERVAL_MS,
                       session_timeout_ms=TEST_SESSION_TIMEOUT_MS, partitions=1)
    else:
        bus = build_bus(settings)
    r = Runtime(settings, bus, build_store(settings))
    try:
        r.bus.setup([settings.topic(t) for t in TOPICS])
        yield r
    finally:
        r.close()


@pytest.fixture(scope="session")
def champion():
    """The trained classifier of models/CURRENT; loading takes seconds, so once per session."""
    return build_classifier(load_settings(DEFAULT_CONFIG))
