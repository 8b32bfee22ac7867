"""Classify consumers on Kafka: posts/s with 1, 2 and 4 workers of one group, as `run` starts them.

    .venv/bin/python bench/scale_out.py [--posts 20000] [--workers 1 2 4] [--partitions 12]

For each worker count: a fresh topic prefix on one Tansu broker (memory storage, on this machine),
``--posts`` realistic posts (bench/realistic_posts.py) published to ``posts.raw``, then the
``StageSupervisor`` of ``threatline run --stage-workers classify=N`` starts N ``threatline stage
classify --forever`` processes. Timing runs from the supervisor's start until the group's lag is
0, so it includes what a real scale-out pays: each worker's start-up (model and spaCy load), the
group join and its rebalances. The steady rate leaves those out: posts committed from the first
commit to the last, over that time. The session timeout is the 6 s minimum, as Tansu holds
every group join for half of it. The baseline is one worker in the same run; the broker shares
the cores with the workers, as it would on a one-box install.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from realistic_posts import posts as realistic_posts  # noqa: E402
from servers_tansu import tansu_broker  # noqa: E402

from pipeline.bootstrap import runtime  # noqa: E402
from pipeline.bus import OutMessage  # noqa: E402
from pipeline.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from pipeline.schema import RawPost  # noqa: E402
from pipeline.supervisor import StageSupervisor  # noqa: E402


def use_kafka(bootstrap: str, partitions: int, workers: int, data_dir: str) -> None:
    """The stage processes read their settings from the environment, as in compose."""
    os.environ.update({
        "THREATLINE_GENERAL__DATA_DIR": data_dir,
        "THREATLINE_BUS__BACKEND": "kafka",
        "THREATLINE_BUS__KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "THREATLINE_BUS__KAFKA_PARTITIONS": str(partitions),
        "THREATLINE_BUS__TOPIC_PREFIX": f"scale{uuid.uuid4().hex[:8]}.",
        "THREATLINE_STAGES__WORKERS": f'{{"classify": {workers}}}',
        "THREATLINE_STORE__BACKEND": "embedded",
        # Tansu holds a JoinGroup for half the session timeout (45 s by default); a real broker
        # with group.initial.rebalance.delay.ms=0 (docker-compose.yml) answers at once.
        "THREATLINE_BUS__KAFKA_SESSION_TIMEOUT_MS": "6000",
    })


def measure(texts: list[str], workers: int, bootstrap: str, partitions: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="scale-out-") as data_dir:
        use_kafka(bootstrap, partitions, workers, data_dir)
        s = load_settings(DEFAULT_CONFIG)
        with runtime(s) as rt:
            rt.setup()
            raw = [RawPost(source="bench", native_id=str(i), text=t) for i, t in enumerate(texts)]
            topic = s.topic("posts.raw")
            for i in range(0, len(raw), 1000):
                rt.bus.publish([OutMessage(topic, p.id, p.to_bytes()) for p in raw[i:i + 1000]])
            total = rt.lag("classify")
            started = time.perf_counter()
            first = None  # (time, lag) at the first commit seen
            with StageSupervisor(s, ("classify",), check_every_s=0.5):
                while (lag := rt.lag("classify")) > 0:
                    if first is None and lag < total:
                        first = (time.perf_counter(), lag)
                    if time.perf_counter() - started > 1800:
                        raise RuntimeError(f"{workers} workers did not drain {total} posts in 30 min (lag {lag})")
                    time.sleep(0.5)  # each lag check is a round trip to the broker
                finished = time.perf_counter()
    first_at, first_lag = first or (started, total)
    return {"workers": workers, "posts": total, "wall_s": finished - started,
            "wall_posts_per_s": total / (finished - started),
            "steady_posts_per_s": first_lag / max(finished - first_at, 1e-9),
            "startup_s": first_at - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=12)
    args = parser.parse_args()
    texts = realistic_posts(args.posts)
    with tansu_broker() as bootstrap:
        results = [measure(texts, n, bootstrap, args.partitions) for n in args.workers]
    base = results[0]
    print(f"scale-out: {args.posts} realistic posts, classify on Kafka (Tansu, {args.partitions} partitions), "
          f"{os.cpu_count()} cores shared with the broker")
    print(f"  {'workers':>7}{'wall posts/s':>14}{'x 1 worker':>12}{'steady posts/s':>16}{'x 1 worker':>12}"
          f"{'start-up s':>12}")
    for r in results:
        print(f"  {r['workers']:>7}{r['wall_posts_per_s']:>14,.0f}{r['wall_posts_per_s'] / base['wall_posts_per_s']:>12.2f}"
              f"{r['steady_posts_per_s']:>16,.0f}{r['steady_posts_per_s'] / base['steady_posts_per_s']:>12.2f}"
              f"{r['startup_s']:>12.1f}")


if __name__ == "__main__":
    main()
