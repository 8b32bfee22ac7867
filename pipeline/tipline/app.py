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
from pipeline.readiness import Readiness, deployment_checks
from pipeline.tipline import images, pages
from pipeline.tipline.body import json_body
from pipeline.tipline.clients import ClientAddress
from pipeline.tipline.guard import Guard, error_response
from pipeline.tipline.i18n import Languages, Message
from pipeline.tipline.multipart import FILE_FIELD, Upload, form_with_upload, megabytes
from pipeline.tipline.ratelimit import RateLimiter
from pipeline.tipline.retention import purge_expired
from pipeline.tipline.service import TipService, Unavailable, thread_view
from pipeline.tipline.threads import Attachment, SqliteThreadStore, ThreadStore
from pipeline.tipline.validation import FollowUpIn, InputError, Schools, TipIn, parse

log = logging.getLogger("threatline.tipline")

PASSPHRASE_HEADER = "X-Tip-Passphrase"
PURGE_EVERY_S = 3600.0
# A file box cannot be filled in again by the server: when a form comes back, the tipster must
# choose the picture again.
CHOOSE_AGAIN = Message("Choose the picture again: it is not kept when the form comes back.")


def create_app(rt: Runtime, *, threads: ThreadStore | None = None) -> FastAPI:
    """The tip line over ``rt.bus``; ``threads`` defaults to ``tipline.threads_file`` in the data dir
    (then the app closes it at shutdown). Raises ConfigError for a language without a catalog."""
    settings, cfg = rt.settings, rt.settings.tipline
    languages = Languages(cfg.languages)  # before the thread file: a bad config opens nothing
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
    picture_limit, max_pixels = cfg.attachment_max_bytes, cfg.attachment_max_pixels
    names = languages.names
    readiness = Readiness(deployment_checks(rt, lambda: threads))

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
    app.add_middleware(Guard, languages=languages)
    app.state.service = service
    app.state.threads = threads

    def limit(limiter: RateLimiter, request: Request) -> None:
        # The address is only hashed in memory under a salt that is discarded with the window.
        retry = limiter.hit(client_of(request))
        if retry is not None:
            raise InputError(429, Message("Too many requests from this connection. Please wait {seconds} seconds "
                                          "and try again.", seconds=int(retry)), headers={"Retry-After": str(int(retry))})

    async def picture_of(upload: Upload | None) -> tuple[Attachment | None, str | None]:
        """(the picture cleaned, None), or (None, why it was not kept), or (None, None) without one."""
        if upload is None:
            return None, None
        if upload.too_large:
            log.info("a picture was not kept: too_large")
            return None, Message("The picture is larger than {mb} MB.", mb=megabytes(picture_limit))
        try:
            return await run_in_threadpool(images.clean, upload.data, max_pixels), None
        except images.Refused as exc:
            log.info("a picture was not kept: %s", exc.code)
            return None, exc.reason

    # --- errors: always a human message, never a stack trace, never a bare 500 ------------

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return error_response(request.url.path, exc.status, exc.message, exc.fields, exc.headers, code=exc.code,
                              tr=languages.of(request))

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable):
        return error_response(request.url.path, 503, exc.message, headers={"Retry-After": "60"},
                              tr=languages.of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message, code = {404: (Message("There is no page at this address."), "no_such_page"),
                         405: (Message("This address does not accept that kind of request."), "method_not_allowed"),
                         }.get(exc.status_code, (str(exc.detail), None))
        return error_response(request.url.path, exc.status_code, message, headers=dict(exc.headers or {}),
                              code=code, tr=languages.of(request))

    # --- HTML ------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def form_page(request: Request):
        return HTMLResponse(pages.tip_form(languages.of(request), schools.names, picture_limit=picture_limit,
                                           languages=names))

    @app.post("/", response_class=HTMLResponse)
    async def form_submit(request: Request):
        tr = languages.of(request)
        limit(submits, request)
        form, upload = await form_with_upload(request, max_body, picture_limit)
        values = {name: form.get(name, "") for name in ("message", "school", "when_where", "contact")}
        values["urgent"] = bool(form.get("urgent"))
        # A picture that cannot be kept does not hold the tip back: the tip is sent without it and
        # the receipt says why (a student in crisis should not have to try twice).
        picture, refused = await picture_of(upload)

        def again(exc_fields: dict, status: int, general: str, headers: dict | None = None) -> HTMLResponse:
            fields = {**exc_fields, **({FILE_FIELD: refused or CHOOSE_AGAIN} if upload is not None else {})}
            return HTMLResponse(pages.tip_form(tr, schools.names, values, fields, general, picture_limit=picture_limit,
                                               languages=names), status_code=status, headers=headers)

        try:
            # An empty optional box means "not given", not an empty string.
            tip_in = parse(TipIn, {k: (v or None) if k in ("school", "when_where", "contact") else v
                                   for k, v in values.items()})
            receipt = await run_in_threadpool(service.submit, tip_in, picture)
        except InputError as exc:
            if exc.status != 422:
                raise
            return again(exc.fields, 422, exc.message)
        except Unavailable as exc:
            return again({}, 503, exc.message, {"Retry-After": "60"})
        return HTMLResponse(pages.receipt(tr, receipt.code, receipt.passphrase, picture_refused=refused,
                                          picture_attached=picture is not None), status_code=201)

    @app.get("/check", response_class=HTMLResponse)
    async def check_page(request: Request):
        return HTMLResponse(pages.check_form(languages.of(request), languages=names))

    def thread_page(tr, thread, secret: str, status: int = 200, **kwargs) -> HTMLResponse:
        return HTMLResponse(pages.thread(tr, thread_view(thread, pictures=True), secret, timezone=zone,
                                         picture_limit=picture_limit, languages=names, **kwargs), status_code=status)

    @app.post("/check", response_class=HTMLResponse)
    async def check_submit(request: Request):
        tr = languages.of(request)
        limit(lookups, request)
        form, _upload = await form_with_upload(request, max_body, picture_limit)
        try:
            thread = await run_in_threadpool(service.open_thread, form.get("code", ""), form.get("passphrase"))
        except InputError as exc:
            return HTMLResponse(pages.check_form(tr, form.get("code", ""), exc.message, languages=names),
                                status_code=exc.status)
        return thread_page(tr, thread, form.get("passphrase", ""))

    @app.post("/check/followup", response_class=HTMLResponse)
    async def followup_submit(request: Request):
        tr = languages.of(request)
        limit(submits, request)
        form, upload = await form_with_upload(request, max_body, picture_limit)
        code, secret = form.get("code", ""), form.get("passphrase", "")
        try:
            thread = await run_in_threadpool(service.open_thread, code, secret)
        except InputError as exc:
            return HTMLResponse(pages.check_form(tr, code, exc.message, languages=names), status_code=exc.status)
        picture, refused = await picture_of(upload)  # as on the tip form: the words go through without it
        try:
            follow = parse(FollowUpIn, {"message": form.get("message", "")})
            thread = await run_in_threadpool(service.follow_up, code, secret, follow, picture)
        except InputError as exc:
            fields = {**exc.fields, **({FILE_FIELD: refused or CHOOSE_AGAIN} if upload is not None else {})}
            return thread_page(tr, thread, secret, exc.status, errors=fields, general=exc.message)
        return thread_page(tr, thread, secret, 201, picture_refused=refused, picture_attached=picture is not None)

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

    # Liveness and readiness (pipeline.readiness): /healthz never touches a backend.
    @app.get("/healthz")
    async def health():
        return {"status": "ok"}

    @app.get("/readyz")
    async def ready():
        status, body = await run_in_threadpool(readiness.report)
        return JSONResponse(body, status_code=status)

    return app
