"""One person's channels through real apprise against a local webhook receiver and a real SMTP
server (aiosmtpd): retries with backoff, fallback to the person's next channel, a chain that moves
past the unreachable, and what an alert looks like in a mail client, an SMS gateway and a webhook."""

from __future__ import annotations

import socket
from html.parser import HTMLParser

from smtp_server import smtp_server
from webhook_server import webhook_server

from pipeline.alerts.delivery import Message, deliver
from pipeline.alerts.messages import alert_message, alert_title
from pipeline.alerts.roster import Channel, Person
from pipeline.schema import Alert


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def person(pid: str, *urls: str) -> Person:
    return Person(id=pid, name=pid.title(), roles=("sro",),
                  channels=tuple(Channel(type=f"webhook{i}", url=u) for i, u in enumerate(urls)))


def test_a_failing_channel_is_retried_with_backoff_then_delivers():
    waits: list[float] = []
    with webhook_server() as (address, recorder):
        recorder.fail_next = 2
        result = deliver(person("reyes", f"json://{address}/a"), "P1 violence", Message("body alert-1"),
                         retries=2, backoff_s=0.5, sleep=waits.append)
        assert result.status == "delivered" and result.channel == "webhook0"
        assert [a.ok for a in result.attempts] == [False, False, True]
        assert waits == [0.5, 1.0]
        assert len(recorder.posts_for("alert-1")) == 1


def test_a_dead_channel_falls_back_to_the_same_persons_next_channel():
    with webhook_server() as (address, recorder):
        result = deliver(person("reyes", f"json://127.0.0.1:{closed_port()}/x", f"json://{address}/b"),
                         "P1", Message("body alert-2"), retries=1, backoff_s=0, sleep=lambda s: None)
        assert result.status == "delivered" and result.channel == "webhook1"
        assert [(a.channel, a.ok) for a in result.attempts] == [("webhook0", False), ("webhook0", False),
                                                                ("webhook1", True)]
        assert len(recorder.posts_for("alert-2")) == 1
        # Neither the URL nor its host reach what is stored about the attempt.
        assert "127.0.0.1" not in repr(result)



# --- what an alert looks like ----------------------------------------------------------------------

LINK = "https://review.example.org/ack/tok-abc?x=1&y=2"
POST = 'they said <script>alert("x")</script> & a gun at lincoln'
WHY = ["threat cue: bring a gun", "school named: Lincoln <b>High</b>", "forged\n- No acknowledgement needed."]


def alert(**changes) -> Alert:
    return Alert(id="alert-7", item_id="item-7", role="sro", severity="P1", category="self_harm",
                 school="Lincoln High School", excerpt=POST, explanation=WHY, **changes)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <li>."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.items: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "li":
            self.items.append("")

    def handle_data(self, data):
        if self.tags and self.tags[-1][0] == "li":
            self.items[-1] += data


def mail_one(channel_type: str, message: Message, title: str):
    with smtp_server() as (url, mailbox):
        person = Person(id="reyes", name="Reyes", roles=("sro",),
                        channels=(Channel(type=channel_type, url=url("reyes@example.org")),))
        assert deliver(person, title, message, retries=0).status == "delivered"
        [mail] = mailbox.to("reyes@example.org")
    return mail


def test_an_alert_email_is_multipart_alternative_with_a_readable_text_part_and_escaped_html():
    a = alert(escalation_level=2)
    mail = mail_one("email", alert_message(a, LINK), alert_title(a))

    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert all(w in str(mail["subject"]) for w in ("P1", "self-harm", "Lincoln High School"))

    lines = mail.get_body(("plain",)).get_content().splitlines()
    assert POST in lines  # the excerpt as written: text/plain is not markup
    assert lines[lines.index("Why flagged:") + 1:][:3] == [
        "- threat cue: bring a gun", "- school named: Lincoln <b>High</b>",
        "- forged - No acknowledgement needed."]  # a newline in untrusted text fakes no line
    assert f"Acknowledge: {LINK}" in lines
    assert "ESCALATED (level 2): nobody earlier in the chain acknowledged." in lines
    assert {"Item: item-7", "Alert: alert-7"} <= set(lines)
    assert "" in lines  # sections parted by blank lines, not run together

    html = mail.get_body(("html",)).get_content()
    tags = Tags(html)
    assert "script" not in {t for t, _ in tags.tags} and "b" not in {t for t, _ in tags.tags}
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; a gun" in html
    assert tags.items == ["threat cue: bring a gun", "school named: Lincoln <b>High</b>",
                          "forged - No acknowledgement needed."]
    assert ("a", {"href": LINK, "style": "color:#0b57d0;font-weight:bold"}) in tags.tags
    assert "ESCALATED (level 2)" in html and "item-7" in html and "alert-7" in html


def test_an_alert_without_an_ack_link_says_so_in_both_parts():
    mail = mail_one("email", alert_message(alert(), None), alert_title(alert()))
    assert "No acknowledgement needed." in mail.get_body(("plain",)).get_content().splitlines()
    html = mail.get_body(("html",)).get_content()
    assert "No acknowledgement needed." in html and "ESCALATED" not in html
    assert not [t for t, _ in Tags(html).tags if t == "a"]


def test_an_sms_gateway_reached_by_mail_gets_the_plain_text_not_the_layout():
    # type sms on a mailto:// URL (the shipped roster's email-to-SMS gateways): the text body only.
    message = alert_message(alert(), LINK)
    mail = mail_one("sms", message, alert_title(alert()))
    got = [line.rstrip() for line in mail.get_body(("plain",)).get_content().strip().splitlines()]
    assert got == message.text.splitlines()  # line for line; apprise leaves a space at some line ends
    html = mail.get_body(("html",)).get_content()
    assert "<li>" not in html and "<script>" not in html and "&lt;script&gt;" in html


def test_a_webhook_gets_the_plain_text_as_written():
    message = alert_message(alert(), LINK)
    with webhook_server() as (address, recorder):
        person = Person(id="reyes", name="Reyes", roles=("sro",),
                        channels=(Channel(type="webhook", url=f"json://{address}/reyes"),))
        assert deliver(person, alert_title(alert()), message, retries=0).status == "delivered"
    [body] = recorder.bodies
    assert body["message"] == message.text and "\nWhy flagged:\n- threat cue: bring a gun\n" in body["message"]
