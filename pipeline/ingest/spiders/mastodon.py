"""Mastodon public hashtag timelines: ``/api/v1/timelines/tag/TAG`` on the configured instance.

Each tag's timeline is paged newest first with ``max_id``; ``since_id`` (the newest id the last
run saw) bounds it from below, so a re-run only asks for what is new.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import parse_date, strip_html


def _id_key(value: str) -> tuple[int, str]:
    # Status ids are numeric strings of varying length; compare as numbers where possible.
    return (int(value), value) if value.isdigit() else (0, value)


class MastodonSpider(SourceSpider):
    kind = "mastodon"

    def timeline_url(self, tag: str, max_id: str | None) -> str:
        query: dict[str, str | int] = {"limit": min(self.source.page_size, 40)}
        since = self.state.get("since_id", {}).get(tag)
        if since:
            query["since_id"] = since
        if max_id:
            query["max_id"] = max_id
        return f"{self.source.base_url.rstrip('/')}/api/v1/timelines/tag/{quote(tag)}?{urlencode(query)}"

    async def start(self):
        self.pending["since_id"] = dict(self.state.get("since_id", {}))
        for tag in self.source.tags:
            yield self.request(self.timeline_url(tag, None), self.parse_timeline, cb_kwargs={"tag": tag, "page": 1})

    def parse_timeline(self, response, tag: str, page: int):
        self.pages += 1
        statuses = self.json_or_none(response)
        if statuses is None:
            return
        if not isinstance(statuses, list):
            self.note_malformed(response.url, "expected a list of statuses")
            return
        oldest = None
        for status in statuses:
            sid = str((status or {}).get("id") or "")
            if not sid:
                self.malformed += 1
                continue
            newest = self.pending["since_id"].get(tag)
            if newest is None or _id_key(sid) > _id_key(newest):
                self.pending["since_id"][tag] = sid
            if oldest is None or _id_key(sid) < _id_key(oldest):
                oldest = sid
            post = self._post(status)
            if post is not None:
                yield post
        if statuses and oldest and page < self.source.max_pages:
            yield self.request(self.timeline_url(tag, oldest), self.parse_timeline,
                               cb_kwargs={"tag": tag, "page": page + 1})

    def _post(self, status: dict):
        if status.get("reblog"):
            status = status["reblog"]
        text = "\n\n".join(p for p in (strip_html(status.get("spoiler_text")), strip_html(status.get("content"))) if p)
        account = status.get("account") or {}
        return self.post(
            native_id=str(status["id"]), text=text, author=account.get("acct") or account.get("username"),
            url=status.get("url") or status.get("uri"), thread_id=status.get("in_reply_to_id"),
            created_at=parse_date(status.get("created_at")), language=status.get("language"),
        )
