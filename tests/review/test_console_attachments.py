"""A tipster's picture in the review console: in the conversation for exactly the roles that may
read its message, served as the picture it is (never sniffed into a page), audited, and gone
with the thread."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from console_support import logged_in
from PIL import Image
from review_support import flagged

from pipeline.review.actions import tip_threads
from pipeline.schema import item_document, utcnow
from pipeline.tipline import images, passphrase
from pipeline.tipline.threads import Attachment

TIP_CODE = "K7Q2M4XPAB"
BULLY_CODE = "BULLY00001"
FOLLOW = "update: he has a knife in his bag, photo attached"


def picture(color: str) -> Attachment:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "PNG")
    return images.clean(out.getvalue(), 1_000_000)


VIOLENCE_PICTURE, BULLYING_PICTURE, FOLLOW_PICTURE = picture("red"), picture("green"), picture("blue")


@pytest.fixture
def threads(rt):
    rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
    t = tip_threads(rt.settings)
    yield t
    t.close()


@pytest.fixture
def seeded(rt, threads, users):
    """A violence tip with a picture; a bullying tip with one, and a follow-up with another that
    became a P1 violence item."""
    for code, tip_id, text, attached in ((TIP_CODE, "tip-1", "he showed a gun, see the picture", VIOLENCE_PICTURE),
                                         (BULLY_CODE, "tip-bully", "they push him into lockers", BULLYING_PICTURE)):
        salt = passphrase.new_salt()
        threads.create(code, tip_id, salt, passphrase.hash_passphrase("a-b-c", salt), "Lincoln High School", text,
                       attached)
    threads.add_message(BULLY_CODE, "tipster", FOLLOW, FOLLOW_PICTURE)
    threads.add_message(BULLY_CODE, "staff", "Thank you, we are on it.")
    tip = {"kind": "tip", "source": "tipline", "source_kind": "tipline", "author": None}
    rt.store.index_items([item_document(i) for i in (
        flagged("he showed a gun, see the picture", id="tip-1", severity="P2", tip_code=TIP_CODE, **tip),
        flagged("they push him into lockers", id="tip-bully", severity="P3", category="bullying",
                tip_code=BULLY_CODE, **tip),
        flagged(FOLLOW, id="tip-bully-2", severity="P1", tip_code=BULLY_CODE, **tip))])
    return rt


def img_sources(page: str) -> list[str]:
    conversation = page.split('id="h-conversation"')[1].split("</section>")[0]
    return [part.split('"')[0] for part in conversation.split('<img src="')[1:]]


def test_staff_see_the_picture_served_safely_and_each_showing_is_audited(console, seeded, rt):
    logged_in(console, "reyes")
    assert img_sources(console.get("/items/tip-1").text) == ["/items/tip-1/attachments/1"]
    r = console.get("/items/tip-1/attachments/1")
    assert r.status_code == 200 and r.content == VIOLENCE_PICTURE.data
    assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == 'inline; filename="tip-picture-1.png"'
    assert "sandbox" in r.headers["content-security-policy"] and r.headers["cache-control"] == "no-store"
    views = [a["details"]["via"] for a in rt.store.audit_for("tip-1") if a["event"]["action"] == "view"]
    assert views == ["console", "console: tipster's picture"]
    # The SRO reads every message of the bullying tip, the follow-up's picture too.
    assert img_sources(console.get("/items/tip-bully").text) == ["/items/tip-bully/attachments/1",
                                                                 "/items/tip-bully/attachments/2"]
    assert console.get("/items/tip-bully/attachments/2").content == FOLLOW_PICTURE.data


def test_a_role_that_may_not_read_the_message_gets_404(console, seeded):
    logged_in(console, "cole")  # counselor: bullying and self-harm only
    assert console.get("/items/tip-1").status_code == 404
    assert console.get("/items/tip-1/attachments/1").status_code == 404
    # The bullying tip is hers, its violence follow-up is not: that message's picture neither.
    assert img_sources(console.get("/items/tip-bully").text) == ["/items/tip-bully/attachments/1"]
    assert console.get("/items/tip-bully/attachments/1").content == BULLYING_PICTURE.data
    assert console.get("/items/tip-bully/attachments/2").status_code == 404
    console.cookies.clear()
    logged_in(console, "ana")  # analyst: the item, never the conversation
    assert console.get("/items/tip-1").status_code == 200 and "<img" not in console.get("/items/tip-1").text
    assert console.get("/items/tip-1/attachments/1").status_code == 404


def test_nothing_is_served_without_a_login_or_for_a_message_without_a_picture(console, seeded):
    r = console.get("/items/tip-1/attachments/1")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    logged_in(console, "ada")
    for path in ("/items/tip-bully/attachments/3",   # the staff reply: no picture
                 "/items/tip-bully/attachments/9", "/items/nope/attachments/1", "/items/" + "x" * 300 + "/attachments/1"):
        assert console.get(path).status_code == 404, path


def test_the_picture_is_gone_with_the_thread(console, seeded, threads):
    logged_in(console, "reyes")
    assert console.get("/items/tip-1/attachments/1").status_code == 200
    assert threads.purge(utcnow() + timedelta(days=365)) == 2  # as retention does (tipline.retention)
    page = console.get("/items/tip-1").text
    assert "deleted after its retention period" in page and "<img" not in page
    assert console.get("/items/tip-1/attachments/1").status_code == 404
