"""The tip line's FastAPI app: HTML form at ``/``, JSON API under ``/api/tips`` (DESIGN.md §4).

Settings come from ``rt.settings.tipline``; tests pass a Runtime whose settings were changed
with ``model_copy(update=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.bootstrap import Runtime
from pipeline.private_files import private_dir
from pipeline.tipline import pages
from pipeline.tipline.body import form_body, json_body
from pipeline.tipline.clients import ClientAddress
from pipeline.tipline.guard import Guard, error_response
from pipeline.tipline.ratelimit import RateLimiter
from pipeline.tipline.retention import purge_expired
from pipeline.tipline.service import TipService, Unavailable, thread_view
from pipeline.tipline.threads import SqliteThreadStore, ThreadStore
from pipeline.tipline.validation import FollowUpIn, InputError, Schools, TipIn, parse

log = logging.getLogger("threatline.tipline")

PASSPHRASE_HEADER = "X-Tip-Passphrase"
PURGE_EVERY_S = 3600.0


def create_app(rt: Runtime, *, threads: ThreadStore | None = None) -> FastAPI:
    """The tip line over ``rt.bus``; ``threads`` defaults to ``tipline.threads_file`` in the data dir
    (then the app closes it at shutdown)."""
    settings, cfg = rt.settings, rt.settings.tipline
    owns_threads = threads is None
    if threads is None:
        private_dir(settings.data_dir)
        threads = SqliteThreadStore(settings.data_dir / cfg.threads_file)
    schools = Schools.from_file(settings.config_path(settings.classify.schools_file))
    service = TipService(rt.bus, threads, settings.topic("tips.raw"), schools)
    submits = RateLimiter(cfg.submit_limit, cfg.window_s)
    lookups = RateLimiter(cfg.lookup_limit, cfg.window_s)
    client_of = ClientAddress(cfg.trusted_proxies)
    zone = settings.general.timezone  # tipsters read times on the district's clock, as staff do
    max_body = cfg.max_body_bytes

    async def purge_once() -> None:
        try:
            await run_in_threadpool(purge_expired, threads, cfg.retention_days)
        except Exception as exc:  # noqa: BLE001 - tips are still taken; the next run tries again
            log.error("tip thread retention purge failed: %s", type(exc).__name__)

    async def purge_hourly() -> None:
        while True:
            await asyncio.sleep(PURGE_EVERY_S)
            await purge_once()

    @asynccontextmanager
    async def lifespan(_app):
        await purge_once()
        purger = asyncio.create_task(purge_hourly())
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            if owns_threads:
                threads.close()

    app = FastAPI(title="threatline tip line", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.add_middleware(Guard)
    app.state.service = service
    app.state.threads = threads

    def limit(limiter: RateLimiter, request: Request) -> None:
        # The address is only hashed in memory under a salt that is discarded with the window.
        retry = limiter.hit(client_of(request))
        if retry is not None:
            raise InputError(429, f"Too many requests from this connection. Please wait {int(retry)} seconds "
                                  "and try again.", headers={"Retry-After": str(int(retry))})

    # --- errors: always a human message, never a stack trace, never a bare 500 ------------

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return error_response(request.url.path, exc.status, exc.message, exc.fields, exc.headers)

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable):
        return error_response(request.url.path, 503, str(exc), headers={"Retry-After": "60"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = {404: "There is no page at this address.",
                   405: "This address does not accept that kind of request."}.get(exc.status_code, str(exc.detail))
        return error_response(request.url.path, exc.status_code, message, headers=dict(exc.headers or {}))

    # --- HTML ------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def form_page():
        return HTMLResponse(pages.tip_form(schools.names))

    @app.post("/", response_class=HTMLResponse)
    async def form_submit(request: Request):
        limit(submits, request)
        form = await form_body(request, max_body)
        values = {name: form.get(name, "") for name in ("message", "school", "when_where", "contact")}
        values["urgent"] = bool(form.get("urgent"))
        try:
            # An empty optional box means "not given", not an empty string.
            tip_in = parse(TipIn, {k: (v or None) if k in ("school", "when_where", "contact") else v
                                   for k, v in values.items()})
            receipt = await run_in_threadpool(service.submit, tip_in)
        except InputError as exc:
            if exc.status != 422:
                raise
            return HTMLResponse(pages.tip_form(schools.names, values, exc.fields, exc.message), status_code=422)
        except Unavailable as exc:
            return HTMLResponse(pages.tip_form(schools.names, values, {}, str(exc)), status_code=503,
                                headers={"Retry-After": "60"})
        return HTMLResponse(pages.receipt(receipt.code, receipt.passphrase), status_code=201)

    @app.get("/check", response_class=HTMLResponse)
    async def check_page():
        return HTMLResponse(pages.check_form())

    @app.post("/check", response_class=HTMLResponse)
    async def check_submit(request: Request):
        limit(lookups, request)
        form = await form_body(request, max_body)
        try:
            thread = await run_in_threadpool(service.open_thread, form.get("code", ""), form.get("passphrase"))
        except InputError as exc:
            return HTMLResponse(pages.check_form(form.get("code", ""), exc.message), status_code=exc.status)
        return HTMLResponse(pages.thread(thread_view(thread), form.get("passphrase", ""), timezone=zone))

    @app.post("/check/followup", response_class=HTMLResponse)
    async def followup_submit(request: Request):
        limit(submits, request)
        form = await form_body(request, max_body)
        code, secret = form.get("code", ""), form.get("passphrase", "")
        try:
            thread = await run_in_threadpool(service.open_thread, code, secret)
        except InputError as exc:
            return HTMLResponse(pages.check_form(code, exc.message), status_code=exc.status)
        try:
            follow = parse(FollowUpIn, {"message": form.get("message", "")})
            thread = await run_in_threadpool(service.follow_up, code, secret, follow)
        except InputError as exc:
            return HTMLResponse(pages.thread(thread_view(thread), secret, exc.fields, exc.message, timezone=zone),
                                status_code=exc.status)
        return HTMLResponse(pages.thread(thread_view(thread), secret, timezone=zone), status_code=201)

    # --- JSON API (DESIGN.md §4) -------------------------------------------------------------

    @app.post("/api/tips", status_code=201)
    async def api_submit(request: Request):
        limit(submits, request)
        tip_in = parse(TipIn, await json_body(request, max_body))
        receipt = await run_in_threadpool(service.submit, tip_in)
        return JSONResponse({"tip_id": receipt.tip_id, "code": receipt.code, "passphrase": receipt.passphrase},
                            status_code=201, headers={"Location": f"/api/tips/{receipt.code}"})

    def passphrase_of(request: Request) -> str:
        secret = request.headers.get(PASSPHRASE_HEADER)
        if not secret:
            raise InputError(401, f"Send the passphrase you received in the {PASSPHRASE_HEADER} header.")
        return secret

    @app.get("/api/tips/{code}")
    async def api_read(code: str, request: Request):
        limit(lookups, request)
        thread = await run_in_threadpool(service.open_thread, code, passphrase_of(request))
        return JSONResponse(thread_view(thread))

    @app.post("/api/tips/{code}/messages", status_code=201)
    async def api_follow_up(code: str, request: Request):
        limit(submits, request)
        secret = passphrase_of(request)
        follow = parse(FollowUpIn, await json_body(request, max_body))
        thread = await run_in_threadpool(service.follow_up, code, secret, follow)
        return JSONResponse(thread_view(thread), status_code=201)

    @app.get("/healthz")
    async def health():
        return {"ok": True}

    return app
