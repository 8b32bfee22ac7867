"""Bluesky public post search through an AppView: ``app.bsky.feed.searchPosts`` with ``cursor``.

One search per term, newest first (``sort=latest``); ``since`` carries the newest ``indexedAt``
of the previous run so a re-run only pages through what is new.
"""

from __future__ import annotations

from urllib.parse import urlencode

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import parse_date

WEB = "https://bsky.app"


class BlueskySpider(SourceSpider):
    kind = "bluesky"

    def search_url(self, term: str, cursor: str | None) -> str:
        query: dict[str, str | int] = {"q": term, "sort": "latest", "limit": self.source.page_size}
        since = self.state.get("since", {}).get(term)
        if since:
            query["since"] = since
        if cursor:
            query["cursor"] = cursor
        return f"{self.source.base_url.rstrip('/')}/xrpc/app.bsky.feed.searchPosts?{urlencode(query)}"

    async def start(self):
        self.pending["since"] = dict(self.state.get("since", {}))
        for term in self.source.terms:
            yield self.request(self.search_url(term, None), self.parse_search, cb_kwargs={"term": term, "page": 1})

    def parse_search(self, response, term: str, page: int):
        self.pages += 1
        body = self.json_or_none(response)
        if body is None:
            return
        posts = body.get("posts") if isinstance(body, dict) else None
        if not isinstance(posts, list):
            self.note_malformed(response.url, "no posts list")
            return
        for item in posts:
            indexed = (item or {}).get("indexedAt")
            newest = self.pending["since"].get(term)
            if indexed and (newest is None or parse_date(indexed) > parse_date(newest)):
                self.pending["since"][term] = indexed
            post = self._post(item or {})
            if post is not None:
                yield post
        cursor = body.get("cursor")
        if cursor and posts and page < self.source.max_pages:
            yield self.request(self.search_url(term, cursor), self.parse_search,
                               cb_kwargs={"term": term, "page": page + 1})

    def _post(self, item: dict):
        record = item.get("record") or {}
        author = item.get("author") or {}
        uri = item.get("uri") or ""
        handle = author.get("handle")
        rkey = uri.rsplit("/", 1)[-1] if uri else None
        langs = record.get("langs") or []
        reply = record.get("reply") or {}
        return self.post(
            native_id=uri, text=record.get("text") or "", author=handle,
            url=f"{WEB}/profile/{handle}/post/{rkey}" if handle and rkey else None,
            thread_id=(reply.get("root") or {}).get("uri"),
            created_at=parse_date(record.get("createdAt") or item.get("indexedAt")),
            language=langs[0] if langs else None,
        )
