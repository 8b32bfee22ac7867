"""What `threatline status` reports, gathered without printing anything (docs/operations.md).

Each part is read on its own, so a store that is down still leaves the stages, the model, the
sources and the roster on show; a part that cannot be read is itself something to attend to.
Nothing here reads a post's or tip's words: counts, ids, names from the config and the roster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.bootstrap import STAGE_NAMES, Runtime, district_schools
from pipeline.readiness import detail_of, stage_states

HORIZON = timedelta(hours=24)
# Coverage is sampled at this step, on the quarter hours (and at the start): shifts begin and end
# on quarter hours in practice, so a gap's edges come out exact.
STEP = timedelta(minutes=15)
LAST_PAGE_SCAN = 200  # newest alerts searched for the last one a channel accepted


@dataclass(frozen=True)
class StageRow:
    stage: str
    state: str
    lag: int | None       # None: the bus could not say
    problem: str | None


@dataclass(frozen=True)
class Gap:
    """Nobody on duty for ``role`` at ``school`` in [start, end): a page goes to ``falls_to``."""

    school: str
    role: str
    start: datetime
    end: datetime
    falls_to: str | None  # the first person of the chain then; None: nobody at all
    open_ended: bool = False  # still open at the end of the 24 h looked at


@dataclass
class Status:
    at: datetime
    timezone: str
    stages: list[StageRow] = field(default_factory=list)
    dead_letters: int | None = None         # waiting (never replayed); None: unknown
    dead_letters_total: int | None = None
    last_page: dict[str, Any] | None = None
    model: str | None = None
    sources: list[str] = field(default_factory=list)
    gaps: list[Gap] | None = None           # None: the roster could not be read
    errors: dict[str, str] = field(default_factory=dict)  # part -> why it could not be read

    def attention(self) -> list[str]:
        """One line per thing an operator should look at; empty: all clear (exit 0)."""
        lines = [row.problem for row in self.stages if row.problem]
        if self.dead_letters:
            lines.append(f"{self.dead_letters} dead letter(s) waiting: `threatline dlq list`")
        lines += [f"{g.role} at {g.school}: nobody on duty {_span(g, self.timezone)}, "
                  + (f"pages fall to {g.falls_to}" if g.falls_to else "and nobody to fall to: a page reaches no one")
                  for g in self.gaps or []]
        lines += [f"{part}: {why}" for part, why in self.errors.items()]
        return lines

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["gaps"] = None if self.gaps is None else [
            {**asdict(g), "start": g.start.isoformat(), "end": g.end.isoformat()} for g in self.gaps]
        out["attention"] = self.attention()
        return out


def _span(gap: Gap, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    return (f"{gap.start.astimezone(zone):%a %H:%M}–{gap.end.astimezone(zone):%a %H:%M}"
            + (" or later" if gap.open_ended else ""))


def gather(rt: Runtime, now: datetime) -> Status:
    s = rt.settings
    status = Status(at=now, timezone=s.general.timezone)

    def part(name: str, read: Callable[[], None]) -> None:
        try:
            read()
        except Exception as exc:  # noqa: BLE001 - one part failing must not hide the others
            status.errors[name] = detail_of(exc)

    part("stages", lambda: _stages(rt, status))
    part("dead letters", lambda: _dead_letters(rt, status))
    part("last page", lambda: _last_page(rt, status))
    part("model", lambda: _model(rt, status))
    part("sources", lambda: _sources(rt, status))
    part("coverage", lambda: _coverage(rt, status, now))
    return status


def _stages(rt: Runtime, status: Status) -> None:
    s = rt.settings
    for found in stage_states(s.data_dir, STAGE_NAMES, s.stages.stuck_alarm_s):
        try:
            lag = rt.lag(found.stage)
        except Exception as exc:  # noqa: BLE001 - the state still shows; the lag says why not
            lag = None
            status.errors[f"lag of {found.stage}"] = detail_of(exc)
        status.stages.append(StageRow(found.stage, found.state, lag, found.problem))


def _dead_letters(rt: Runtime, status: Status) -> None:
    from pipeline.dead_letters import DeadLetters

    letters = DeadLetters(rt.bus, rt.store, rt.settings).all()  # counts only: not audited, like the banner
    status.dead_letters_total = len(letters)
    status.dead_letters = sum(not d.replayed for d in letters)


def _last_page(rt: Runtime, status: Status) -> None:
    from pipeline.alerts.pager import alert_from_document

    alerts = [alert_from_document(hit.doc) for hit in rt.store.search_alerts(size=LAST_PAGE_SCAN)]
    sent = [a for a in alerts if a.page and a.delivered_at is not None]
    if sent:
        last = max(sent, key=lambda a: a.delivered_at)
        status.last_page = {"id": last.id, "sent_at": last.delivered_at.astimezone(UTC).isoformat(),
                            "severity": last.severity, "category": last.category, "school": last.school,
                            "role": last.role, "person": last.person, "channel": last.channel,
                            "status": last.status}


def _model(rt: Runtime, status: Status) -> None:
    from pipeline.nlp.registry import current_version

    c = rt.settings.classify
    if c.model != "trained":
        status.model = f"{c.model} (classify.model)"
        return
    status.model = current_version(rt.settings.config_path(c.models_dir))


def _sources(rt: Runtime, status: Status) -> None:
    from pipeline.ingest.sources import configured_sources

    status.sources = [f"{src.name} ({src.kind})" for src in configured_sources(rt.settings) if src.enabled]


def _coverage(rt: Runtime, status: Status, now: datetime) -> None:
    from pipeline.alerts.rules import load_rules
    from pipeline.bootstrap import build_roster

    s = rt.settings
    schools = district_schools(s)
    rules = load_rules(s.config_path(s.alerts.rules_file), schools).data.rules
    roster = build_roster(s)
    paged = {school: [role for role in ("sro", "counselor", "admin")
                      if any(role in r.notify and (r.schools is None or school in r.schools) for r in rules)]
             for school in sorted(roster.schools)}
    status.gaps = coverage_gaps(roster, paged, now)


def instants(start: datetime, horizon: timedelta = HORIZON, step: timedelta = STEP) -> list[datetime]:
    """``start``, then every step boundary (on the clock, in UTC) before ``start + horizon``."""
    start = start.astimezone(UTC)
    seconds = int(step.total_seconds())
    first = datetime.fromtimestamp(-(-int(start.timestamp()) // seconds) * seconds, UTC)
    points = [start] + [first + i * step for i in range(int(horizon / step) + 1)]
    return sorted({p for p in points if start <= p < start + horizon})


def coverage_gaps(roster, paged: dict[str, Iterable[str]], start: datetime,
                  horizon: timedelta = HORIZON, step: timedelta = STEP) -> list[Gap]:
    """Every stretch of [start, start + horizon) in which nobody is on duty for a role that the
    alert rules page at that school (``paged``: school -> roles)."""
    points, end = instants(start, horizon, step), start.astimezone(UTC) + horizon
    gaps = []
    for school, roles in paged.items():
        for role in roles:
            opened: tuple[datetime, str | None] | None = None
            for at in points:
                nobody = not roster.on_duty(role, school, at)
                if nobody and opened is None:
                    chain = roster.chain(role, school, at)
                    opened = (at, chain[0].name if chain else None)
                elif not nobody and opened is not None:
                    gaps.append(Gap(school, role, opened[0], at, opened[1]))
                    opened = None
            if opened is not None:
                gaps.append(Gap(school, role, opened[0], end, opened[1], open_ended=True))
    return gaps
