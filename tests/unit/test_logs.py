"""pipeline/logs.py: JSON lines with stable keys, secrets masked, library chatter quiet; and a tip
the `lines` fixture is tests/conftest.py's json_log_lines."""

from __future__ import annotations

import io
import json
import logging

from pipeline.logs import KEYS, configure


def test_json_lines_have_the_stable_keys_and_the_call_sites_extras(json_log_lines):
    logging.getLogger("pipeline.stages").warning("stage %s: %s to dlq", "classify", "posts.raw@7",
                                                 extra={"stage": "classify", "item_id": "post-1", "outcome": "dead_letter"})
    [line] = json_log_lines()
    assert {"ts", "level", "logger", "message"} <= set(line)
    assert line["level"] == "WARNING" and line["logger"] == "pipeline.stages"
    assert line["message"] == "stage classify: posts.raw@7 to dlq"
    assert {k: line[k] for k in ("stage", "item_id", "outcome")} == {
        "stage": "classify", "item_id": "post-1", "outcome": "dead_letter"}
    assert set(KEYS) == {"stage", "item_id", "alert_id", "outcome"}


def test_url_passwords_are_masked_in_messages_and_tracebacks(json_log_lines):
    log = logging.getLogger("pipeline.bus.kafka")
    log.error("cannot reach %s", "sasl://app:hunter2secret@kafka:9093")
    try:
        raise ConnectionError("https://elastic:s3cr3t-pw@es:9200 refused")
    except ConnectionError:
        log.exception("store down")
    text = "\n".join(json.dumps(line) for line in json_log_lines())
    assert "hunter2secret" not in text and "s3cr3t-pw" not in text
    assert "app:***@kafka" in text and "ConnectionError" in text


def test_auto_is_text_on_a_terminal_and_json_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, is_json in ((Terminal(), False), (io.StringIO(), True)):
        handler = configure("auto", stream=stream)
        try:
            logging.getLogger("pipeline.x").info("hello")
        finally:
            logging.getLogger().removeHandler(handler)
        line = stream.getvalue().strip()
        assert line.startswith("{") is is_json, line


def test_library_chatter_and_prefects_cancelled_submissions_stay_below_the_line(json_log_lines):
    logging.getLogger("kafka.conn").info("connecting to broker")
    logging.getLogger("prefect.runner.state_proposer").info(
        "Aborted submission of flow run '%s': Server returned a non-pending state %r", "abc", "CANCELLED")
    logging.getLogger("prefect.runner.state_proposer").error("Failed to update state of flow run 'abc'")
    assert [line["message"] for line in json_log_lines()] == ["Failed to update state of flow run 'abc'"]


def test_the_language_identifier_says_nothing_about_long_posts(json_log_lines):
    from pipeline.nlp.language import guess_language

    # Not English by the function-word count, and long: fastText is asked, and it cuts the text.
    long_post = "hoy salimos temprano de la escuela y nos vemos en el parque a las cinco con todos los amigos"
    assert len(long_post) > 80 and guess_language(long_post) == "es"
    assert json_log_lines() == []
