"""`threatline audit --item ID` on an embedded store where the review actions left their records."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.bootstrap import runtime
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG
from pipeline.review import actions
from pipeline.schema import ScoredItem, item_document

MARKUP = "[bold red]not markup[/bold red] [link=https://evil.example]x[/link]"


def invoke(*args: str):
    # A wide terminal, so that each record is one line of the table.
    return CliRunner().invoke(app, [*args, "--config", str(DEFAULT_CONFIG)], env={"COLUMNS": "250"})


@pytest.fixture
def reviewed(settings):
    item = ScoredItem(id="item-cli", kind="post", text="bringing a gun to lincoln tomorrow", source="forum",
                      threat_score=0.97, self_harm_score=0, severity="P1", category="violence",
                      school="Lincoln High School", school_relevance=1, model_version="test")
    with runtime(settings) as rt:
        rt.setup()
        rt.store.index_items([item_document(item)])
        shown = actions.view(rt.store, item.id, "officer.reyes", "sro")
        done = actions.label(rt.store, item.id, "analyst.kim", "analyst", label="threat_transient",
                             expected_version=shown.version)
        done = actions.note(rt.store, item.id, "officer.reyes", "sro", text="spoke to the student",
                            expected_version=done.version)
        actions.dismiss(rt.store, item.id, "officer.reyes", "sro", reason=MARKUP, expected_version=done.version)
    return item.id


def test_prints_the_items_audit_trail_oldest_first(reviewed):
    result = invoke("audit", "--item", reviewed)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    cells = [[c.strip() for c in row.split("│")[1:-1]] for row in rows]
    assert [(c[1], c[2], c[3]) for c in cells] == [
        ("officer.reyes", "sro", "view"), ("analyst.kim", "analyst", "label"), ("officer.reyes", "sro", "note"),
        ("officer.reyes", "sro", "dismiss")]
    assert cells[1][4] == "label=threat_transient"
    assert cells[2][4].startswith("note=1  length=20  sha256=")  # notes are audited by length and hash
    # Typed text is printed as it was typed, never interpreted as console markup.
    assert cells[3][4] == f'reason={MARKUP}  status=["open", "dismissed"]'


def test_json_prints_each_record_as_stored(reviewed):
    result = invoke("audit", "--item", reviewed, "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["event"]["action"] for r in records] == ["view", "label", "note", "dismiss"]
    assert records[-1]["review"]["reason"] == MARKUP


def test_an_item_without_records_is_an_error(settings):
    with runtime(settings) as rt:
        rt.setup()
    result = invoke("audit", "--item", "no-such-item")
    assert result.exit_code == 1 and "no audit records for item no-such-item" in result.output
