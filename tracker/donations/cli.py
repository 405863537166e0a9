"""``flask stripe reconcile``: record what the gateway has and we missed."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import click
from flask.cli import with_appcontext

from tracker.core.time import utcnow
from tracker.donations import recording as services
from tracker.extensions import db
from tracker.mail import outbox
from tracker.payments import webhooks
from tracker.payments.gateway import GatewayError, get_gateway

_DURATION = re.compile(r"^(\d+)\s*([mhd])$")


def parse_since(text: str) -> timedelta:
    """'72h', '3d' or '90m' as a timedelta; click.BadParameter otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise click.BadParameter("use a number and a unit, like 72h, 3d or 90m", param_hint="--since")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@click.group("stripe")
def stripe_cli() -> None:
    """Payment gateway tasks."""


@stripe_cli.command("reconcile")
@click.option("--since", "since_text", default="72h", show_default=True,
              help="How far back to look (e.g. 72h, 3d, 90m).")
@with_appcontext
def reconcile(since_text: str) -> None:
    """Record completed checkouts and events that never reached us. Safe to run again."""
    since = utcnow() - parse_since(since_text)
    gateway = get_gateway()
    counts: dict[str, int] = {}
    try:
        sessions = gateway.list_completed_sessions(since)
        for facts in sessions:
            outcome = services.record_payment(facts, gateway)
            db.session.commit()
            counts[str(outcome)] = counts.get(str(outcome), 0) + 1
        events = gateway.list_events(since, list(webhooks.HANDLED_TYPES))
    except GatewayError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    new_events = 0
    for event in events:
        new, _ = webhooks.ingest(event, json.dumps(event, separators=(",", ":")), gateway)
        new_events += new
    outbox.deliver_pending()
    summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "none"
    click.echo(f"Checkouts since {since:%Y-%m-%d %H:%M} UTC: {len(sessions)} ({summary}). "
               f"Events: {len(events)} listed, {new_events} new.")

