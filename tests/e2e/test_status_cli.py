"""`threatline status` on an embedded data dir: all clear (exit 0), and each thing that needs
attention (exit 1): a silent stage, a dead letter waiting, an on-duty gap, a store not set up."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

from heartbeats import all_running, silent_since
from paged_items import page_p1_post
from rosters import webhook_roster
from typer.testing import CliRunner
from webhook_server import webhook_server

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.nlp.registry import current_version
from pipeline.schema import utcnow
from pipeline.status import coverage_gaps, instants

LINCOLN = "Lincoln High School"
MONDAY = "2026-11-23T09:00-06:00"           # a school day: everyone's shifts are on
THANKSGIVING_EVE = "2026-11-25T12:00-06:00"  # the counselors' "closed" override starts at midnight


def status(*args: str):
    return CliRunner().invoke(app, ["status", *args, "--config", str(DEFAULT_CONFIG)])


def json_status(*args: str) -> tuple[int, dict]:
    result = status("--json", *args)
    return result.exit_code, json.loads(result.output)


def test_all_clear_shows_every_part_and_exits_0(settings, tmp_path, monkeypatch):
    with webhook_server() as (address, _recorder):
        monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(webhook_roster(tmp_path / "roster.yaml", address)))
        s = load_settings(DEFAULT_CONFIG)
        alert = page_p1_post(s, "item-status")
        with runtime(s) as rt:
            rt.bus.publish([OutMessage(s.topic("posts.raw"), "p-1", b"{}")])  # one post not classified yet
        all_running(s.data_dir)

        result = status("--at", MONDAY)
        assert result.exit_code == 0, result.output
        assert "all clear" in result.output and alert.id in result.output
        assert current_version(s.config_path(s.classify.models_dir)) in result.output
        assert "bringing a gun" not in result.output  # counts and ids, never a post's words

        code, body = json_status("--at", MONDAY)
    assert code == 0 and body["attention"] == [] and body["errors"] == {}
    assert {row["stage"]: (row["state"], row["lag"]) for row in body["stages"]} == {
        "classify-tips": ("running", 0), "classify": ("running", 1), "index": ("running", 0), "alert": ("running", 0)}
    assert (body["dead_letters"], body["dead_letters_total"]) == (0, 0)
    page = body["last_page"]
    assert (page["id"], page["severity"], page["role"], page["person"], page["status"]) == (
        alert.id, "P1", "sro", "sro1", "sent")
    assert body["gaps"] == [] and body["sources"] == []


def test_a_silent_stage_a_dead_letter_and_a_coverage_gap_each_need_attention(settings):
    with runtime(settings) as rt:
        rt.setup()
        rt.bus.publish([OutMessage(settings.topic("dlq"), "t-1", b"not json", {
            "dlq.reason": "not JSON", "dlq.stage": "classify-tips", "dlq.topic": settings.topic("tips.raw"),
            "dlq.partition": "0", "dlq.offset": "1"})])
    all_running(settings.data_dir)
    silent_since(settings.data_dir, "index", 10 + settings.stages.stuck_alarm_s + 30)

    result = status("--at", THANKSGIVING_EVE)
    assert result.exit_code == 1, result.output
    assert "needs attention" in result.output and "all clear" not in result.output
    assert "1 waiting, 1 in all" in result.output

    code, body = json_status("--at", THANKSGIVING_EVE)
    assert code == 1
    attention = body["attention"]
    assert any(line.startswith("stage index (pid 4242) has not reported for") for line in attention)
    assert "1 dead letter(s) waiting: `threatline dlq list`" in attention
    gaps = {(g["school"], g["role"]): g for g in body["gaps"]}
    lincoln = gaps[(LINCOLN, "counselor")]
    assert (lincoln["start"], lincoln["end"], lincoln["open_ended"]) == (
        "2026-11-26T06:00:00+00:00", "2026-11-26T18:00:00+00:00", True)
    assert lincoln["falls_to"] == "Riverton County Mobile Crisis Team"
    assert not [g for g in body["gaps"] if g["role"] == "sro"]  # Sergeant Patel covers nights and holidays
    assert ("counselor at Lincoln High School: nobody on duty Thu 00:00–Thu 12:00 or later, "
            "pages fall to Riverton County Mobile Crisis Team") in attention


def test_a_store_that_is_not_set_up_still_shows_the_rest_and_exits_1(settings):
    all_running(settings.data_dir)
    code, body = json_status("--at", MONDAY)
    assert code == 1
    assert "not set up" in body["errors"]["dead letters"] and "not set up" in body["errors"]["last page"]
    assert [row["state"] for row in body["stages"]] == ["running"] * 4 and body["gaps"] == []


def test_bad_at_is_a_usage_error(settings):
    for value, message in (("tomorrow", "is not an ISO date-time"), ("2026-11-23T09:00", "needs a UTC offset")):
        result = status("--at", value)
        assert result.exit_code == 2 and message in result.output


def test_gaps_have_exact_edges_between_quarter_hours(settings):
    from pipeline.bootstrap import build_roster

    roster = build_roster(settings)
    start = utcnow().replace(year=2026, month=11, day=23, hour=13, minute=7, second=30, microsecond=0)  # 07:07 CST
    points = instants(start)
    assert points[0] == start and points[1].minute == 15 and points[-1] < start + timedelta(hours=24)
    assert all(b - a <= timedelta(minutes=15) for a, b in itertools.pairwise(points))
    # Counselors start at 07:30 on school days; before that the crisis team is on until 07:30.
    assert coverage_gaps(roster, {LINCOLN: ["counselor", "sro"]}, start) == []
