"""The review server's FastAPI app: acknowledge links (docs/alerts-ack-digest.md) and the review
console (pipeline/review/console, docs/review.md).

``GET /ack/{token}`` shows what the link would acknowledge and changes nothing, because mail
scanners and link previews fetch every link in a message. Its button POSTs to the same address,
and only that acknowledges. The token is the credential (one alert, one person, until it
expires), so there is no login and no cookie, and a cross-site POST has nothing to forge with:
without the token it acknowledges nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.alerts.ack import AckClaim, InvalidToken, verify
from pipeline.alerts.pager import Acknowledgement, Pager, alert_from_document
from pipeline.bootstrap import Runtime
from pipeline.readiness import Readiness, deployment_checks
from pipeline.review import pages
from pipeline.review.console import install_console
from pipeline.review.metrics import install_metrics
from pipeline.schema import Alert
from pipeline.store import NotFound, StoreError
from pipeline.tipline.clients import ClientAddress
from pipeline.tipline.guard import SECURITY_HEADERS, Guard
from pipeline.tipline.ratelimit import RateLimiter

log = logging.getLogger("threatline.review")

# Every response; console pages send a stricter CSP of their own (console.web.CONSOLE_CSP).
HEADERS = {**SECURITY_HEADERS, "X-Frame-Options": "DENY", "X-Robots-Tag": "noindex, nofollow"}
REFUSED = {  # InvalidToken.reason -> status, title, message; the page never says more than this
    "malformed": (400, "This link is incomplete",
                  f"The acknowledge link is damaged or cut short: open it again from the message. {pages.NO_LINK}"),
    "bad_signature": (403, "This link does not work",
                      "The acknowledge link is not valid; if it was copied or cut short, open it again from the "
                      f"message. {pages.NO_LINK}"),
    "expired": (410, "This link expired", "This link expired; open the review console or call dispatch."),
}
UNAVAILABLE = ("threatline cannot reach its store right now, so the acknowledgement may not be recorded. "
               "Try again in a minute (trying again is always safe), or call dispatch.")
GONE = f"This alert is no longer in threatline. {pages.NO_LINK}"


class Refused(Exception):
    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(title)
        self.status, self.title, self.message, self.headers = status, title, message, headers or {}


def problem_response(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return HTMLResponse(pages.problem(title, message), status_code=status, headers=headers)


class ReviewGuard(Guard):
    """Security headers on every response (no caching, no referrer: the token is in the URL),
    and no traceback or token in the log."""

    headers = HEADERS
    log = log

    def error(self, path: str) -> Response:
        # Sent past the header-adding wrapper, so it carries the headers itself.
        if not path.startswith("/ack/"):
            return problem_response(500, "Something went wrong", "Something went wrong on our side; what you "
                                    "asked for may not have been done. Try again, or call dispatch.", HEADERS)
        return problem_response(500, "Something went wrong", "Something went wrong on our side; the alert may "
                                "not have been acknowledged. Try again, or call dispatch.", HEADERS)

    def route(self, path: str) -> str:
        return re.sub(r"^/ack/[^/]*", "/ack/{token}", path)  # the token is a credential


def create_review_app(rt: Runtime, *, pager: Pager | None = None,
                      clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The review server over ``rt.store``. ``pager`` defaults to ``rt.pager`` (built now, so a
    bad roster or ack secret stops the server at start); ``clock`` to the pager's."""
    pager = pager or rt.pager
    clock = clock or pager.clock
    settings, cfg = rt.settings, rt.settings.review
    tz = ZoneInfo(settings.general.timezone)
    bad_links = RateLimiter(cfg.bad_link_limit, cfg.window_s)
    client_of = ClientAddress(cfg.trusted_proxies)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        console.close()

    app = FastAPI(title="threatline review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    console = install_console(app, rt, clock, pager)
    install_metrics(app, rt)  # GET /metrics, for review.metrics_from only
    app.add_middleware(ReviewGuard)  # added last: the outermost layer

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused):
        return problem_response(exc.status, exc.title, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = {404: "There is no page at this address.",
                   405: "This address does not accept that kind of request."}.get(exc.status_code, str(exc.detail))
        return problem_response(exc.status_code, "Something is wrong with the request", message,
                                dict(exc.headers or {}))

    def claim_of(token: str, request: Request) -> AckClaim:
        try:
            return verify(token, pager.policy.ack_secrets, clock())
        except InvalidToken as exc:
            # We signed expired links; the limiter counts only the rest: guesses and damage. Valid
            # links are never limited, so clients behind one proxy cannot block each other's acks.
            retry = bad_links.hit(client_of(request)) if exc.reason != "expired" else None
            if retry is not None:
                raise Refused(429, "Too many bad links", f"Too many invalid links from this connection. "
                              f"Wait {int(retry)} seconds. {pages.NO_LINK}", {"Retry-After": str(int(retry))}) from None
            log.info("acknowledge link refused: %s", exc.reason)  # never the token: it is a credential
            raise Refused(*REFUSED[exc.reason]) from None

    def name_of(person_id: str | None) -> str:
        person = pager.roster.people.get(person_id or "")
        return f"{person.name} ({person.id})" if person else (person_id or "someone")

    def load(alert_id: str) -> Alert:
        try:
            stored = rt.store.get_alert(alert_id)
        except StoreError:
            raise Refused(503, "Try again in a minute", UNAVAILABLE, {"Retry-After": "30"}) from None
        if stored is None:
            raise Refused(404, "Alert not found", GONE)
        return alert_from_document(stored.doc)

    def acknowledge(claim: AckClaim) -> Acknowledgement:
        try:
            return pager.acknowledge(claim.alert_id, by=claim.person_id, via="link")
        except NotFound:
            raise Refused(404, "Alert not found", GONE) from None
        except StoreError:  # NotFound is one too, hence second
            raise Refused(503, "Try again in a minute", UNAVAILABLE, {"Retry-After": "30"}) from None

    @app.get("/ack/{token}", response_class=HTMLResponse)
    async def ack_page(token: str, request: Request):
        claim = claim_of(token, request)
        alert = await run_in_threadpool(load, claim.alert_id)
        # Opening the link shows a flagged item's words: audited like any read. Mail scanners
        # open links too, hence "link opened", not "person read".
        await run_in_threadpool(pager.record_view, alert, claim.person_id, via="ack link opened")
        if alert.status == "acknowledged":
            html = pages.acknowledged(alert, name_of(alert.acknowledged_by), tz, already=True)
        else:
            html = pages.confirm(alert, name_of(claim.person_id), tz)
        return HTMLResponse(html)

    @app.post("/ack/{token}", response_class=HTMLResponse)
    async def ack_submit(token: str, request: Request):
        claim = claim_of(token, request)
        result = await run_in_threadpool(acknowledge, claim)
        alert = result.alert
        if not result.already:
            log.info("alert %s acknowledged by %s via link after %s s", alert.id, alert.acknowledged_by,
                     alert.time_to_ack_s, extra={"alert_id": alert.id, "outcome": "acknowledged"})
        return HTMLResponse(pages.acknowledged(alert, name_of(alert.acknowledged_by), tz, already=result.already))

    # Liveness and readiness (pipeline.readiness): /healthz never touches a backend, so a store
    # outage shows on /readyz and does not get a healthy server restarted.
    readiness = Readiness(deployment_checks(rt, lambda: console.threads))

    @app.get("/healthz")
    async def health():
        return {"status": "ok"}

    @app.get("/readyz")
    async def ready():
        status, body = await run_in_threadpool(readiness.report)
        return JSONResponse(body, status_code=status)

    return app
