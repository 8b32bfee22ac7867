"""Hand-written source responses for the fictional Riverton district (config/schools.yaml).

Every text, handle and id here is invented for these tests. Each ``install_*`` function adds
one source kind's routes to a FixtureServer; ``server.phase`` 2 simulates new posts arriving
between two runs.
"""

from __future__ import annotations

import json

JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "application/rss+xml"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


# --- Reddit -----------------------------------------------------------------------------------

def _reddit(name, created, author, title=None, selftext=None, body=None, link_id=None):
    data = {"name": name, "created_utc": created, "author": author,
            "permalink": f"/r/riverton/comments/{name[3:]}/x/"}
    if body is not None:
        data.update(body=body, link_id=link_id)
    else:
        data.update(title=title, selftext=selftext or "")
    return {"kind": name[:2], "data": data}


R_A1 = _reddit("t3_rv0a1", 1795000100, "prairie_dad_77", "Lynx Stadium parking for Friday?", "Is the north lot open for the playoff game?")
R_C1 = _reddit("t1_rvc01", 1795000200, "hollyhock_lane", body="North lot opens at 5, bring cash.", link_id="t3_rv0a1")
R_A2 = _reddit("t3_rv0a2", 1795000300, "walks_everywhere", "Sycamore book fair volunteers", "Sign-up sheet is on the Acorn Room door.")
R_A3 = _reddit("t3_rv0a3", 1795000400, "maple_mom", "Maple Ridge band concert &amp; bake sale", "Thursday 7pm in the Mustang Gym.")
R_A4 = _reddit("t3_rv0a4", 1795000500, "first_snow_fan", "Two-hour delay tomorrow?", "Anyone heard if Lincoln High is delayed?")


def _listing(children, after):
    return json.dumps({"kind": "Listing", "data": {"after": after, "children": children}})


def install_reddit(server):
    def new(query, headers, hit):
        if query.get("after") == "t3_rv0a2":
            # the listing shifted between pages: the comment shows up again (a duplicate)
            return 200, JSON, _listing([R_C1, R_A1], None)
        children = [R_A3, R_A2, R_C1]
        if server.phase >= 2:
            children = [R_A4, *children]
        return 200, JSON, _listing(children, "t3_rv0a2")

    def throttled(query, headers, hit):
        if hit == 1:
            return 429, {**JSON, "Retry-After": "1"}, '{"message": "Too Many Requests", "error": 429}'
        return 200, JSON, _listing([_reddit("t3_lx001", 1795001000, "lynx_fan", "Spirit week schedule", "Wednesday is pajama day")], None)

    def broken(query, headers, hit):
        return 200, JSON, '{"kind": "Listing", "data": {"after": null, "children": [{"kind": "t3", "data": {"name": "t3_br'

    server.routes["/r/riverton/new.json"] = new
    server.routes["/r/lincolnlynx/new.json"] = throttled
    server.routes["/r/brokenjson/new.json"] = broken


# --- Mastodon ---------------------------------------------------------------------------------

def _status(sid, acct, html, lang="en", reply=None):
    return {"id": str(sid), "created_at": f"2026-11-2{sid % 10}T15:00:00.000Z", "language": lang,
            "url": f"https://riverton.social.example/@{acct}/{sid}", "content": html,
            "spoiler_text": "", "in_reply_to_id": reply, "reblog": None,
            "account": {"acct": acct, "username": acct.split("@")[0]}}


M = {
    101: _status(117000000000000101, "coach_dee", "<p>Cougars practice moved to the Cougar Dome today.</p>"),
    102: _status(117000000000000102, "librarian_jo", "<p>Hawthorne Middle <a href=\"#\">#bookclub</a> meets Tuesday.</p>"),
    103: _status(117000000000000103, "rivertonparent", "<p>Thanks to the crossing guard at Alder &amp; 3rd!</p><p>Made my morning.</p>"),
    104: _status(117000000000000104, "band_booster", "<p>Jazz band at the Mustang Gym on Thursday<br>Doors at 6:30</p>", lang="en"),
    105: _status(117000000000000105, "profesora_l", "<p>Reunión de padres en Riverton Central el lunes.</p>", lang="es"),
    106: _status(117000000000000106, "snowday_sam", "<p>First snow! Two-hour delay for all Riverton schools.</p>"),
}


def install_mastodon(server):
    def tag(query, headers, hit):
        ids = [k for k in sorted(M, reverse=True) if server.phase >= 2 or k != 106]
        since = int(query.get("since_id", 0))
        top = int(query["max_id"]) if "max_id" in query else None
        if query.get("max_id") == M[103]["id"] and hit == 1:
            return 500, JSON, '{"error": "internal"}'
        page = [M[k] for k in ids if int(M[k]["id"]) > since and (top is None or int(M[k]["id"]) < top)]
        return 200, JSON, json.dumps(page[:3])

    def broken(query, headers, hit):
        return 200, JSON, '[{"id": "117000000000000201", "content": "<p>Lincoln'

    server.routes["/api/v1/timelines/tag/rivertonschools"] = tag
    server.routes["/api/v1/timelines/tag/broken"] = broken


# --- Bluesky ----------------------------------------------------------------------------------

def _bsky(did, rkey, handle, text, created, langs=("en",), root=None):
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": created, "langs": list(langs)}
    if root:
        record["reply"] = {"root": {"uri": root}, "parent": {"uri": root}}
    return {"uri": f"at://did:plc:{did}/app.bsky.feed.post/{rkey}", "cid": "bafy" + rkey,
            "author": {"did": f"did:plc:{did}", "handle": handle}, "record": record, "indexedAt": created}


B1 = _bsky("aaaa1111", "3n00000000001", "lynxband.bsky.example", "Lincoln High marching band placed 2nd at state!", "2026-11-20T18:00:00.000Z")
B2 = _bsky("bbbb2222", "3n00000000002", "cougarmom.bsky.example", "Lincoln High vs Central tonight, wear purple", "2026-11-20T19:00:00.000Z")
B3 = _bsky("cccc3333", "3n00000000003", "hornetsdad.bsky.example", "reply: see you at Lincoln High", "2026-11-20T20:00:00.000Z",
           root=B2["uri"])
B4 = _bsky("dddd4444", "3n00000000004", "snowday.bsky.example", "Lincoln High two-hour delay confirmed", "2026-11-30T11:00:00.000Z")


def install_bluesky(server):
    def search(query, headers, hit):
        if query.get("q") != "Lincoln High":
            return 200, JSON, json.dumps({"posts": []})
        if "since" in query:
            new = [B4] if server.phase >= 2 else []
            return 200, JSON, json.dumps({"posts": new})
        if query.get("cursor") == "c2":
            no_uri = {"author": {"handle": "x.bsky.example"}, "record": {"text": "no uri here"}}
            return 200, JSON, json.dumps({"posts": [B2, B1, no_uri]})
        return 200, JSON, json.dumps({"posts": [B3, B2], "cursor": "c2"})

    server.routes["/xrpc/app.bsky.feed.searchPosts"] = search


# --- RSS / Atom -------------------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Riverton Courier: Local</title>
  <link>https://riverton-courier.example/</link>
  <language>en-us</language>
  <item>
    <title>School board weighs bus route changes</title>
    <link>https://riverton-courier.example/news/2026/11/17/bus-routes</link>
    <guid isPermaLink="true">https://riverton-courier.example/news/2026/11/17/bus-routes</guid>
    <pubDate>Tue, 17 Nov 2026 21:30:00 -0600</pubDate>
    <dc:creator>Dana Whitfield</dc:creator>
    <description>The board heard &lt;b&gt;three&lt;/b&gt; proposals.</description>
    <content:encoded><![CDATA[<p>The board heard <b>three</b> proposals for Maple Ridge routes.</p><script>track()</script><p>A vote is due in December.</p>]]></content:encoded>
  </item>
  <item>
    <title>Lincoln wins in overtime, 31&#8211;24</title>
    <link>https://riverton-courier.example/sports/2026/11/20/lynx-win</link>
    <guid>courier-sports-4411</guid>
    <pubDate>Fri, 20 Nov 2026 23:05:00 -0600</pubDate>
    <description><![CDATA[<p>The Lynx beat Central at Lynx Stadium.</p>]]></description>
  </item>
  <item>
    <title>First snow brings delays</title>
    <link>https://riverton-courier.example/news/2026/11/30/snow</link>
    <pubDate>Mon, 30 Nov 2026 06:10:00 -0600</pubDate>
    <description>Two-hour delay for all district schools.</description>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>EUSD News</title>
  <id>tag:eusd.example,2026:news</id>
  <updated>2026-11-24T12:00:00Z</updated>
  <entry>
    <title>Lockdown drill at Lincoln High on Wednesday</title>
    <link rel="alternate" href="https://eusd.example/news/lockdown-drill"/>
    <id>tag:eusd.example,2026:news/118</id>
    <published>2026-11-16T16:00:00Z</published>
    <author><name>EUSD Communications</name></author>
    <summary type="html">&lt;p&gt;This is a &lt;em&gt;scheduled&lt;/em&gt; drill.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Thanksgiving break reminder</title>
    <link href="https://eusd.example/news/break"/>
    <id>tag:eusd.example,2026:news/121</id>
    <updated>2026-11-24T12:00:00Z</updated>
    <content type="html">No school Wednesday through Friday.</content>
  </entry>
</feed>
"""

BROKEN_RSS = RSS.split("<item>\n    <title>First snow")[0] + "<item>\n    <title>First sn"


def install_feeds(server):
    def local(query, headers, hit):
        if headers.get("If-None-Match") == '"courier-v1"':
            return 304, {"ETag": '"courier-v1"'}, b""
        return 200, {**XML, "ETag": '"courier-v1"', "Last-Modified": "Mon, 30 Nov 2026 12:10:00 GMT"}, RSS

    server.routes["/feeds/local.xml"] = local
    server.routes["/news/atom.xml"] = lambda q, h, n: (200, {"Content-Type": "application/atom+xml", "ETag": '"a1"'}, ATOM)
    server.routes["/feeds/broken.xml"] = lambda q, h, n: (200, {**XML, "ETag": '"b1"'}, BROKEN_RSS)


# --- Forum pages ------------------------------------------------------------------------------

def _forum_post(pid, author, when, body):
    return f"""
  <article class="post" data-post-id="post-{pid}">
    <span class="post-author">{author}</span> <time datetime="{when}">{when[:10]}</time>
    <div class="post-body">{body}</div>
    <a class="permalink" href="/forum/thread-7/post-{pid}">link</a>
  </article>"""


FORUM_1 = f"""<!doctype html><html><head><title>LHS Parents</title></head><body><main>
{_forum_post(501, "ConcernedParent22", "2026-11-21T09:12:00-06:00", "<p>Does anyone know when <b>B-wing</b> reopens?</p>")}
{_forum_post(502, "LynxMom", "2026-11-21T10:40:00-06:00", "<p>Heard it's Monday.</p><p>Will confirm after the PTA call.</p>")}
<a rel="next" href="/forum/latest?page=2">Older</a>
</main></body></html>"""

FORUM_2 = f"""<!doctype html><html><body><main>
{_forum_post(502, "LynxMom", "2026-11-21T10:40:00-06:00", "<p>Heard it's Monday.</p><p>Will confirm after the PTA call.</p>")}
{_forum_post(499, "RivertonDad", "2026-11-20T20:00:00-06:00", "Robotics team needs drivers Saturday")}
<article class="post"><div class="post-body">a post with no id is skipped</div></article>
</main></body></html>"""


def install_forum(server):
    def latest(query, headers, hit):
        return 200, HTML, FORUM_2 if query.get("page") == "2" else FORUM_1

    server.routes["/forum/latest"] = latest
    server.routes["/private/board"] = lambda q, h, n: (200, HTML, FORUM_1)


def install_all(server):
    install_reddit(server)
    install_mastodon(server)
    install_bluesky(server)
    install_feeds(server)
    install_forum(server)
