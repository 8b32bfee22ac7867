"""A loopback server that serves given posts the way each source kind's real API does.

The demo crawls the bundled samples through it with the real spiders, and `bench/ingest.py`
times the spiders on generated posts with it; both need every kind's wire format and paging
(Reddit ``after``, Mastodon ``max_id``, Bluesky ``cursor``, RSS/Atom, a forum with ``next``).
It ignores search terms and tags: every query of a source answers with that source's posts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from pipeline.schema import RawPost

Route = Callable[[dict[str, str]], tuple[str, str]]  # query -> (content type, body)
JSON = "application/json"

# What a page source must be configured with to read the forum pages served here.
PAGE_SELECTORS = {"item": "article.post", "id": "::attr(data-post-id)", "text": ".post-body",
                  "author": ".post-author::text", "created_at": "time::attr(datetime)",
                  "url": "a.permalink::attr(href)", "next": "a[rel=next]::attr(href)"}


class ReplayServer:
    def __init__(self, page_size: int = 25):
        self.page_size = page_size
        self.routes: dict[str, Route] = {"/robots.txt": lambda q: ("text/plain", "User-agent: *\nAllow: /\n")}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                route = routes.get(parts.path)
                if route is None:
                    ctype, body, status = "text/plain", "not here", 404
                else:
                    (ctype, body), status = route({k: v[-1] for k, v in parse_qs(parts.query).items()}), 200
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve(self, name: str, kind: str, posts: Sequence[RawPost]) -> dict:
        """Serve `posts` as source `name` of `kind` would; return the sources.yaml keys that point
        a spider here."""
        # Each source under its own path prefix, so two sources of one kind never share a route.
        prefix = "/" + quote(name.replace(":", "-"))
        if kind == "reddit":
            return self.reddit(prefix, posts)
        if kind == "mastodon":
            return self.mastodon(prefix, posts)
        if kind == "bluesky":
            return self.bluesky(prefix, posts)
        if kind == "rss":
            return self.feed(prefix + ".xml", name, posts)
        return self.forum(prefix, posts)

    # --- one method per kind: add the routes, return what the source entry needs -------------

    def reddit(self, prefix: str, posts: Sequence[RawPost]) -> dict:
        children = [{"kind": p.native_id[:2], "data": _reddit_data(p)} for p in _newest_first(posts)]
        pages = _chunks(children, self.page_size)
        names = [page[-1]["data"]["name"] for page in pages if page]

        def listing(query):
            i = names.index(query["after"]) + 1 if query.get("after") in names else 0
            page = pages[i] if i < len(pages) else []
            return JSON, json.dumps({"kind": "Listing", "data": {
                "after": names[i] if i + 1 < len(pages) else None, "children": page}})

        self.routes[f"{prefix}/r/demo/new.json"] = listing
        return {"base_url": self.url + prefix, "subreddit": "demo"}

    def mastodon(self, prefix: str, posts: Sequence[RawPost]) -> dict:
        # Instance-local ids descend with age, as Mastodon's snowflake ids do.
        statuses = [_status(p, str(10**17 + len(posts) - i)) for i, p in enumerate(_newest_first(posts))]

        def timeline(query):
            below = int(query.get("max_id", 10**18))
            newer = int(query.get("since_id", 0))
            page = [s for s in statuses if newer < int(s["id"]) < below][:self.page_size]
            return JSON, json.dumps(page)

        self.routes[f"{prefix}/api/v1/timelines/tag/demo"] = timeline
        return {"base_url": self.url + prefix, "tags": ["demo"]}

    def bluesky(self, prefix: str, posts: Sequence[RawPost]) -> dict:
        items = [_bsky_post(p) for p in _newest_first(posts)]

        def search(query):
            start = int(query.get("cursor", 0))
            end = start + self.page_size
            body = {"posts": items[start:end], **({"cursor": str(end)} if end < len(items) else {})}
            return JSON, json.dumps(body)

        self.routes[f"{prefix}/xrpc/app.bsky.feed.searchPosts"] = search
        return {"base_url": self.url + prefix, "terms": ["demo"]}

    def feed(self, path: str, title: str, posts: Sequence[RawPost], atom: bool = False) -> dict:
        body = _atom(title, posts) if atom else _rss(title, posts)
        self.routes[path] = lambda query: ("application/atom+xml" if atom else "application/rss+xml", body)
        return {"url": self.url + path}

    def forum(self, path: str, posts: Sequence[RawPost]) -> dict:
        pages = _chunks(_newest_first(posts), self.page_size)

        def page(query):
            i = int(query.get("page", 0))
            nxt = f'<a rel="next" href="{path}?page={i + 1}">Older posts</a>' if i + 1 < len(pages) else ""
            return "text/html", f"<!doctype html><html><body>{''.join(map(_forum_post, pages[i] if i < len(pages) else []))}{nxt}</body></html>"

        self.routes[path] = page
        return {"url": self.url + path, "selectors": PAGE_SELECTORS}


def _newest_first(posts: Sequence[RawPost]) -> list[RawPost]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return sorted(posts, key=lambda p: p.created_at or epoch, reverse=True)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def _iso(post: RawPost) -> str:
    return (post.created_at or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _reddit_data(post: RawPost) -> dict:
    data = {"name": post.native_id, "author": post.author,
            "created_utc": (post.created_at or datetime.now(UTC)).timestamp(),
            "permalink": urlsplit(post.url).path if post.url else None}
    if post.native_id.startswith("t1_"):
        return {**data, "body": post.text, "link_id": post.thread_id}
    title, _, selftext = post.text.partition("\n\n")
    return {**data, "title": title, "selftext": selftext}


def _status(post: RawPost, local_id: str) -> dict:
    paragraphs = "".join(f"<p>{escape(part)}</p>" for part in post.text.split("\n\n"))
    return {"id": local_id, "uri": post.native_id, "url": post.url, "created_at": _iso(post),
            "content": paragraphs, "spoiler_text": "", "language": post.language, "reblog": None,
            "in_reply_to_id": None, "account": {"acct": post.author, "username": post.author}}


def _bsky_post(post: RawPost) -> dict:
    return {"uri": post.native_id, "indexedAt": _iso(post), "author": {"handle": post.author},
            "record": {"text": post.text, "createdAt": _iso(post), **({"langs": [post.language]} if post.language else {})}}


def _rss(title: str, posts: Sequence[RawPost]) -> str:
    items = []
    for p in _newest_first(posts):
        head, _, body = p.text.partition("\n\n")
        when = (p.created_at or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S %z")
        items.append(f"<item><guid>{xml_escape(p.native_id)}</guid><title>{xml_escape(head)}</title>"
                     f"<link>{xml_escape(p.url or p.native_id)}</link>"
                     f"<description>{xml_escape(escape(body))}</description><pubDate>{when}</pubDate>"
                     + (f"<author>{xml_escape(p.author)}</author>" if p.author else "") + "</item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{xml_escape(title)}</title>'
            f"<language>en</language>{''.join(items)}</channel></rss>")


def _atom(title: str, posts: Sequence[RawPost]) -> str:
    entries = []
    for p in _newest_first(posts):
        head, _, body = p.text.partition("\n\n")
        entries.append(f"<entry><id>{xml_escape(p.native_id)}</id><title>{xml_escape(head)}</title>"
                       f'<link rel="alternate" href="{xml_escape(p.url or p.native_id)}"/>'
                       f"<updated>{_iso(p)}</updated><published>{_iso(p)}</published>"
                       f'<summary type="html">{xml_escape(escape(body))}</summary>'
                       + (f"<author><name>{xml_escape(p.author)}</name></author>" if p.author else "") + "</entry>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
            f"<title>{xml_escape(title)}</title>{''.join(entries)}</feed>")


def _forum_post(post: RawPost) -> str:
    author = f'<span class="post-author">{escape(post.author)}</span>' if post.author else ""
    body = "".join(f"<p>{escape(part)}</p>" for part in post.text.split("\n\n"))
    return (f'<article class="post" data-post-id="{escape(post.native_id)}">{author}'
            f'<time datetime="{_iso(post)}">{_iso(post)}</time><div class="post-body">{body}</div>'
            f'<a class="permalink" href="{escape(post.url or "#" + quote(post.native_id))}">link</a></article>')
