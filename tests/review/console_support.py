"""Helpers for the console tests: people, logging in, reading forms and audit records."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery staple"
PEOPLE = {  # username -> (role, full name)
    "ada": ("admin", "Ada Admin"),
    "reyes": ("sro", "Officer Dana Reyes"),
    "cole": ("counselor", "Sam Cole"),
    "ana": ("analyst", "Ana Lyst"),
}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields every action form of the page has: the CSRF token and the item's version."""
    return {"csrf_token": csrf_of(html), "version": re.search(r'name="version" value="([^"]+)"', html).group(1)}


def post_action(console, item_id: str, action: str, **fields):
    """Open the item page and send ``action`` as its form would (the form need not be shown)."""
    page = console.get(f"/items/{item_id}")
    assert page.status_code == 200, page.text
    return console.post(f"/items/{item_id}/{action}", data={**form_fields(page.text), **fields})


def log_in(client, username: str, password: str = PASSWORD, next: str | None = None):
    """GET the login form, POST it; the POST's response."""
    page = client.get("/login")
    assert page.status_code == 200, page.text
    form = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
    if next is not None:
        form["next"] = next
    return client.post("/login", data=form)


def logged_in(client, username: str):
    r = log_in(client, username)
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return client


def token(client, path: str = "/") -> str:
    """The CSRF token in a page of the logged-in console."""
    r = client.get(path)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


class AuditSpy:
    """Every audit record the app writes, in order (they still reach the store)."""

    def __init__(self, store, monkeypatch):
        self.records: list[dict] = []
        real = store.append_audit

        def append(docs):
            self.records.extend(docs)
            real(docs)

        monkeypatch.setattr(store, "append_audit", append)

    def actions(self, action: str) -> list[dict]:
        return [r for r in self.records if r["event"]["action"] == action]
