"""Untrusted text printed by the CLI: control characters are written out, never obeyed or dropped."""

import json

from rich.console import Console

from pipeline.terminal import json_line, printable, safe_text

HOSTILE = "a\x1b[2Jb\x1b]0;title\x07c\rd\x9b31m\x7fe\u202eright-to-left\x00"


def test_every_control_character_is_written_out_and_nothing_is_lost():
    assert printable(HOSTILE) == "a\\x1b[2Jb\\x1b]0;title\\x07c\\x0dd\\x9b31m\\x7fe\\u202eright-to-left\\x00"
    assert printable("two\nlines\tand a tab") == "two\nlines\tand a tab"
    assert printable("one\nline\t", keep_lines=False) == "one\\x0aline\\x09"
    assert printable("ordinary text, émoji 🔫, [b]markup[/b]") == "ordinary text, émoji 🔫, [b]markup[/b]"


def test_safe_text_prints_no_control_character_through_rich():
    console = Console(record=True, force_terminal=False, width=200)
    console.print(safe_text(HOSTILE + " [b]not markup[/b]"))
    out = console.export_text()
    assert not any(c in out for c in "\x1b\x07\r\x9b\x7f\u202e\x00")
    assert "\\x1b[2J" in out and "[b]not markup[/b]" in out


def test_json_line_is_the_same_value_with_no_raw_control_character():
    record = {"text": HOSTILE, "id": "x\x85y"}
    line = json_line(record)
    assert json.loads(line) == record
    assert not any(c in line for c in "\x1b\x07\r\x9b\x7f\u202e\x00\x85")
