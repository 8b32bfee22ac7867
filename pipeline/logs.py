"""Log lines for long-running commands (`run`, `stage`): one line each, with time and level.

Never configured for one-shot commands, whose output is their result. Client libraries log their
own chatter at INFO (kafka-python's every connection, apprise's every message); only their
warnings are worth a line.
"""

from __future__ import annotations

import logging

QUIET_LIBRARIES = ("kafka", "elastic_transport", "httpx", "uvicorn.access", "scrapy", "apprise")


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
