"""`threatline alerts ...`: who is on duty, what was paged, and the dispatcher's manual levers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from pipeline.actors import cli_actor
from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.terminal import safe_text

alerts_app = typer.Typer(help="Alerts: on-duty lookup, open pages, escalation sweep, acknowledgement, "
                         "test pages.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

ROLES = ("sro", "counselor", "admin")


@alerts_app.command("on-duty")
def on_duty(school: Annotated[str | None, typer.Option("--school", help="a school name from schools.yaml; "
                                                          "default: items that matched no school")] = None,
            at: Annotated[str | None, typer.Option("--at", help="an instant with its UTC offset, e.g. "
                                                      "2026-12-24T22:00-06:00 (default: now)")] = None,
            config: ConfigOption = None) -> None:
    """Who would be paged, in chain order, per role."""
    from pipeline.bootstrap import build_roster
    from pipeline.schema import utcnow

    roster = build_roster(settings(config))
    try:
        when = datetime.fromisoformat(at) if at else utcnow()
    except ValueError:
        fail(f"error: --at {at!r} is not an ISO date-time", 2)
    if when.tzinfo is None:
        fail("error: --at needs a UTC offset, e.g. 2026-12-24T22:00-06:00", 2)
    table = Table(title=f"on duty for {school or 'no school matched'} at {when.isoformat(timespec='minutes')}")
    for column in ("role", "on duty now", "then (escalation chain)"):
        table.add_column(column)
    try:
        for role in ROLES:
            duty = roster.on_duty(role, school, when)
            rest = [p for p in roster.chain(role, school, when) if p not in duty]
            table.add_row(role, ", ".join(p.name for p in duty) or "nobody", " → ".join(p.name for p in rest))
    except ValueError as exc:
        fail(f"error: {exc}", 2)
    plain_console().print(table)


@alerts_app.command("list")
def list_alerts(every: Annotated[bool, typer.Option("--all", help="acknowledged and merged too")] = False,
                limit: Annotated[int, typer.Option(min=1, max=1000)] = 50, config: ConfigOption = None) -> None:
    """Open alerts (sent, escalated, failed), newest first."""
    from pipeline.bootstrap import runtime
    from pipeline.schema import OPEN_ALERT_STATUSES

    with runtime(settings(config)) as rt:
        hits = rt.store.search_alerts(status=None if every else list(OPEN_ALERT_STATUSES), size=limit)
    # One line per alert, id first: greppable, and ids are never wrapped for copying.
    console = plain_console()
    console.print(f"{len(hits)} {'alert(s)' if every else 'open alert(s)'}, newest first")
    for hit in hits:
        d = hit.doc
        # Stored text came from posts and tips: never markup, control characters shown not obeyed.
        console.print(safe_text(f"{hit.id}  {str(d.get('@timestamp', ''))[:16]}  {d['severity']} {d['category']}  "
                           f"{d.get('school') or 'no school'}  {d['role']} → {d.get('person') or 'nobody'}  "
                           f"{d['status']} (level {d.get('escalation_level', 0)})"))


@alerts_app.command("show")
def show(alert_id: str, config: ConfigOption = None) -> None:
    """One alert with its history (sent, failed, escalated, acknowledged…)."""
    from pipeline.alerts.pager import alert_from_document
    from pipeline.bootstrap import runtime

    with runtime(settings(config)) as rt:
        stored = rt.store.get_alert(alert_id)
        if stored is None:
            fail(f"error: no alert {alert_id}", 1)
        rt.pager.record_view(alert_from_document(stored.doc), cli_actor(), via="threatline alerts show",
                             role="admin")
    d = stored.doc
    console = plain_console()
    console.print(safe_text(f"{d['severity']} {d['category']} — {d.get('school') or 'no school matched'} → {d['role']}: "
                       f"{d['status']} (item {d['item_id']})"))
    console.print(safe_text(d["excerpt"]))
    table = Table(title="history")
    for column in ("at", "event", "person", "channel", "by", "detail"):
        table.add_column(column)
    for h in d.get("history", []):
        table.add_row(*(safe_text(value) for value in (str(h.get("at", ""))[:19], h["event"], h.get("person") or "",
                                                        h.get("channel") or "", h.get("by") or "", h.get("detail") or "")))
    console.print(table)


@alerts_app.command("sweep")
def sweep(config: ConfigOption = None) -> None:
    """Run one escalation sweep now (the escalate-alerts deployment does this every sweep_interval_s)."""
    from pipeline.bootstrap import runtime

    with runtime(settings(config)) as rt:
        report = rt.pager.sweep()
    typer.echo(f"checked {report.checked} open alert(s): escalated {len(report.escalated)}, "
               f"retried {len(report.retried)}, chain exhausted {len(report.exhausted)}")


@alerts_app.command("ack")
def ack(alert_id: str,
        by: Annotated[str, typer.Option("--by", help="who takes it (recorded in the alert and the audit trail)")],
        config: ConfigOption = None) -> None:
    """Acknowledge on someone's behalf, e.g. when dispatch reached them by phone."""
    from pipeline.bootstrap import runtime
    from pipeline.store import NotFound

    with runtime(settings(config)) as rt:
        try:
            result = rt.pager.acknowledge(alert_id, by, via="cli")
        except NotFound:
            fail(f"error: no alert {alert_id}", 1)
    a = result.alert
    if result.already:
        typer.echo(f"already acknowledged by {a.acknowledged_by} at {a.acknowledged_at:%Y-%m-%d %H:%M:%S} UTC")
    else:
        typer.echo(f"acknowledged by {a.acknowledged_by} after {a.time_to_ack_s:.0f} s; escalation stopped")


KNOWN_IDS_SHOWN = 12


@alerts_app.command("test-page")
def test_page(person_id: Annotated[str, typer.Argument(metavar="PERSON", help="a person's id in the roster")],
              config: ConfigOption = None) -> None:
    """Send a labelled test message to PERSON through each of their channels; exit 1 if any failed."""
    from pipeline.alerts.delivery import deliver
    from pipeline.alerts.messages import TEST_PAGE_TITLE, message_for_test_page
    from pipeline.bootstrap import build_roster
    from pipeline.schema import utcnow

    s = settings(config)
    people = build_roster(s).people
    person = people.get(person_id)
    if person is None:
        known = sorted(people)
        listed = ", ".join(known) if len(known) <= KNOWN_IDS_SHOWN else f"{len(known)} people"
        fail(f"error: no person {person_id!r} in the roster (known: {listed})", 2)
    if not person.channels:
        fail(f"error: {person.id} has no channels in the roster: nobody to send a test page to", 1)
    table = Table(title=f"test page to {person.id}")
    for column in ("#", "channel", "outcome", "attempts", "error"):
        table.add_column(column)
    failed = 0
    sent_by, at = cli_actor(), utcnow()
    for n, channel in enumerate(person.channels, 1):
        # Each channel on its own, retried as a page would be: paging stops at the first that
        # works, a test must know about every one. Its type and error type only, never its URL.
        alone = person.model_copy(update={"channels": (channel,)})
        result = deliver(alone, TEST_PAGE_TITLE, message_for_test_page(person.name, channel.type, sent_by, at),
                         retries=s.alerts.delivery_retries, backoff_s=s.alerts.delivery_backoff_s)
        last = result.attempts[-1]
        failed += result.status != "delivered"
        table.add_row(str(n), channel.type, result.status, str(len(result.attempts)),
                      "" if last.ok else last.error or "not accepted")
    plain_console().print(table)
    if failed:
        fail(f"{failed} of {len(person.channels)} channel(s) failed", 1)
