"""The container health check: ``python -m pipeline.healthcheck [tipline] [review] [runner]``.

Asks, on loopback, what ``threatline run`` serves: the tip line's and the review server's
``/readyz`` (pipeline.readiness) and, when ``PREFECT_RUNNER_SERVER_ENABLE`` is on, Prefect's
runner ``/health`` (serve() still polls the Prefect server: the escalation sweep runs there).
Naming parts asks only those (a container running just ``serve tipline``). Exit 0 when all
answer 2xx, else 1 with one line per failure on stderr, which ``docker inspect`` keeps. Standard
library and the settings only: no curl in the image.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

from pipeline.config import ConfigError, load_settings, mask_url_passwords

# Each readyz answers within 3 s (pipeline.readiness.TIMEOUT_S); three in a row fit the
# HEALTHCHECK's 15 s.
TIMEOUT_S = 4.0
PARTS = ("tipline", "review", "runner")


def targets(parts: list[str]) -> dict[str, str]:
    settings = load_settings()
    urls = {"tipline": f"http://127.0.0.1:{settings.tipline.port}/readyz",
            "review": f"http://127.0.0.1:{settings.review.port}/readyz"}
    if os.environ.get("PREFECT_RUNNER_SERVER_ENABLE", "").lower() in ("1", "true"):
        urls["runner"] = f"http://127.0.0.1:{os.environ.get('PREFECT_RUNNER_SERVER_PORT', '8080')}/health"
    return {name: url for name, url in urls.items() if not parts or name in parts}


def problem(url: str) -> str | None:
    """None when ``url`` answers 2xx; else one line: the status and the failing checks."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {failing_checks(exc.read())}".strip()
    except (OSError, ValueError) as exc:  # refused, timed out, not HTTP
        return f"no answer: {exc}"


def failing_checks(body: bytes) -> str:
    try:
        checks = json.loads(body)["checks"]
        return "; ".join(f"{name}: {c.get('detail', 'failed')}" for name, c in checks.items() if not c.get("ok"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def main(argv: list[str]) -> int:
    unknown = [a for a in argv if a not in PARTS]
    if unknown:
        print(f"usage: python -m pipeline.healthcheck [{'] ['.join(PARTS)}]; unknown: {' '.join(unknown)}",
              file=sys.stderr)
        return 2
    try:
        urls = targets(argv)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for name, url in urls.items():
        line = problem(url)
        if line:
            failed += 1
            print(mask_url_passwords(f"{name} {url}: {line}"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
