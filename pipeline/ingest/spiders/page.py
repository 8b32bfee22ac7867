"""A generic HTML page spider driven by the CSS/XPath selectors of a source in sources.yaml.

For forums and school community pages without an API. Paging follows ``next`` up to
``max_pages`` and stops early at a page whose every post was already published.

HTML parsers recover from almost anything, so "malformed" is judged by what the selectors find:
a page where the item selector matches nothing (a redesign, an error or login page served with
200) and an item without an id or text are counted, never dropped silently.
"""

from __future__ import annotations

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import mentions_any, parse_date, strip_html


def pick(node, expr: str | None) -> str:
    if not expr:
        return ""
    found = node.xpath(expr[6:]) if expr.startswith("xpath:") else node.css(expr)
    return strip_html(" ".join(found.getall()))


class PageSpider(SourceSpider):
    kind = "page"

    async def start(self):
        yield self.request(self.source.url, self.parse_page, cb_kwargs={"page": 1})

    def parse_page(self, response, page: int):
        self.page_done()
        sel = self.source.selectors
        if not hasattr(response, "css"):
            self.note_malformed(response.url, "not HTML")
            return
        nodes = response.xpath(sel.item[6:]) if sel.item.startswith("xpath:") else response.css(sel.item)
        if not nodes:
            self.note_malformed(response.url, f"item selector {sel.item!r} matched nothing")
            return
        fresh = 0
        for node in nodes:
            native_id, text = pick(node, sel.id), pick(node, sel.text)
            if not native_id or not text:
                self.note_bad_item(response.url, f"item without {'id' if not native_id else 'text'}")
                continue
            if self.source.require_terms and not mentions_any(text, self.source.terms):
                # Never published, so never "seen": it must not count as fresh, or every run
                # would page to max_pages.
                self.note_filtered("off_topic")
                continue
            if not self.already_seen(native_id):
                fresh += 1
            link = pick(node, sel.url)
            harvest = self.post(
                native_id=native_id, text=text, author=pick(node, sel.author) or None,
                url=response.urljoin(link) if link else response.url,
                created_at=parse_date(pick(node, sel.created_at)),
            )
            if harvest is not None:
                yield harvest
        next_link = pick(response, sel.next)
        if next_link and fresh and page < self.source.max_pages:
            yield self.request(response.urljoin(next_link), self.parse_page, cb_kwargs={"page": page + 1})
