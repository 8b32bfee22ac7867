"""`threatline dlq list | show | replay` end to end on the embedded bus and store: dead letters
the stage runner wrote (a tip that is not JSON) and ones put in by hand with the runner's
headers, replayed to their topic and processed again by the stages, once, audited."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.dead_letters import LEDGER
from pipeline.schema import Tip
from pipeline.store import ItemQuery
from pipeline.terminal import printable

HOSTILE = "schema says no \x1b[31mRED\x1b[0m \x9b2J [bold red]not markup[/bold red] \u202eevil\x07"
TIP = Tip(message="he said he's bringing a gun to lincoln high on friday", school="Lincoln High School")


def invoke(*args: str):
    # A wide terminal, so that each dead letter is one line of the table.
    return CliRunner().invoke(app, [*args, "--config", str(DEFAULT_CONFIG)], env={"COLUMNS": "250"})


@pytest.fixture
def settings(settings, monkeypatch):
    """The keyword classifier: the point here is the replay, not the model."""
    monkeypatch.setenv("THREATLINE_CLASSIFY__MODEL", "lexicon")
    return load_settings(DEFAULT_CONFIG)


def runner_headers(topic: str, offset: int, reason: str, stage: str = "classify-tips") -> dict[str, str]:
    """What StageRunner._dead_letter writes."""
    return {"dlq.reason": reason, "dlq.stage": stage, "dlq.topic": topic, "dlq.partition": "0",
            "dlq.offset": str(offset)}


@pytest.fixture
def letters(settings):
    """Two dead letters: a tip the runner could not parse, and a valid tip put in by hand with a
    hostile reason (as if an older release had refused it). Returns their ids, oldest first."""
    with runtime(settings) as rt:
        rt.setup()
        rt.bus.publish([OutMessage(settings.topic("tips.raw"), "tip-broken", b"{not json \x1b[2J")])
        report = rt.runner("classify-tips").run()
        assert report.dead_lettered == 1
        rt.bus.publish([OutMessage(settings.topic("dlq"), TIP.id, TIP.to_bytes(),
                                   runner_headers(settings.topic("tips.raw"), 99, HOSTILE))])
        ids = [f"{m.partition}:{m.offset}" for m in rt.bus.scan(settings.topic("dlq"))]
    assert len(ids) == 2
    return ids


def on_topic(settings, topic: str) -> list:
    with runtime(settings) as rt:
        return list(rt.bus.scan(settings.topic(topic)))


def ledger(settings) -> list[dict]:
    with runtime(settings) as rt:
        return rt.store.audit_for(LEDGER)


def table_rows(output: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]


def test_list_shows_each_dead_letter_with_its_reason_neutralised(settings, letters):
    result = invoke("dlq", "list")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert [r[0] for r in rows] == letters
    broken, hand = rows
    assert broken[2:4] == ["classify-tips", "tips.raw"] and broken[6] == "no"
    assert "Invalid JSON" in broken[4] or "json" in broken[4].lower()
    assert hand[5] == str(len(TIP.to_bytes()))
    # Controls are written out, markup stays text: nothing reaches the terminal raw.
    assert printable(HOSTILE) in result.output and "[bold red]not markup[/bold red]" in result.output
    assert not any(ch in result.output for ch in "\x1b\x9b\x07\u202e")
    assert "2 dead letter(s) on dlq, 2 not replayed" in result.output
    [record] = ledger(settings)
    assert record["event"]["action"] == "dlq_list" and record["user"]["name"].startswith("cli:")
    assert record["details"]["count"] == 2


def test_list_json_and_filters(settings, letters):
    result = invoke("dlq", "list", "--json", "--by", "ada")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [d["id"] for d in out["dead_letters"]] == letters and out["waiting"] == 2 and out["stage_problems"] == []
    hand = out["dead_letters"][1]
    assert hand["reason"] == HOSTILE and hand["key"] == TIP.id and hand["topic"] == "tips.raw"
    assert hand["source"] == "0:99" and hand["size"] == len(TIP.to_bytes()) and hand["replayed"] is False
    assert not any(ch in result.output for ch in "\x1b\x9b\x07\u202e")  # every control escaped

    for args in (["--topic", "posts.raw"], ["--since", "2999-01-01"]):
        filtered = invoke("dlq", "list", *args)
        assert filtered.exit_code == 0 and "no dead letters matching the filters" in filtered.output
    assert len(json.loads(invoke("dlq", "list", "--json", "--topic", "tips.raw").output)["dead_letters"]) == 2
    assert [r["user"]["name"] for r in ledger(settings)][0] == "ada"


def test_list_on_an_empty_dlq_says_so(settings):
    with runtime(settings) as rt:
        rt.setup()
    result = invoke("dlq", "list")
    assert result.exit_code == 0 and result.output.strip() == "no dead letters"


def test_show_prints_headers_and_the_original_message_and_is_audited(settings, letters):
    assert invoke("dlq", "show", letters[1]).exit_code == 2  # --by is required: it is a read of a tip
    result = invoke("dlq", "show", letters[1], "--by", "ada")
    assert result.exit_code == 0, result.output
    assert TIP.message in result.output and "dlq.reason" in result.output and printable(HOSTILE) in result.output
    assert not any(ch in result.output for ch in "\x1b\x9b\x07\u202e")

    broken = invoke("dlq", "show", letters[0], "--by", "ada")
    assert broken.exit_code == 0 and "{not json \\x1b[2J" in broken.output and "\x1b" not in broken.output

    records = [r for r in ledger(settings) if r["event"]["action"] == "dlq_show"]
    assert [(r["user"]["name"], r["user"]["roles"], r["details"]["dlq"]) for r in records] == [
        ("ada", ["admin"], f"dlq/{letters[1]}"), ("ada", ["admin"], f"dlq/{letters[0]}")]
    assert records[0]["details"]["item"] == TIP.id
    assert TIP.message not in json.dumps(records) and "RED" not in json.dumps(records)  # ids and hashes only

    missing = invoke("dlq", "show", "0:424242", "--by", "ada")
    assert missing.exit_code == 1 and "no dead letter 0:424242 on dlq" in missing.output
    wrong = invoke("dlq", "show", "seventeen", "--by", "ada")
    assert wrong.exit_code == 2 and "must look like 0:17" in wrong.output


def test_replay_sends_the_original_back_and_the_stages_process_it_once(settings, letters):
    assert invoke("dlq", "replay", letters[1]).exit_code == 2  # --by is required
    result = invoke("dlq", "replay", letters[1], "--by", "ada")
    assert result.exit_code == 0, result.output
    assert f"replayed {letters[1]} → tips.raw (key {TIP.id})" in result.output
    back = [m for m in on_topic(settings, "tips.raw") if m.key == TIP.id]
    assert [m.value for m in back] == [TIP.to_bytes()]

    with runtime(settings) as rt:
        assert rt.runner("classify-tips").run().consumed == 1
        assert rt.runner("index").run().written == 1
        assert rt.store.get_item(TIP.id) is not None

    again = invoke("dlq", "replay", letters[1], "--by", "ada")
    assert again.exit_code == 0 and f"skipped {letters[1]}: replayed before by ada" in again.output
    assert len([m for m in on_topic(settings, "tips.raw") if m.key == TIP.id]) == 1

    forced = invoke("dlq", "replay", letters[1], "--by", "bea", "--again")
    assert forced.exit_code == 0 and "1 replayed" in forced.output
    with runtime(settings) as rt:
        rt.runner("classify-tips").run()
        assert rt.runner("index").run().written == 0  # the same item id: no second document
        assert rt.store.search_items(ItemQuery()).total == 1

    listed = json.loads(invoke("dlq", "list", "--json").output)
    hand = listed["dead_letters"][1]
    assert hand["replayed"] and hand["replays"] == 2 and hand["last_replay_by"] == "bea"
    assert listed["waiting"] == 1
    attempts = [r for r in ledger(settings) if r["event"]["action"] == "dlq_replay"]
    assert [(r["user"]["name"], r["details"].get("dlq"), r["details"]["again"]) for r in attempts] == [
        ("ada", f"dlq/{letters[1]}", False),
        ("ada", None, False),  # the attempt that replayed nothing is on record too
        ("bea", f"dlq/{letters[1]}", True)]
    assert attempts[1]["details"]["skipped"] == 1 and attempts[0]["details"]["item"] == TIP.id

    trail = invoke("audit", "--item", "dlq")
    assert trail.exit_code == 0 and "dlq_replay" in trail.output and "dlq_list" in trail.output


def test_replay_all_by_topic_and_since_replays_each_pending_one_once(settings, letters):
    nothing = invoke("dlq", "replay", "--topic", "posts.raw", "--by", "ada")
    assert nothing.exit_code == 0 and "0 replayed, 0 skipped" in nothing.output
    assert "0 replayed, 0 skipped" in invoke("dlq", "replay", "--since", "2999-01-01", "--by", "ada").output
    assert invoke("dlq", "replay", "--topic", "no.such", "--by", "ada").exit_code == 2
    assert invoke("dlq", "replay", letters[0], "--topic", "tips.raw", "--by", "ada").exit_code == 2

    result = invoke("dlq", "replay", "--topic", "tips.raw", "--since", "2000-01-01", "--by", "ada")
    assert result.exit_code == 0 and "2 replayed" in result.output, result.output
    assert sorted(m.key for m in on_topic(settings, "tips.raw")) == sorted(["tip-broken", "tip-broken", TIP.id])
    assert "0 replayed, 2 skipped" in invoke("dlq", "replay", "--by", "ada").output

    with runtime(settings) as rt:  # the broken tip is still broken: back on dlq as a new dead letter
        report = rt.runner("classify-tips").run()
        assert (report.consumed, report.dead_lettered) == (2, 1)
    listed = json.loads(invoke("dlq", "list", "--json").output)
    assert listed["waiting"] == 1 and len(listed["dead_letters"]) == 3
    assert listed["dead_letters"][2]["key"] == "tip-broken" and not listed["dead_letters"][2]["replayed"]


def test_replay_refuses_a_topic_that_is_not_the_pipelines(settings, letters):
    with runtime(settings) as rt:
        rt.bus.publish([OutMessage(settings.topic("dlq"), "x", b"payload", runner_headers("somewhere.else", 1, "no"))])
        [odd] = [f"{m.partition}:{m.offset}" for m in rt.bus.scan(settings.topic("dlq"))][2:]
    result = invoke("dlq", "replay", odd, "--by", "ada")
    assert result.exit_code == 1 and "is not one of this pipeline's" in result.output
    assert on_topic(settings, "somewhere.else") == []
