"""User management for admins: list, add, change role, disable and enable. Writes the users file
(atomically, under its lock) and audits every change as ``user_admin``."""

from __future__ import annotations

import logging

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from pipeline.review.console.web import (
    Problem, Viewer, console_of, form_of, protected_router, redirect, render, require_role,
)
from pipeline.review.users import MIN_PASSWORD, ROLES, UserError

log = logging.getLogger("threatline.review")

admin_only = require_role("admin")
router = protected_router(prefix="/admin", dependencies=[Depends(admin_only)])

DONE = {"added": "User added.", "role": "Role changed.", "disabled": "User disabled; their sessions end now.",
        "enabled": "User enabled."}


async def users_page(request: Request, status: int = 200, error: str = "", done: str = "", draft=None):
    c = console_of(request)
    users = sorted((await run_in_threadpool(c.known_users)).values(), key=lambda u: u.username)
    return render(request, "admin_users.html", status, title="Users", users=users, roles=ROLES, error=error,
                  done=DONE.get(done, ""), draft=draft or {}, min_password=MIN_PASSWORD)


@router.get("/users")
async def list_users(request: Request, done: str = ""):
    return await users_page(request, done=done)


async def change(request: Request, viewer: Viewer, op: str, username: str, call, *args, draft=None):
    """Run a users-file change; audit it, or show the page again with what went wrong."""
    c = console_of(request)
    try:
        user = await run_in_threadpool(call, *args)
    except UserError as exc:
        return await users_page(request, 400, str(exc), draft=draft)
    details = {"op": op, "user": username, "role": user.role, "disabled": user.disabled}
    await run_in_threadpool(c.audit, viewer, "user_admin", None, **details)
    log.info("console user %s: %s by %s", op, username, viewer.username)
    return redirect(request, f"/admin/users?done={op}")


@router.post("/users")
async def add_user(request: Request, viewer: Viewer = Depends(admin_only)):
    c = console_of(request)
    form = await form_of(request)
    username, role, name = form.get("username", "").strip().lower(), form.get("role", ""), form.get("name", "")
    draft = {"username": username, "role": role, "name": name}
    if form.get("password", "") != form.get("password2", ""):
        return await users_page(request, 400, "The two passwords differ.", draft=draft)
    return await change(request, viewer, "added", username, c.users.add, username, role, form.get("password", ""),
                        name[:200], draft=draft)


@router.post("/users/{username}/role")
async def set_role(username: str, request: Request, viewer: Viewer = Depends(admin_only)):
    c = console_of(request)
    return await change(request, viewer, "role", username, c.users.set_role, username,
                        (await form_of(request)).get("role", ""))


@router.post("/users/{username}/disabled")
async def set_disabled(username: str, request: Request, viewer: Viewer = Depends(admin_only)):
    c = console_of(request)
    value = (await form_of(request)).get("disabled", "")
    if value not in ("true", "false"):
        raise Problem(400, "Something is wrong with the request", "Say whether to disable or enable the user.")
    disabled = value == "true"
    return await change(request, viewer, "disabled" if disabled else "enabled", username, c.users.set_disabled,
                        username, disabled)
