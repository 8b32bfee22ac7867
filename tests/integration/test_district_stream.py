"""The district's own posts read back from the bus for retraining (pipeline/district_stream.py)
and turned into background negatives (pipeline/nlp/retrain.district_rows), on real buses."""

from datetime import UTC, datetime, timedelta

from fixtures_kafka import unique_topic

from pipeline.bus import OutMessage
from pipeline.bus.embedded import EmbeddedBus
from pipeline.district_stream import background_sample, read_district_stream
from pipeline.nlp.retrain import district_rows
from pipeline.schema import ScoredItem

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def scored(item_id, text, *, kind="post", severity="none", age_days=1.0):
    return ScoredItem(id=item_id, kind=kind, text=text, source="rss:news", threat_score=0.1, self_harm_score=0.0,
                      severity=severity, category="none" if severity == "none" else "violence", school_relevance=0.0,
                      model_version="v3", scored_at=NOW - timedelta(days=age_days))


def publish(bus, items, raw=(), topic="items.scored"):
    bus.publish([OutMessage(topic, i.id, i.to_bytes()) for i in items] + [OutMessage(topic, "bad", value) for value in raw])


def test_reads_the_windows_posts_once_each_and_never_moves_a_group(bus_factory):
    """On the embedded bus and on Kafka (Tansu): reading uses no consumer group at all."""
    bus, topic = bus_factory(), unique_topic("items.scored")
    bus.setup([topic])
    publish(bus, [scored("a", "go cougars"), scored("b", "gonna shoot up the gym friday", severity="P1"),
                  scored("t", "a tip about a fight", kind="tip"), scored("old", "last month's post", age_days=20),
                  scored("a", "go cougars")], raw=[b"not json"], topic=topic)
    stream = read_district_stream(bus, topic, days=14, now=NOW)
    assert sorted(stream.posts) == ["go cougars", "gonna shoot up the gym friday"]  # one copy per item id
    assert stream.unflagged == ["go cougars"]  # the flagged post trains nothing; tips and old posts are left out
    assert stream.unreadable == 1
    assert bus.lag("threatline-classify", [topic]) == 6  # no group moved
    again = read_district_stream(bus_factory(), topic, days=14, now=NOW)
    assert sorted(again.posts) == sorted(stream.posts)


def test_the_newest_posts_are_kept_when_there_are_too_many(tmp_path):
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    bus.setup(["items.scored"])
    publish(bus, [scored(f"p{i}", f"post {i}") for i in range(10)])
    assert read_district_stream(bus, "items.scored", days=14, max_posts=3, now=NOW).posts == [
        "post 7", "post 8", "post 9"]
    bus.close()


def test_background_rows_are_low_weight_negatives_never_a_known_text():
    from pipeline.district_stream import DistrictStream

    stream = DistrictStream(14, [], ["see you at practice", "See you  at PRACTICE", "held out text", "lunch was good"])
    corpus = [{"text": "held out text", "split": "test"}]
    rows = district_rows(stream, corpus, n=10, weight=0.2)
    texts = sorted(" ".join(r["text"].lower().split()) for r in rows)
    assert texts == ["lunch was good", "see you at practice"]  # one row per normalised text
    assert all(r["threat"] == r["self_harm"] == r["bullying"] == 0 and r["weight"] == 0.2 and r["split"] == "train"
               and r["origin"] == "district" for r in rows)
    assert "held out text" not in {r["text"] for r in rows}
    assert len({r["family"] for r in rows}) == len(rows)
    assert district_rows(stream, corpus, n=1, weight=0.2)[0]["text"] in {r["text"] for r in rows}


def test_the_sample_is_deterministic_and_distinct():
    texts = [f"post {i}" for i in range(50)] * 2
    assert background_sample(texts, 10) == background_sample(list(reversed(texts)), 10)
    assert len(set(background_sample(texts, 10))) == 10
