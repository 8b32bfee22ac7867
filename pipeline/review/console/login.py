"""Logging in and out of the console."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from pipeline.review.console.web import (
    LoginRequired, Problem, Viewer, any_session, console_of, csrf_protected, current_viewer, form_of, off_thread,
    protected_router, redirect, render,
)
from pipeline.review.sessions import Session

log = logging.getLogger("threatline.review")

router = APIRouter()          # /login: open to everyone (it has to be)
signed_in = protected_router()  # /logout

REFUSED = "Wrong username or password."  # the same words for an unknown user, a wrong password, a disabled account
MESSAGES = {"out": "You are logged out.", "expired": "Your session ended; log in again."}


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of this app only, never another site (//evil, /\\evil)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if re.search(r"[\x00-\x1f\\]", value) or value.split("?")[0] in ("/login", "/logout"):
        return "/"
    return value


async def login_limited(request: Request) -> None:
    c = console_of(request)
    retry = c.login_limiter.hit(c.client_of(request))
    if retry is not None:
        raise Problem(429, "Too many login attempts",
                      f"Too many login attempts from this connection. Wait {int(retry)} seconds and try again.",
                      {"Retry-After": str(int(retry))})


@router.get("/login")
async def login_page(request: Request, next: str = "/", msg: str = ""):
    try:
        await current_viewer(request)
        return redirect(request, safe_next(next))  # logged in already
    except (LoginRequired, Problem):  # not logged in (or cannot be): show the form
        pass
    c = console_of(request)
    session = c.session_of(request)
    if session is None or session.user is not None:  # a stale login's session: start afresh
        c.issue(request, Session.new(c.clock()))
    else:
        request.state.session = session
    return render(request, "login.html", title="Log in", next=safe_next(next), username="", error="",
                  notice=MESSAGES.get(msg, ""))


@router.post("/login", dependencies=[Depends(login_limited), Depends(any_session), Depends(csrf_protected)])
async def login_submit(request: Request):
    c = console_of(request)
    form = await form_of(request)
    username = form.get("username", "").strip().lower()[:128]
    target = safe_next(form.get("next"))
    user = await run_in_threadpool(c.users.authenticate, username, form.get("password", ""))
    if user is None:
        # The typed name may be a password typed in the wrong box: log it only if it is a user.
        log.info("console login refused%s", f" for user {username}" if c.users.get(username) else "")
        return render(request, "login.html", 401, title="Log in", next=target, username=username, error=REFUSED, notice="")
    session = Session.new(c.clock(), user.username, user.credential_tag)  # a new id and CSRF token
    viewer = Viewer(user, session)
    # The login's audit record is mandatory: written before the session is issued, so that a
    # store that cannot take it (down, read-only) is a 503 "try again" with no one logged in.
    await off_thread(c.audit, viewer, "login", method="password")
    c.issue(request, session)
    request.state.viewer = viewer
    log.info("console login: %s (%s)", user.username, user.role)
    return redirect(request, target)


@signed_in.post("/logout")
async def logout(request: Request, viewer: Viewer = Depends(current_viewer)):
    c = console_of(request)
    c.codec.revoke(viewer.session, c.clock())
    c.clear(request)
    await off_thread(c.audit, viewer, "logout")  # store trouble: a 503 page, not a 500
    return redirect(request, "/login?msg=out")
