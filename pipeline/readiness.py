"""Liveness and readiness in one shape for the tip line and the review server (docs/operations.md).

``/healthz`` is liveness: the process answers, nothing else is asked, so an orchestrator restarts
only a process that is really wedged. ``/readyz`` is readiness: can this deployment take a tip
and page someone now? The bus, the store and the tip-thread store must each take a write
(``check_writable`` on their ports) and every streaming stage must be heartbeating
(``pipeline.stage_health``). It answers 200 or 503 with::

    {"status": "ready" | "not_ready",
     "checks": {"bus": {"ok": true, "ms": 3}, ..., "stages": {"ok": false, "ms": 0, "detail": "..."}}}

Details are one line with any URL password masked; they can name hosts and paths, so keep
``/readyz`` inside the network (docs/operations.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import mask_url_passwords
from pipeline.stage_health import belongs, read_all

# A check that has not answered by then is reported as failing; the whole answer waits at most
# this long, well inside the 5 s a container health check allows.
TIMEOUT_S = 3.0
MAX_DETAIL = 300


class NotReady(Exception):
    """A check's own verdict (as opposed to an error from an adapter): its message is the detail."""


@dataclass(frozen=True)
class StageState:
    """One streaming stage as its heartbeat files in this data dir show it."""

    stage: str
    state: str              # running | retrying | stopped | never started (with "×N" for replicas)
    problem: str | None     # why it needs an operator, or None


def stage_states(data_dir: Path, names: Iterable[str], alarm_after_s: float, now: float | None = None) -> list[StageState]:
    """Each stage in ``names``: its state, and a problem when it never started here, stopped, is
    stuck retrying or went silent (the same thresholds as the stuck alarm). A stage with several
    processes (``classify``, ``classify-2``…) counts each; one silent process is a problem."""
    now = time.time() if now is None else now
    records = read_all(data_dir)
    found = []
    for name in names:
        mine = [h for h in records if belongs(h, name)]
        if not mine:
            found.append(StageState(name, "never started", f"{name}: no heartbeat in this data dir"))
            continue
        problems = [line for h in mine if (line := h.problem(now, alarm_after_s))]
        live = [h for h in mine if h.state != "stopped"]
        states = sorted({h.state for h in live}) or ["stopped"]
        state = "/".join(states) + (f" ×{len(live)}" if len(live) > 1 else "")
        if not live:
            problems.append(f"{name}: stopped")
        found.append(StageState(name, state, "; ".join(problems) or None))
    return found


def stages_check(data_dir: Path, names: Iterable[str], alarm_after_s: float) -> Callable[[], None]:
    names = tuple(names)

    def check() -> None:
        problems = [s.problem for s in stage_states(data_dir, names, alarm_after_s) if s.problem]
        if problems:
            raise NotReady("; ".join(problems))
    return check


def detail_of(exc: BaseException) -> str:
    """One line for a failed check: the error's own words, URL passwords masked, cut short."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, NotReady):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    text = mask_url_passwords(text)
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"


class _Run:
    """One run of one check in a thread of its own, so a hung backend costs a thread, not the answer."""

    def __init__(self, name: str, check: Callable[[], None]):
        self.started = time.monotonic()
        self.done = threading.Event()
        self.ms = 0
        self.error: str | None = None
        threading.Thread(target=self._go, args=(check,), name=f"readyz-{name}", daemon=True).start()

    def _go(self, check: Callable[[], None]) -> None:
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure is an answer: not ready, and why
            self.error = detail_of(exc)
        finally:
            self.ms = round((time.monotonic() - self.started) * 1000)
            self.done.set()

    def result(self) -> dict:
        if not self.done.is_set():
            return {"ok": False, "ms": round((time.monotonic() - self.started) * 1000),
                    "detail": f"no answer after {time.monotonic() - self.started:.1f} s"}
        return {"ok": True, "ms": self.ms} if self.error is None else {"ok": False, "ms": self.ms, "detail": self.error}


class Readiness:
    """Runs named checks (each raises when not ready) and answers in the /readyz shape."""

    def __init__(self, checks: dict[str, Callable[[], None]], *, timeout_s: float = TIMEOUT_S):
        self.checks, self.timeout_s = checks, timeout_s
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}

    def _run(self, name: str) -> _Run:
        # A check still running from an earlier request is waited on, not started again: a
        # backend that hangs must not collect one stuck thread per probe.
        with self._lock:
            run = self._runs.get(name)
            if run is None or run.done.is_set():
                run = self._runs[name] = _Run(name, self.checks[name])
            return run

    def report(self) -> tuple[int, dict]:
        """(HTTP status, body). Blocks for at most ``timeout_s``: call it off the event loop."""
        deadline = time.monotonic() + self.timeout_s
        runs = {name: self._run(name) for name in self.checks}
        for run in runs.values():
            run.done.wait(max(0.0, deadline - time.monotonic()))
        checks = {name: run.result() for name, run in runs.items()}
        ready = all(c["ok"] for c in checks.values())
        return (200 if ready else 503), {"status": "ready" if ready else "not_ready", "checks": checks}


def deployment_checks(rt, threads: Callable[[], object]) -> dict[str, Callable[[], None]]:
    """The checks both servers answer with: ``rt`` a ``pipeline.bootstrap.Runtime``, ``threads``
    returns the app's tip-thread store. "stages" only where they heartbeat (stages.heartbeat_here)."""
    from pipeline.bootstrap import STAGE_NAMES
    from pipeline.bus import TOPICS

    s = rt.settings
    topics = [s.topic(t) for t in TOPICS]
    checks = {
        "bus": lambda: rt.bus.check_writable(topics),
        "store": lambda: rt.store.check_writable(),
        "threads": lambda: threads().check_writable(),
    }
    if s.stages.heartbeat_here:  # stages on other machines heartbeat there, not here
        checks["stages"] = stages_check(s.data_dir, STAGE_NAMES, s.stages.stuck_alarm_s)
    return checks
