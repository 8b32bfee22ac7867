"""Running spiders: Scrapy settings per source, one in-process crawl, or a crawl in a subprocess.

Twisted's reactor cannot be restarted inside one process, so anything that crawls more than once
per process (Prefect flow runs, tests, the CLI's watch mode) uses ``crawl_in_subprocess``.

The child speaks a line protocol on stdout (everything else goes to stderr):
- ``INGEST-PROGRESS {json}``: one per parsed page, flushed batch and closed source, with the
  source's counts so far (``source``, ``event`` = page|batch|closed, and the summary keys);
- ``INGEST-SUMMARY {json}``: last line, name -> summary (see ``SourceSpider.counts``);
- ``INGEST-ERROR {json}``: ``{"type": "config"|"bus", "message": ...}`` when it could not start.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.bus import BusError
from pipeline.config import ConfigError, Settings, load_settings
from pipeline.errors import ServiceError
from pipeline.ingest.sources import Source, configured_sources

SUMMARY_PREFIX = "INGEST-SUMMARY "
PROGRESS_PREFIX = "INGEST-PROGRESS "
ERROR_PREFIX = "INGEST-ERROR "
# The directory that holds the ``pipeline`` package: the child must import the same code.
_CODE_ROOT = str(Path(__file__).resolve().parents[2])


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


def crawl(settings: Settings, sources: list[Source], *, log_level: str = "INFO",
          on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Crawl the sources once, in this process, and return counts per source. Once per process.

    ``on_progress`` is called in the crawl's thread with a source's counts after each page,
    flushed batch and at its close. Raises BusError when the bus cannot be set up.
    """
    from scrapy.crawler import CrawlerProcess

    from pipeline.bootstrap import build_bus
    from pipeline.ingest.spiders.base import IngestContext

    bus = build_bus(settings)
    ctx = None
    try:
        bus.setup([settings.topic("posts.raw")])
        ctx = IngestContext(settings=settings, bus=bus, batch_size=settings.stages.batch_size, on_progress=on_progress)
        process = CrawlerProcess(process_settings(settings, log_level), install_root_handler=True)
        for source in sources:
            process.crawl(spider_class(source), source=source, ctx=ctx)
        process.start()
        return ctx.results
    finally:
        if ctx is not None:
            ctx.close()
        bus.close()


def select(sources: list[Source], names: list[str] | None) -> list[Source]:
    """The named sources (disabled ones too: naming one is asking for it), or every enabled one."""
    if not names:
        return [s for s in sources if s.enabled]
    known = {s.name: s for s in sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(known) or 'none'}")
    return [known[n] for n in dict.fromkeys(names)]


def crawl_in_subprocess(config: Path | None, sources_file: Path, names: list[str] | None = None, *,
                        log_level: str = "WARNING", timeout_s: float = 600,
                        env: dict[str, str] | None = None,
                        on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Crawl in a child process and return its summary (name -> counts).

    ``env`` replaces the child's environment (default: this one's), so ``THREATLINE_*``
    overrides apply there as here. ``on_progress`` receives each progress event as it happens.
    Raises ConfigError/BusError when the child could not start a crawl, ServiceError when it
    died without a summary or ran past ``timeout_s`` (the child is then killed).
    """
    cmd = [sys.executable, "-m", "pipeline.ingest.runner", "--sources", str(sources_file), "--log-level", log_level]
    if config:
        cmd += ["--config", str(config)]
    for name in names or []:
        cmd += ["--source", name]
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (_CODE_ROOT, child_env.get("PYTHONPATH")) if p)
    child_env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env)
    stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
    drain = threading.Thread(target=lambda: stderr_tail.extend(proc.stderr), daemon=True)
    drain.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    summary: dict[str, dict[str, Any]] | None = None
    error: dict[str, str] | None = None
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(PROGRESS_PREFIX) and on_progress is not None:
                on_progress(json.loads(line[len(PROGRESS_PREFIX):]))
            elif line.startswith(SUMMARY_PREFIX):
                summary = json.loads(line[len(SUMMARY_PREFIX):])
            elif line.startswith(ERROR_PREFIX):
                error = json.loads(line[len(ERROR_PREFIX):])
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drain.join(timeout=5)
    if timed_out.is_set():
        raise ServiceError(f"the crawl did not finish within {timeout_s:.0f} s and was stopped; "
                           "its sources keep their cursors, so the next run resumes")
    if error is not None:
        raise (ConfigError if error.get("type") == "config" else BusError)(error.get("message", "?"))
    if summary is None:
        last = next((line.strip() for line in reversed(stderr_tail) if line.strip()), "no output")
        raise ServiceError(f"the crawl process exited {proc.returncode} without a summary: {last}")
    return summary


def _emit(prefix: str, payload: Any) -> None:
    print(prefix + json.dumps(payload, sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest.runner")
    parser.add_argument("--config")
    parser.add_argument("--sources", help="sources.yaml (default: next to the main config)")
    parser.add_argument("--source", action="append", dest="names")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        sources = select(configured_sources(settings, Path(args.sources) if args.sources else None), args.names)
    except ConfigError as exc:
        _emit(ERROR_PREFIX, {"type": "config", "message": str(exc)})
        return 2
    try:
        results = crawl(settings, sources, log_level=args.log_level,
                        on_progress=lambda event: _emit(PROGRESS_PREFIX, event))
    except BusError as exc:
        _emit(ERROR_PREFIX, {"type": "bus", "message": str(exc)})
        return 2
    _emit(SUMMARY_PREFIX, results)
    return 1 if any(r["failed"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
