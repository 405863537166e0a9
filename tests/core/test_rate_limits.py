"""Rate limits per client address and growing sign-in lockouts per account.

Every test runs with the counts in Redis (the local server, as in production with several
workers) and in memory (the embedded default), on both databases. Each app gets a key
prefix of its own, so runs never see each other's counts in the shared Redis.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Auth, csrf_from, make_app
from tests.dbcheck import table_counts
from tests.factories import make_case
from tests.payments.helpers import gift_form
from tracker.accounts import lockout
from tracker.audit import AuditEntry
from tracker.config import ConfigError
from tracker.core import ratelimit
from tracker.extensions import db

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        if not redis_reachable():
            pytest.skip("the Redis variant needs a Redis server at 127.0.0.1:6379")
        return REDIS_URL
    return "memory://"


@pytest.fixture
def limited(app: Flask, database_url: str, store: str) -> Iterator[Callable[..., Flask]]:
    """make(**settings): an app on this test's database with the limits on, in ``store``."""
    prefix = f"rt-test-{uuid.uuid4().hex}"
    made: list[Flask] = []

    def make(**settings) -> Flask:
        config = {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": store,
            "RATELIMIT_KEY_PREFIX": prefix,
            "TRACKER_RATELIMIT_LOGIN": "4 per minute",
            "TRACKER_RATELIMIT_CHECKOUT": "3 per minute",
            **settings,
        }
        made.append(make_app(database_url, **config))
        return made[-1]

    yield make
    for made_app in made:  # close their pooled connections (PostgreSQL would warn)
        with made_app.app_context():
            db.engine.dispose()
    if store.startswith("redis"):
        import redis

        client = redis.Redis.from_url(store)
        for name in client.scan_iter(match=f"*{prefix}*"):
            client.delete(name)


def give_once(client: FlaskClient, slug: str):
    page = client.get(f"/cases/{slug}/donate")
    return client.post(f"/cases/{slug}/donate", data=gift_form(csrf_from(page.text)))


def test_checkout_creation_is_limited_per_address(limited, app: Flask) -> None:
    case = make_case("limited-case", status="fundraising")
    client = limited().test_client()
    statuses = [give_once(client, case.slug).status_code for _ in range(3)]
    assert statuses == [303, 303, 303]
    before = table_counts()
    refused = give_once(client, case.slug)
    assert refused.status_code == 429
    assert "Too Many Requests" in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    db.session.rollback()
    assert table_counts() == before, "a refused checkout must store nothing"
    # the general-fund form shares the budget: the same address cannot go round the limit
    page = client.get("/donate")
    assert page.status_code == 200, "reading the forms is never limited"
    assert client.post("/donate", data=gift_form(csrf_from(page.text))).status_code == 429
    # another address has a budget of its own
    other = limited().test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert give_once(other, case.slug).status_code == 303


def test_a_gift_form_sent_back_with_an_error_does_not_use_the_budget(limited, app: Flask) -> None:
    """Donors behind one address (a mobile carrier's gateway) who mistype an amount are not
    held: only a started checkout counts."""
    case = make_case("limited-case", status="fundraising")
    client = limited().test_client()
    for _ in range(6):
        page = client.get(f"/cases/{case.slug}/donate")
        wrong = client.post(f"/cases/{case.slug}/donate",
                            data=gift_form(csrf_from(page.text), preset="other", amount="abc"))
        assert wrong.status_code == 422
    assert [give_once(client, case.slug).status_code for _ in range(3)] == [303, 303, 303]
    assert give_once(client, case.slug).status_code == 429


def test_workers_count_together_in_redis(limited, store: str, app: Flask) -> None:
    """Two app instances stand for two gunicorn workers: with Redis they share one budget;
    in memory (the embedded default, one process) each counts alone."""
    case = make_case("shared-budget", status="fundraising")
    first, second = limited().test_client(), limited().test_client()
    assert [give_once(c, case.slug).status_code for c in (first, second, first)] == [303] * 3
    expected = 429 if store.startswith("redis") else 303
    assert give_once(second, case.slug).status_code == expected


def test_forwarded_for_is_ignored_unless_a_proxy_is_configured(limited, app: Flask) -> None:
    case = make_case("proxied", status="fundraising")
    direct = limited().test_client()
    for n in range(3):
        direct.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n}"
        assert give_once(direct, case.slug).status_code == 303
    direct.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.99"
    assert give_once(direct, case.slug).status_code == 429, "a made-up header must not reset the count"

    behind_proxy = limited(TRACKER_PROXY_COUNT=1).test_client()
    behind_proxy.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    for n in range(4):  # each forwarded client has its own budget
        behind_proxy.environ_base["HTTP_X_FORWARDED_FOR"] = f"192.0.2.{n}"
        assert give_once(behind_proxy, case.slug).status_code == 303


def test_sign_in_attempts_are_limited_per_address(limited, make_user, app: Flask) -> None:
    make_user("staff", email="someone@example.org")
    auth = Auth(limited(TRACKER_LOGIN_LOCKOUT_AFTER=100).test_client())
    for n in range(4):
        assert auth.login(f"guess{n}@example.org", "wrong password").status_code == 200
    refused = auth.login("someone@example.org", "correct horse battery")
    assert refused.status_code == 429, "the right password waits too once the address is over"
    assert auth.client.get("/staff/").status_code == 302


def test_limits_of_one_app_do_not_reach_another(limited, app: Flask) -> None:
    """Flask-Limiter keeps its switch on the instance: each app must have its own."""
    case = make_case("independent", status="fundraising")
    limited_client = limited().test_client()
    for _ in range(3):
        give_once(limited_client, case.slug)
    unlimited = limited(RATELIMIT_ENABLED=False).test_client()  # made after, in the same process
    assert [give_once(unlimited, case.slug).status_code for _ in range(5)] == [303] * 5
    assert give_once(limited_client, case.slug).status_code == 429


# --- lockouts per account ---------------------------------------------------------------------


def lockout_entries(user_id: int) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "user.locked_out",
                                    AuditEntry.object_id == user_id).order_by(AuditEntry.id)
    ))


def test_an_account_locks_after_failures_with_growing_lockouts(limited, make_user, app: Flask) -> None:
    user, password = make_user("staff", email="target@example.org")
    web = limited(TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=3,
                  TRACKER_LOGIN_LOCKOUT_SECONDS=60, TRACKER_LOGIN_LOCKOUT_MAX_SECONDS=150)
    attacker = Auth(web.test_client())
    for _ in range(3):
        assert attacker.login("target@example.org", "not it").status_code == 200
    locked = attacker.login("target@example.org", password)
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account" in locked.text
    assert Auth(web.test_client()).login("target@example.org", password).status_code == 429, (
        "the lock is on the account, whichever address asks"
    )
    entries = lockout_entries(user.id)
    assert [e.after["seconds"] for e in entries] == [60]

    with web.test_request_context():  # the second and third lockouts double, then stop growing
        for expected in (120, 150):
            store = ratelimit.storage()  # this lockout ends early; the count of lockouts stays
            store.clear(lockout._keys("target@example.org")[2])
            for _ in range(3):
                lockout.failed("target@example.org", user)
            db.session.commit()
            assert 0 < lockout.seconds_locked("target@example.org", user) <= expected
    assert [e.after["seconds"] for e in lockout_entries(user.id)] == [60, 120, 150]
    assert all(password not in str(e.after) for e in entries)


def test_a_lockout_ends_and_the_right_password_then_works(limited, make_user, app: Flask) -> None:
    user, password = make_user("staff", email="patient@example.org")
    web = limited(TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=2,
                  TRACKER_LOGIN_LOCKOUT_SECONDS=1)
    auth = Auth(web.test_client())
    auth.login("patient@example.org", "no")
    auth.login("patient@example.org", "no")
    assert auth.login("patient@example.org", password).status_code == 429
    time.sleep(1.2)
    assert auth.login("patient@example.org", password).status_code == 302
    assert auth.client.get("/staff/").status_code == 200


def test_unknown_emails_lock_the_same_way(limited, app: Flask) -> None:
    """A lockout must not tell whether an account exists."""
    auth = Auth(limited(TRACKER_RATELIMIT_LOGIN="1000 per minute",
                        TRACKER_LOGIN_LOCKOUT_AFTER=2).test_client())
    auth.login("nobody@example.org", "x")
    auth.login("nobody@example.org", "x")
    refused = auth.login("nobody@example.org", "x")
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account" in refused.text


@pytest.mark.parametrize("look_alike", [
    "staff@\uff45xample.org",  # a full-width e
    "STAFF@Example.ORG",
    "  staff@example.org ",
    "\uff53\uff54\uff41\uff46\uff46@example.org",  # a full-width local part
])
def test_a_look_alike_email_is_held_by_the_same_lockout(limited, make_user, app: Flask,
                                                         look_alike: str) -> None:
    """Issue 15, item 1: the lockout and the account lookup use one normalization (email_key),
    so an address typed in full width, another case or with spaces meets the same lock."""
    user, password = make_user("staff", email="staff@example.org")
    web = limited(TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=5)
    attacker = Auth(web.test_client())
    for _ in range(5):
        assert attacker.login("staff@example.org", "wrong").status_code == 200
    refused = Auth(web.test_client()).login(look_alike, password)
    assert refused.status_code == 429, "the look-alike signed in around the lockout"
    assert "Too many failed sign-ins for this account" in refused.text
    with web.test_request_context():  # and the look-alike's failures count for the account
        assert lockout.unlock(look_alike)


def test_look_alike_failures_add_up_to_one_lockout(limited, make_user, app: Flask) -> None:
    """Failures typed five different ways are five failures of one account."""
    user, password = make_user("staff", email="staff@example.org")
    web = limited(TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=5)
    attacker = Auth(web.test_client())
    for typed in ("staff@example.org", "Staff@example.org", "staff@\uff45xample.org",
                  " staff@EXAMPLE.org", "\uff53taff@example.org"):
        attacker.login(typed, "wrong")
    assert Auth(web.test_client()).login("staff@example.org", password).status_code == 429


def test_a_known_browser_is_not_held_by_the_lockout(limited, make_user, app: Flask) -> None:
    """Someone guessing cannot keep the real user out: their own browser still signs in."""
    user, password = make_user("staff", email="owner@example.org")
    web = limited(TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=3)
    own = Auth(web.test_client())
    assert own.login("owner@example.org", password).status_code == 302
    cookie = own.client.get_cookie(lockout.DEVICE_COOKIE, path=lockout.DEVICE_COOKIE_PATH)
    assert cookie is not None and cookie.http_only and cookie.secure
    own.logout()

    attacker = Auth(web.test_client())
    for _ in range(3):
        attacker.login("owner@example.org", "guess")
    assert attacker.login("owner@example.org", password).status_code == 429
    assert own.login("owner@example.org", password).status_code == 302
    assert own.client.get("/staff/").status_code == 200

    forged = Auth(web.test_client())  # a cookie that is not ours counts for nothing
    forged.client.set_cookie(lockout.DEVICE_COOKIE, cookie.value + "x", path=lockout.DEVICE_COOKIE_PATH)
    assert forged.login("owner@example.org", password).status_code == 429


def test_a_success_forgets_earlier_failures(limited, make_user, app: Flask) -> None:
    user, password = make_user("staff", email="typo@example.org")
    auth = Auth(limited(TRACKER_RATELIMIT_LOGIN="1000 per minute",
                        TRACKER_LOGIN_LOCKOUT_AFTER=3).test_client())
    for _ in range(2):
        auth.login("typo@example.org", "tpyo")
    assert auth.login("typo@example.org", password).status_code == 302
    auth.logout()
    auth.client.delete_cookie(lockout.DEVICE_COOKIE, path=lockout.DEVICE_COOKIE_PATH)
    for _ in range(2):
        auth.login("typo@example.org", "tpyo")
    assert auth.login("typo@example.org", password).status_code == 302, "the count started again"


def invoke(web: Flask, *args: str):
    """Run a CLI command against ``web`` (not the test's own app context, which is pushed)."""
    return contextvars.Context().run(web.test_cli_runner().invoke, args=list(args))


def test_unlock_from_the_command_line(limited, make_user, app: Flask) -> None:
    user, password = make_user("staff", email="locked@example.org")
    web = limited(TRACKER_RATELIMIT_LOGIN="1000 per minute", TRACKER_LOGIN_LOCKOUT_AFTER=2)
    auth = Auth(web.test_client())
    auth.login("locked@example.org", "x")
    auth.login("locked@example.org", "x")
    assert auth.login("locked@example.org", password).status_code == 429
    result = invoke(web, "users", "unlock", "locked@example.org")
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    assert auth.login("locked@example.org", password).status_code == 302
    db.session.rollback()
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "user.unlocked")) is not None
    again = invoke(web, "users", "unlock", "nobody@example.org")
    assert again.exit_code != 0


def test_limits_off_means_no_lockouts(app: Flask, client: FlaskClient, make_user) -> None:
    """The suite's default app: RATELIMIT_ENABLED false turns lockouts off too."""
    make_user("staff", email="free@example.org")
    auth = Auth(client)
    for _ in range(8):
        assert auth.login("free@example.org", "wrong").status_code == 200
    with app.test_request_context():
        assert ratelimit.storage() is None


@pytest.mark.parametrize("name, value", [
    ("TRACKER_RATELIMIT_LOGIN", "lots"),
    ("TRACKER_RATELIMIT_CHECKOUT", "5 per fortnight"),
    ("TRACKER_LOGIN_LOCKOUT_AFTER", 0),
    ("TRACKER_LOGIN_LOCKOUT_SECONDS", -1),
    ("TRACKER_PROXY_COUNT", -1),
])
def test_bad_limit_settings_refuse_to_start(name: str, value: object, tmp_path) -> None:
    with pytest.raises(ConfigError, match=name):
        make_app("sqlite:///" + str(tmp_path / "x.sqlite3"), **{name: value})
