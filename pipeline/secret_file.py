"""Secrets generated once per install and kept in the data dir (mode 0600), for keys a one-machine
install need not configure: the acknowledge-link key, the review console's session key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pipeline.private_files import private_dir


def generated_secret(path: Path) -> str:
    """The secret in ``path``, created with 48 random bytes (base64url) if the file is missing.

    Every process of one install reads the same file, so a link signed by the alert stage
    verifies in the review server. Written aside and linked into place: two processes starting
    at once agree on one secret, and nobody reads a half-written file."""
    if not path.exists():
        private_dir(path.parent)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()
