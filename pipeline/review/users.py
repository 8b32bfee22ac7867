"""Who may use the review console: ``review.users_file`` (YAML), passwords kept as argon2id hashes.

::

    users:
      reyes:
        name: Officer Dana Reyes
        role: sro
        password_hash: $argon2id$v=19$m=65536,t=3,p=4$...
        disabled: false

The file is written by ``threatline users add|passwd`` and by the console's admin page, always
whole and atomically (a temporary file renamed over it), under a lock so the two cannot lose each
other's change. The server re-reads it when it changes: a disabled user is out at the next request.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipeline.config import ConfigError, read_yaml

Role = Literal["sro", "counselor", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
# Roster ids ("reyes") or, behind single sign-on, e-mail addresses ("dreyes@district.org").
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn CPU

HEADER = """\
# Review console users (docs/review.md). Managed by `threatline users add|passwd` and the
# console's admin page; passwords are stored only as argon2id hashes. Keep this file 0600.
"""


class UserError(ValueError):
    """A request about users that cannot be done; the message is fit to show."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    name: str = ""
    password_hash: str = ""
    disabled: bool = False

    @property
    def display(self) -> str:
        return self.name or self.username

    @property
    def credential_tag(self) -> str:
        """Changes whenever the password does: sessions carry it, so a new password ends them."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username or ""):
        raise UserError("A username is 1-128 lower-case letters, digits, '.', '_', '-', '@' or '+', starting "
                        "with a letter or digit: the roster id (e.g. 'reyes'), or the e-mail address the "
                        "district's single sign-on names people by.")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    return role


def check_password(password: str, username: str = "") -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"A password needs at least {MIN_PASSWORD} characters (a few words work well).")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"A password may have at most {MAX_PASSWORD} characters.")
    if username and password.strip().lower() == username.lower():
        raise UserError("The password must not be the username.")
    return password


def default_hasher() -> PasswordHasher:
    """argon2-cffi's defaults: argon2id, RFC 9106's low-memory profile (t=3, 64 MiB, p=4)."""
    return PasswordHasher()


class Passwords:
    """argon2id hashing, and a verify that takes as long for an unknown user as for a known one."""

    def __init__(self, hasher: PasswordHasher | None = None):
        self.hasher = hasher or default_hasher()
        self._dummy = self.hasher.hash("threatline: nobody has this password")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; with no hash (unknown user) the same work, then False."""
        try:
            return self.hasher.verify(password_hash or self._dummy, password) and bool(password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class UsersFile:
    """The users file: read (cached until the file changes) and rewritten atomically."""

    def __init__(self, path: Path, passwords: Passwords | None = None):
        self.path = Path(path)
        self._passwords = passwords
        self._lock = threading.RLock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}

    @property
    def passwords(self) -> Passwords:
        if self._passwords is None:
            self._passwords = Passwords()
        return self._passwords

    # --- reading ---------------------------------------------------------------------------

    def all(self) -> dict[str, User]:
        """Every user by username, as the file says now."""
        with self._lock:
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._users = self._parse() if stamp else {}
                self._stamp = stamp
            return dict(self._users)

    def get(self, username: str) -> User | None:
        return self.all().get(username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is theirs and they are not disabled. Unknown, disabled and wrong
        all cost one argon2 verification, so timing tells nothing apart."""
        user = self.get(username) if len(password) <= MAX_PASSWORD else None
        ok = self.passwords.verify(user.password_hash if user else None, password[:MAX_PASSWORD])
        return user if ok and user and not user.disabled else None

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _parse(self) -> dict[str, User]:
        data = read_yaml(self.path) or {}
        raw = data.get("users") if isinstance(data, dict) else None
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{self.path}: 'users' must be a mapping of username to settings")
        users = {}
        for username, entry in raw.items():
            where = f"{self.path}: users.{username}"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}: must be a mapping with role, name, password_hash")
            unknown = set(entry) - {"role", "name", "password_hash", "disabled"}
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
            try:
                check_username(str(username))
                check_role(str(entry.get("role")))
            except UserError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            users[str(username)] = User(str(username), str(entry["role"]), str(entry.get("name") or ""),
                                        str(entry.get("password_hash") or ""), bool(entry.get("disabled", False)))
        return users

    # --- writing ---------------------------------------------------------------------------

    def add(self, username: str, role: str, password: str | None, name: str = "") -> User:
        """Add a user; ``password`` None: single sign-on only (no password login)."""
        check_username(username)
        check_role(role)
        if password is not None:
            check_password(password, username)
        with self._changing() as users:
            if username in users:
                raise UserError(f"There is already a user {username!r}.")
            hashed = self.passwords.hash(password) if password is not None else ""
            users[username] = User(username, role, name.strip(), hashed)
            return users[username]

    def set_password(self, username: str, password: str) -> User:
        check_password(password, username)
        with self._changing() as users:
            user = self._existing(users, username)
            users[username] = replace(user, password_hash=self.passwords.hash(password))
            return users[username]

    def set_role(self, username: str, role: str) -> User:
        check_role(role)
        with self._changing() as users:
            user = self._existing(users, username)
            users[username] = replace(user, role=role)
            self._keep_an_admin(user, users)
            return users[username]

    def set_disabled(self, username: str, disabled: bool) -> User:
        with self._changing() as users:
            user = self._existing(users, username)
            users[username] = replace(user, disabled=disabled)
            self._keep_an_admin(user, users)
            return users[username]

    @staticmethod
    def _existing(users: dict[str, User], username: str) -> User:
        if username not in users:
            raise UserError(f"There is no user {username!r}.")
        return users[username]

    @staticmethod
    def _keep_an_admin(before: User, users: dict[str, User]) -> None:
        was_admin = before.role == "admin" and not before.disabled
        if was_admin and not any(u.role == "admin" and not u.disabled for u in users.values()):
            raise UserError("That would leave no enabled admin; make someone else admin first.")

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, User]]:
        """Read, change, write back, holding the lock file so the CLI and the server take turns."""
        with self._lock, self._file_lock():
            self._stamp = None  # re-read whatever the other writer left
            users = self.all()
            yield users
            self._write(users)
            self._stamp = None

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: the in-process lock only
            yield
            return
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, users: dict[str, User]) -> None:
        data = {"users": {u.username: {"name": u.name, "role": u.role, "password_hash": u.password_hash,
                                        "disabled": u.disabled}
                          for u in sorted(users.values(), key=lambda u: u.username)}}
        text = HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        fd, draft = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(draft, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(draft)
            raise
