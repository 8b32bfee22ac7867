"""RSS 2.0 and Atom feeds, read with Scrapy's XML selectors (no feedparser).

One conditional GET per run (``If-None-Match`` / ``If-Modified-Since`` from the last clean run);
the seen-set drops entries an earlier run published.
"""

from __future__ import annotations

import re

from lxml import etree
from scrapy import Selector

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import mentions_any, parse_date, strip_html


# A guid/id that is a URI (http:, https:, tag:, urn:) names the entry wherever it is syndicated.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


class FeedSpider(SourceSpider):
    kind = "rss"
    handle_httpstatus_list = [304]

    def dedupe_key(self, native_id: str) -> str:
        # Two feeds that carry one article (a site feed and a category feed) share its URI guid
        # or link. A bare guid like "4411" is only unique within its feed: keeping it per source
        # errs towards a duplicate rather than towards dropping another feed's post.
        return f"feed|{native_id}" if _URI.match(native_id) else super().dedupe_key(native_id)

    async def start(self):
        cached = self.state.get("http", {})
        headers = {}
        if cached.get("etag"):
            headers["If-None-Match"] = cached["etag"]
        if cached.get("last_modified"):
            headers["If-Modified-Since"] = cached["last_modified"]
        yield self.request(self.source.url, self.parse_feed, headers=headers)

    def parse_feed(self, response):
        self.page_done()
        if response.status == 304:
            self.crawler.stats.inc_value("ingest/not_modified")
            return
        try:
            etree.fromstring(response.body)
        except etree.XMLSyntaxError as exc:
            # Keep what the lenient parse below recovers, but remember no validators: the next
            # run must fetch the whole feed again instead of getting a 304 for a broken copy.
            self.note_malformed(response.url, f"XML: {exc}")
        else:
            validators = {
                "etag": _header(response, "ETag"),
                "last_modified": _header(response, "Last-Modified"),
            }
            self.pending["http"] = {k: v for k, v in validators.items() if v}
        sel = Selector(text=response.text, type="xml")
        sel.remove_namespaces()
        language = sel.xpath("/rss/channel/language/text()").get() or sel.xpath("/feed/@lang").get()
        for entry in sel.xpath("//item | //entry"):
            post = self.build(lambda e: self._entry(e, response, language), entry, response.url)
            if post is not None:
                yield post

    def _entry(self, entry, response, language):
        link = (
            entry.xpath("link[not(@rel) or @rel='alternate']/@href").get()
            or entry.xpath("link/text()").get()
        )
        native_id = (entry.xpath("guid/text()").get() or entry.xpath("id/text()").get() or link or "").strip()
        title = strip_html(entry.xpath("title/text()").get())
        body = strip_html(
            entry.xpath("encoded/text()").get()
            or entry.xpath("content/text()").get()
            or entry.xpath("description/text()").get()
            or entry.xpath("summary/text()").get()
        )
        text = "\n\n".join(part for part in (title, body) if part)
        if not native_id or not text:
            self.note_bad_item(response.url, "entry without id/link or text")
            return None
        if self.source.require_terms and not mentions_any(text, self.source.terms):
            self.note_filtered("off_topic")
            return None
        author = (
            entry.xpath("author/name/text()").get() or entry.xpath("creator/text()").get()
            or entry.xpath("author/text()").get()
        )
        date = (
            entry.xpath("pubDate/text()").get() or entry.xpath("published/text()").get()
            or entry.xpath("updated/text()").get() or entry.xpath("date/text()").get()
        )
        return self.post(
            native_id=native_id, text=text, author=author.strip() if author else None,
            url=response.urljoin(link.strip()) if link else None, created_at=parse_date(date),
            language=(entry.xpath("@lang").get() or language or None),
        )


def _header(response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
