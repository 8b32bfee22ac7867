"""`threatline run --stage-workers classify=2` on Kafka (Tansu): the supervisor starts two classify
processes in one consumer group. Both take part (each its own health file, each consuming),
every post is scored exactly once as the bus delivers it (no message consumed by both), and a
worker killed with -9 (a member leaving) and restarted by the supervisor (one joining) stalls
nothing: the rest of the stream is consumed."""

from __future__ import annotations

import collections
import os
import signal
import uuid

import pytest

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.config import DEFAULT_CONFIG, ConfigError, load_settings
from pipeline.schema import RawPost, ScoredItem
from pipeline.stage_health import read_all
from pipeline.supervisor import StageSupervisor, parse_workers, replica_names
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.kafka]
N_POSTS = 600


def posts(start: int, n: int) -> list[RawPost]:
    return [RawPost(source="forum", native_id=f"w{i}", text=f"who else is going to the game on friday, section {i}")
            for i in range(start, start + n)]


def scored_ids(rt, s) -> collections.Counter:
    seen: collections.Counter = collections.Counter()
    with rt.bus.consumer(f"reader-{uuid.uuid4().hex[:6]}", [s.topic("items.scored")]) as reader:
        while batch := reader.poll(500, 3.0):
            seen.update(ScoredItem.from_bytes(m.value).id for m in batch)
    return seen


def test_two_classify_workers_split_the_partitions_and_survive_one_leaving_and_joining(settings, monkeypatch,
                                                                                       kafka_bootstrap):
    for key, value in {"BACKEND": "kafka", "TOPIC_PREFIX": f"workers{uuid.uuid4().hex[:8]}.",
                       "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_PARTITIONS": "3",
                       "KAFKA_MAX_POLL_INTERVAL_MS": "5000", "KAFKA_SESSION_TIMEOUT_MS": "3000"}.items():
        monkeypatch.setenv(f"THREATLINE_BUS__{key}", value)
    monkeypatch.setenv("THREATLINE_STAGES__BATCH_SIZE", "20")
    s = load_settings(DEFAULT_CONFIG)
    s = s.model_copy(update={"stages": s.stages.model_copy(update={"workers": {"classify": 2}})})
    first, second = posts(0, N_POSTS), posts(N_POSTS, N_POSTS)
    with runtime(s) as rt:
        rt.setup()
        with StageSupervisor(s, ("classify",), check_every_s=0.2) as supervisor:
            assert set(supervisor.children) == {"classify", "classify-2"}
            rt.bus.publish([OutMessage(s.topic("posts.raw"), p.id, p.to_bytes()) for p in first])
            assert wait_for(lambda: rt.lag("classify") == 0, 240), "two workers did not drain the topic"
            # Health files are rewritten every few seconds: wait for both to say what they did.
            def consumed() -> dict[str, int]:
                return {h.stage: h.consumed for h in read_all(s.data_dir)}
            assert wait_for(lambda: sum(consumed().values()) >= N_POSTS, 30), consumed()
            assert min(consumed().values()) > 0, f"one worker got nothing: {consumed()}"

            leaving = supervisor.pids()["classify-2"]
            os.kill(leaving, signal.SIGKILL)  # a member leaves without a word; the group rebalances
            rt.bus.publish([OutMessage(s.topic("posts.raw"), p.id, p.to_bytes()) for p in second])
            assert wait_for(lambda: supervisor.pids()["classify-2"] not in (None, leaving), 60)  # and joins again
            assert wait_for(lambda: rt.lag("classify") == 0, 240), "the stream stalled after a member left"
        seen = scored_ids(rt, s)
    wanted = {p.id for p in first + second}
    assert set(seen) == wanted
    # Exactly once, except what the killed worker had scored and not committed: it comes again.
    again = {i: n for i, n in seen.items() if n > 1}
    assert sum(again.values()) - len(again) <= 2 * s.stages.batch_size, again


def test_workers_are_counted_per_stage_and_refused_where_the_bus_cannot_split():
    s = load_settings(DEFAULT_CONFIG)
    assert parse_workers(["classify=3", "index=1"]) == {"classify": 3, "index": 1}
    for bad in ("classify", "classify=0", "classify=x", "=2", "classify=65"):
        with pytest.raises(ConfigError, match="STAGE=N"):
            parse_workers([bad])
    kafka = s.model_copy(update={"bus": s.bus.model_copy(update={"backend": "kafka"}),
                                 "stages": s.stages.model_copy(update={"workers": {"classify": 3}})})
    assert list(replica_names(kafka, ("classify", "index"))) == ["classify", "classify-2", "classify-3", "index"]
    embedded = kafka.model_copy(update={"bus": s.bus})
    with pytest.raises(ConfigError, match="needs bus.backend: kafka"):
        replica_names(embedded, ("classify", "index"))
    with pytest.raises(ConfigError, match="unknown stage"):
        replica_names(kafka.model_copy(update={"stages": s.stages.model_copy(update={"workers": {"clasify": 2}})}),
                      ("classify",))
