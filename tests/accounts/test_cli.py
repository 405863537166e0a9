"""``flask users ...`` and ``flask seed-demo --accounts``."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from tracker.accounts.models import User
from tracker.audit import AuditEntry
from tracker.extensions import db

PASSWORD = "long enough password"
SIGN_IN_FAILED = "Email or password is incorrect."


def create(runner, email: str, role: str = "staff", password: str = PASSWORD):
    return runner.invoke(
        args=["users", "create", email, "--role", role, "--password-stdin"], input=password + "\n"
    )


def all_users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(User).order_by(User.id)))


def user_by_email(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.email == email))


def audit_actions() -> list[str]:
    return list(db.session.scalars(db.select(AuditEntry.action).order_by(AuditEntry.id)))


def signed_in(auth) -> bool:
    """Whether the auth helper's client is signed in (anonymous visitors go to /login)."""
    response = auth.client.get("/staff/")
    return not (response.status_code == 302 and response.headers["Location"].startswith("/login"))


# --- users create ----------------------------------------------------------------------------


def test_create_makes_an_active_user_with_an_argon2id_hash(runner, auth):
    result = create(runner, "a@example.org", role="staff")

    assert result.exit_code == 0, result.output
    assert "Created staff a@example.org." in result.output
    [user] = all_users()
    assert user.email == "a@example.org"
    assert user.role == "staff"
    assert user.active is True
    assert user.session_version == 1
    assert user.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(user.password_hash, PASSWORD)
    assert PASSWORD not in result.output
    assert audit_actions() == ["user.created"]
    # and the account works on the site
    assert auth.login("a@example.org", PASSWORD).status_code == 302
    assert auth.client.get("/staff/").status_code == 200


@pytest.mark.parametrize("role", ["staff", "director", "admin"])
def test_create_accepts_every_role(runner, role):
    result = create(runner, f"{role}@example.org", role=role)

    assert result.exit_code == 0, result.output
    assert user_by_email(f"{role}@example.org").role == role


def test_create_stores_the_email_lower_case(runner):
    result = create(runner, "Mixed.Case@Example.ORG")

    assert result.exit_code == 0, result.output
    [user] = all_users()
    assert user.email == "mixed.case@example.org"


def test_create_keeps_spaces_inside_the_password(runner, auth):
    result = create(runner, "spaces@example.org", password="  spaces count too  ")

    assert result.exit_code == 0, result.output
    assert auth.login("spaces@example.org", "  spaces count too  ").status_code == 302


def test_create_with_a_prompt(runner):
    result = runner.invoke(
        args=["users", "create", "prompted@example.org", "--role", "admin"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    user = user_by_email("prompted@example.org")
    assert user is not None and user.role == "admin"
    assert PASSWORD not in result.output


@pytest.mark.parametrize("again", ["a@example.org", "A@Example.org"])
def test_create_refuses_a_taken_email(runner, again):
    assert create(runner, "a@example.org").exit_code == 0

    result = create(runner, again, role="admin", password="another long password")

    assert result.exit_code != 0
    assert "A user with the email a@example.org already exists." in result.output
    [user] = all_users()
    assert user.role == "staff"
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


def test_create_refuses_an_unknown_role(runner):
    result = create(runner, "a@example.org", role="superuser")

    assert result.exit_code != 0
    assert "superuser" in result.output
    assert all_users() == []


@pytest.mark.parametrize("password", ["short", "eleven char", ""])
def test_create_refuses_a_short_password(runner, password):
    result = create(runner, "a@example.org", password=password)

    assert result.exit_code != 0
    assert "Use at least 12 characters." in result.output
    assert all_users() == []
    assert audit_actions() == []


def test_create_refuses_an_overlong_password(runner):
    result = create(runner, "a@example.org", password="x" * 1025)

    assert result.exit_code != 0
    assert "at most 1024" in result.output
    assert all_users() == []


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.org", "a b@example.org"])
def test_create_refuses_an_invalid_email(runner, email):
    result = create(runner, email)

    assert result.exit_code != 0
    assert "That email address is not valid" in result.output
    assert all_users() == []


# --- users set-role / disable / enable -------------------------------------------------------


def test_set_role_changes_the_role_and_ends_sessions(runner, auth):
    create(runner, "a@example.org", role="staff")
    auth.login("a@example.org", PASSWORD)
    assert auth.client.get("/staff/").status_code == 200

    result = runner.invoke(args=["users", "set-role", "A@example.org", "director"])

    assert result.exit_code == 0, result.output
    assert "a@example.org is now director" in result.output
    user = user_by_email("a@example.org")
    assert user.role == "director"
    assert user.session_version == 2
    # The open session ended at once, and the new role applies after signing in again.
    response = auth.client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    auth.login("a@example.org", PASSWORD)
    assert auth.client.get("/staff/").status_code == 403
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "user.role"))
    assert (entry.before, entry.after, entry.actor_label) == (
        {"role": "staff"},
        {"role": "director"},
        "cli",
    )


def test_set_role_refuses_an_unknown_role(runner):
    create(runner, "a@example.org", role="staff")

    result = runner.invoke(args=["users", "set-role", "a@example.org", "superuser"])

    assert result.exit_code != 0
    user = user_by_email("a@example.org")
    assert (user.role, user.session_version) == ("staff", 1)


@pytest.mark.parametrize("command", [["set-role", "nobody@example.org", "admin"],
                                     ["disable", "nobody@example.org"],
                                     ["enable", "nobody@example.org"]])
def test_commands_on_an_unknown_user_fail_clearly(runner, command):
    result = runner.invoke(args=["users", *command])

    assert result.exit_code != 0
    assert "No user with the email nobody@example.org." in result.output


@pytest.mark.parametrize("command", [["set-role", "not-an-email", "admin"],
                                     ["disable", "not-an-email"]])
def test_commands_on_an_invalid_email_fail_clearly(runner, command):
    result = runner.invoke(args=["users", *command])

    assert result.exit_code != 0
    assert "That email address is not valid" in result.output


def test_disable_ends_sessions_and_blocks_sign_in(runner, auth):
    create(runner, "a@example.org")
    auth.login("a@example.org", PASSWORD)
    assert auth.client.get("/staff/").status_code == 200

    result = runner.invoke(args=["users", "disable", "a@example.org"])

    assert result.exit_code == 0, result.output
    assert "a@example.org is disabled" in result.output
    user = user_by_email("a@example.org")
    assert user.active is False
    assert user.session_version == 2
    assert auth.client.get("/staff/").status_code == 302
    response = auth.login("a@example.org", PASSWORD)
    assert response.status_code == 200
    assert SIGN_IN_FAILED in response.text
    assert not signed_in(auth)


def test_enable_lets_a_disabled_user_sign_in_again(runner, auth):
    create(runner, "a@example.org")
    runner.invoke(args=["users", "disable", "a@example.org"])

    result = runner.invoke(args=["users", "enable", "a@example.org"])

    assert result.exit_code == 0, result.output
    user = user_by_email("a@example.org")
    assert user.active is True
    assert user.session_version == 3
    assert auth.login("a@example.org", PASSWORD).status_code == 302
    assert auth.client.get("/staff/").status_code == 200


# --- seed-demo --accounts --------------------------------------------------------------------

_ACCOUNT_LINE = re.compile(r"^\s+(staff|director|admin)\s+(\S+@\S+)\s+password: (\S+)\s*$", re.M)


def seed_accounts(runner) -> dict[str, tuple[str, str]]:
    """Run seed-demo --accounts; {role: (email, password)} from what it prints."""
    result = runner.invoke(args=["seed-demo", "--accounts"])
    assert result.exit_code == 0, result.output
    lines = _ACCOUNT_LINE.findall(result.output)
    assert len(lines) == 3, result.output
    return {role: (email, password) for role, email, password in lines}


def test_seed_demo_prints_three_working_accounts(runner, new_auth):
    accounts = seed_accounts(runner)

    assert set(accounts) == {"staff", "director", "admin"}
    for role, (email, password) in accounts.items():
        assert len(password) >= 12
        user = user_by_email(email)
        assert user is not None and user.role == role and user.active
        assert user.password_hash.startswith("$argon2id$")
        browser = new_auth()
        assert browser.login(email, password).status_code == 302, role
        expected = 403 if role == "director" else 200
        assert browser.client.get("/staff/").status_code == expected, role
    assert len({password for _, password in accounts.values()}) == 3


def test_seed_demo_again_resets_the_passwords(runner, new_auth):
    first = seed_accounts(runner)
    old_sessions = {}
    for role, (email, password) in first.items():
        old_sessions[role] = new_auth()
        assert old_sessions[role].login(email, password).status_code == 302

    second = seed_accounts(runner)

    assert len(all_users()) == 3
    for role, (email, new_password) in second.items():
        old_email, old_password = first[role]
        assert email == old_email
        assert new_password != old_password
        assert len(new_password) >= 12
        browser = new_auth()
        response = browser.login(email, old_password)
        assert response.status_code == 200, role
        assert SIGN_IN_FAILED in response.text
        assert not signed_in(browser)
        assert browser.login(email, new_password).status_code == 302, role
        # sessions made with the old password have ended
        response = old_sessions[role].client.get("/staff/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_seed_demo_accounts_repairs_a_changed_demo_account(runner, new_auth):
    first = seed_accounts(runner)
    email = first["staff"][0]
    runner.invoke(args=["users", "set-role", email, "director"])
    runner.invoke(args=["users", "disable", email])

    second = seed_accounts(runner)

    user = user_by_email(email)
    assert (user.role, user.active) == ("staff", True)
    browser = new_auth()
    assert browser.login(email, second["staff"][1]).status_code == 302
    assert browser.client.get("/staff/").status_code == 200


def test_seed_demo_without_accounts_prints_no_passwords(runner):
    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert "password" not in result.output
    assert all_users() == []
