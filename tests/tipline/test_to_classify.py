"""Tip line -> tips.raw -> classify -> items.scored / items.flagged, through the real HTTP server,
on the embedded bus and on Kafka (Tansu)."""

from __future__ import annotations

import dataclasses

from fixtures_kafka import unique_group
from tipline_server import read_topic, serving

from pipeline.schema import ScoredItem

THREAT = {"message": "My friend said Jake is bringing his dad's gun to school tomorrow and will shoot "
                     "people in the cafeteria at lunch.",
          "school": "LHS", "when_where": "tomorrow at lunch, cafeteria", "urgent": True}
FOLLOW_UP = "He showed us the gun in his backpack this morning."


def scored_on(rt, topic: str, expect: int) -> dict[str, ScoredItem]:
    # Kafka: a new group's join takes a few seconds on Tansu.
    messages = read_topic(rt.bus, rt.settings.topic(topic), expect, timeout_s=30)
    return {m.key: ScoredItem.from_bytes(m.value) for m in messages}


def test_a_tip_and_its_follow_up_are_classified_and_a_clear_threat_is_flagged(any_bus_rt, champion, tmp_path):
    rt = dataclasses.replace(any_bus_rt, _classifier=champion)
    with serving(rt, tmp_path) as t:
        receipt = t.http.post("/api/tips", json=THREAT)
        assert receipt.status_code == 201, receipt.text
        tip = receipt.json()
        follow = t.http.post(f"/api/tips/{tip['code']}/messages", json={"message": FOLLOW_UP},
                             headers={"X-Tip-Passphrase": tip["passphrase"]})
        assert follow.status_code == 201, follow.text

    runner = rt.runner("classify-tips", until_idle=True)
    runner.group = unique_group("tl-classify")  # the Tansu broker is shared by the whole session
    report = runner.run()
    assert report.consumed == 2 and report.dead_lettered == 0

    scored = scored_on(rt, "items.scored", expect=2)
    assert len(scored) == 2 and tip["tip_id"] in scored
    [follow_id] = set(scored) - {tip["tip_id"]}
    first, second = scored[tip["tip_id"]], scored[follow_id]
    assert first.kind == second.kind == "tip"
    assert first.tip_code == second.tip_code == tip["code"]
    assert second.text == FOLLOW_UP and second.school == "Lincoln High School"

    flagged = scored_on(rt, "items.flagged", expect=2)
    threat = flagged[tip["tip_id"]]
    assert threat.severity in ("P1", "P2") and threat.category == "violence", threat.explanation
    assert threat.school == "Lincoln High School" and threat.text.startswith(THREAT["message"])
    assert "Tipster marked it urgent." in threat.explanation
    # Every tip reaches review; the follow-up is there under the same code.
    assert flagged[follow_id].tip_code == tip["code"]
