"""Who is on duty for a role at a school, and who comes next when they do not answer.

Read from ``config/roster.yaml`` (see docs/alerts.md). Everything here is pure: each lookup
takes the instant as an argument, nothing reads the clock and nothing sends anything.

Time rules, shared by weekly shifts and overrides:
- A window is [start, end) in real time. ``end`` at or before ``start`` means the window ends the
  next day (22:00-06:00 crosses midnight; 07:00-07:00 is 24 hours). Days name the day it starts.
- Local wall times become instants with PEP 495's ``fold=0``: a time that happens twice (fall back)
  means its first occurrence; a time the clocks skip (spring forward) is read with the offset from
  before the jump, so 02:30 is 03:30 daylight time. Both ends of every window resolve the same
  way, so back-to-back shifts meet with no gap and no overlap even on DST days.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pipeline.config import ConfigError, read_yaml

Role = Literal["sro", "counselor", "admin"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ROLES: tuple[str, ...] = get_args(Role)
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
DAY_SETS: dict[str, tuple[str, ...]] = {"daily": WEEKDAYS, "weekdays": WEEKDAYS[:5], "weekends": WEEKDAYS[5:]}
ALL = "all"
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


# --- value parsing -------------------------------------------------------------------------------

def _hhmm(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 22:00 as the number 1320 and 7:00 as 420.
        raise ValueError("YAML read this time as a number; quote it, e.g. '22:00'")
    if isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        return time(int(value[:2]), int(value[3:]))
    raise ValueError("want a time 'HH:MM' from 00:00 to 23:59")


def _schools(value: Any) -> Any:
    if value == ALL:
        return None  # None: every school
    if value is None or value == []:
        raise ValueError("give school names, or all")
    return (value,) if isinstance(value, str) else value  # one school written without brackets


def _days(value: Any) -> Any:
    if isinstance(value, str):
        if value in DAY_SETS:
            return DAY_SETS[value]
        return (value,)
    return value


LocalTime = Annotated[time, BeforeValidator(_hhmm)]
Schools = Annotated[tuple[str, ...] | None, BeforeValidator(_schools)]
Days = Annotated[tuple[Weekday, ...], BeforeValidator(_days), Field(min_length=1)]
PersonId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- the file's schema ---------------------------------------------------------------------------

class Channel(_Model):
    type: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")  # a label for humans: email, sms, webhook, slack
    url: SecretStr  # an apprise URL; it carries credentials, so it is masked everywhere

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: SecretStr) -> SecretStr:
        if not re.match(r"^[a-z][a-z0-9+.-]*://.", url.get_secret_value()):
            raise ValueError("not an apprise URL (want scheme://...)")
        return url


class Person(_Model):
    id: PersonId
    name: str = Field(min_length=1)
    roles: tuple[Role, ...] = Field(min_length=1)
    # Tried in order by the dispatcher. May be empty: escalation then moves past this person at once.
    channels: tuple[Channel, ...] = ()


class Shift(_Model):
    role: Role
    person: PersonId
    schools: Schools
    days: Days
    start: LocalTime
    end: LocalTime
    timezone: str | None = None


class Override(_Model):
    role: Role
    schools: Schools
    mode: Literal["replace", "add", "closed"] = "replace"
    person: PersonId | None = None
    day: date | None = Field(default=None, alias="date")
    first: date | None = Field(default=None, alias="from")
    last: date | None = Field(default=None, alias="to")
    start: LocalTime = time(0)
    end: LocalTime = time(0)  # with start 00:00: the whole day
    timezone: str | None = None
    note: str = ""

    @property
    def dates(self) -> tuple[date, date]:
        return (self.day, self.day) if self.day else (self.first, self.last)  # type: ignore[return-value]


class ChainEntry(_Model):
    role: Role
    schools: Schools
    people: tuple[PersonId, ...] = Field(min_length=1)


class RosterFile(_Model):
    timezone: str | None = None
    people: tuple[Person, ...] = Field(min_length=1)
    shifts: tuple[Shift, ...] = ()
    overrides: tuple[Override, ...] = ()
    escalation: tuple[ChainEntry, ...] = Field(min_length=1)


# --- the roster ----------------------------------------------------------------------------------

class _Window:
    """Daily [start, end) windows on the local days that ``on_day`` accepts."""

    def __init__(self, start: time, end: time, tz: ZoneInfo, on_day: Callable[[date], bool]):
        self.start, self.end, self.tz, self.on_day = start, end, tz, on_day

    def covers(self, at: datetime) -> bool:
        today = at.astimezone(self.tz).date()
        # A window is at most a day long, so only one starting today or yesterday can hold `at`.
        for day in (today - timedelta(days=1), today):
            if not self.on_day(day):
                continue
            end_day = day if self.end > self.start else day + timedelta(days=1)
            if self._instant(day, self.start) <= at < self._instant(end_day, self.end):
                return True
        return False

    def _instant(self, day: date, wall: time) -> datetime:
        # Compared in UTC: aware datetimes sharing a tzinfo compare by wall time, ignoring fold.
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)


def _covers(schools: tuple[str, ...] | None, school: str | None) -> bool:
    return schools is None or school in schools


def _dedupe(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


# What the shipped example roster's channels hold: a roster still holding them pages nobody.
PLACEHOLDERS = ("change-me", "example.org", "example.com")


def placeholder_people(roster: Roster) -> list[str]:
    """Ids of the people with a channel still pointing at the example's placeholder address."""
    return [p.id for p in roster.data.people
            if any(mark in c.url.get_secret_value() for c in p.channels for mark in PLACEHOLDERS)]


class Roster:
    """A validated roster. Build it with ``load_roster`` or ``parse_roster``."""

    def __init__(self, data: RosterFile, known_schools: Iterable[str], timezone: str):
        self.data = data
        self.timezone = timezone
        self.schools = frozenset(known_schools)
        self.people = {p.id: p for p in data.people}
        self._shifts = [(s, _Window(s.start, s.end, ZoneInfo(s.timezone or timezone),
                                     lambda d, days=frozenset(s.days): WEEKDAYS[d.weekday()] in days))
                        for s in data.shifts]
        self._overrides = [(o, _Window(o.start, o.end, ZoneInfo(o.timezone or timezone),
                                       lambda d, span=o.dates: span[0] <= d <= span[1]))
                           for o in data.overrides]

    def __repr__(self) -> str:
        d = self.data
        return (f"Roster(timezone={self.timezone!r}, people={len(d.people)}, shifts={len(d.shifts)}, "
                f"overrides={len(d.overrides)}, chains={len(d.escalation)})")

    def on_duty(self, role: str, school: str | None, at: datetime) -> list[Person]:
        """Who holds ``role`` for ``school`` at the instant ``at``; empty when nobody does.

        ``school`` None means no school was matched: only entries for ``all`` schools apply.
        Overrides beat weekly shifts: any ``replace`` or ``closed`` override in force sets aside
        every weekly shift for that role and school; ``add`` overrides join whoever is on duty.
        """
        self._check(role, school, at)
        return [self.people[i] for i in self._on_duty_ids(role, school, at)]

    def chain(self, role: str, school: str | None, at: datetime) -> list[Person]:
        """On-duty people, then the role's escalation list, then the admins; each person once,
        at their first place."""
        self._check(role, school, at)
        ids = [*self._on_duty_ids(role, school, at), *self._backups(role, school), *self._backups("admin", school)]
        return [self.people[i] for i in _dedupe(ids)]

    def next_after(self, role: str, school: str | None, at: datetime, already_tried: Iterable[str]) -> Person | None:
        """The first person of ``chain(role, school, at)`` not yet tried; None when all were."""
        tried = set(already_tried)
        return next((p for p in self.chain(role, school, at) if p.id not in tried), None)

    def admins(self, school: str | None) -> list[Person]:
        """The last stop of every chain for ``school``."""
        self._check("admin", school, None)
        return [self.people[i] for i in self._backups("admin", school)]

    def _on_duty_ids(self, role: str, school: str | None, at: datetime) -> list[str]:
        at = at.astimezone(UTC)
        active = [o for o, window in self._overrides
                  if o.role == role and _covers(o.schools, school) and window.covers(at)]
        if any(o.mode != "add" for o in active):
            ids = [o.person for o in active if o.mode == "replace"]
        else:
            ids = [s.person for s, window in self._shifts
                   if s.role == role and _covers(s.schools, school) and window.covers(at)]
        ids += [o.person for o in active if o.mode == "add"]
        return _dedupe(ids)  # type: ignore[arg-type]

    def _backups(self, role: str, school: str | None) -> tuple[str, ...]:
        # A list naming the school beats the one for all schools (the loader allows one of each).
        entries = [e for e in self.data.escalation if e.role == role and _covers(e.schools, school)]
        entries.sort(key=lambda e: e.schools is None)
        return entries[0].people if entries else ()

    def _check(self, role: str, school: str | None, at: datetime | None) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        if school is not None and school not in self.schools:
            raise ValueError(f"unknown school {school!r} (the roster knows: {', '.join(sorted(self.schools))})")
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise ValueError(f"naive datetime {at.isoformat()}: pass a timezone-aware instant")


# --- loading -------------------------------------------------------------------------------------

def load_roster(path: str | Path, known_schools: Iterable[str], *, default_timezone: str | None = None) -> Roster:
    """Read and check a roster file; raise ConfigError naming the file, the entry and the problem.
    ``default_timezone`` (general.timezone) applies when the file names none."""
    path = Path(path)
    return parse_roster(read_yaml(path), known_schools, source=str(path), default_timezone=default_timezone)


def parse_roster(raw: Any, known_schools: Iterable[str], *, source: str = "roster",
                 default_timezone: str | None = None) -> Roster:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping (timezone, people, shifts, overrides, escalation)")
    try:
        data = RosterFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(source, raw, exc, _HINTS)) from None
    known = frozenset(known_schools)
    timezone = data.timezone or default_timezone
    problems = _cross_check(data, known, timezone)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return Roster(data, known, timezone)  # type: ignore[arg-type]


# What names an entry in messages, besides its index.
_HINTS = {"people": lambda e: e.get("id"), "shifts": lambda e: e.get("person"),
          "overrides": lambda e: e.get("note") or e.get("role"), "escalation": lambda e: e.get("role")}


def describe_validation_error(source: str, raw: dict, exc: ValidationError,
                              hints: dict[str, Callable[[dict], Any]]) -> str:
    """One line: ``source: section[i] (hint).key: problem (got value); ...``."""
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    # A list whose items failed also calls itself too short; the item errors say it better.
    errors = [e for e in errors if not (e["type"] == "too_short" and any(
        len(other) > len(e["loc"]) and other[:len(e["loc"])] == tuple(e["loc"]) for other in locs))]
    return f"{source}: " + "; ".join(_describe(raw, err, hints) for err in errors)


def _describe(raw: dict, err: dict, hints: dict[str, Callable[[dict], Any]]) -> str:
    # Validator and dict-key steps ("function-before[...]", "[key]") say nothing to a YAML author.
    loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
    key = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
            items = raw.get(loc[0]) if i == 1 else None
            item = items[part] if isinstance(items, list) and part < len(items) else None
            hint = hints[loc[0]](item) if isinstance(item, dict) and loc[0] in hints else None
            key += f" ({hint})" if isinstance(hint, str) and hint else ""
        else:
            key += f".{part}" if key else str(part)
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    message = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    # Never echo anything from a channel: its URL is a secret.
    if err["type"] == "missing" or "channels" in loc or isinstance(got, dict | list):
        return f"{key}: {message}"
    return f"{key}: {message} (got {got!r})"


def _cross_check(data: RosterFile, known: frozenset[str], timezone: str | None) -> list[str]:
    problems: list[str] = []
    people: dict[str, Person] = {}
    for i, person in enumerate(data.people):
        if person.id in people:
            problems.append(f"people[{i}] ({person.id}): id used twice")
        people[person.id] = person

    def zone(key: str, name: str | None) -> None:
        try:
            ZoneInfo(name or "")
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{key}: unknown time zone {name!r}")

    if timezone is None:
        problems.append("timezone: missing (set it here or pass the general.timezone default)")
    else:
        zone("timezone", timezone)

    def member(key: str, person_id: str, role: str) -> None:
        if person_id not in people:
            problems.append(f"{key}: unknown person {person_id!r}")
        elif role not in people[person_id].roles:
            problems.append(f"{key}: {person_id} does not have the role {role!r}")

    def schools(key: str, names: tuple[str, ...] | None) -> None:
        for name in names or ():
            if name not in known:
                problems.append(f"{key}: unknown school {name!r} (known: {', '.join(sorted(known))})")

    for i, shift in enumerate(data.shifts):
        key = f"shifts[{i}] ({shift.person})"
        member(key, shift.person, shift.role)
        schools(key, shift.schools)
        if shift.timezone:
            zone(key, shift.timezone)

    for i, override in enumerate(data.overrides):
        key = f"overrides[{i}] ({override.note or override.role})"
        schools(key, override.schools)
        if override.timezone:
            zone(key, override.timezone)
        if (override.day is None) == (override.first is None and override.last is None):
            problems.append(f"{key}: give either date or from and to")
        elif override.day is None and (override.first is None or override.last is None):
            problems.append(f"{key}: give both from and to")
        elif override.day is None and override.last < override.first:  # type: ignore[operator]
            problems.append(f"{key}: to {override.last} is before from {override.first}")
        if override.mode == "closed" and override.person:
            problems.append(f"{key}: a closed override names nobody; drop person or use mode replace")
        elif override.mode != "closed":
            if override.person is None:
                problems.append(f"{key}: mode {override.mode} needs a person")
            else:
                member(key, override.person, override.role)

    seen: dict[tuple[str, str], int] = {}
    admins = {p for e in data.escalation if e.role == "admin" for p in e.people}
    for i, entry in enumerate(data.escalation):
        key = f"escalation[{i}] ({entry.role})"
        schools(key, entry.schools)
        for person_id in entry.people:
            member(key, person_id, entry.role)
            if entry.role != "admin" and person_id in admins:
                problems.append(f"{key}: {person_id} is an admin; admins end every chain by themselves")
        if len(set(entry.people)) != len(entry.people):
            problems.append(f"{key}: a person is listed twice")
        for school in entry.schools or (ALL,):
            if (entry.role, school) in seen:
                problems.append(f"{key}: {entry.role} already has a list for {school!r} "
                                f"(escalation[{seen[entry.role, school]}])")
            seen.setdefault((entry.role, school), i)
    if ("admin", ALL) not in seen:
        problems.append("escalation: needs an admin list for schools: all (the last stop of every chain)")
    return problems
