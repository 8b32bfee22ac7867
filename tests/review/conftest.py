"""Fixtures: a runtime on the embedded store, a pager over the shipped roster and rules whose
messages land in a list and whose clock the test moves, and the review app over both."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from review_support import PAGED_AT, Clock

from pipeline.bootstrap import build_pager, runtime
from pipeline.review import create_review_app


@pytest.fixture
def rt(settings):
    with runtime(settings) as r:
        r.store.setup()
        yield r


@pytest.fixture
def clock():
    return Clock(PAGED_AT)


@pytest.fixture
def sent():
    """The bodies of every message the pager delivered."""
    return []


@pytest.fixture
def pager(rt, clock, sent):
    return build_pager(rt.settings, rt.store, clock=clock, sleep=lambda _: None,
                       notify=lambda url, title, body: sent.append(body) or True)


@pytest.fixture
def client(rt, pager):
    with TestClient(create_review_app(rt, pager=pager)) as c:
        yield c
