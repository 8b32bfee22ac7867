"""Who a page would reach right now, for the console's on-duty panel and the item page's "Page
now" form: per school and role, the people on duty, or else the first backup the chain falls to.
Read from the roster as the pager reads it (``Roster.chain``), so the panel cannot disagree with
a page. Names and channel types only: channel URLs carry credentials."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pipeline.alerts.roster import Person, Roster

ROLES = ("sro", "counselor", "admin")


@dataclass(frozen=True)
class Cover:
    school: str | None  # None: items that matched no school
    role: str
    on_duty: list[str]       # "Name (email, sms)" of everyone holding the role now
    falls_to: str | None     # nobody on duty: who the chain reaches first; None: nobody at all

    @property
    def gap(self) -> bool:
        return not self.on_duty


def _who(person: Person) -> str:
    channels = ", ".join(c.type for c in person.channels) or "no channel"
    return f"{person.name} ({channels})"


def cover(roster: Roster, school: str | None, role: str, now: datetime) -> Cover:
    school = school if school in roster.schools else None  # a school the roster does not know: "all" entries
    on_duty = roster.on_duty(role, school, now)
    chain = roster.chain(role, school, now)
    return Cover(school, role, [_who(p) for p in on_duty], None if on_duty or not chain else _who(chain[0]))


def coverage(roster: Roster, schools: Iterable[str], now: datetime) -> list[Cover]:
    """Every school, then items that matched none, in every role."""
    return [cover(roster, school, role, now) for school in [*sorted(schools), None] for role in ROLES]
