"""Hand-written source responses for the fictional Riverton district (config/schools.yaml).

Every text, handle and id here is invented for these tests. Each ``install_*`` function adds
one source kind's routes to a FixtureServer; ``server.phase`` 2 simulates new posts arriving
between two runs.
"""

from __future__ import annotations

import json
import time

SLOW_S = 5.0  # the handler's thread sleeps on; nothing waits for it
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


R_S1 = _reddit("t3_rvs01", 1795000450, "robo_coach", "Lincoln High robotics qualifies for state", "Fundraiser at the Lynx Stadium gate.")
R_S2 = _reddit("t3_rvs02", 1794990000, "old_timer", "Lincoln High reunion planning", "Class of '06, reply here.")


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

    def search(query, headers, hit):
        if query.get("after") == "t3_rv0a3":
            return 200, JSON, _listing([R_S2], None)
        return 200, JSON, _listing([R_S1, R_A3], "t3_rv0a3")

    def busy(query, headers, hit):
        if hit == 1:
            return 503, {"Content-Type": "text/html", "Retry-After": "1"}, "<h1>Service Unavailable</h1>"
        return 200, JSON, _listing([_reddit("t3_bz001", 1795002000, "hawthorne_hawk", "Hawthorne Middle talent show",
                                            "Sign-ups close Friday.")], None)

    server.routes["/r/riverton/new.json"] = new
    server.routes["/r/riverton/search.json"] = search
    server.routes["/r/busy/new.json"] = busy
    server.routes["/r/lincolnlynx/new.json"] = throttled
    server.routes["/r/brokenjson/new.json"] = broken


# --- Mastodon ---------------------------------------------------------------------------------

def _status(sid, acct, html, lang="en", reply=None, local_id=None):
    origin = f"https://riverton.social.example/users/{acct}/statuses/{sid}"
    return {"id": str(local_id or sid), "uri": origin, "created_at": f"2026-11-2{sid % 10}T15:00:00.000Z",
            "language": lang, "url": f"https://riverton.social.example/@{acct}/{sid}", "content": html,
            "spoiler_text": "", "in_reply_to_id": reply, "reblog": None,
            "account": {"acct": acct, "username": acct.split("@")[0]}}


M = {
    101: _status(117000000000000101, "coach_dee", "<p>Cougars practice moved to the Cougar Dome today.</p>"),
    102: _status(117000000000000102, "librarian_jo", "<p>Hawthorne Middle <a href=\"#\">#bookclub</a> meets Tuesday.</p>"),
    103: _status(117000000000000103, "rivertonparent", "<p>Thanks to the crossing guard at Alder &amp; 3rd!</p><p>Made my morning.</p>"),
    104: _status(117000000000000104, "band_booster", "<p>Jazz band at the Mustang Gym on Thursday<br>Doors at 6:30</p>", lang="en"),
    105: _status(117000000000000105, "profesora_l", "<p>Reunión de padres en Riverton Central el lunes.</p>", lang="es"),
    106: _status(117000000000000106, "snowday_sam", "<p>First snow! Two-hour delay for all Riverton schools.</p>"),
    # band_booster's own timeline (account statuses)
    107: _status(117000000000000107, "band_booster", "<p>Uniform fittings Monday in the band room.</p>"),
    108: _status(117000000000000108, "band_booster", "<p>Concert moved to Friday because of the snow.</p>"),
}
BAND_BOOSTER_ID = "109900000000000042"
# band_booster boosting someone else's status: filtered from an account timeline
BOOST = {**_status(117000000000000100, "band_booster", ""), "reblog": M[101]}
# the same status 105 as another instance federates it: its own local id, the origin's uri
M105_ON_B = _status(117000000000000105, "profesora_l", "<p>Reunión de padres en Riverton Central el lunes.</p>",
                    lang="es", local_id=55500000000000005)


def _timeline(entries, query):
    """Newest first, bounded by since_id/max_id and limit 3, as Mastodon pages a timeline."""
    since = int(query.get("since_id", 0))
    top = int(query["max_id"]) if "max_id" in query else None
    page = [e for e in sorted(entries, key=lambda e: int(e["id"]), reverse=True)
            if int(e["id"]) > since and (top is None or int(e["id"]) < top)]
    return json.dumps(page[:3])


def install_mastodon(server):
    def tag(query, headers, hit):
        if query.get("max_id") == M[103]["id"] and hit == 1:
            return 500, JSON, '{"error": "internal"}'
        return 200, JSON, _timeline([M[k] for k in range(101, 107) if server.phase >= 2 or k != 106], query)

    def lookup(query, headers, hit):
        if query.get("acct") == "band_booster":
            return 200, JSON, json.dumps({"id": BAND_BOOSTER_ID, "acct": "band_booster", "username": "band_booster"})
        return 404, JSON, '{"error": "Record not found"}'

    def account_statuses(query, headers, hit):
        own = [M[104], M[107], BOOST] + ([M[108]] if server.phase >= 2 else [])
        return 200, JSON, _timeline(own, query)

    def broken(query, headers, hit):
        return 200, JSON, '[{"id": "117000000000000201", "content": "<p>Lincoln'

    def weird(query, headers, hit):
        odd = {**_status(117000000000000302, "odd_one", ""), "content": {"html": "<p>not a string</p>"}}
        no_uri = {**_status(117000000000000303, "odd_two", "<p>no uri</p>"), "uri": None, "url": None}
        good = _status(117000000000000301, "fine_fran", "<p>Sycamore Elementary science night Tuesday.</p>")
        if "max_id" in query:
            return 200, JSON, "[]"
        return 200, JSON, json.dumps(["a string, not a status", odd, no_uri, good])

    server.routes["/api/v1/timelines/tag/rivertonschools"] = tag
    server.routes["/api/v1/timelines/tag/mustangs"] = lambda q, h, n: (200, JSON, _timeline([M[104]], q))
    server.routes["/api/v1/accounts/lookup"] = lookup
    server.routes[f"/api/v1/accounts/{BAND_BOOSTER_ID}/statuses"] = account_statuses
    server.routes["/inst-b/api/v1/timelines/tag/rivertonschools"] = lambda q, h, n: (200, JSON, _timeline([M105_ON_B], q))
    def throttled(query, headers, hit):
        if hit == 1:
            return 429, {**JSON, "Retry-After": "1"}, '{"error": "Too many requests"}'
        return 200, JSON, "[]"

    server.routes["/api/v1/timelines/tag/broken"] = broken
    server.routes["/api/v1/timelines/tag/slowa"] = throttled
    server.routes["/api/v1/timelines/tag/slowb"] = throttled
    server.routes["/api/v1/timelines/tag/weird"] = weird


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


# cougarmom's author feed: her own posts (B2 is also found by search), a reply, and a repost of
# someone else's post, which an author source does not publish
B5 = _bsky("bbbb2222", "3n00000000005", "cougarmom.bsky.example", "Carpool list for the Central away game is up",
           "2026-11-19T08:00:00.000Z")
B6 = _bsky("bbbb2222", "3n00000000006", "cougarmom.bsky.example", "reply: thanks, we'll bring the banner",
           "2026-11-18T21:00:00.000Z", root=B1["uri"])
B7 = _bsky("bbbb2222", "3n00000000007", "cougarmom.bsky.example", "Snow day! Central practice cancelled",
           "2026-11-30T12:00:00.000Z")
B8 = _bsky("eeee5555", "3n00000000008", "mapleridgepta.bsky.example", "PTA meeting moved to the library",
           "2026-11-21T17:00:00.000Z")
REPOST_OF_B1 = {"post": B1, "reason": {"$type": "app.bsky.feed.defs#reasonRepost",
                                       "by": {"did": "did:plc:bbbb2222", "handle": "cougarmom.bsky.example"},
                                       "indexedAt": "2026-11-20T18:30:00.000Z"}}


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

    def author_feed(query, headers, hit):
        actor = query.get("actor")
        if actor == "did:plc:eeee5555":
            return 200, JSON, json.dumps({"feed": [{"post": B8}]})
        if actor != "cougarmom.bsky.example":
            return 400, JSON, '{"error": "InvalidRequest", "message": "Profile not found"}'
        if query.get("cursor") == "f2":
            return 200, JSON, json.dumps({"feed": [{"post": B5}, {"post": B6, "reply": {"root": B1, "parent": B1}}]})
        top = [{"post": B7}] if server.phase >= 2 else []
        return 200, JSON, json.dumps({"feed": [*top, REPOST_OF_B1, {"post": B2}], "cursor": "f2"})

    server.routes["/xrpc/app.bsky.feed.searchPosts"] = search
    server.routes["/xrpc/app.bsky.feed.getAuthorFeed"] = author_feed


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
  <entry xml:lang="es">
    <title>Recordatorio: no hay clases el miércoles</title>
    <link href="https://eusd.example/es/noticias/vacaciones"/>
    <id>tag:eusd.example,2026:news/122</id>
    <updated>2026-11-24T12:05:00Z</updated>
    <summary>Las escuelas cierran de miércoles a viernes.</summary>
  </entry>
</feed>
"""

# The Courier's schools feed: the bus-routes story again (same URI guid as the local feed) and a
# different story whose bare guid happens to equal one in the local feed.
SCHOOLS_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Riverton Courier: Schools</title><language>en-us</language>
  <item>
    <title>School board weighs bus route changes</title>
    <link>https://riverton-courier.example/news/2026/11/17/bus-routes</link>
    <guid isPermaLink="true">https://riverton-courier.example/news/2026/11/17/bus-routes</guid>
    <description>The board heard three proposals.</description>
  </item>
  <item>
    <title>Central robotics team heads to regionals</title>
    <link>https://riverton-courier.example/schools/2026/11/21/robotics</link>
    <guid>courier-sports-4411</guid>
    <description>Twelve students travel Saturday.</description>
  </item>
</channel></rss>
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
    server.routes["/feeds/schools.xml"] = lambda q, h, n: (200, XML, SCHOOLS_RSS)

    def slow(query, headers, hit):
        if hit == 1:
            time.sleep(SLOW_S)  # longer than the source's timeout_s: the client gives up and retries
        return 200, XML, SCHOOLS_RSS

    server.routes["/feeds/slow.xml"] = slow


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


# Cut off mid-transfer: the first post is whole, the second ends inside its author line.
FORUM_TRUNCATED = """<!doctype html><html><body><main>
  <article class="post" data-post-id="post-601">
    <span class="post-author">BleacherMom</span>
    <div class="post-body">Lost a blue water bottle in the Lynx Stadium stands</div>
  </article>
  <article class="post" data-post-id="post-602">
    <span class="post-author">Rivert"""

# A sign-in wall served with 200: no post matches the selectors.
FORUM_LOGIN = """<!doctype html><html><body><form class="login"><p>Please sign in to read the forum.</p>
<input name="user"><input name="password" type="password"></form></body></html>"""


def install_forum(server):
    def latest(query, headers, hit):
        return 200, HTML, FORUM_2 if query.get("page") == "2" else FORUM_1

    server.routes["/forum/latest"] = latest
    server.routes["/private/board"] = lambda q, h, n: (200, HTML, FORUM_1)
    server.routes["/forum/truncated"] = lambda q, h, n: (200, HTML, FORUM_TRUNCATED)
    server.routes["/forum/signin"] = lambda q, h, n: (200, HTML, FORUM_LOGIN)


def install_all(server):
    install_reddit(server)
    install_mastodon(server)
    install_bluesky(server)
    install_feeds(server)
    install_forum(server)
