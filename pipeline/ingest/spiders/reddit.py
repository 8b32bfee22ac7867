"""Reddit public listings: ``/r/NAME/new.json`` (or ``search.json`` within the subreddit).

Listings are newest first and paged with ``after``. A run stops paging at the first post not
newer than the newest one the previous run saw, or after ``max_pages``.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import parse_date


class RedditSpider(SourceSpider):
    kind = "reddit"

    def listing_url(self, after: str | None) -> str:
        s = self.source
        base = s.base_url.rstrip("/")
        query: dict[str, str | int] = {"limit": s.page_size, "raw_json": 1}
        if s.search:
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
        self.pages += 1
        body = self.json_or_none(response)
        try:
            listing = body["data"]
            children = listing["children"]
        except (TypeError, KeyError):
            if body is not None:
                self.note_malformed(response.url, "no data.children")
            return
        reached_old = False
        for child in children:
            data = (child or {}).get("data") or {}
            created = data.get("created_utc")
            if not isinstance(created, int | float) or not data.get("name"):
                self.malformed += 1
                continue
            if created < self.newest:
                reached_old = True
                continue
            self.pending["newest_created"] = max(self.pending["newest_created"], created)
            post = self._post(data)
            if post is not None:
                yield post
        after = listing.get("after")
        if after and not reached_old and page < self.source.max_pages:
            yield self.request(self.listing_url(after), self.parse_listing, cb_kwargs={"page": page + 1})

    def _post(self, data: dict):
        name = data["name"]
        if name.startswith("t1_"):
            text, thread = data.get("body") or "", data.get("link_id") or name
        else:
            text = "\n\n".join(p for p in (data.get("title"), data.get("selftext")) if p)
            thread = name
        permalink = data.get("permalink")
        # raw_json=1 asks for unescaped text, but mirrors and old endpoints still send &amp;.
        return self.post(
            native_id=name, text=html.unescape(text), author=data.get("author"),
            url=f"{self.source.base_url.rstrip('/')}{permalink}" if permalink else data.get("url"),
            thread_id=thread, created_at=parse_date(data.get("created_utc")),
        )
