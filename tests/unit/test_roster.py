import copy
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import SecretStr
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.alerts.roster import ROLES, load_roster, parse_roster
from pipeline.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
CHI = ZoneInfo("America/Chicago")
LINCOLN, CENTRAL, HAWTHORNE = "Lincoln High School", "Riverton Central High School", "Hawthorne Middle School"
SCHOOLS = {LINCOLN, CENTRAL, HAWTHORNE}
SECRET = "mailtos://alerts:hunter2-secret@mail.example.org?to=reyes@example.org"


def person(pid, *roles, channels=None):
    url = f"mailtos://alerts:change-me@mail.example.org?to={pid}@example.org"
    return {"id": pid, "name": pid.title(), "roles": list(roles),
            "channels": [{"type": "email", "url": url}] if channels is None else channels}


def base():
    """Reyes on Lincoln days, Kim on Central days, Patel nights everywhere; Okafor the admin."""
    return {
        "timezone": "America/Chicago",
        "people": [person("reyes", "sro", channels=[{"type": "email", "url": SECRET}]), person("kim", "sro"),
                   person("patel", "sro"), person("alvarez", "counselor"), person("okafor", "admin"),
                   person("lee", "admin")],
        "shifts": [
            {"role": "sro", "person": "reyes", "schools": [LINCOLN], "days": "weekdays", "start": "07:00", "end": "16:00"},
            {"role": "sro", "person": "kim", "schools": [CENTRAL], "days": "weekdays", "start": "07:00", "end": "16:00"},
            {"role": "sro", "person": "patel", "schools": "all", "days": "daily", "start": "16:00", "end": "07:00"},
            {"role": "counselor", "person": "alvarez", "schools": "all", "days": "weekdays", "start": "08:00", "end": "16:00"},
        ],
        "escalation": [
            {"role": "sro", "schools": "all", "people": ["patel", "kim"]},
            {"role": "admin", "schools": "all", "people": ["okafor"]},
        ],
    }


def roster(data=None, **top):
    return parse_roster({**(data or base()), **top}, SCHOOLS, source="roster.yaml")


def at(*args, fold=0, tz=CHI):
    return datetime(*args, tzinfo=tz, fold=fold)


def ids(people):
    return [p.id for p in people]


def shift_only(role, days, start, end, schools="all", tz=None):
    data = base()
    data["shifts"] = [{"role": role, "person": "reyes", "schools": schools, "days": days,
                       "start": start, "end": end, **({"timezone": tz} if tz else {})}]
    return roster(data)


def minutes_on_duty(r, role, school, start_utc, end_utc):
    n, t = 0, start_utc
    while t < end_utc:
        n += bool(r.on_duty(role, school, t))
        t += timedelta(minutes=1)
    return n


# --- weekly shifts -------------------------------------------------------------------------------

def test_shift_start_is_inclusive_and_end_exclusive():
    r = roster()  # 2026-11-23 is a Monday
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 7, 0))) == ["reyes"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 15, 59, 59))) == ["reyes"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 16, 0))) == ["patel"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 6, 59, 59))) == ["patel"]


def test_same_instant_in_any_zone_gives_the_same_answer():
    r = roster()
    local = at(2026, 11, 23, 7, 0)
    assert r.on_duty("sro", LINCOLN, local) == r.on_duty("sro", LINCOLN, local.astimezone(UTC))
    assert ids(r.on_duty("sro", LINCOLN, datetime(2026, 11, 23, 12, 59, tzinfo=UTC))) == ["patel"]


def test_shift_crossing_midnight_belongs_to_the_day_it_starts():
    r = shift_only("sro", ["fri"], "22:00", "06:00")  # 2026-11-27 is a Friday
    on = lambda *a: bool(r.on_duty("sro", LINCOLN, at(*a)))  # noqa: E731
    assert on(2026, 11, 27, 22, 0) and on(2026, 11, 28, 0, 0) and on(2026, 11, 28, 5, 59)
    assert not on(2026, 11, 27, 21, 59) and not on(2026, 11, 28, 6, 0)
    assert not on(2026, 11, 27, 3, 0)  # Thursday night is not a Friday shift
    assert not on(2026, 11, 28, 22, 30)  # nor is Saturday night


def test_equal_start_and_end_is_a_24_hour_shift():
    r = shift_only("sro", ["sat"], "07:00", "07:00")
    assert r.on_duty("sro", LINCOLN, at(2026, 11, 28, 7, 0))
    assert r.on_duty("sro", LINCOLN, at(2026, 11, 29, 6, 59))
    assert not r.on_duty("sro", LINCOLN, at(2026, 11, 29, 7, 0))
    assert not r.on_duty("sro", LINCOLN, at(2026, 11, 28, 6, 59))


def test_per_school_shifts_and_all_schools():
    r = roster()
    monday_9 = at(2026, 11, 23, 9, 0)
    assert ids(r.on_duty("sro", LINCOLN, monday_9)) == ["reyes"]
    assert ids(r.on_duty("sro", CENTRAL, monday_9)) == ["kim"]
    assert r.on_duty("sro", HAWTHORNE, monday_9) == []  # nobody is assigned there by day
    # An item that matched no school is covered by `all` shifts only.
    assert r.on_duty("sro", None, monday_9) == []
    assert ids(r.on_duty("sro", None, at(2026, 11, 23, 20, 0))) == ["patel"]
    assert ids(r.on_duty("counselor", HAWTHORNE, monday_9)) == ["alvarez"]


def test_overlapping_shifts_put_everyone_on_duty_in_file_order():
    data = base()
    data["shifts"].append({"role": "sro", "person": "kim", "schools": [LINCOLN], "days": ["mon"],
                           "start": "12:00", "end": "13:00"})
    r = roster(data)
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 12, 30))) == ["reyes", "kim"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 13, 0))) == ["reyes"]


def test_shift_in_its_own_time_zone():
    r = shift_only("sro", ["mon"], "08:00", "09:00", tz="America/New_York")
    assert not r.on_duty("sro", LINCOLN, at(2026, 11, 23, 8, 0))
    assert r.on_duty("sro", LINCOLN, at(2026, 11, 23, 7, 0))  # 08:00 Eastern


def test_default_timezone_comes_from_the_caller_when_the_file_has_none():
    data = base()
    del data["timezone"]
    r = parse_roster(data, SCHOOLS, default_timezone="America/New_York")
    assert r.timezone == "America/New_York"
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 6, 0))) == ["reyes"]  # 07:00 Eastern
    with pytest.raises(ConfigError, match="timezone: missing"):
        parse_roster(data, SCHOOLS)


# --- daylight saving time (America/Chicago: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00) ---

def test_spring_forward_shift_over_the_gap_lasts_one_real_hour():
    r = shift_only("sro", ["sun"], "01:30", "03:30")
    assert r.on_duty("sro", LINCOLN, at(2026, 3, 8, 1, 30))
    assert r.on_duty("sro", LINCOLN, at(2026, 3, 8, 1, 59))
    assert r.on_duty("sro", LINCOLN, at(2026, 3, 8, 3, 0))
    assert r.on_duty("sro", LINCOLN, at(2026, 3, 8, 3, 29))
    assert not r.on_duty("sro", LINCOLN, at(2026, 3, 8, 3, 30))
    window = (datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 3, 8, 10, tzinfo=UTC))
    assert minutes_on_duty(r, "sro", LINCOLN, *window) == 60


def test_spring_forward_instant_that_does_not_exist():
    r = shift_only("sro", ["sun"], "01:30", "03:30")
    # 02:30 never shows on a Chicago clock that day. PEP 495 reads fold=0 with the offset from
    # before the jump (03:30 daylight time) and fold=1 with the one after (01:30 standard time).
    ghost, ghost_fold1 = at(2026, 3, 8, 2, 30), at(2026, 3, 8, 2, 30, fold=1)
    assert ghost.astimezone(UTC) == at(2026, 3, 8, 3, 30).astimezone(UTC)
    assert not r.on_duty("sro", LINCOLN, ghost)
    assert ghost_fold1.astimezone(UTC) == at(2026, 3, 8, 1, 30).astimezone(UTC)
    assert r.on_duty("sro", LINCOLN, ghost_fold1)


def test_fall_back_repeated_hour_is_covered_twice_by_an_overnight_shift():
    r = shift_only("sro", ["sat"], "22:00", "06:00")
    first, second = at(2026, 11, 1, 1, 15), at(2026, 11, 1, 1, 15, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert r.on_duty("sro", LINCOLN, first) and r.on_duty("sro", LINCOLN, second)
    window = (datetime(2026, 11, 1, 0, tzinfo=UTC), datetime(2026, 11, 1, 16, tzinfo=UTC))
    assert minutes_on_duty(r, "sro", LINCOLN, *window) == 9 * 60  # 22:00 CDT to 06:00 CST


def test_overnight_shift_on_the_spring_forward_night_is_an_hour_shorter():
    r = shift_only("sro", ["sat"], "22:00", "06:00")
    window = (datetime(2026, 3, 7, 22, tzinfo=UTC), datetime(2026, 3, 8, 16, tzinfo=UTC))
    assert minutes_on_duty(r, "sro", LINCOLN, *window) == 7 * 60


def test_fall_back_boundary_in_the_repeated_hour_means_its_first_occurrence():
    data = base()
    data["shifts"] = [
        {"role": "sro", "person": "reyes", "schools": "all", "days": ["sun"], "start": "00:00", "end": "01:30"},
        {"role": "sro", "person": "kim", "schools": "all", "days": ["sun"], "start": "01:30", "end": "06:00"},
    ]
    r = roster(data)
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 1, 1, 15))) == ["reyes"]        # 01:15 CDT
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 1, 1, 45))) == ["kim"]          # 01:45 CDT
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 1, 1, 15, fold=1))) == ["kim"]  # 01:15 CST, the repeat


DST_DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2026, 6, 14)]


@settings(max_examples=200, deadline=None)
@given(boundary_a=st.integers(0, 24 * 60 - 1), boundary_b=st.integers(0, 24 * 60 - 1),
       day=st.sampled_from(DST_DAYS), offset_min=st.integers(-36 * 60, 36 * 60))
def test_back_to_back_shifts_never_leave_a_gap_or_overlap(boundary_a, boundary_b, day, offset_min):
    """Two daily shifts a->b and b->a cover every instant exactly once, DST days included."""
    a = f"{boundary_a // 60:02d}:{boundary_a % 60:02d}"
    b = f"{boundary_b // 60:02d}:{boundary_b % 60:02d}"
    data = base()
    data["shifts"] = [
        {"role": "sro", "person": "reyes", "schools": "all", "days": "daily", "start": a, "end": b},
        {"role": "sro", "person": "kim", "schools": "all", "days": "daily", "start": b, "end": a},
    ]
    r = roster(data)
    instant = datetime.combine(day, time(12), tzinfo=CHI).astimezone(UTC) + timedelta(minutes=offset_min)
    on_duty = ids(r.on_duty("sro", LINCOLN, instant))
    if a == b:  # both are 24-hour shifts
        assert on_duty == ["reyes", "kim"]
    else:
        assert len(on_duty) == 1


# --- overrides -----------------------------------------------------------------------------------

def with_overrides(*overrides):
    data = base()
    data["overrides"] = list(overrides)
    return roster(data)


def test_replace_override_beats_the_weekly_shift_for_its_window():
    r = with_overrides({"date": "2026-11-24", "start": "07:00", "end": "16:00", "role": "sro",
                        "schools": [LINCOLN], "person": "kim", "note": "swap"})
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 24, 9, 0))) == ["kim"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 24, 16, 0))) == ["patel"]  # window over
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 25, 9, 0))) == ["reyes"]   # next day
    assert ids(r.on_duty("sro", CENTRAL, at(2026, 11, 24, 9, 0))) == ["kim"]     # other school: own shift


def test_whole_day_replace_override_covers_night_shifts_too():
    r = with_overrides({"date": "2026-11-24", "role": "sro", "schools": "all", "person": "kim"})
    assert ids(r.on_duty("sro", HAWTHORNE, at(2026, 11, 24, 0, 0))) == ["kim"]
    assert ids(r.on_duty("sro", HAWTHORNE, at(2026, 11, 24, 23, 59))) == ["kim"]
    assert ids(r.on_duty("sro", HAWTHORNE, at(2026, 11, 25, 0, 0))) == ["patel"]


def test_holiday_with_nobody_on_duty_starts_the_chain_with_the_backup():
    r = with_overrides({"from": "2026-11-26", "to": "2026-11-27", "role": "sro", "schools": "all",
                        "mode": "closed", "note": "Thanksgiving"})
    for instant in (at(2026, 11, 26, 0, 0), at(2026, 11, 26, 10, 0), at(2026, 11, 27, 23, 59)):
        assert r.on_duty("sro", LINCOLN, instant) == []
        assert ids(r.chain("sro", LINCOLN, instant)) == ["patel", "kim", "okafor"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 25, 23, 59))) == ["patel"]  # the day before
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 28, 0, 0))) == ["patel"]    # the day after


def test_add_override_joins_whoever_is_on_duty():
    r = with_overrides({"date": "2026-11-27", "start": "18:00", "end": "23:00", "role": "sro",
                        "schools": [LINCOLN], "mode": "add", "person": "reyes", "note": "home game"})
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 27, 19, 0))) == ["patel", "reyes"]
    assert ids(r.on_duty("sro", CENTRAL, at(2026, 11, 27, 19, 0))) == ["patel"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 27, 23, 0))) == ["patel"]


def test_replace_wins_over_closed_and_adds_still_join():
    r = with_overrides(
        {"date": "2026-11-26", "role": "sro", "schools": "all", "mode": "closed"},
        {"date": "2026-11-26", "start": "10:00", "end": "14:00", "role": "sro", "schools": [LINCOLN],
         "person": "kim"},
        {"date": "2026-11-26", "role": "sro", "schools": [LINCOLN], "mode": "add", "person": "reyes"},
    )
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 26, 11, 0))) == ["kim", "reyes"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 26, 15, 0))) == ["reyes"]
    assert r.on_duty("sro", CENTRAL, at(2026, 11, 26, 11, 0)) == []


def test_override_overnight_window_on_its_last_day_runs_into_the_next_morning():
    r = with_overrides({"from": "2026-11-23", "to": "2026-11-24", "start": "22:00", "end": "06:00",
                        "role": "sro", "schools": "all", "person": "kim"})
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 25, 5, 0))) == ["kim"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 25, 22, 0))) == ["patel"]
    assert ids(r.on_duty("sro", LINCOLN, at(2026, 11, 23, 21, 0))) == ["patel"]


# --- chains --------------------------------------------------------------------------------------

def test_chain_is_on_duty_then_backups_then_admins_without_repeats():
    r = roster()
    assert ids(r.chain("sro", LINCOLN, at(2026, 11, 23, 9, 0))) == ["reyes", "patel", "kim", "okafor"]
    # Patel is on duty at night and first in the backups: listed once, first.
    assert ids(r.chain("sro", LINCOLN, at(2026, 11, 23, 20, 0))) == ["patel", "kim", "okafor"]
    # No counselor backups: the counselor on duty, then the admins.
    assert ids(r.chain("counselor", LINCOLN, at(2026, 11, 23, 9, 0))) == ["alvarez", "okafor"]
    assert ids(r.chain("counselor", LINCOLN, at(2026, 11, 23, 20, 0))) == ["okafor"]
    assert ids(r.chain("admin", LINCOLN, at(2026, 11, 23, 9, 0))) == ["okafor"]


def test_a_list_for_the_school_beats_the_list_for_all_schools():
    data = base()
    data["escalation"] += [{"role": "sro", "schools": [LINCOLN], "people": ["kim"]},
                           {"role": "admin", "schools": [LINCOLN], "people": ["lee", "okafor"]}]
    r = roster(data)
    assert ids(r.chain("sro", LINCOLN, at(2026, 11, 23, 9, 0))) == ["reyes", "kim", "lee", "okafor"]
    assert ids(r.chain("sro", CENTRAL, at(2026, 11, 23, 9, 0))) == ["kim", "patel", "okafor"]
    assert ids(r.admins(LINCOLN)) == ["lee", "okafor"] and ids(r.admins(None)) == ["okafor"]


def test_next_after_walks_the_chain_and_sees_shift_changes():
    r = roster()
    morning = at(2026, 11, 23, 6, 58)
    tried = []
    while (nxt := r.next_after("sro", LINCOLN, morning, tried)) is not None:
        tried.append(nxt.id)
    assert tried == ["patel", "kim", "okafor"]
    # Five minutes later Reyes's shift has begun: the escalation sweep reaches her next.
    assert r.next_after("sro", LINCOLN, morning + timedelta(minutes=5), ["patel"]).id == "reyes"
    assert r.next_after("sro", LINCOLN, morning, ["someone-removed-since"]).id == "patel"


def test_a_person_without_channels_stays_in_the_chain():
    # The dispatcher finds no working channel and moves on at once; the roster keeps the order.
    data = base()
    data["people"][2] = person("patel", "sro", channels=[])
    r = roster(data)
    assert r.people["patel"].channels == ()
    assert ids(r.chain("sro", LINCOLN, at(2026, 11, 23, 9, 0))) == ["reyes", "patel", "kim", "okafor"]


# --- lookups that must fail ----------------------------------------------------------------------

def test_naive_datetime_is_refused():
    r = roster()
    for call in (r.on_duty, r.chain):
        with pytest.raises(ValueError, match="naive datetime 2026-11-23T09:00:00: pass a timezone-aware instant"):
            call("sro", LINCOLN, datetime(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError, match="naive"):
        r.next_after("sro", LINCOLN, datetime(2026, 11, 23, 9, 0), [])


def test_unknown_school_or_role_at_lookup_is_an_error():
    r = roster()
    with pytest.raises(ValueError, match=r"unknown school 'Lincoln High' \(the roster knows: Hawthorne"):
        r.on_duty("sro", "Lincoln High", at(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError, match="unknown school"):
        r.chain("sro", "Westbrook Elementary School", at(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError, match=r"unknown role 'SRO' \(roles: sro, counselor, admin\)"):
        r.on_duty("SRO", LINCOLN, at(2026, 11, 23, 9, 0))


# --- loading -------------------------------------------------------------------------------------

def mutate(path, value):
    """Set base()[path...] = value, or delete it when value is DELETE."""
    data = copy.deepcopy(base())
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DELETE = object()
OVERRIDE = {"date": "2026-11-26", "role": "sro", "schools": "all", "mode": "closed"}

BAD = [
    (("people", 1, "roles"), ["sro", "teacher"], r"people\[1\] \(kim\).roles\[1\]: Input should be 'sro', 'counselor' or 'admin' \(got 'teacher'\)"),
    (("people", 1, "id"), "Kim Park", r"people\[1\] \(Kim Park\)\.id: String should match pattern"),
    (("people", 1, "nickname"), "K", r"people\[1\] \(kim\)\.nickname: unknown key"),
    (("people", 1), person("reyes", "sro"), r"people\[1\] \(reyes\): id used twice"),
    (("shifts", 0, "schools"), [LINCOLN, "Lincoln High"], r"shifts\[0\] \(reyes\): unknown school 'Lincoln High' \(known: Hawthorne"),
    (("shifts", 0, "person"), "reyse", r"shifts\[0\] \(reyse\): unknown person 'reyse'"),
    (("shifts", 0, "person"), "alvarez", r"shifts\[0\] \(alvarez\): alvarez does not have the role 'sro'"),
    (("shifts", 0, "role"), "officer", r"shifts\[0\] \(reyes\)\.role: Input should be 'sro', 'counselor' or 'admin' \(got 'officer'\)"),
    (("shifts", 0, "start"), "25:00", r"shifts\[0\] \(reyes\)\.start: want a time 'HH:MM' from 00:00 to 23:59 \(got '25:00'\)"),
    (("shifts", 0, "start"), "7am", r"shifts\[0\] \(reyes\)\.start: want a time"),
    (("shifts", 0, "end"), 1320, r"shifts\[0\] \(reyes\)\.end: YAML read this time as a number; quote it"),
    (("shifts", 0, "days"), ["mon", "funday"], r"shifts\[0\] \(reyes\).days\[1\]: Input should be 'mon', 'tue'"),
    (("shifts", 0, "days"), [], r"shifts\[0\] \(reyes\)\.days: Value should have at least 1 item"),
    (("shifts", 0, "timezone"), "Mars/Olympus", r"shifts\[0\] \(reyes\): unknown time zone 'Mars/Olympus'"),
    (("shifts", 0, "schools"), None, r"shifts\[0\] \(reyes\)\.schools: give school names, or all"),
    (("escalation", 0, "schools"), [], r"escalation\[0\] \(sro\)\.schools: give school names, or all"),
    (("shifts", 0, "schools"), DELETE, r"shifts\[0\] \(reyes\)\.schools: Field required"),
    (("timezone",), "America/Chicgo", r"timezone: unknown time zone 'America/Chicgo'"),
    (("escalation", 0, "people"), ["patel", "nobody"], r"escalation\[0\] \(sro\): unknown person 'nobody'"),
    (("escalation", 0, "people"), ["patel", "patel"], r"escalation\[0\] \(sro\): a person is listed twice"),
    (("escalation", 0, "people"), ["patel", "alvarez"], r"escalation\[0\] \(sro\): alvarez does not have the role 'sro'"),
    (("escalation", 1, "role"), "sro", r"escalation\[1\] \(sro\): sro already has a list for 'all' \(escalation\[0\]\)"),
    (("escalation", 1, "schools"), [LINCOLN], r"escalation: needs an admin list for schools: all"),
    (("overrides",), [{**OVERRIDE, "person": "kim"}], r"overrides\[0\] \(sro\): a closed override names nobody"),
    (("overrides",), [{**OVERRIDE, "mode": "replace"}], r"overrides\[0\] \(sro\): mode replace needs a person"),
    (("overrides",), [{**OVERRIDE, "mode": "add", "person": "alvarez"}], r"overrides\[0\] \(sro\): alvarez does not have the role 'sro'"),
    (("overrides",), [{**OVERRIDE, "from": "2026-11-27"}], r"overrides\[0\] \(sro\): give either date or from and to"),
    (("overrides",), [{"role": "sro", "schools": "all", "mode": "closed"}],
     r"overrides\[0\] \(sro\): give either date or from and to"),
    (("overrides",), [{"from": "2026-11-27", "to": "2026-11-26", "role": "sro", "schools": "all", "mode": "closed",
                       "note": "backwards"}], r"overrides\[0\] \(backwards\): to 2026-11-26 is before from 2026-11-27"),
    (("overrides",), [{"from": "2026-11-27", "role": "sro", "schools": "all", "mode": "closed"}],
     r"overrides\[0\] \(sro\): give both from and to"),
    (("overrides",), [{**OVERRIDE, "mode": "swap"}], r"overrides\[0\] \(sro\)\.mode: Input should be 'replace', 'add' or 'closed'"),
    (("overrides",), [{**OVERRIDE, "schools": ["Nowhere High"]}], r"overrides\[0\] \(sro\): unknown school 'Nowhere High'"),
    (("shifts",), "none", r"shifts: Input should be a valid tuple"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD, ids=[".".join(map(str, p)) for p, _, _ in BAD])
def test_config_errors_are_one_line_and_name_file_entry_and_problem(path, value, expected):
    with pytest.raises(ConfigError) as exc:
        roster(mutate(path, value))
    message = str(exc.value)
    assert message.startswith("roster.yaml: ") and "\n" not in message
    assert re.search(expected, message), message


def test_admins_are_not_listed_in_other_chains():
    data = base()
    data["people"][1] = person("kim", "sro", "admin")
    data["escalation"][1]["people"] = ["okafor", "kim"]
    with pytest.raises(ConfigError, match=r"escalation\[0\] \(sro\): kim is an admin; admins end every chain by themselves"):
        roster(data)


def test_a_bad_channel_never_echoes_its_url():
    for channel, expected in [({"type": "email", "url": "hunter2-secret"}, r"channels\[0\]\.url: not an apprise URL"),
                              ({"type": "Email!", "url": SECRET}, r"channels\[0\]\.type: String should match"),
                              ({"type": "email", "url": SECRET, "token": "hunter2-secret"}, r"channels\[0\]\.token: unknown key")]:
        data = base()
        data["people"][0]["channels"] = [channel]
        with pytest.raises(ConfigError, match=expected) as exc:
            roster(data)
        assert "hunter2" not in str(exc.value)


def test_secrets_never_show_in_reprs():
    r = roster()
    reyes = r.people["reyes"]
    assert reyes.channels[0].url.get_secret_value() == SECRET
    for text in (repr(reyes), str(reyes), repr(r), repr(r.chain("sro", LINCOLN, at(2026, 11, 23, 9, 0))),
                 reyes.model_dump_json()):
        assert "hunter2" not in text


def test_load_roster_reports_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: file not found"):
        load_roster(tmp_path / "missing.yaml", SCHOOLS)
    broken = tmp_path / "roster.yaml"
    broken.write_text("people: [unclosed\n")
    with pytest.raises(ConfigError, match=r"roster\.yaml:\d+: not valid YAML"):
        load_roster(broken, SCHOOLS)
    broken.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_roster(broken, SCHOOLS)
    # Unquoted times reach the loader as numbers (YAML 1.1 base 60) and are refused.
    broken.write_text(yaml.safe_dump(base()).replace("'16:00'", "16:00"))
    with pytest.raises(ConfigError, match=r"shifts\[0\] \(reyes\)\.end: YAML read this time as a number"):
        load_roster(broken, SCHOOLS)


# --- the shipped example -------------------------------------------------------------------------

def district_schools():
    return {s["name"] for s in yaml.safe_load((REPO / "config" / "schools.yaml").read_text())["schools"]}


def test_shipped_roster_loads_and_answers_like_its_comments_say():
    r = load_roster(REPO / "config" / "roster.yaml", district_schools())
    assert r.timezone == "America/Chicago"
    assert ids(r.on_duty("sro", "Lincoln High School", at(2026, 11, 23, 8, 0))) == ["reyes"]
    assert ids(r.on_duty("sro", "Maple Ridge Middle School", at(2026, 11, 27, 23, 0))) == ["patel"]   # Friday night
    assert ids(r.on_duty("sro", "Maple Ridge Middle School", at(2026, 11, 28, 6, 59))) == ["patel"]
    assert ids(r.on_duty("sro", "Hawthorne Middle School", at(2026, 12, 2, 9, 0))) == ["patel"]      # Tran at training
    assert ids(r.on_duty("sro", "Lincoln High School", at(2026, 12, 4, 19, 0))) == ["patel", "reyes"]  # home game
    assert ids(r.on_duty("sro", None, at(2026, 12, 23, 11, 0))) == ["patel"]                      # winter break
    # Thanksgiving break: counselors closed, the chain starts with the crisis team.
    thanksgiving = at(2026, 11, 26, 10, 0)
    assert r.on_duty("counselor", "Sycamore Elementary School", thanksgiving) == []
    assert ids(r.chain("counselor", "Sycamore Elementary School", thanksgiving)) == ["crisis-team", "alvarez", "okafor"]
    assert ids(r.chain("sro", "Lincoln High School", at(2026, 11, 23, 8, 0))) == ["reyes", "patel", "lee", "okafor"]


def test_shipped_roster_leaves_no_sro_or_counselor_gap_in_a_normal_week():
    r = load_roster(REPO / "config" / "roster.yaml", district_schools())
    schools = district_schools()
    t = at(2026, 11, 9, 0, 0).astimezone(UTC)  # a week without overrides
    while t < at(2026, 11, 16, 0, 0).astimezone(UTC):
        for school in schools:
            assert r.on_duty("sro", school, t) and r.on_duty("counselor", school, t), (school, t)
        t += timedelta(minutes=30)
    # An item that matched no school has only the district-wide shifts; by day that is nobody,
    # so its page starts with the first backup.
    assert ids(r.chain("sro", None, at(2026, 11, 10, 10, 0))) == ["patel", "reyes", "okafor"]


@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_shipped_channels_are_fake_example_org_urls_that_apprise_accepts():
    apprise = pytest.importorskip("apprise")
    r = load_roster(REPO / "config" / "roster.yaml", district_schools())
    for p in r.people.values():
        assert p.channels, p.id
        for channel in p.channels:
            url = channel.url.get_secret_value()
            assert re.search("change-?me", url), p.id
            assert "example.org" in url or url.startswith("slack://"), p.id
            assert apprise.Apprise().add(url), (p.id, channel.type)


# --- properties ----------------------------------------------------------------------------------

PEOPLE = [f"p{i}" for i in range(7)]


@st.composite
def rosters(draw):
    roles = {pid: draw(st.sets(st.sampled_from(ROLES), min_size=1)) for pid in PEOPLE}
    roles["p0"].add("admin")
    holders = {role: [p for p in PEOPLE if role in roles[p]] for role in ROLES}

    def ordered(pool, min_size=0):
        return draw(st.lists(st.sampled_from(pool), unique=True, min_size=min_size)) if pool else []

    schools = st.one_of(st.just("all"), st.lists(st.sampled_from(sorted(SCHOOLS)), min_size=1, unique=True))
    clock = st.integers(0, 24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
    admin_lists = [{"role": "admin", "schools": "all", "people": ordered(holders["admin"], 1)}]
    if draw(st.booleans()):
        admin_lists.append({"role": "admin", "schools": [LINCOLN], "people": ordered(holders["admin"], 1)})
    admins = {p for entry in admin_lists for p in entry["people"]}
    chains = [{"role": role, "schools": "all", "people": backups}
              for role in ("sro", "counselor")
              if (backups := ordered([p for p in holders[role] if p not in admins]))]
    shifts = [{"role": role, "person": draw(st.sampled_from(holders[role])), "schools": draw(schools),
               "days": draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1)),
               "start": draw(clock), "end": draw(clock)}
              for role in draw(st.lists(st.sampled_from([r for r in ROLES if holders[r]]), max_size=8))]
    overrides = []
    for role in draw(st.lists(st.sampled_from([r for r in ROLES if holders[r]]), max_size=4)):
        mode = draw(st.sampled_from(["replace", "add", "closed"]))
        overrides.append({"role": role, "schools": draw(schools), "mode": mode,
                          "date": draw(st.dates(date(2026, 10, 30), date(2026, 11, 3))),
                          "start": draw(clock), "end": draw(clock),
                          **({} if mode == "closed" else {"person": draw(st.sampled_from(holders[role]))})})
    return parse_roster({"timezone": "America/Chicago",
                         "people": [person(p, *sorted(roles[p])) for p in PEOPLE],
                         "shifts": shifts, "overrides": overrides, "escalation": admin_lists + chains}, SCHOOLS)


@settings(max_examples=200, deadline=None)
@given(r=rosters(), role=st.sampled_from(ROLES), school=st.sampled_from([*sorted(SCHOOLS), None]),
       instant=st.datetimes(datetime(2026, 10, 30), datetime(2026, 11, 4), timezones=st.just(CHI)))
def test_chain_never_repeats_and_ends_with_the_admins(r, role, school, instant):
    chain = ids(r.chain(role, school, instant))
    on_duty = ids(r.on_duty(role, school, instant))
    admins = ids(r.admins(school))
    assert len(chain) == len(set(chain))
    assert chain[:len(on_duty)] == on_duty
    assert set(admins) <= set(chain)
    # Admins not already paged earlier (on duty, or a backup) fill the tail, in their order.
    # After the people on duty: the role's backups, then the admins not already on duty, in
    # their order, and nobody after them.
    rest = chain[len(on_duty):]
    first_admin = next((i for i, p in enumerate(rest) if p in admins), len(rest))
    assert all(p in admins for p in rest[first_admin:])
    assert rest[first_admin:] == [p for p in admins if p not in on_duty]
    if not set(admins) <= set(on_duty):
        assert chain[-1] in admins
    # next_after walks exactly the chain, then runs out.
    walked = []
    while (nxt := r.next_after(role, school, instant, walked)) is not None:
        walked.append(nxt.id)
    assert walked == chain


def test_placeholder_people_are_the_ones_still_holding_the_example_channels():
    from pipeline.alerts.roster import load_roster, placeholder_people
    from pipeline.bootstrap import district_schools
    from pipeline.config import DEFAULT_CONFIG, load_settings

    s = load_settings(DEFAULT_CONFIG)
    shipped = load_roster(s.config_path(s.alerts.roster_file), district_schools(s))
    assert placeholder_people(shipped) == [p.id for p in shipped.data.people if p.channels]
    real = shipped.data.model_copy(update={"people": tuple(
        p.model_copy(update={"channels": tuple(c.model_copy(update={"url": SecretStr("mailtos://a:b@mail.district.k12.us?to=x@district.k12.us")})
                                          for c in p.channels)}) for p in shipped.data.people)})
    assert placeholder_people(type(shipped)(real, district_schools(s), shipped.timezone)) == []


def test_run_warns_on_day_one_when_nothing_comes_in_and_no_page_can_arrive():
    from flows.deployments import startup_warnings
    from pipeline.config import DEFAULT_CONFIG, load_settings

    warnings = startup_warnings(load_settings(DEFAULT_CONFIG), deployments=[])  # the shipped config: every source off
    assert len(warnings) == 2
    assert warnings[0].startswith("no source is enabled in ") and "only tips come in" in warnings[0]
    assert "placeholder channels for 9 people" in warnings[1]
