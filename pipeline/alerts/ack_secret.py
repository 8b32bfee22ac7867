"""The secrets that sign acknowledge links: configured, or generated once for a one-machine install."""

from __future__ import annotations

from pipeline.alerts.ack import check_secret
from pipeline.config import Settings
from pipeline.secret_file import generated_secret

SECRET_FILE = "ack-secret"


def ack_secrets(settings: Settings) -> list[str]:
    """``[current, *previous]``: the first signs, all verify. ValueError if one is weak."""
    a = settings.alerts
    current = a.ack_secret.get_secret_value() if a.ack_secret else generated_secret(settings.data_dir / SECRET_FILE)
    keys = [current, *(s.get_secret_value() for s in a.ack_previous_secrets)]
    check_secret(keys)
    return keys
