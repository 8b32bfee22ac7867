"""Console sessions: a signed cookie (itsdangerous, HMAC-SHA1 over a key derived from
``review.session_secret``) holding who is logged in, since when, when last seen, and the CSRF token
of the session. Nothing else: no item, no role (the role is read from the users file at each
request, so a change or a disabled account applies at once).

Before login the cookie holds only a CSRF token (``user`` None), so the login form is protected too;
logging in issues a new session id and token (no session fixation). Times come from the app's
clock, so tests can move it past the idle and absolute timeouts.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from pipeline.config import Settings
from pipeline.secret_file import generated_secret

SECRET_FILE = "review-session-secret"
MIN_SECRET_BYTES = 32


def session_secret(settings: Settings) -> str:
    """``review.session_secret``, or one generated once in the data dir; ValueError if weak."""
    configured = settings.review.session_secret
    secret = configured.get_secret_value() if configured else generated_secret(settings.data_dir / SECRET_FILE)
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(f"review.session_secret must be at least {MIN_SECRET_BYTES} bytes of random text")
    return secret


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    issued: int             # epoch seconds: login (or first visit, before login)
    seen: int               # epoch seconds: the last request
    user: str | None = None
    tag: str = ""           # User.credential_tag at login: a new password ends the session
    via: str = "password"   # "password" (login form) or "proxy" (trusted header)

    @classmethod
    def new(cls, now: datetime, user: str | None = None, tag: str = "", via: str = "password") -> Session:
        t = int(now.timestamp())
        return cls(secrets.token_urlsafe(16), secrets.token_urlsafe(32), t, t, user, tag, via)

    def touched(self, now: datetime) -> Session:
        return replace(self, seen=int(now.timestamp()))


class SessionCodec:
    """Session <-> cookie value, refusing forged, expired and logged-out sessions."""

    def __init__(self, secret: str, *, idle_s: int, max_age_s: int):
        self._serializer = URLSafeSerializer(secret, salt="threatline.review.session")
        self.idle_s, self.max_age_s = idle_s, max_age_s
        self._revoked: dict[str, int] = {}  # sid -> when it would have expired anyway
        self._lock = threading.Lock()

    def dumps(self, session: Session) -> str:
        s = session
        return self._serializer.dumps([1, s.sid, s.csrf, s.issued, s.seen, s.user, s.tag, s.via])

    def loads(self, value: str | None, now: datetime) -> Session | None:
        """The session in a cookie value if it is genuine and current; else None."""
        if not value or len(value) > 4096:
            return None
        try:
            version, sid, csrf, issued, seen, user, tag, via = self._serializer.loads(value)
        except (BadSignature, ValueError, TypeError):
            return None
        if version != 1:
            return None
        session = Session(sid, csrf, int(issued), int(seen), user, tag, via)
        t = now.timestamp()
        if t - session.seen >= self.idle_s or t - session.issued >= self.max_age_s or t < session.issued - 300:
            return None
        with self._lock:
            if sid in self._revoked:
                return None
        return session

    def revoke(self, session: Session, now: datetime) -> None:
        """Logged out: refused from now on even if someone kept a copy of the cookie. In memory:
        a restart forgets it, and the cookie still dies at its idle or absolute timeout."""
        t = int(now.timestamp())
        with self._lock:
            self._revoked = {sid: end for sid, end in self._revoked.items() if end > t}
            self._revoked[session.sid] = session.issued + self.max_age_s
