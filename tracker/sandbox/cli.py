"""``flask sandbox ...``: the TEST MODE gateway's clock and test cards (monthly gifts)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from tracker.core import transactions
from tracker.core.time import local_zone
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.mail import outbox
from tracker.payments.gateway import GatewayError, get_gateway
from tracker.sandbox.gateway import SandboxGateway, send_after_commit


def _sandbox() -> SandboxGateway:
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
    transactions.commit()  # then the sandbox delivers the events through the webhook
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


@sandbox_cli.command("voucher")
@click.argument("reference")
@click.argument("outcome", type=click.Choice(["pay", "expire"]))
@with_appcontext
def voucher(reference: str, outcome: str) -> None:
    """Settle a convenience-store voucher or bank transfer waiting for its payment: the donor
    pays it, or it runs out unpaid. REFERENCE is the checkout session (cs_test_sbx_...) or the
    gift's public id (don_...). (`flask sandbox advance` also ends every voucher past its time.)"""
    gateway = _sandbox()
    session_id = db.session.scalar(
        db.select(Donation.gateway_session_id).where(Donation.public_id == reference)) or reference
    event = gateway.settle_later(session_id, paid=outcome == "pay")
    if event is None:
        db.session.rollback()
        raise click.ClickException(f"{reference}: no voucher or transfer is waiting for its payment")
    send_after_commit([event])
    transactions.commit()  # then the sandbox delivers the event through the webhook
    outbox.deliver_pending()
    click.echo(f"{reference}: {'paid' if outcome == 'pay' else 'ended unpaid'}.")
