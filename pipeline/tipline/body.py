"""Reading request bodies defensively: bounded size, expected media type, strict UTF-8."""

from __future__ import annotations

import json
import sys
from urllib.parse import parse_qsl

from starlette.requests import Request

from pipeline.tipline.i18n import N_, Message
from pipeline.tipline.validation import InputError

FORM_AS = N_("Send the form as {media_type} (UTF-8).")


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    kind, *params = [part.strip() for part in raw.split(";")]
    values = {}
    for param in params:
        key, _, value = param.partition("=")
        values[key.strip().lower()] = value.strip().strip('"')  # as sent: a multipart boundary is case-sensitive
    return kind.lower(), values


def require_media_type(request: Request, expected: tuple[str, ...], refusal: str) -> None:
    """415 unless the body is one of ``expected`` in UTF-8; ``refusal`` says so, with {media_type}."""
    kind, params = media_type(request)
    charset = params.get("charset", "utf-8").lower()
    if kind not in expected or charset not in ("utf-8", "utf8"):
        raise InputError(415, Message(refusal, media_type=" or ".join(expected)))


def too_large(limit: int) -> InputError:
    return InputError(413, Message("The request is too large. A tip may be at most {kb} KB.", kb=limit // 1024))


def check_declared_length(request: Request, limit: int, too_big: InputError) -> None:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InputError(400, Message("The Content-Length header is not a number."), code="bad_content_length")
        if int(declared) > limit:
            raise too_big


async def read_limited(request: Request, limit: int) -> bytes:
    too_big = too_large(limit)
    check_declared_length(request, limit, too_big)
    # Chunked bodies carry no length up front: count while reading and stop early.
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(400, Message("The request is not valid UTF-8 text."), code="not_utf8") from None


async def json_body(request: Request, limit: int) -> object:
    require_media_type(request, ("application/json",), "Send the tip as {media_type} (UTF-8).")  # the API: English
    text = decode_utf8(await read_limited(request, limit))
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InputError(400, "The request body is not valid JSON.", code="not_json") from None
    except ValueError:
        # An integer longer than Python's int-string conversion limit (4,300 digits) is valid
        # JSON but raises a plain ValueError from int(); no field of a tip holds such a number.
        raise InputError(400, "The request body holds a number too long to read "
                              f"(more than {sys.get_int_max_str_digits()} digits).", code="number_too_long") from None


async def form_body(request: Request, limit: int) -> dict[str, str]:
    require_media_type(request, ("application/x-www-form-urlencoded",), FORM_AS)
    text = decode_utf8(await read_limited(request, limit))
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InputError(400, Message("The form data is not valid UTF-8 text."), code="not_utf8") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)  # a repeated field keeps its first value
    return form
