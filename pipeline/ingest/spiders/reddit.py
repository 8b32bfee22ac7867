"""Reddit public listings: ``/r/NAME/new.json``, or ``/r/NAME/search.json`` for the terms.

Listings are newest first and paged with ``after``. A run stops paging at the first page that
reaches a post not newer than the newest one the previous run saw, or after ``max_pages``.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import parse_date


class RedditSpider(SourceSpider):
    kind = "reddit"

    def dedupe_key(self, native_id: str) -> str:
        # A fullname (t3_…, t1_…) names one post on the whole site: a listing source and a
        # search source over the same subreddit publish it once.
        return f"reddit|{urlsplit(self.source.base_url).netloc.lower()}|{native_id}"

    def listing_url(self, after: str | None) -> str:
        s = self.source
        base = s.base_url.rstrip("/")
        query: dict[str, str | int] = {"limit": s.page_size, "raw_json": 1}
        if s.searches:
            query.update(q=" OR ".join(f'"{t}"' for t in s.terms), restrict_sr=1, sort="new")
            path = f"/r/{s.subreddit}/search.json"
        else:
            path = f"/r/{s.subreddit}/new.json"
        if after:
            query["after"] = after
        return f"{base}{path}?{urlencode(query)}"

    async def start(self):
        self.newest = self.state.get("newest_created", 0.0)
        self.pending["newest_created"] = self.newest
        yield self.request(self.listing_url(None), self.parse_listing, cb_kwargs={"page": 1})

    def parse_listing(self, response, page: int):
        self.page_done()
        body = self.json_or_none(response)
        if body is None:
            return
        listing = body.get("data") if isinstance(body, dict) else None
        children = listing.get("children") if isinstance(listing, dict) else None
        if not isinstance(children, list):
            self.note_malformed(response.url, "no data.children list")
            return
        reached_old = False
        for child in children:
            data = child.get("data") if isinstance(child, dict) else None
            created = data.get("created_utc") if isinstance(data, dict) else None
            if not isinstance(created, int | float) or not isinstance(data.get("name"), str) or not data["name"]:
                self.note_bad_item(response.url, "child without name/created_utc")
                continue
            if created < self.newest:
                # Older than the previous run's newest: published then (the seen-set counts it
                # as skipped); no need to page further.
                reached_old = True
            else:
                self.pending["newest_created"] = max(self.pending["newest_created"], created)
            harvest = self.build(self._post, data, response.url)
            if harvest is not None:
                yield harvest
        after = listing.get("after")
        if not after or reached_old:
            return
        if page < self.source.max_pages:
            yield self.request(self.listing_url(after), self.parse_listing, cb_kwargs={"page": page + 1})
        elif self.newest:
            self.note_truncated(f"r/{self.source.subreddit}")

    def _post(self, data: dict):
        name = data["name"]
        if name.startswith("t1_"):
            text, thread = data.get("body") or "", data.get("link_id") or name
        else:
            text = "\n\n".join(p for p in (data.get("title"), data.get("selftext")) if isinstance(p, str) and p)
            thread = name
        permalink = data.get("permalink")
        # raw_json=1 asks for unescaped text, but mirrors and old endpoints still send &amp;.
        return self.post(
            native_id=name, text=html.unescape(text) if isinstance(text, str) else "", author=data.get("author"),
            url=f"{self.source.base_url.rstrip('/')}{permalink}" if permalink else data.get("url"),
            thread_id=thread, created_at=parse_date(data.get("created_utc")),
        )
