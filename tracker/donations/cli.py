"""``flask stripe reconcile``: record what the gateway has and we missed."""

from __future__ import annotations

import re
from datetime import timedelta

import click
from flask.cli import with_appcontext

from tracker.donations import upkeep
from tracker.mail import outbox
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
    try:
        result = upkeep.reconcile(get_gateway(), parse_since(since_text))
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    outbox.deliver_pending()
    click.echo(result.summary())
