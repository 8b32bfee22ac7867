"""Stopping a `threatline run` process the way an operator or a service manager does."""

from __future__ import annotations

import signal
import subprocess


def stop_run(proc: subprocess.Popen, timeout: float) -> tuple[str, bool]:
    """SIGTERM, then wait; ``(output, stopped_in_time)``. Killed if it overstays ``timeout``."""
    proc.send_signal(signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=timeout)
        return output, True
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        return output, False
