"""Ingest flow: crawl public sources into ``posts.raw`` (issue: ingestion).

A run crawls in a child process because Twisted's reactor cannot restart inside one process and
Prefect's runner keeps its process alive between runs. The flow fails when posts could not be
published, so Prefect shows it; the source's cursor then stays put and the next run retries.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from pipeline.config import load_settings
from pipeline.ingest.runner import crawl_in_subprocess


class IngestFailed(RuntimeError):
    pass


@flow(name="ingest-public-posts", log_prints=False)
def ingest_public_posts(source: str | None = None, config_path: str | None = None) -> dict:
    """Crawl one source (or every enabled one) once; return counts per source."""
    settings = load_settings(config_path)
    results = crawl_in_subprocess(settings.config_file, settings.config_path(settings.ingest.sources_file),
                                  [source] if source else None, timeout_s=settings.ingest.run_timeout_s)
    log = get_run_logger()
    for name, r in sorted(results.items()):
        log.info("%s: produced %d, skipped %d, failed %d, malformed %d, errors %d, pages %d (%s)", name,
                 r["produced"], r["skipped"], r["failed"], r["malformed"], r["errors"], r["pages"], r["reason"])
    failed = {name: r["failed"] for name, r in results.items() if r["failed"]}
    if failed:
        raise IngestFailed(f"posts not published (the next run retries them): {failed}")
    return results
