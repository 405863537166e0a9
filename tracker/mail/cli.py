"""``flask outbox ...``: deliver queued email from the command line (cron, a systemd timer)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from tracker.mail import outbox


@click.group("outbox")
def outbox_cli() -> None:
    """Outgoing email waiting in the outbox."""


@outbox_cli.command("deliver")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1),
              help="Send at most this many messages in this run.")
@with_appcontext
def deliver(limit: int) -> None:
    """Send the email that is due now (new messages and retries).

    Prints how many were sent, how many failed and how many are still waiting, and exits
    with status 1 when any message failed (the mail server is down or refused it), so a
    scheduler can alert. Failed messages are retried later with growing delays.
    """
    sent, failed = outbox.deliver_pending(limit)
    waiting = outbox.count_waiting()
    click.echo(f"Sent {sent}, failed {failed}, waiting {waiting}.")
    if failed:
        raise click.exceptions.Exit(1)
