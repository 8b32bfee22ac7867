"""RSS 2.0 and Atom feeds, read with Scrapy's XML selectors (no feedparser)."""

from __future__ import annotations

from lxml import etree
from scrapy import Selector

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import mentions_any, parse_date, strip_html


class FeedSpider(SourceSpider):
    kind = "rss"
    handle_httpstatus_list = [304]

    async def start(self):
        cached = self.state.get("http", {})
        headers = {}
        if cached.get("etag"):
            headers["If-None-Match"] = cached["etag"]
        if cached.get("last_modified"):
            headers["If-Modified-Since"] = cached["last_modified"]
        yield self.request(self.source.url, self.parse_feed, headers=headers)

    def parse_feed(self, response):
        self.pages += 1
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
            post = self._entry(entry, response, language)
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
            self.malformed += 1
            return None
        if self.source.require_terms and not mentions_any(text, self.source.terms):
            self.crawler.stats.inc_value("ingest/off_topic")
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
