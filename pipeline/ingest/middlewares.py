"""Retries with exponential backoff that honour ``Retry-After`` (429/503).

Scrapy's stock RetryMiddleware re-queues at once; an API that just asked us to slow down would
see the retry immediately. Here the retried request carries its delay and waits before download.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware

log = logging.getLogger(__name__)


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
        delay = request.meta.get("retry_delay")
        if delay:
            await asyncio.sleep(delay)
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
