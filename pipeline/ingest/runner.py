"""Running spiders: Scrapy settings per source, one in-process crawl, or a crawl in a subprocess.

Twisted's reactor cannot be restarted inside one process, so anything that crawls more than once
per process (Prefect flow runs, tests, the CLI's watch mode) uses ``crawl_in_subprocess``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.config import Settings, load_settings
from pipeline.ingest.sources import Source, load_sources

SUMMARY_PREFIX = "INGEST-SUMMARY "


def user_agent(settings: Settings) -> str:
    g = settings.general
    return f"threatline/0.1 (school safety monitoring for {g.district}; contact {g.contact_email})"


def process_settings(settings: Settings, log_level: str = "INFO") -> dict[str, Any]:
    return {
        "USER_AGENT": user_agent(settings),
        "ROBOTSTXT_OBEY": True,
        "COOKIES_ENABLED": False,  # public endpoints only; no sessions to keep
        "TELNETCONSOLE_ENABLED": False,
        "AUTOTHROTTLE_ENABLED": True,
        "LOG_LEVEL": log_level,
        "ITEM_PIPELINES": {"pipeline.ingest.pipelines.BusPipeline": 300},
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "pipeline.ingest.middlewares.BackoffRetryMiddleware": 550,
        },
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 408],
    }


def source_settings(source: Source) -> dict[str, Any]:
    """Per-source politeness; Scrapy applies a spider class's custom_settings to its crawler."""
    return {
        "DOWNLOAD_DELAY": source.delay_s,
        "RANDOMIZE_DOWNLOAD_DELAY": source.delay_s > 0,
        "AUTOTHROTTLE_START_DELAY": max(source.delay_s, 0.1),
        "AUTOTHROTTLE_MAX_DELAY": max(60.0, source.delay_s * 10),
        "CONCURRENT_REQUESTS_PER_DOMAIN": source.concurrency,
        "CONCURRENT_REQUESTS": source.concurrency,
        "DOWNLOAD_TIMEOUT": source.timeout_s,
        "RETRY_TIMES": source.retry_times,
        "INGEST_RETRY_BACKOFF_S": source.retry_backoff_s,
        "INGEST_MAX_RETRY_AFTER_S": source.max_retry_after_s,
    }


def spider_class(source: Source) -> type:
    from pipeline.ingest.spiders import SPIDERS

    base = SPIDERS[source.kind]
    return type(f"{base.__name__}_{abs(hash(source.name))}", (base,),
                {"name": source.name, "custom_settings": source_settings(source)})


def crawl(settings: Settings, sources: list[Source], *, log_level: str = "INFO") -> dict[str, dict[str, Any]]:
    """Crawl the sources once, in this process, and return counts per source. Once per process."""
    from scrapy.crawler import CrawlerProcess

    from pipeline.bootstrap import build_bus
    from pipeline.ingest.spiders.base import IngestContext

    bus = build_bus(settings)
    try:
        bus.setup([settings.topic("posts.raw")])
        ctx = IngestContext(settings=settings, bus=bus, batch_size=settings.stages.batch_size)
        process = CrawlerProcess(process_settings(settings, log_level), install_root_handler=True)
        for source in sources:
            process.crawl(spider_class(source), source=source, ctx=ctx)
        process.start()
        return ctx.results
    finally:
        bus.close()


def select(sources: list[Source], names: list[str] | None) -> list[Source]:
    if not names:
        return [s for s in sources if s.enabled]
    known = {s.name: s for s in sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


def crawl_in_subprocess(config: Path | None, sources_file: Path, names: list[str] | None = None, *,
                        log_level: str = "WARNING", timeout_s: float = 600,
                        env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    cmd = [sys.executable, "-m", "pipeline.ingest.runner", "--sources", str(sources_file), "--log-level", log_level]
    if config:
        cmd += ["--config", str(config)]
    for name in names or []:
        cmd += ["--source", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env or os.environ.copy())
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(SUMMARY_PREFIX):
            return json.loads(line[len(SUMMARY_PREFIX):])
    raise RuntimeError(f"ingest subprocess exited {proc.returncode} without a summary:\n{proc.stderr[-4000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest.runner")
    parser.add_argument("--config")
    parser.add_argument("--sources", help="sources.yaml (default: next to the main config)")
    parser.add_argument("--source", action="append", dest="names")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    sources_file = Path(args.sources) if args.sources else settings.config_dir / "sources.yaml"
    sources = select(load_sources(sources_file, settings.config_path(settings.classify.schools_file)), args.names)
    results = crawl(settings, sources, log_level=args.log_level)
    print(SUMMARY_PREFIX + json.dumps(results, sort_keys=True), flush=True)
    return 1 if any(r["failed"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
