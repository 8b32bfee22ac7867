"""Bus fixtures: the Tansu broker for the session and ``bus_factory`` over both adapters."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from servers_tansu import tansu_broker

from pipeline.bus import Bus
from pipeline.bus.embedded import EmbeddedBus
from pipeline.bus.kafka import KafkaBus

__all__ = ["kafka_bootstrap", "bus_factory", "BusFactory", "unique_topic", "unique_group",
           "TEST_MAX_POLL_INTERVAL_MS", "TEST_SESSION_TIMEOUT_MS"]

# Tansu answers JoinGroup only after about half the session timeout (DESIGN.md §5 and
# pipeline/bus/kafka.py), so tests keep both short; 3 s still leaves the heartbeat thread slack
# on a busy two-core machine.
TEST_MAX_POLL_INTERVAL_MS = 5_000
TEST_SESSION_TIMEOUT_MS = 3_000


def unique_topic(name: str = "topic") -> str:
    """A topic name no other test uses: every test on the shared broker sees only its own data."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


def unique_group(name: str = "group") -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """One Tansu broker for the whole session (tests separate by topic name)."""
    with tansu_broker() as address:
        yield address


class BusFactory:
    """Opens fresh ``Bus`` objects on one backing log (one SQLite file, or one broker); closes
    them all at teardown. A new object stands for a restarted process."""

    def __init__(self, backend: str, *, sqlite_path: Path | None = None, bootstrap: str | None = None):
        self.backend = backend
        self.sqlite_path = sqlite_path
        self.bootstrap = bootstrap
        self._opened: list[Bus] = []

    def __call__(self, **options: Any) -> Bus:
        if self.backend == "embedded":
            bus: Bus = EmbeddedBus(self.sqlite_path, **options)
        else:
            options.setdefault("max_poll_interval_ms", TEST_MAX_POLL_INTERVAL_MS)
            options.setdefault("session_timeout_ms", TEST_SESSION_TIMEOUT_MS)
            bus = KafkaBus(self.bootstrap, **options)
        self._opened.append(bus)
        return bus

    def close(self) -> None:
        for bus in self._opened:
            bus.close()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_factory(request, tmp_path):
    if request.param == "embedded":
        factory = BusFactory("embedded", sqlite_path=tmp_path / "bus.sqlite3")
    else:
        factory = BusFactory("kafka", bootstrap=request.getfixturevalue("kafka_bootstrap"))
    yield factory
    factory.close()
