"""The review console: server-rendered pages behind a login, on the review server beside the
acknowledge links (docs/review.md). The pages add no rule of their own: what a role sees and may
do, the queue and the item page come from the review service (``pipeline.review.policy``,
``actions``, ``queries``).

- ``web``: the frame every page uses (session, CSRF, rendering, audit, store trouble);
- ``login``: /login, /logout; ``queue``: /; ``item``: /items/{id}; ``attachment``: a tipster's picture;
  ``item_actions``: POST /items/{id}/{action}; ``duty``: /on-duty; ``models``: /models (analysts, admins);
  ``admin``: /admin/users;
- ``views``: documents turned into what templates show; ``highlight``: cues marked in a text.

A new page or action: a route on a ``web.protected_router()`` in a module here, its router added
to ``ROUTERS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from pipeline.alerts.pager import Pager
from pipeline.bootstrap import Runtime, district_schools
from pipeline.config import ConfigError
from pipeline.review.console import admin, attachment, duty, item, item_actions, login, models, queue
from pipeline.review.console.web import (
    STATIC, Console, LoginRequired, Problem, SessionCookies, login_required_response, problem_response,
)
from pipeline.review.sessions import SessionCodec, session_secret
from pipeline.review.users import UsersFile

ROUTERS = (login.router, login.signed_in, queue.router, item.router, attachment.router, item_actions.router,
           duty.router, models.router, admin.router)


def install_console(app: FastAPI, rt: Runtime, clock: Callable[[], datetime], pager: Pager) -> Console:
    """Add the console's routes, static files and error handling to ``app``; ``pager``
    acknowledges alerts. Reads the users file and the session secret now, so a broken file or a
    weak secret stops the server at start. Call ``Console.close()`` at shutdown."""
    settings, cfg = rt.settings, rt.settings.review
    try:
        codec = SessionCodec(session_secret(settings), idle_s=cfg.session_timeout_s, max_age_s=cfg.session_max_age_s)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    users = UsersFile(settings.users_path)
    users.all()
    console = Console(rt, users=users, codec=codec, clock=clock, schools=district_schools(settings), pager=pager)
    app.state.console = console
    app.add_middleware(SessionCookies)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        return login_required_response(request)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request, exc)

    return console
