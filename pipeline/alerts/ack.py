"""Signed, expiring acknowledgement links for alerts (docs/alerts-ack-digest.md).

A token says "person P may acknowledge alert A until T". It is a capability: whoever holds the
link can acknowledge, so it is short-lived, bound to one alert and one person (the audit trail
names who acknowledged), and forged or altered tokens are refused.

Layout (then base64url without padding)::

    version (1) | expires_at (4, unix seconds, big-endian) | len (1) | alert_id | len (1) | person_id | mac (16)

mac = HMAC-SHA256(secret, DOMAIN + everything before the mac), first 16 bytes (128 bits).
Everything here is pure: the clock comes in as ``now``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

VERSION = 1
MAC_BYTES = 16
MIN_SECRET_BYTES = 32
DEFAULT_SECRET = "change-me"
DEFAULT_TTL = timedelta(hours=24)
# The label keeps these MACs from matching any other use of the same secret.
DOMAIN = b"threatline.ack.v1\x00"
_HEADER = struct.Struct(">BI")
_MAX_ID_BYTES = 255  # one length byte
_MAX_TOKEN_CHARS = 4 * (_HEADER.size + 2 * (1 + _MAX_ID_BYTES) + MAC_BYTES) // 3 + 4
_MIN_TOKEN_BYTES = _HEADER.size + 2 + 2 + MAC_BYTES  # ids are at least one byte each
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")

Secret = str | bytes | SecretStr
Reason = Literal["malformed", "bad_signature", "expired"]


class InvalidToken(Exception):
    """The link cannot acknowledge anything. ``reason`` is one of malformed, bad_signature, expired.

    The message is safe to log; it never repeats the token."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason


@dataclass(frozen=True)
class AckClaim:
    alert_id: str
    person_id: str
    expires_at: datetime  # UTC, whole seconds


def check_secret(secret: Secret | Sequence[Secret]) -> None:
    """Raise ValueError unless every secret is fit for signing. Call it at start-up so a missing
    ``alerts.ack_secret`` stops threatline there, not at the first P1 page."""
    _keys(secret)


def sign(alert_id: str, person_id: str, expires_at: datetime, secret: Secret | Sequence[Secret]) -> str:
    """A URL-safe token for ``person_id`` to acknowledge ``alert_id`` before ``expires_at``
    (rounded down to the second). With several secrets the first one signs."""
    key = _keys(secret)[0]
    _aware("expires_at", expires_at)
    seconds = math.floor(expires_at.timestamp())
    if not 0 < seconds < 2**32:
        raise ValueError(f"expires_at {expires_at.isoformat()} is outside 1970-2106")
    payload = _HEADER.pack(VERSION, seconds) + _field("alert_id", alert_id) + _field("person_id", person_id)
    return _b64encode(payload + _mac(key, payload))


def verify(token: str, secret: Secret | Sequence[Secret], now: datetime) -> AckClaim:
    """The claim inside ``token`` if one of the secrets signed it and ``now`` is before its
    expiry; InvalidToken otherwise. Pass ``[current, previous]`` while rotating secrets.

    The signature is checked before anything inside the token is read or trusted, so a forged
    token is reported as bad_signature even when its expiry has passed too."""
    keys = _keys(secret)
    _aware("now", now)
    raw = _decode(token)
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if payload[0] != VERSION:
        raise InvalidToken("malformed", f"unknown token version {payload[0]}")
    # compare_digest against every key, no early exit: timing says nothing about which matched.
    matches = [hmac.compare_digest(_mac(key, payload), mac) for key in keys]
    if not any(matches):
        raise InvalidToken("bad_signature", "not signed by a current ack secret")
    claim = _parse(payload)
    if now >= claim.expires_at:  # valid for [signing, expires_at)
        raise InvalidToken("expired", f"expired at {claim.expires_at.isoformat()}")
    return claim


def ack_url(base_url: str, token: str) -> str:
    """``{base_url}/ack/{token}``: the review console's confirmation page for this token.

    GET on it must only show a confirm button; the POST from that button acknowledges (mail
    scanners and link previews fetch URLs in mail, and must not acknowledge a page)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ack base URL must be http(s)://host[/path], got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"ack base URL must not carry a query or fragment, got {base_url!r}")
    return f"{base_url.rstrip('/')}/ack/{quote(token, safe='')}"


# --- internals -----------------------------------------------------------------------------------

def _keys(secret: Secret | Sequence[Secret]) -> list[bytes]:
    items = [secret] if isinstance(secret, str | bytes | SecretStr) else list(secret)
    if not items:
        raise ValueError("no ack secret given; set alerts.ack_secret")
    keys = []
    for item in items:
        value = item.get_secret_value() if isinstance(item, SecretStr) else item
        key = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if key.strip() == DEFAULT_SECRET.encode():
            raise ValueError("alerts.ack_secret is still the default 'change-me': set "
                             "THREATLINE_ALERTS__ACK_SECRET to a random value, e.g. the output of "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"alerts.ack_secret is {len(key)} bytes; use at least {MIN_SECRET_BYTES} "
                             "random bytes, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        keys.append(key)
    return keys


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime for {name} ({value.isoformat()}): pass a timezone-aware instant")


def _field(name: str, value: str) -> bytes:
    data = value.encode("utf-8")
    if not 0 < len(data) <= _MAX_ID_BYTES:
        raise ValueError(f"{name} must be 1-{_MAX_ID_BYTES} bytes of UTF-8, got {len(data)}")
    return bytes([len(data)]) + data


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(token: object) -> bytes:
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_CHARS or not _BASE64URL.fullmatch(token):
        raise InvalidToken("malformed", "not a base64url token of a plausible length")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed", "not valid base64url") from None
    # Refuse non-canonical spellings (stray low bits in the last character) so each token has
    # exactly one string form; otherwise several strings would verify as the same link.
    if _b64encode(raw) != token:
        raise InvalidToken("malformed", "not canonical base64url")
    if len(raw) < _MIN_TOKEN_BYTES:
        raise InvalidToken("malformed", "too short")
    return raw


def _parse(payload: bytes) -> AckClaim:
    try:
        _, seconds = _HEADER.unpack_from(payload)
        at = _HEADER.size
        ids = []
        for _ in range(2):
            size = payload[at]
            value = payload[at + 1: at + 1 + size]
            if size == 0 or len(value) != size:
                raise ValueError("field runs past the end")
            ids.append(value.decode("utf-8"))
            at += 1 + size
        if at != len(payload):
            raise ValueError("trailing bytes")
    except (IndexError, ValueError, struct.error):
        # Only reachable with a valid MAC over a layout this version never writes.
        raise InvalidToken("malformed", "signed payload has an unexpected layout") from None
    return AckClaim(alert_id=ids[0], person_id=ids[1], expires_at=datetime.fromtimestamp(seconds, UTC))
