"""Produce and consume N raw posts through both bus adapters and compare throughput.

    .venv/bin/python bench/bus_throughput.py [--n 20000] [--batch 500]

Values are real ``RawPost`` JSON of about 500 bytes, keyed by item id. Produce: ``publish`` in
batches (each one durable before the next). Consume: one new group polls batches and commits
after each, as a stage does. Embedded: a fresh SQLite file (WAL, synchronous=FULL) in a temporary
directory. Kafka: ``KafkaBus`` on a Tansu broker started here (DESIGN.md §5, memory storage), so
the number measures the adapter plus Tansu on loopback, not a real cluster. The consume rate
starts at the first batch, so it leaves out the group join (reported apart).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers_tansu import tansu_broker  # noqa: E402

from pipeline.bus import Bus, OutMessage  # noqa: E402
from pipeline.bus.embedded import EmbeddedBus  # noqa: E402
from pipeline.bus.kafka import KafkaBus  # noqa: E402
from pipeline.schema import RawPost  # noqa: E402

TOPIC = "posts.raw"
_WORDS = ("game tonight anyone going bus late again lunch line teacher test quiz party weekend "
          "locker hallway gym practice homework library parking lot band concert field trip").split()


def raw_posts(n: int, seed: int = 7) -> list[OutMessage]:
    """``n`` raw posts whose JSON is about 500 bytes each."""
    rng = random.Random(seed)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(_WORDS) for _ in range(24))
        post = RawPost(source="reddit:lincolnhigh", source_kind="reddit", native_id=f"t3_{i:08d}", text=text,
                       author=f"user{rng.randrange(5000)}", url=f"https://www.reddit.com/r/lincolnhigh/comments/{i:08d}",
                       created_at=start + timedelta(seconds=i))
        out.append(OutMessage(TOPIC, post.id, post.to_bytes(), {"source": post.source}))
    return out


@dataclass
class Result:
    produce: float  # msgs/s
    consume: float  # msgs/s after the first batch
    join_s: float  # consumer created → first batch in hand


def measure(open_bus: Callable[[], Bus], messages: list[OutMessage], batch: int) -> Result:
    with open_bus() as bus:
        bus.setup([TOPIC])
        started = time.perf_counter()
        for i in range(0, len(messages), batch):
            bus.publish(messages[i:i + batch])
        produce = len(messages) / (time.perf_counter() - started)

    with open_bus() as bus:  # a separate reader, as a stage process would be
        opened = time.perf_counter()
        seen: set[str] = set()
        with bus.consumer("bench", [TOPIC]) as consumer:
            first_at, first_count = None, 0
            deadline = time.monotonic() + 600
            while len(seen) < len(messages) and time.monotonic() < deadline:
                got = consumer.poll(batch, 1.0)
                if got and first_at is None:
                    first_at, first_count = time.perf_counter(), len(got)
                seen.update(m.key for m in got)
                consumer.commit()
            finished = time.perf_counter()
        if len(seen) != len(messages) or bus.lag("bench", [TOPIC]) != 0:
            raise SystemExit(f"{type(bus).__name__}: consumed {len(seen)} distinct of {len(messages)}")
    consume = (len(messages) - first_count) / (finished - first_at)
    return Result(produce, consume, first_at - opened)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages per adapter")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    messages = raw_posts(args.n)
    size = sum(len(m.value) for m in messages) / len(messages)
    with tempfile.TemporaryDirectory() as tmp:
        embedded = measure(lambda: EmbeddedBus(Path(tmp) / "bus.sqlite3"), messages, args.batch)
    with tansu_broker() as address:
        # Tansu only finishes a group join quickly with short timeouts (DESIGN.md §5).
        kafka = measure(lambda: KafkaBus(address, max_poll_interval_ms=5_000), messages, args.batch)

    print(f"bus throughput: {args.n} messages of ~{size:.0f} bytes, batches of {args.batch}")
    print(f"  {'':<22}{'produce msgs/s':>16}{'consume msgs/s':>16}{'group join s':>14}")
    for name, r in (("embedded (SQLite)", embedded), ("kafka (Tansu)", kafka)):
        print(f"  {name:<22}{r.produce:>16,.0f}{r.consume:>16,.0f}{r.join_s:>14.2f}")
    print(f"  kafka / embedded ratio: produce {kafka.produce / embedded.produce:.2f}x, "
          f"consume {kafka.consume / embedded.consume:.2f}x")


if __name__ == "__main__":
    main()
