"""Reading request bodies defensively: bounded size, expected media type, strict UTF-8."""

from __future__ import annotations

import json
import sys
from urllib.parse import parse_qsl

from starlette.requests import Request

from pipeline.tipline.validation import InputError


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    kind, *params = [part.strip() for part in raw.split(";")]
    values = {}
    for param in params:
        key, _, value = param.partition("=")
        values[key.strip().lower()] = value.strip().strip('"').lower()
    return kind.lower(), values


def require_media_type(request: Request, expected: str, human: str) -> None:
    kind, params = media_type(request)
    charset = params.get("charset", "utf-8")
    if kind != expected or charset not in ("utf-8", "utf8"):
        raise InputError(415, f"Send {human} as {expected} (UTF-8).")


async def read_limited(request: Request, limit: int) -> bytes:
    too_big = InputError(413, f"The request is too large. A tip may be at most {limit // 1024} KB.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InputError(400, "The Content-Length header is not a number.")
        if int(declared) > limit:
            raise too_big
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
        raise InputError(400, "The request is not valid UTF-8 text.") from None


async def json_body(request: Request, limit: int) -> object:
    require_media_type(request, "application/json", "the tip")
    text = decode_utf8(await read_limited(request, limit))
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InputError(400, "The request body is not valid JSON.") from None
    except ValueError:
        # An integer longer than Python's int-string conversion limit (4,300 digits) is valid
        # JSON but raises a plain ValueError from int(); no field of a tip holds such a number.
        raise InputError(400, "The request body holds a number too long to read "
                              f"(more than {sys.get_int_max_str_digits()} digits).") from None


async def form_body(request: Request, limit: int) -> dict[str, str]:
    require_media_type(request, "application/x-www-form-urlencoded", "the form")
    text = decode_utf8(await read_limited(request, limit))
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InputError(400, "The form data is not valid UTF-8 text.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)  # a repeated field keeps its first value
    return form
