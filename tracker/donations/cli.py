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


# --- the sandbox's clock and test cards (monthly gifts) ----------------------------------------


def _sandbox():  # noqa: ANN202
    from tracker.payments.gateway import SandboxGateway

    gateway = get_gateway()
    if not isinstance(gateway, SandboxGateway):
        raise click.ClickException("the sandbox gateway is not in use (STRIPE_SECRET_KEY is set)")
    return gateway


@click.group("sandbox")
def sandbox_cli() -> None:
    """The TEST MODE gateway: move its clock, make a card fail."""


@sandbox_cli.command("advance")
@click.argument("days", type=click.IntRange(min=0), required=False)
@click.option("--to", "to_date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Move the sandbox clock to this day (local midnight) instead.")
@with_appcontext
def advance(days: int | None, to_date) -> None:  # noqa: ANN001
    """Move the sandbox clock DAYS forward (or --to a day) and take every monthly payment
    that falls due: each is delivered as invoice.paid (or invoice.payment_failed for a card
    set to decline, one try per run) through the webhook."""
    from tracker.core.time import local_zone
    from tracker.monthly import services as recurring

    gateway = _sandbox()
    if (days is None) == (to_date is None):
        raise click.UsageError("give DAYS or --to DATE")
    if to_date is not None:
        target = to_date.replace(tzinfo=local_zone())
        seconds = int((target - gateway.now()).total_seconds())
        if seconds < 0:
            raise click.ClickException("the sandbox clock only moves forward")
    else:
        seconds = days * 86_400
    events = gateway.advance(seconds)
    now = gateway.now()
    db.session.commit()
    recurring.deliver(events)
    outbox.deliver_pending()
    paid = sum(e["type"] == "invoice.paid" for e in events)
    failed = sum(e["type"] == "invoice.payment_failed" for e in events)
    click.echo(f"Sandbox time: {now:%Y-%m-%d %H:%M} UTC. Payments: {paid} paid, {failed} failed.")


@sandbox_cli.command("card")
@click.argument("subscription")
@click.argument("state", type=click.Choice(["decline", "ok"]))
@with_appcontext
def card(subscription: str, state: str) -> None:
    """Make the card of a sandbox subscription (sub_sbx_... or the gift's rg_...) decline
    every payment, or pay again."""
    gateway = _sandbox()
    try:
        gateway.set_card(subscription, declines=state == "decline")
    except GatewayError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{subscription}: card {'declines' if state == 'decline' else 'pays'}.")
