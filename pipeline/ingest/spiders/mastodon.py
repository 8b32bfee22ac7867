"""Mastodon through the public REST API of one configured instance.

- hashtag timelines: ``/api/v1/timelines/tag/TAG``;
- account statuses: ``/api/v1/accounts/lookup?acct=ACCT`` gives the instance-local account id,
  then ``/api/v1/accounts/ID/statuses``.

Each timeline is paged newest first with ``max_id``; ``since_id`` (the newest local id the last
run saw, per timeline) bounds it from below, so a re-run only asks for what is new. Local ids
are only for paging: a post's native id is its ActivityPub ``uri``, the same on every instance
a status federates to, so two tags or two instances that show it publish it once.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from pipeline.ingest.spiders.base import SourceSpider
from pipeline.ingest.text import parse_date, strip_html

API_MAX_LIMIT = 40  # Mastodon caps statuses per page at 40


def _id_key(value: str) -> tuple[int, str]:
    # Status ids are numeric strings of varying length; compare as numbers where possible.
    return (int(value), value) if value.isdigit() else (0, value)


class MastodonSpider(SourceSpider):
    kind = "mastodon"

    def dedupe_key(self, native_id: str) -> str:
        return f"ap|{native_id}"

    @property
    def api(self) -> str:
        return f"{self.source.base_url.rstrip('/')}/api/v1"

    @property
    def limit(self) -> int:
        return min(self.source.page_size, API_MAX_LIMIT)

    def timeline_url(self, timeline: str, path: str, max_id: str | None) -> str:
        query: dict[str, str | int] = {"limit": self.limit}
        if timeline.startswith("@"):
            # Boosts are other people's words, from accounts nobody chose to follow: an account
            # source publishes what that account itself posts.
            query["exclude_reblogs"] = "true"
        since = self.state.get("since_id", {}).get(timeline)
        if since:
            query["since_id"] = since
        if max_id:
            query["max_id"] = max_id
        return f"{self.api}{path}?{urlencode(query)}"

    async def start(self):
        self.pending["since_id"] = dict(self.state.get("since_id", {}))
        for tag in self.source.tags:
            timeline, path = f"#{tag}", f"/timelines/tag/{quote(tag)}"
            yield self.request(self.timeline_url(timeline, path, None), self.parse_timeline,
                               cb_kwargs={"timeline": timeline, "path": path, "page": 1})
        for acct in self.source.accounts:
            yield self.request(f"{self.api}/accounts/lookup?{urlencode({'acct': acct})}", self.parse_lookup,
                               cb_kwargs={"acct": acct})

    def parse_lookup(self, response, acct: str):
        account = self.json_or_none(response)
        if account is None:
            return
        account_id = account.get("id") if isinstance(account, dict) else None
        if not isinstance(account_id, str | int) or not str(account_id):
            self.note_malformed(response.url, "account lookup without an id")
            return
        timeline, path = f"@{acct}", f"/accounts/{quote(str(account_id))}/statuses"
        yield self.request(self.timeline_url(timeline, path, None), self.parse_timeline,
                           cb_kwargs={"timeline": timeline, "path": path, "page": 1})

    def parse_timeline(self, response, timeline: str, path: str, page: int):
        self.page_done()
        statuses = self.json_or_none(response)
        if statuses is None:
            return
        if not isinstance(statuses, list):
            self.note_malformed(response.url, "expected a list of statuses")
            return
        oldest = None
        for status in statuses:
            sid = str(status.get("id") or "") if isinstance(status, dict) else ""
            if not sid:
                self.note_bad_item(response.url, "status without id")
                continue
            newest = self.pending["since_id"].get(timeline)
            if newest is None or _id_key(sid) > _id_key(newest):
                self.pending["since_id"][timeline] = sid
            if oldest is None or _id_key(sid) < _id_key(oldest):
                oldest = sid
            if status.get("reblog"):
                self.note_filtered("reblog")
                continue
            harvest = self.build(self._post, status, response.url)
            if harvest is not None:
                yield harvest
        if not statuses or oldest is None:
            return
        if page < self.source.max_pages:
            yield self.request(self.timeline_url(timeline, path, oldest), self.parse_timeline,
                               cb_kwargs={"timeline": timeline, "path": path, "page": page + 1})
        elif len(statuses) >= self.limit and self.state.get("since_id", {}).get(timeline):
            self.note_truncated(timeline)

    def _post(self, status: dict):
        native_id = status.get("uri") or status.get("url")
        if not isinstance(native_id, str) or not native_id:
            raise ValueError(f"status {status.get('id')} without uri")
        text = "\n\n".join(p for p in (strip_html(status.get("spoiler_text")), strip_html(status.get("content"))) if p)
        account = status.get("account") if isinstance(status.get("account"), dict) else {}
        return self.post(
            native_id=native_id, text=text, author=account.get("acct") or account.get("username"),
            url=status.get("url") or status.get("uri"), thread_id=status.get("in_reply_to_id"),
            created_at=parse_date(status.get("created_at")), language=status.get("language"),
        )
