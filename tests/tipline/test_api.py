"""The JSON API of DESIGN.md §4 through a real HTTP server on the embedded bus."""

from __future__ import annotations

import json

from pipeline.schema import Tip
from pipeline.tipline import passphrase

TIP = {"message": "A kid in 4th period said he'd bring a knife on Friday", "school": "LHS",
       "contact": None}


def submit(tipline, body=None):
    return tipline.http.post("/api/tips", json=body or TIP)


def test_submit_answers_201_after_the_tip_is_on_tips_raw(tipline):
    r = submit(tipline)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"tip_id", "code", "passphrase"}
    [msg] = tipline.raw_tips()
    tip = Tip.from_bytes(msg.value)
    assert msg.key == body["tip_id"] == tip.id
    assert tip.code == body["code"] and tip.message == TIP["message"]
    assert tip.school == "Lincoln High School"  # alias resolved through the gazetteer
    assert r.headers["cache-control"] == "no-store" and "set-cookie" not in r.headers


def test_passphrase_is_stored_only_as_a_salted_scrypt_hash(tipline):
    body = submit(tipline).json()
    thread = tipline.threads.get(body["code"])
    raw = tipline.threads.path.read_bytes()
    assert body["passphrase"].encode() not in raw
    assert thread.passphrase_hash == passphrase.hash_passphrase(body["passphrase"], thread.salt)
    assert len(thread.salt) == 16 and len(body["passphrase"].split("-")) == passphrase.WORD_COUNT


def test_read_thread_with_passphrase_shows_status_and_staff_replies(tipline):
    body = submit(tipline).json()
    tipline.threads.add_message(body["code"], "staff", "Thank you. Can you tell us which lunch period?")
    tipline.threads.set_status(body["code"], "in_review")
    # Typed by hand: lower/upper case and spaces instead of dashes still match.
    typed = body["passphrase"].upper().replace("-", " ")
    r = tipline.http.get(f"/api/tips/{body['code'].lower()}", headers={"X-Tip-Passphrase": typed})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "in_review"
    assert [m["from"] for m in view["messages"]] == ["you", "staff"]
    assert view["replies"][0]["text"].startswith("Thank you")


def test_wrong_passphrase_and_unknown_code_look_the_same(tipline):
    body = submit(tipline).json()
    wrong = tipline.http.get(f"/api/tips/{body['code']}", headers={"X-Tip-Passphrase": "not-the-right-one"})
    unknown = tipline.http.get("/api/tips/ABCDEFGHJK", headers={"X-Tip-Passphrase": body["passphrase"]})
    garbage = tipline.http.get("/api/tips/<script>", headers={"X-Tip-Passphrase": body["passphrase"]})
    assert wrong.status_code == unknown.status_code == garbage.status_code == 404
    assert wrong.json() == unknown.json() == garbage.json()
    missing = tipline.http.get(f"/api/tips/{body['code']}")
    assert missing.status_code == 401 and "X-Tip-Passphrase" in missing.json()["error"]


def test_follow_up_is_added_to_the_thread_and_published(tipline):
    body = submit(tipline).json()
    headers = {"X-Tip-Passphrase": body["passphrase"]}
    r = tipline.http.post(f"/api/tips/{body['code']}/messages", json={"message": "It was at lunch, C-wing."},
                          headers=headers)
    assert r.status_code == 201, r.text
    assert [m["text"] for m in r.json()["messages"]][-1] == "It was at lunch, C-wing."
    first, follow = tipline.raw_tips(expect=2)
    tip = Tip.from_bytes(follow.value)
    assert tip.code == body["code"] and tip.id != body["tip_id"]
    assert follow.headers == {"kind": "followup", "thread_tip_id": body["tip_id"]}
    denied = tipline.http.post(f"/api/tips/{body['code']}/messages", json={"message": "x"},
                               headers={"X-Tip-Passphrase": "wrong"})
    assert denied.status_code == 404
    assert len(tipline.raw_tips(expect=3, timeout_s=0.3)) == 2


def test_bus_down_answers_503_with_the_banner_and_leaves_nothing_behind(tipline):
    tipline.rt.bus.close()  # the bus refuses every publish from now on
    r = submit(tipline)
    assert r.status_code == 503
    assert "911" in r.json()["emergency"] and "not sent" in r.json()["error"]
    assert r.headers["retry-after"]
    assert tipline.threads.count() == 0
    page = tipline.http.post("/", data={"message": "someone has a gun in the parking lot"})
    assert page.status_code == 503 and "tel:911" in page.text and "not sent" in page.text
    assert tipline.threads.count() == 0


def test_follow_up_on_a_dead_bus_is_not_kept(tipline):
    body = submit(tipline).json()
    tipline.rt.bus.close()
    r = tipline.http.post(f"/api/tips/{body['code']}/messages", json={"message": "more"},
                          headers={"X-Tip-Passphrase": body["passphrase"]})
    assert r.status_code == 503
    assert [m.text for m in tipline.threads.get(body["code"]).messages] == [TIP["message"]]


def post_raw(tipline, content: bytes, content_type="application/json", path="/api/tips"):
    return tipline.http.post(path, content=content, headers={"Content-Type": content_type})


def test_oversized_body_is_413(tipline):
    r = post_raw(tipline, json.dumps({"message": "x" * 200_000}).encode())
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_the_longest_legitimate_tip_fits_the_body_limit(tipline):
    # Every character outside the BMP: 12 bytes each as JSON escapes, the worst case a tip can need.
    body = json.dumps({"message": "\U0001F52B" * 5000, "when_where": "\U0001F3EB" * 500,
                       "contact": "\U0001F4DE" * 500}).encode()
    assert len(body) > 64 * 1024  # more than the limit this tip line first shipped with
    r = post_raw(tipline, body)
    assert r.status_code == 201, r.text[:200]


def test_wrong_content_type_is_415(tipline):
    assert post_raw(tipline, b"message=hi", "application/x-www-form-urlencoded").status_code == 415
    assert post_raw(tipline, b'{"message": "hi"}', "text/plain").status_code == 415
    assert post_raw(tipline, b'{"message": "hi"}', "application/json; charset=latin-1").status_code == 415


def test_invalid_utf8_and_json_are_400(tipline):
    r = post_raw(tipline, b'{"message": "caf\xe9"}')
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    assert post_raw(tipline, b'{"message": ').status_code == 400


def test_validation_errors_are_422_with_a_sentence_per_field(tipline):
    cases = {
        "unknown": ({"message": "hi", "ip": "1.2.3.4"}, "ip"),
        "empty": ({"message": "   "}, "message"),
        "missing": ({"school": "LHS"}, "message"),
        "long": ({"message": "x" * 5001}, "message"),
        "type": ({"message": 5}, "message"),
        "school": ({"message": "hi", "school": "Hogwarts"}, "school"),
    }
    for name, (body, field) in cases.items():
        r = submit(tipline, body)
        assert r.status_code == 422, (name, r.text)
        assert field in r.json()["fields"], (name, r.json())
    assert submit(tipline, ["not", "an", "object"]).status_code == 422
    # A lone surrogate is valid JSON but can never be stored or published as UTF-8.
    lone = post_raw(tipline, b'{"message": "\\ud800 hi"}')
    assert lone.status_code == 422 and "message" in lone.json()["fields"]
    assert tipline.threads.count() == 0 and tipline.raw_tips(expect=1, timeout_s=0.2) == []


def test_script_in_a_message_is_kept_as_text(tipline):
    body = submit(tipline, {"message": "<script>alert(1)</script> said he'd do it"}).json()
    view = tipline.http.get(f"/api/tips/{body['code']}", headers={"X-Tip-Passphrase": body["passphrase"]}).json()
    assert view["messages"][0]["text"].startswith("<script>")


def test_a_huge_integer_gets_400_not_500(tipline):
    # More digits than Python's int-string conversion limit (4,300): json.loads raises a plain
    # ValueError, which must be a clear 4xx, in any field and on every JSON endpoint.
    huge = b"1" * 5000
    for body in (b'{"message": "hi", "urgent": ' + huge + b"}", b'{"message": ' + huge + b"}",
                 b'{"message": "hi", "extra": [' + huge + b"]}"):
        r = post_raw(tipline, body)
        assert r.status_code == 400, r.text[:200]
        assert "number" in r.json()["error"]
    # A follow-up reads its body before it looks up the thread.
    follow = tipline.http.post("/api/tips/ABCDEFGHJK/messages", content=b'{"message": ' + huge + b"}",
                               headers={"Content-Type": "application/json", "X-Tip-Passphrase": "a-b-c"})
    assert follow.status_code == 400 and "number" in follow.json()["error"]
    assert tipline.threads.count() == 0


def test_a_tipster_reads_words_local_times_and_every_crisis_line(tipline):
    """The thread page: a status in words, times on the district's clock (as staff see them),
    and 988 and the Crisis Text Line beside 911, as links a phone can call or text."""
    from pipeline.tipline import pages

    body = submit(tipline).json()
    tipline.threads.add_message(body["code"], "staff", "Thank you. Which lunch period?")
    tipline.threads.set_status(body["code"], "in_review")
    page = tipline.http.post("/check", data={"code": body["code"], "passphrase": body["passphrase"]})
    assert page.status_code == 200
    assert "School staff are looking into it." in page.text and "in_review" not in page.text
    assert "UTC" not in page.text and (" CST" in page.text or " CDT" in page.text)
    for link in ('href="tel:911"', 'href="tel:988"', 'href="sms:741741?body=HOME"'):
        assert link in page.text
    assert "988" in pages.EMERGENCY and "741741" in pages.EMERGENCY  # the JSON API's "emergency" text too
