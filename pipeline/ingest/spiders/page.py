"""A generic HTML page spider driven by the CSS/XPath selectors of a source in sources.yaml.

For forums and school community pages without an API. Paging follows ``next`` up to
``max_pages`` and stops early at a page whose every post was already published.
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
        self.pages += 1
        sel = self.source.selectors
        if not hasattr(response, "css"):
            self.note_malformed(response.url, "not HTML")
            return
        nodes = response.xpath(sel.item[6:]) if sel.item.startswith("xpath:") else response.css(sel.item)
        fresh = 0
        for node in nodes:
            native_id, text = pick(node, sel.id), pick(node, sel.text)
            if not native_id or not text:
                self.malformed += 1
                continue
            if self.source.require_terms and not mentions_any(text, self.source.terms):
                continue
            if not self.already_seen(native_id):
                fresh += 1
            link = pick(node, sel.url)
            post = self.post(
                native_id=native_id, text=text, author=pick(node, sel.author) or None,
                url=response.urljoin(link) if link else response.url,
                created_at=parse_date(pick(node, sel.created_at)),
            )
            if post is not None:
                yield post
        next_link = pick(response, sel.next)
        if next_link and fresh and page < self.source.max_pages:
            yield self.request(response.urljoin(next_link), self.parse_page, cb_kwargs={"page": page + 1})
