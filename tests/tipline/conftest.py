"""Fixtures: a runtime on the embedded bus and a real tip line server over it."""

from __future__ import annotations

import pytest
from tipline_server import serving

from pipeline.bootstrap import runtime


@pytest.fixture
def rt(settings):
    with runtime(settings) as r:
        r.bus.setup([settings.topic("tips.raw")])
        yield r


@pytest.fixture
def tipline(rt, tmp_path):
    with serving(rt, tmp_path) as t:
        yield t
