"""Whether a process still runs, for files that name their writer's pid (metrics, crawl claims)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while ``pid`` exists, also when it belongs to another user (we may not signal it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
