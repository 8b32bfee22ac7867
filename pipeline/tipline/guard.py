"""What every tip line response carries, whatever produced it: security headers, a human message
for errors (JSON under ``/api/``, an HTML page with the 911 banner elsewhere), and no traceback.
"""

from __future__ import annotations

import logging
import re

from fastapi.responses import HTMLResponse, JSONResponse, Response

from pipeline.tipline import pages

log = logging.getLogger("threatline.tipline")

SECURITY_HEADERS = {
    # Tips and passphrases must not linger in caches or leak through referrers.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
UNEXPECTED = "Something went wrong on our side; your request may not have been recorded. Please try again."


def error_response(path: str, status: int, message: str, fields: dict | None = None,
                   headers: dict | None = None) -> Response:
    headers = {**SECURITY_HEADERS, **(headers or {})}
    if path.startswith("/api/"):
        return JSONResponse({"error": message, "fields": fields or {}, "emergency": pages.EMERGENCY},
                            status_code=status, headers=headers)
    title = "The tip line is unavailable" if status >= 500 else "Something is wrong with the request"
    return HTMLResponse(pages.problem(title, message), status_code=status, headers=headers)


class Guard:
    """Outermost app middleware. It swallows unexpected exceptions instead of re-raising them as
    Starlette's own error middleware does, because the server would then log the traceback, and
    an exception's text can quote the tip. Other apps subclass it for their own error page and
    for what of a path may be logged (the review server's ack links)."""

    headers = SECURITY_HEADERS
    log = log

    def __init__(self, app):
        self.app = app
        self._headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]

    def error(self, path: str) -> Response:
        return error_response(path, 500, UNEXPECTED)

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
                await self.error(scope.get("path", ""))(scope, receive, send)
