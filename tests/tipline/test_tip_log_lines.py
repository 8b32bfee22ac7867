"""A tip taken by the real tip line, with JSON logging on: its line carries the tip's id and the
outcome, and no line carries the tip's words, the contact or the tip code (pipeline/logs.py)."""

from __future__ import annotations

import json

from tipline_server import serving


def test_a_tip_leaves_its_id_and_outcome_and_never_its_words_or_contact(rt, tmp_path, json_log_lines):
    rt.bus.setup([rt.settings.topic("tips.raw")])
    words, contact = "Marcus said he will bring a knife to the Friday game", "marcus.tipster@example.com"
    with serving(rt, tmp_path) as tipline:
        r = tipline.http.post("/api/tips", json={"message": words, "school": "LHS", "contact": contact})
    assert r.status_code == 201, r.text
    found = json_log_lines()
    accepted = [line for line in found if line.get("outcome") == "accepted"]
    assert len(accepted) == 1 and accepted[0]["item_id"].startswith("tip")
    text = json.dumps(found)
    for secret in ("Marcus", "knife", "marcus.tipster", contact, r.json()["code"]):
        assert secret not in text, secret
