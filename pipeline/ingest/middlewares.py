"""Retries with exponential backoff that honour ``Retry-After`` (429/503).

Scrapy's stock RetryMiddleware re-queues at once; an API that just asked us to slow down would
see the retry immediately. Here the retried request carries its delay and waits before download,
and a Retry-After holds back every request to that host from this process (rate limits are per
client address, so the other tags, pages and sources on that host must wait too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.retry import RetryMiddleware

log = logging.getLogger(__name__)

# host -> monotonic time before which no request goes there; shared by every source of a crawl
_HOST_PAUSED_UNTIL: dict[str, float] = {}


def retry_after_seconds(value: bytes | str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/unreadable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_s = settings.getfloat("INGEST_RETRY_BACKOFF_S", 2.0)
        self.max_retry_after_s = settings.getfloat("INGEST_MAX_RETRY_AFTER_S", 300.0)

    async def process_request(self, request):
        delay = request.meta.get("retry_delay") or 0.0
        paused = _HOST_PAUSED_UNTIL.get(_host(request.url), 0.0) - time.monotonic()
        if max(delay, paused) > 0:
            await asyncio.sleep(max(delay, paused))
        return None

    def process_response(self, request, response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        asked = retry_after_seconds(response.headers.get("Retry-After")) if response.status in (429, 503) else None
        if asked is not None and asked > self.max_retry_after_s:
            log.warning("%s asked to wait %.0fs (over %.0fs): giving up until the next run",
                        request.url, asked, self.max_retry_after_s)
            self.crawler.stats.inc_value("ingest/retry_after_too_long")
            return response
        if asked:
            host = _host(request.url)
            _HOST_PAUSED_UNTIL[host] = max(_HOST_PAUSED_UNTIL.get(host, 0.0), time.monotonic() + asked)
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        return self._with_delay(retry, asked)

    def process_exception(self, request, exception):
        retry = super().process_exception(request, exception)
        return self._with_delay(retry, None) if retry is not None else None

    def _with_delay(self, retry, asked: float | None):
        attempt = retry.meta.get("retry_times", 1)
        retry.meta["retry_delay"] = asked if asked is not None else self.backoff_s * 2 ** (attempt - 1)
        return retry


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()
