"""Ingestion speed: spiders (posts/s from fixtures) and the tip API (requests/s, p50/p95 to durable ack).

    .venv/bin/python bench/ingest.py [--posts-per-kind 1000] [--tips 120] [--clients 4]

Spiders: a local server replays generated pages for every source kind (Reddit, Mastodon, Bluesky,
RSS, a forum page); one crawl of all five sources runs the real Scrapy engine in a child process
into a fresh data dir, exactly as `threatline ingest --once` does. The child's start-up (imports,
reactor) is measured apart with a crawl of one empty listing and subtracted. Baseline: the same
pages fetched with urllib and parsed with json/lxml in this process, no Scrapy, no bus: the floor.

Tip API: the real FastAPI app under uvicorn on loopback; `--clients` threads each POST tips and
wait for the 201, which comes only after the tip is durable on tips.raw. Baseline: GET /healthz
at the same concurrency (the HTTP floor). Most of a tip's time is the scrypt hash of its
passphrase (by design: it makes a stolen thread file expensive to guess), measured apart too.

Both halves run on the embedded bus and on Kafka (a Tansu broker started here, memory storage:
it measures the adapter on loopback, not a real cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
import yaml  # noqa: E402
from lxml import etree  # noqa: E402
from servers_tansu import tansu_broker  # noqa: E402

from pipeline.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from pipeline.ingest.replay import ReplayServer  # noqa: E402
from pipeline.ingest.runner import crawl_in_subprocess  # noqa: E402
from pipeline.schema import RawPost  # noqa: E402

WORDS = ("game tonight anyone going bus late again lunch line teacher test quiz party weekend locker "
         "hallway gym practice homework library parking lot band concert field trip").split()
TIP = {"message": "A student said he will bring a knife to the Lincoln High cafeteria on Friday at lunch.",
       "school": "Lincoln High School"}


def text(i: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(20)) + f" #{i}"


# --- generated sources: `n` posts per kind, served as each API serves them ----------------------

KINDS = ("reddit", "mastodon", "bluesky", "rss", "page")


def generated_posts(kind: str, n: int) -> list[RawPost]:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    native = {"reddit": "t3_{:07d}", "mastodon": "https://bench.example/users/u/statuses/{}",
              "bluesky": "at://did:plc:bench/app.bsky.feed.post/{:08d}", "rss": "https://news.example/{}",
              "page": "post-{}"}[kind]
    return [RawPost(source=f"{kind}:bench", source_kind=kind, native_id=native.format(i), text=text(i) + "\n\n" + text(i + 1),
                    author=f"u{i % 50}", url=f"https://{kind}.example/p/{i}", created_at=start - timedelta(minutes=i))
            for i in range(n)]


def sources_yaml(path: Path, replay: ReplayServer, n: int) -> None:
    fast = {"delay_s": 0, "concurrency": 4, "max_pages": n // replay.page_size + 2, "page_size": 100, "timeout_s": 30}
    sources = [{"name": f"{kind}:bench", "kind": kind, **replay.serve(f"{kind}:bench", kind, generated_posts(kind, n))}
               for kind in KINDS]
    sources.append({"name": "reddit:empty", "kind": "reddit", "enabled": False, **replay.serve("reddit:empty", "reddit", [])})
    path.write_text(yaml.safe_dump({"defaults": fast, "sources": sources}), encoding="utf-8")


def baseline_posts_per_s(sources_file: Path) -> tuple[int, float]:
    """Walk every source's pages with urllib and count the posts json/lxml find: the floor of
    fetching and parsing the same bytes, without Scrapy, state or the bus."""
    sources = [s for s in yaml.safe_load(sources_file.read_text())["sources"] if s.get("enabled", True)]
    started, count = time.perf_counter(), 0
    for source in sources:
        count += walk(source)
    return count, count / (time.perf_counter() - started)


def walk(source: dict) -> int:
    get = lambda url: urllib.request.urlopen(url).read()  # noqa: E731
    kind, count = source["kind"], 0
    if kind == "rss":
        return len(etree.fromstring(get(source["url"])).findall(".//item"))
    if kind == "page":
        url = source["url"]
        while url:
            html = etree.HTML(get(url))
            count += len(html.xpath("//article"))
            nxt = html.xpath("//a[@rel='next']/@href")
            url = urljoin(url, nxt[0]) if nxt else None
        return count
    base, cursor = source["base_url"], ""
    while True:
        if kind == "reddit":
            body = json.loads(get(f"{base}/r/{source['subreddit']}/new.json?limit=100{cursor}"))["data"]
            count += len(body["children"])
            cursor = f"&after={body['after']}" if body["after"] else None
        elif kind == "mastodon":
            statuses = json.loads(get(f"{base}/api/v1/timelines/tag/{source['tags'][0]}?limit=40{cursor}"))
            count += len(statuses)
            cursor = f"&max_id={statuses[-1]['id']}" if statuses else None
        else:
            body = json.loads(get(f"{base}/xrpc/app.bsky.feed.searchPosts?q=x{cursor}"))
            count += len(body["posts"])
            cursor = f"&cursor={body['cursor']}" if body.get("cursor") else None
        if cursor is None:
            return count


def crawl_seconds(env: dict[str, str], sources_file: Path, names: list[str] | None) -> tuple[float, dict]:
    started = time.perf_counter()
    results = crawl_in_subprocess(DEFAULT_CONFIG, sources_file, names, env=env, timeout_s=900)
    return time.perf_counter() - started, results


def bench_spiders(bus_env: dict[str, str], sources_file: Path) -> dict:
    with tempfile.TemporaryDirectory() as empty_dir, tempfile.TemporaryDirectory() as data_dir:
        startup_s, _ = crawl_seconds({**bus_env, "THREATLINE_GENERAL__DATA_DIR": empty_dir}, sources_file,
                                     ["reddit:empty"])
        wall_s, results = crawl_seconds({**bus_env, "THREATLINE_GENERAL__DATA_DIR": data_dir}, sources_file, None)
    produced = sum(r["produced"] for r in results.values())
    problems = {k: r for k, r in results.items() if r["failed"] or r["errors"] or r["malformed"]}
    if problems:
        raise SystemExit(f"bench crawl had problems: {problems}")
    return {"produced": produced, "wall_s": wall_s, "startup_s": startup_s,
            "posts_per_s": produced / max(wall_s - startup_s, 1e-6)}


# --- tip API ---------------------------------------------------------------------------------

@contextmanager
def tipline(env: dict[str, str]):
    from pipeline.bootstrap import runtime
    from pipeline.tipline.app import create_app
    from pipeline.tipline.server import in_background

    with patched_env(env):
        settings = load_settings(DEFAULT_CONFIG)
    with runtime(settings) as rt:
        rt.bus.setup([settings.topic("tips.raw")])
        with in_background(create_app(rt)) as url:
            yield url


@contextmanager
def patched_env(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load(url: str, method: str, path: str, body: dict | None, total: int, clients: int) -> dict:
    def one(client: httpx.Client) -> float:
        started = time.perf_counter()
        response = client.request(method, path, json=body)
        elapsed = time.perf_counter() - started
        if response.status_code not in (200, 201):
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return elapsed

    # A connection per request, as each tipster's phone opens its own; reused loopback
    # connections here stall ~40 ms per request (delayed ACK) and would measure that instead.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    with httpx.Client(base_url=url, timeout=60, limits=limits) as client:
        one(client)  # warm-up: first request pays app start-up and connection set-up
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = sorted(pool.map(lambda _: one(client), range(total)))
        wall = time.perf_counter() - started
    return {"req_per_s": total / wall, "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))]}


def bench_tips(bus_env: dict[str, str], tips: int, clients: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**bus_env, "THREATLINE_GENERAL__DATA_DIR": data_dir,
               # the limiter would (rightly) stop one client sending hundreds of tips
               "THREATLINE_TIPLINE__SUBMIT_LIMIT": "1000000"}
        with tipline(env) as url:
            return {"health": load(url, "GET", "/healthz", None, tips * 4, clients),
                    "tips": load(url, "POST", "/api/tips", TIP, tips, clients)}


def scrypt_ms() -> float:
    from pipeline.tipline import passphrase

    salt, secret = passphrase.new_salt(), passphrase.generate()
    started = time.perf_counter()
    for _ in range(10):
        passphrase.hash_passphrase(secret, salt)
    return 100 * (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts-per-kind", type=int, default=1000)
    parser.add_argument("--tips", type=int, default=120)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    with ReplayServer(page_size=50) as replay, tansu_broker() as kafka, tempfile.TemporaryDirectory() as tmp:
        sources_file = Path(tmp) / "sources.yaml"
        sources_yaml(sources_file, replay, args.posts_per_kind)
        buses = {"embedded": {"THREATLINE_BUS__BACKEND": "embedded"},
                 "kafka (Tansu)": {"THREATLINE_BUS__BACKEND": "kafka", "THREATLINE_BUS__KAFKA_BOOTSTRAP_SERVERS": kafka}}
        base = {k: v for k, v in os.environ.items() if not k.startswith("THREATLINE_")}
        floor_posts, floor_rate = baseline_posts_per_s(sources_file)
        spiders = {name: bench_spiders({**base, **env}, sources_file) for name, env in buses.items()}
        tips = {name: bench_tips(env, args.tips, args.clients) for name, env in buses.items()}

    print(f"\nspiders: {floor_posts} posts from 5 source kinds, {args.posts_per_kind} per kind")
    print(f"{'':24}{'posts/s':>10}{'wall s':>9}{'start-up s':>12}{'vs floor':>10}")
    print(f"{'floor (urllib+parse)':24}{floor_rate:>10,.0f}{'':>9}{'':>12}{1:>10.2f}")
    for name, r in spiders.items():
        print(f"{'scrapy -> ' + name:24}{r['posts_per_s']:>10,.0f}{r['wall_s']:>9.1f}{r['startup_s']:>12.1f}"
              f"{r['posts_per_s'] / floor_rate:>10.2f}")
    print(f"\ntip API: {args.tips} tips, {args.clients} concurrent clients; 201 only after the durable publish")
    print(f"{'':24}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'vs healthz':>12}")
    for name, r in tips.items():
        h, t = r["health"], r["tips"]
        print(f"{'GET /healthz ' + name:24}{h['req_per_s']:>10,.0f}{h['p50_ms']:>9.1f}{h['p95_ms']:>9.1f}{1:>12.2f}")
        print(f"{'POST /api/tips ' + name:24}{t['req_per_s']:>10,.1f}{t['p50_ms']:>9.1f}{t['p95_ms']:>9.1f}"
              f"{t['req_per_s'] / h['req_per_s']:>12.3f}")
    print(f"\nscrypt passphrase hash: {scrypt_ms():.0f} ms each (one per tip; two per follow-up with its lookup)")


if __name__ == "__main__":
    main()
