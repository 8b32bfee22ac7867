"""What every tip line response carries, whatever produced it: security headers, a human message
for errors (JSON under ``/api/``, an HTML page with the 911 banner elsewhere), and no traceback.
"""

from __future__ import annotations

import logging
import re

from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import Request

from pipeline.tipline import pages
from pipeline.tipline.i18n import ENGLISH, N_, Languages, Message, Translator
from pipeline.tipline.validation import CODES

log = logging.getLogger("threatline.tipline")

SECURITY_HEADERS = {
    # Tips and passphrases must not linger in caches or leak through referrers.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
UNEXPECTED = Message("Something went wrong on our side; your request may not have been recorded. Please try again.")
UNAVAILABLE_TITLE = N_("The tip line is unavailable")
BAD_REQUEST_TITLE = N_("Something is wrong with the request")


def error_response(path: str, status: int, message: str, fields: dict | None = None,
                   headers: dict | None = None, *, code: str | None = None, tr: Translator = ENGLISH) -> Response:
    """JSON under /api/ (English, with a stable ``code``), else a page in ``tr``'s language."""
    headers = {**SECURITY_HEADERS, **(headers or {})}
    if path.startswith("/api/"):
        return JSONResponse({"error": message, "code": code or CODES.get(status, "error"), "fields": fields or {},
                             "emergency": pages.EMERGENCY}, status_code=status, headers=headers)
    title = UNAVAILABLE_TITLE if status >= 500 else BAD_REQUEST_TITLE
    return HTMLResponse(pages.problem(tr, tr.text(title), tr.text(message)), status_code=status, headers=headers)


class Guard:
    """Outermost app middleware. It swallows unexpected exceptions instead of re-raising them as
    Starlette's own error middleware does, because the server would then log the traceback, and
    an exception's text can quote the tip. Other apps subclass it for their own error page and
    for what of a path may be logged (the review server's ack links)."""

    headers = SECURITY_HEADERS
    log = log

    def __init__(self, app, languages: Languages | None = None):
        self.app = app
        self.languages = languages  # the tip line's: its 500 page in the tipster's language
        self._headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]

    def error(self, path: str, tr: Translator = ENGLISH) -> Response:
        return error_response(path, 500, UNEXPECTED, tr=tr)

    def _failure(self, scope) -> Response:
        path = scope.get("path", "")
        if self.languages is None:
            return self.error(path)
        return self.error(path, self.languages.of(Request(scope)))

    def route(self, path: str) -> str:
        # The tip code stays out of the log.
        return re.sub(r"^/api/tips/[^/]+", "/api/tips/{code}", path)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_safely(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self._headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_safely)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
            self.log.error("unexpected %s on %s %s", type(exc).__name__, scope.get("method"),
                           self.route(scope.get("path", "")))
            if not started:
                await self._failure(scope)(scope, receive, send)
