"""Who did it, for the audit trail, when a command is run without ``--by``."""

from __future__ import annotations

import getpass


def os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def cli_actor() -> str:
    return f"cli:{os_user()}"
