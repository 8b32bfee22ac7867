"""The review console's frame: who is asking, CSRF, rendering, audit, store trouble.

A page or an action is a route on a router from ``protected_router()``; its handler asks for
``viewer: Viewer = Depends(current_viewer)`` and answers with ``render(request, "page.html", ...)``
(a template extending ``base.html``) or ``redirect(request, "/somewhere")``. The router's own
dependencies make every such route require a valid session (else a redirect to /login, or 401
for JSON and htmx) and refuse every POST, PUT, PATCH and DELETE without the session's CSRF token
(form field ``csrf_token`` or header ``X-CSRF-Token``) with 403. Forms write ``{{ csrf_field() }}``.
Templates autoescape everything; never mark text from a post, a tip or a user ``|safe``.
Who may see or do what is the review service's (``pipeline.review.policy``), never decided here.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from pipeline import stage_health
from pipeline.bootstrap import Runtime
from pipeline.config import ConfigError
from pipeline.dead_letters import DeadLetters
from pipeline.private_files import private_dir
from pipeline.review.actions import tip_threads
from pipeline.review.console.banner import AdminBanner
from pipeline.review.sessions import Session, SessionCodec
from pipeline.review.users import User, UsersFile
from pipeline.schema import ReviewEvent, audit_document
from pipeline.store import NotFound, StoreError
from pipeline.tipline.body import read_limited
from pipeline.tipline.clients import ClientAddress
from pipeline.tipline.ratelimit import RateLimiter
from pipeline.tipline.threads import ThreadStore, ThreadStoreError
from pipeline.tipline.validation import InputError

if TYPE_CHECKING:
    from pipeline.alerts.pager import Pager

log = logging.getLogger("threatline.review")

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Console pages load their CSS and (later) scripts from /static only: no inline script or style.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 64 * 1024
COOKIE = "tl_session"
UNAVAILABLE = ("threatline cannot reach its store right now. Try again in a minute; if it lasts, "
               "tell the administrator. Pages still go out.")

T = TypeVar("T")

# --- errors that become responses ------------------------------------------------------------


class LoginRequired(Exception):
    """No valid session: a redirect to /login (HTML) or 401 (JSON, htmx)."""


class Problem(Exception):
    """A console error page: status, title and a message fit for the person reading it."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(title)
        self.status, self.title, self.message, self.headers = status, title, message, headers or {}


# --- the console's state ------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The person behind a request, as the users file says now, and their session."""

    user: User
    session: Session

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def csrf(self) -> str:
        return self.session.csrf


class Console:
    """Everything the console's routes share; one per app, at ``app.state.console``."""

    def __init__(self, rt: Runtime, *, users: UsersFile, codec: SessionCodec, clock: Callable[[], datetime],
                 schools: Sequence[str], pager: Pager):
        settings, cfg = rt.settings, rt.settings.review
        self.rt, self.users, self.codec, self.clock, self.pager = rt, users, codec, clock, pager
        self._threads: ThreadStore | None = None
        self._threads_lock = threading.Lock()
        self.tz = ZoneInfo(settings.general.timezone)
        self.district = settings.general.district
        self.schools = list(schools)
        self.secure = cfg.secure_cookies
        # The __Host- prefix: browsers take it only over HTTPS, for this host, path / (no subdomain
        # can plant one).
        self.cookie_name = f"__Host-{COOKIE}" if self.secure else COOKIE
        self.login_limiter = RateLimiter(cfg.login_limit, cfg.window_s)
        self.client_of = ClientAddress(cfg.trusted_proxies)
        self.user_header = cfg.trusted_user_header
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in cfg.trusted_proxies]
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.globals["csrf_field"] = _csrf_field
        self.env.filters["when"] = self.when
        self.env.filters["label"] = lambda value: str(value or "").replace("_", "-")
        # Admins see dead letters waiting and stuck stages at the top of every page.
        self.banner = AdminBanner(
            lambda: DeadLetters(rt.bus, rt.store, settings, via="console").waiting(),
            lambda: stage_health.problems(settings.data_dir, settings.stages.stuck_alarm_s))

    @property
    def threads(self) -> ThreadStore:
        """The tip line's thread store (replies, the tip conversation). Opened at first use, not
        at start: most pages never need it, and a test app that is never served opens nothing."""
        with self._threads_lock:
            if self._threads is None:
                private_dir(self.rt.settings.data_dir)
                self._threads = tip_threads(self.rt.settings)
            return self._threads

    def close(self) -> None:
        with self._threads_lock:
            if self._threads is not None:
                self._threads.close()
                self._threads = None

    # --- sessions ---------------------------------------------------------------------------

    def issue(self, request: Request, session: Session) -> None:
        """Send ``session`` back with this response (SessionCookies writes the header)."""
        request.state.session = session
        attrs = ["Path=/", "HttpOnly", "SameSite=Lax"] + (["Secure"] if self.secure else [])
        request.state.set_cookie = "; ".join([f"{self.cookie_name}={self.codec.dumps(session)}", *attrs])

    def clear(self, request: Request) -> None:
        attrs = ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=0"] + (["Secure"] if self.secure else [])
        request.state.set_cookie = "; ".join([f'{self.cookie_name}=""', *attrs])

    def session_of(self, request: Request) -> Session | None:
        return self.codec.loads(request.cookies.get(self.cookie_name), self.clock())

    def proxied_username(self, request: Request) -> str | None:
        """The user named by ``review.trusted_user_header``, only when the TCP peer is a trusted proxy."""
        if not self.user_header:
            return None
        peer = request.client.host if request.client else ""
        try:
            trusted = any(ipaddress.ip_address(peer) in net for net in self._proxies)
        except ValueError:
            trusted = False
        value = request.headers.get(self.user_header) if trusted else None
        return value.strip().lower() if value and value.strip() else None

    def known_users(self) -> dict[str, User]:
        try:
            return self.users.all()
        except ConfigError as exc:  # fail closed: nobody gets in while the file is broken
            log.error("review users file unreadable: %s", exc)
            raise Problem(503, "The console is unavailable",
                          "The console's list of users cannot be read; an administrator must fix it.") from None

    # --- output -------------------------------------------------------------------------------

    def when(self, value: Any) -> str:
        if not value:
            return "unknown"
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")

    def audit(self, viewer: Viewer, action: str, item_id: str | None = None, **details: Any) -> None:
        """Write one audit record (call it in a thread: the store is synchronous)."""
        self.rt.store.append_audit([audit_document(ReviewEvent(
            item_id=item_id, actor=viewer.username, role=viewer.role, action=action, at=self.clock(),
            details={"via": "console", **details}))])


def console_of(request: Request) -> Console:
    return request.app.state.console


async def off_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call`` in a worker thread (the stores are synchronous); store trouble becomes a 503 page.
    ``NotFound`` (a StoreError too) passes through: only the caller knows what was missing."""
    try:
        return await run_in_threadpool(call, *args, **kwargs)
    except NotFound:
        raise
    except (StoreError, ThreadStoreError):
        raise Problem(503, "Try again in a minute", UNAVAILABLE, {"Retry-After": "30"}) from None


@jinja2.pass_context
def _csrf_field(context) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(context["csrf_token"])


def root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def render(request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    """A page from ``templates/<template>`` with the console's CSP. The context always has
    ``viewer`` (None before login), ``csrf_token``, ``root`` (prefix for links), ``district``,
    and ``admin_banner`` (a ``banner.Banner`` for admins, else None)."""
    c = console_of(request)
    viewer = getattr(request.state, "viewer", None)
    session = getattr(request.state, "session", None)
    banner = getattr(request.state, "admin_banner", None) if viewer is not None and viewer.role == "admin" else None
    values = {"viewer": viewer, "csrf_token": session.csrf if session else "", "root": root(request),
              "district": c.district, "request_path": request.url.path, "admin_banner": banner, **context}
    html = c.env.get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CONSOLE_CSP, **(headers or {})})


def redirect(request: Request, path: str) -> RedirectResponse:
    """303 See Other to a path of this app (after a POST: the browser GETs it)."""
    return RedirectResponse(root(request) + path, status_code=303)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return (request.headers.get("hx-request") == "true" or request.url.path.startswith("/api/")
            or ("application/json" in accept and "text/html" not in accept))


def login_required_response(request: Request) -> Response:
    if wants_json(request):
        return JSONResponse({"error": "login required"}, status_code=401, headers={"HX-Redirect": root(request) + "/login"})
    target = "/login"
    if request.method == "GET" and request.url.path != "/":
        query = f"?{request.url.query}" if request.url.query else ""
        target += "?next=" + quote(request.url.path + query, safe="")
    return redirect(request, target)


def problem_response(request: Request, exc: Problem) -> Response:
    if wants_json(request):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)
    return render(request, "problem.html", exc.status, exc.headers, title=exc.title, message=exc.message)


# --- dependencies -----------------------------------------------------------------------------


def passive(endpoint: Callable[..., T]) -> Callable[..., T]:
    """Mark a route that a page calls by itself, with nobody at the keyboard (the queue's poll
    for new items): it needs a session like any other route, but does not restart the session's
    idle timeout, or a console left open would never log out."""
    endpoint.passive = True  # type: ignore[attr-defined]
    return endpoint


def is_passive(request: Request) -> bool:
    return getattr(request.scope.get("endpoint"), "passive", False)


async def current_viewer(request: Request) -> Viewer:
    """The logged-in person (cached per request); LoginRequired without a valid session. Every
    request restarts the idle timeout, but those to ``passive`` routes."""
    if (viewer := getattr(request.state, "viewer", None)) is not None:
        return viewer
    c = console_of(request)
    now = c.clock()
    users = await run_in_threadpool(c.known_users)
    session = c.session_of(request)
    proxied = c.proxied_username(request)
    fresh = False
    if proxied is not None:
        user = users.get(proxied)
        if user is None or user.disabled:
            log.info("single sign-on user without console access refused")
            raise Problem(403, "No access to the console",
                          "You are signed in, but not as a user of the review console. Ask a console "
                          "administrator to add you.")
        if session is None or session.user != user.username or session.via != "proxy":
            session, fresh = Session.new(now, user.username, via="proxy"), True
            await run_in_threadpool(c.audit, Viewer(user, session), "login", method="proxy")
    else:
        user = users.get(session.user) if session and session.user else None
        if session is None or user is None or session.via != "password":
            if session is not None and session.user:
                c.clear(request)
            raise LoginRequired()
        if user.disabled or not hmac.compare_digest(session.tag, user.credential_tag):
            c.clear(request)
            raise LoginRequired()
    if fresh or not is_passive(request):
        session = session.touched(now)
        c.issue(request, session)  # the idle timeout restarts with every request
    else:
        request.state.session = session  # for the CSRF check; the cookie stays as it is
    viewer = Viewer(user, session)
    request.state.viewer = viewer
    if viewer.role == "admin" and not wants_json(request):  # pages only; never another role
        request.state.admin_banner = await run_in_threadpool(c.banner.current)
    return viewer


async def any_session(request: Request) -> Session:
    """The request's session, logged in or not; a new anonymous one (for its CSRF token) if none."""
    c = console_of(request)
    session = c.session_of(request)
    if session is None:
        session = Session.new(c.clock())
        c.issue(request, session)
    request.state.session = session
    return session


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (at most 64 KiB), read once per request."""
    if (form := getattr(request.state, "form", None)) is not None:
        return form
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form = {}
    if kind == "application/x-www-form-urlencoded":
        try:
            raw = await read_limited(request, MAX_FORM_BYTES)
        except InputError as exc:
            raise Problem(exc.status, "The form is too large", "The form sent is too large.") from None
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise Problem(400, "The form is damaged", "The form data is not valid UTF-8 text.") from None
        for key, value in pairs:
            form.setdefault(key, value)
    request.state.form = form
    return form


async def csrf_protected(request: Request) -> None:
    """403 for a state-changing request without the session's CSRF token. Run after the
    dependency that loads the session (``current_viewer`` or ``any_session``)."""
    if request.method in SAFE_METHODS:
        return
    session = getattr(request.state, "session", None)
    sent = request.headers.get("x-csrf-token") or (await form_of(request)).get("csrf_token", "")
    if session is None or not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        log.info("request without a valid CSRF token refused: %s %s", request.method, request.url.path)
        raise Problem(403, "This form has expired",
                      "The form was not sent from a current console page (or the session ended). "
                      "Go back, reload the page and try again.")


def require_role(*roles: str) -> Callable:
    """A dependency: 403 unless the viewer has one of ``roles``."""

    async def check(viewer: Viewer = Depends(current_viewer)) -> Viewer:
        if viewer.role not in roles:
            raise Problem(403, "Not for your role", "Your role does not give access to this page.")
        return viewer

    return check


def protected_router(**kwargs: Any) -> APIRouter:
    """A router whose every route needs a valid session and, for POSTs and the like, the CSRF token."""
    dependencies = [Depends(current_viewer), Depends(csrf_protected), *kwargs.pop("dependencies", [])]
    return APIRouter(dependencies=dependencies, **kwargs)


class SessionCookies:
    """Writes the Set-Cookie that a route's dependencies asked for (``Console.issue``/``clear``) on
    whatever response the route ends with, error pages and redirects included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_cookie(message):
            if message["type"] == "http.response.start" and (cookie := state.get("set_cookie")):
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
