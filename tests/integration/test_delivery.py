"""One person's channels through real apprise against a local webhook receiver: retries with
backoff, fallback to the person's next channel, and a chain that moves past the unreachable."""

from __future__ import annotations

import socket

from webhook_server import webhook_server

from pipeline.alerts.delivery import deliver
from pipeline.alerts.roster import Channel, Person


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
        result = deliver(person("reyes", f"json://{address}/a"), "P1 violence", "body alert-1",
                         retries=2, backoff_s=0.5, sleep=waits.append)
        assert result.status == "delivered" and result.channel == "webhook0"
        assert [a.ok for a in result.attempts] == [False, False, True]
        assert waits == [0.5, 1.0]
        assert len(recorder.posts_for("alert-1")) == 1


def test_a_dead_channel_falls_back_to_the_same_persons_next_channel():
    with webhook_server() as (address, recorder):
        result = deliver(person("reyes", f"json://127.0.0.1:{closed_port()}/x", f"json://{address}/b"),
                         "P1", "body alert-2", retries=1, backoff_s=0, sleep=lambda s: None)
        assert result.status == "delivered" and result.channel == "webhook1"
        assert [(a.channel, a.ok) for a in result.attempts] == [("webhook0", False), ("webhook0", False),
                                                                ("webhook1", True)]
        assert len(recorder.posts_for("alert-2")) == 1
        # Neither the URL nor its host reach what is stored about the attempt.
        assert "127.0.0.1" not in repr(result)

