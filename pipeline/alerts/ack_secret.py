"""The secrets that sign acknowledge links: configured, or generated once for a one-machine install."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pipeline.alerts.ack import check_secret
from pipeline.config import Settings

SECRET_FILE = "ack-secret"


def ack_secrets(settings: Settings) -> list[str]:
    """``[current, *previous]``: the first signs, all verify. ValueError if one is weak."""
    a = settings.alerts
    current = a.ack_secret.get_secret_value() if a.ack_secret else _generated(settings.data_dir / SECRET_FILE)
    keys = [current, *(s.get_secret_value() for s in a.ack_previous_secrets)]
    check_secret(keys)
    return keys


def _generated(path: Path) -> str:
    # Every process of one install reads the same file, so a link signed by the alert stage
    # verifies in the review server. Written aside and linked into place: two processes starting
    # at once agree on one secret, and nobody reads a half-written file.
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
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
