"""The no-JavaScript HTML form and the check page through a real HTTP server."""

from __future__ import annotations

import re

from pipeline.schema import Tip


def secrets_on(page: str) -> tuple[str, str]:
    code, phrase = re.findall(r'<p class="secret">([^<]+)</p>', page)
    return code, phrase


def test_form_page_is_accessible_without_javascript(tipline):
    r = tipline.http.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert 'If someone is in danger right now, call <a href="tel:911">911</a>.' in page
    assert 'call or text <a href="tel:988">988</a>' in page and 'text HOME to <a href="sms:741741?body=HOME">741741</a>' in page
    assert "<script" not in page.lower()
    for field in ("message", "school", "when_where", "urgent", "contact", "attachment"):
        assert f'<label for="{field}"' in page and f'id="{field}"' in page
    assert 'method="post" action="/?lang=en" enctype="multipart/form-data"' in page
    assert "<option>Lincoln High School</option>" in page
    assert 'lang="en"' in page and 'name="viewport"' in page


def test_form_submission_shows_code_and_passphrase_once(tipline):
    r = tipline.http.post("/", data={"message": "He showed a gun in the senior lot", "school": "Riverton Central High School",
                                     "when_where": "today after school", "urgent": "yes", "contact": ""})
    assert r.status_code == 201, r.text
    code, phrase = secrets_on(r.text)
    [msg] = tipline.raw_tips()
    tip = Tip.from_bytes(msg.value)
    assert tip.code == code and tip.urgent and tip.contact is None and tip.when_where == "today after school"
    # The check page opens the thread with the same code and passphrase.
    thread = tipline.http.post("/check", data={"code": code, "passphrase": phrase})
    assert thread.status_code == 200 and "He showed a gun in the senior lot" in thread.text
    follow = tipline.http.post("/check/followup", data={"code": code, "passphrase": phrase,
                                                        "message": "He drives a red truck"})
    assert follow.status_code == 201 and "He drives a red truck" in follow.text
    assert len(tipline.raw_tips(expect=2)) == 2


def test_form_errors_are_tied_to_their_fields_and_values_kept_escaped(tipline):
    r = tipline.http.post("/", data={"message": "", "contact": '"><script>alert(1)</script>'})
    assert r.status_code == 422
    page = r.text
    assert 'aria-describedby="message-hint message-error"' in page and 'aria-invalid="true"' in page
    assert 'id="message-error">Please write what you saw or heard.' in page
    assert "<script>alert(1)</script>" not in page
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "tel:911" in page
    assert tipline.threads.count() == 0


def test_untrusted_text_is_escaped_on_the_thread_page(tipline):
    r = tipline.http.post("/", data={"message": "<img src=x onerror=alert(1)> at <b>lunch</b>"})
    code, phrase = secrets_on(r.text)
    tipline.threads.add_message(code, "staff", "<script>steal()</script>")
    page = tipline.http.post("/check", data={"code": code, "passphrase": phrase}).text
    assert "<img src=x" not in page and "<script>steal" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;steal()" in page


def test_check_with_a_wrong_passphrase_says_the_same_as_an_unknown_code(tipline):
    r = tipline.http.post("/", data={"message": "someone said they'd bring a knife"})
    code, _ = secrets_on(r.text)
    wrong = tipline.http.post("/check", data={"code": code, "passphrase": "nope"})
    unknown = tipline.http.post("/check", data={"code": "ZZZZZZZZZZ", "passphrase": "nope"})
    assert wrong.status_code == unknown.status_code == 404
    assert "No tip matches that code and passphrase" in wrong.text and wrong.text == unknown.text.replace("ZZZZZZZZZZ", code)


def test_form_rejects_other_content_types_and_bad_utf8(tipline):
    plain = tipline.http.post("/", content=b"message=hi", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "tel:911" in plain.text
    # A file where the text should be is no text: the form comes back asking for it.
    as_file = tipline.http.post("/", files={"message": ("m.txt", b"hi")})
    assert as_file.status_code == 422 and "Please write what you saw or heard." in as_file.text
    bad = tipline.http.post("/", content=b"message=caf%E9", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 400 and "UTF-8" in bad.text
    bad_part = tipline.http.post("/", data={"school": ""}, files={"message": (None, b"caf\xe9")})
    assert bad_part.status_code == 400 and "UTF-8" in bad_part.text
    assert tipline.threads.count() == 0


def test_unknown_pages_and_methods_get_a_human_4xx(tipline):
    assert tipline.http.get("/nope").status_code == 404
    r = tipline.http.delete("/api/tips")
    assert r.status_code == 405 and r.json()["error"]
