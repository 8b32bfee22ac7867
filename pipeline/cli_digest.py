"""`threatline digest`: the daily digest by hand. A dry run unless told --send."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.store import StoreError
from pipeline.terminal import safe_text


@app.command()
def digest(
    send: Annotated[bool, typer.Option("--send", help="mail them (default: print them and who would get them)")] = False,
    school: Annotated[Optional[str], typer.Option("--school", help="only this school (its name in schools.yaml)")] = None,
    config: ConfigOption = None,
) -> None:
    """The daily digest per school now: print it, or mail it with --send and print who got it."""
    from pipeline.alerts.digest_send import prepare
    from pipeline.bootstrap import district_schools
    from pipeline.alerts.digest_send import send as send_digests
    from pipeline.bootstrap import build_store
    from pipeline.schema import utcnow

    s = settings(config)
    if school is not None and school not in (names := district_schools(s)):
        fail(f"error: unknown school {school!r}; known: {', '.join(names)}", 2)
    now = utcnow()
    try:
        store = build_store(s)
        try:
            plans = prepare(s, store, now, school=school)
            report = send_digests(plans, store, s, now) if send else None
        finally:
            store.close()
    except StoreError as exc:
        fail(f"store error: {exc}", 1)

    out = plain_console()
    if not plans:
        out.print("nothing to report: no P3 item flagged in the last 24 hours and no open or escalated item; "
                  "nothing was sent")
        return
    if report is None:
        for plan in plans:
            out.rule()
            out.print(safe_text(plan.digest.text))
            who = ", ".join(f"{p.name} ({p.id})" for p in plan.recipients) or "nobody (no email channel on duty)"
            out.print(safe_text(f"would go to: {who}"))
        out.rule()
        out.print(f"dry run: {len(plans)} digest(s) for {sum(len(p.recipients) for p in plans)} recipient(s); "
                  "nothing was sent (--send mails them)")
        return
    for result in report.schools:
        line = f"{result.school or 'no school matched'}: {result.items} item(s), sent to {len(result.sent)}"
        line += f" ({', '.join(result.sent)})" if result.sent else ""
        line += f", failed for {', '.join(result.failed)}" if result.failed else ""
        line += "" if result.recipients else ", nobody to send to (no email channel on duty)"
        out.print(safe_text(line))
    if report.failed:
        fail(f"error: {report.failed} digest delivery(ies) failed; see above", 1)
