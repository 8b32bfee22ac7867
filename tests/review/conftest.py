"""Fixtures: a runtime on the embedded store, a pager over the shipped roster and rules whose
messages land in a list and whose clock the test moves, and the review app over both."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from clocks import Clock
from review_support import PAGED_AT

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
                       notify=lambda url, title, message: sent.append(message.text) or True)


@pytest.fixture
def client(rt, pager):
    with TestClient(create_review_app(rt, pager=pager)) as c:
        yield c


# --- the console (tests/review/test_console_*.py) ---------------------------------------------


@pytest.fixture
def settings(settings, tmp_path):
    """The shipped config with the console's users file in the test's own directory: no test
    writes config/users.yaml."""
    return settings.model_copy(update={"review": settings.review.model_copy(
        update={"users_file": tmp_path / "users.yaml"})})


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """argon2id at its smallest cost: the real one takes most of a second per hash here."""
    from argon2 import PasswordHasher

    from pipeline.review import users

    monkeypatch.setattr(users, "default_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def users(rt):
    """The users file with one person per role (console_support.PEOPLE), all with PASSWORD."""
    from console_support import PASSWORD, PEOPLE

    from pipeline.review.users import UsersFile

    file = UsersFile(rt.settings.users_path)
    for username, (role, name) in PEOPLE.items():
        file.add(username, role, PASSWORD, name)
    return file


@pytest.fixture
def console(rt, pager, users):
    """A browser on the review server that follows no redirects (tests look at each one)."""
    with TestClient(create_review_app(rt, pager=pager), follow_redirects=False) as c:
        yield c
