"""``flask users ...``: manage staff, director and admin accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from tracker import audit
from tracker.accounts import lockout, services, totp
from tracker.accounts.models import User
from tracker.core.access import ROLES
from tracker.core.errors import DomainError
from tracker.core.validation import normalize_email
from tracker.extensions import db


def _fail(message: str) -> None:
    db.session.rollback()
    raise click.ClickException(message)


def _get_user(email: str) -> User:
    try:
        email = normalize_email(email)
    except DomainError as exc:
        _fail(exc.reason)
    user = db.session.scalar(db.select(User).where(User.email == email))
    if user is None:
        _fail(f"No user with the email {email}.")
    return user


@click.group("users")
def users_cli() -> None:
    """Manage staff, director and admin accounts."""


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_command(email: str, role: str, password_stdin: bool) -> None:
    """Create a user with ROLE; the password comes from a prompt or --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_user(email, password, role)
        db.session.commit()
    except DomainError as exc:
        _fail(exc.reason)
    except IntegrityError:  # the same email created at the same moment by someone else
        _fail(f"A user with the email {email.strip().lower()} already exists.")
    click.echo(f"Created {user.role} {user.email}.")


def _change_user(email: str, change, done: str) -> None:  # noqa: ANN001
    user = _get_user(email)
    change(user)
    db.session.commit()
    click.echo(f"{user.email} {done}")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@with_appcontext
def set_role_command(email: str, role: str) -> None:
    """Change a user's role; their open sessions end at once."""
    _change_user(email, lambda u: services.set_role(u, role),
                 f"is now {role}; their sessions have ended.")


@users_cli.command("disable")
@click.argument("email")
@with_appcontext
def disable_command(email: str) -> None:
    """Disable a user; they cannot sign in and their open sessions end at once."""
    _change_user(email, lambda u: services.set_active(u, False),
                 "is disabled; their sessions have ended.")


@users_cli.command("enable")
@click.argument("email")
@with_appcontext
def enable_command(email: str) -> None:
    """Enable a disabled user again."""
    _change_user(email, lambda u: services.set_active(u, True), "is enabled.")


@users_cli.command("reset-totp")
@click.argument("email")
@with_appcontext
def reset_totp_command(email: str) -> None:
    """Turn off a user's second factor (a lost phone); their open sessions end at once.

    An admin must set it up again at their next sign-in; others may.
    """
    _change_user(email, totp.reset, "has no second factor now; their sessions have ended.")


@users_cli.command("unlock")
@click.argument("email")
@with_appcontext
def unlock_command(email: str) -> None:
    """Lift a sign-in lockout at once and forget the account's failed attempts (audited)."""
    user = _get_user(email)
    was_locked = lockout.unlock(user.email)
    audit.record("user.unlocked", user, after={"was_locked": was_locked})
    db.session.commit()
    click.echo(f"{user.email} is unlocked." if was_locked
               else f"{user.email} was not locked; its failed attempts are forgotten.")
