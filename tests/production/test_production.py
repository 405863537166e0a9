"""A production-shaped run (issue 17, item 6): Debian's nginx in front of two gunicorn app
servers and the worker, on PostgreSQL and Redis, all started from the files in deploy/ with
only paths and ports substituted (tests/production/stack.py says exactly what changes).

One module-scoped fixture starts everything on loopback:

- a fresh PostgreSQL database on TEST_DATABASE_URL's server (else the CI machine's server at
  127.0.0.1:5432), migrated with ``flask db upgrade`` and seeded with ``flask seed-demo``, and
  dropped WITH (FORCE) at the end;
- Redis database 11 at 127.0.0.1:6379, flushed first;
- a local SMTP server (aiosmtpd) for the mail the worker sends;
- two app servers, ``tracker-web@.service``'s command (gunicorn -c deploy/gunicorn.conf.py
  wsgi:app) on two ports, with deploy/tracker.env.example's settings (values for this machine
  substituted), and the worker, ``tracker-worker.service``'s command;
- nginx, unprivileged: deploy/nginx/tracker.conf rendered with this checkout's paths, high
  ports, a throwaway self-signed certificate (made with openssl) and the two app servers'
  ports; plus, of the test's own, two copies of its HTTPS server block each sending to one app
  server, so that "through app server A, then B" also goes through nginx.

"PostgreSQL stops" in the /readyz test means its connection goes away: the app servers and the
worker reach PostgreSQL through a TCP forwarder this test owns, which it cuts (stops listening
and drops every connection) and restores. The PostgreSQL server the rest of the suite uses
never stops.

Without nginx (``apt-get install nginx``), PostgreSQL or Redis these tests skip, and CI
(TRACKER_REQUIRE_ALL_TESTS=1) fails the run; `.ci/run` installs nginx.

Every process runs in its own process group and is killed with it at teardown, whatever
happened. The module takes about 40 seconds on two cores (up to 100 s when other work loads
them), most of it starting up.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPSConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import csrf_from, postgres_url
from tests.core.test_outbox import SMTPServer
from tests.load.harness import postgres_database
from tests.production import stack
from tracker.config import normalize_database_url

pytestmark = [pytest.mark.production, pytest.mark.postgresql]

#: the CI machine's PostgreSQL (DESIGN.md, "Running") when TEST_DATABASE_URL is not set
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/11"
OK_CARD = "4242 4242 4242 4242"
#: sign-in attempts per client address per minute, for the shared rate-limit test
LOGIN_LIMIT = 6
WORKER_BRANCH_NOTE = ("the worker (`flask --app tracker worker`, TRACKER_OUTBOX_DELIVERY=worker) is built on "
                      "branch i17-worker (issue 17); merge it to run this test")
READYZ_BRANCH_NOTE = "/readyz is built on branch i17-ops (issue 17); merge it to run this test"


@dataclass
class Stack:
    """What the fixture started, and how to reach it."""

    https: str  # nginx, both app servers behind it
    http: str  # nginx's plain-HTTP server (redirects)
    direct: list[str]  # nginx, one app server each (the test's own server blocks)
    app_servers: list[str]  # the app servers themselves, plain HTTP, no proxy
    cert: Path
    env: dict[str, str]
    database_url: str  # direct, not through the proxy
    proxy: stack.CuttableProxy
    smtp: SMTPServer
    worker: stack.Process | None
    worker_missing: str | None
    processes: list[stack.Process] = field(default_factory=list)

    def session(self) -> requests.Session:
        return stack.client(self.cert)

    def query(self, sql: str, **params: object) -> list[sa.Row]:
        engine = sa.create_engine(normalize_database_url(self.database_url), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        finally:
            engine.dispose()


def _postgres_server() -> str:
    url = postgres_url() or DEFAULT_POSTGRES
    engine = sa.create_engine(normalize_database_url(url), poolclass=sa.pool.NullPool,
                              connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError:
        pytest.skip(f"the production-shaped test needs PostgreSQL ({sa.make_url(url).host}: "
                    "TEST_DATABASE_URL's server, else 127.0.0.1:5432)")
    finally:
        engine.dispose()
    return url


def _redis() -> str:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.flushdb()
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no Redis here
        pytest.skip("the production-shaped test needs Redis at 127.0.0.1:6379")
    return REDIS_URL


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", *args], cwd=stack.ROOT,
                          env=env, capture_output=True, text=True, timeout=180, check=False)


def _worker_command_missing(check: subprocess.Popen[str]) -> str | None:
    """None when ``flask --app tracker worker --help`` (started as ``check``) worked, else
    why the receipt test cannot run yet."""
    _, stderr = check.communicate(timeout=180)
    if check.returncode == 0:
        return None
    return f"{WORKER_BRANCH_NOTE}. `flask --app tracker worker --help` said:\n{stderr[-600:]}"


def _app_env(database_url: str, *, https_port: int, smtp_port: int, redis_url: str) -> dict[str, str]:
    """deploy/tracker.env.example with this machine's values."""
    settings = stack.read_env_file(stack.DEPLOY / "tracker.env.example")
    substitutes = {
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRACKER_PUBLIC_URL": f"https://127.0.0.1:{https_port}",
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_USE_TLS": "false",
        "MAIL_USERNAME": "", "MAIL_PASSWORD": "",
    }
    missing = set(substitutes) - set(settings)
    assert not missing, f"deploy/tracker.env.example no longer sets {sorted(missing)}"
    settings.update(substitutes)
    # for the tests: a sign-in limit small enough to reach, checkouts out of the way
    settings.update({"TRACKER_RATELIMIT_LOGIN": f"{LOGIN_LIMIT} per minute",
                     "TRACKER_RATELIMIT_CHECKOUT": "1000 per minute"})
    return {**stack.base_env(), **settings, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def prod(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(stack.NGINX).exists():
        pytest.skip("the production-shaped test needs Debian's nginx (apt-get install nginx)")
    if shutil.which("openssl") is None:
        pytest.skip("the production-shaped test makes its certificate with openssl (apt-get install openssl)")
    server = _postgres_server()
    redis_url = _redis()
    folder = tmp_path_factory.mktemp("production")
    failed_before = request.session.testsfailed
    processes: list[stack.Process] = []
    with contextlib.ExitStack() as cleanup:
        database_url = cleanup.enter_context(postgres_database(server, prefix="tracker_prod"))
        smtp = SMTPServer().start()
        cleanup.callback(smtp.stop)
        url = sa.make_url(normalize_database_url(database_url))
        proxy = stack.CuttableProxy((url.host or "127.0.0.1", url.port or 5432)).restore()
        cleanup.callback(proxy.cut)
        cleanup.callback(stack.stop_all, processes)  # (runs before the proxy and the database go)

        http_port, https_port = stack.free_port(), stack.free_port()
        app_ports = [stack.free_port(), stack.free_port()]
        direct_ports = [stack.free_port(), stack.free_port()]
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = _app_env(through_proxy, https_port=https_port, smtp_port=smtp.port, redis_url=redis_url)

        setup_env = {**env, "DATABASE_URL": database_url}
        worker_check = subprocess.Popen(  # (meanwhile: is there a worker command yet?)
            [sys.executable, "-m", "flask", "--app", "tracker", "worker", "--help"], cwd=stack.ROOT,
            env=setup_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cleanup.callback(worker_check.kill)
        for args in (("db", "upgrade"), ("seed-demo",)):
            result = _flask(setup_env, *args)
            assert result.returncode == 0, f"flask {' '.join(args)}:\n{result.stdout}{result.stderr}"

        web_unit = stack.DEPLOY / "systemd" / "tracker-web@.service"
        for port in app_ports:
            argv, cwd, unit_env = stack.unit_command(web_unit, str(port))
            processes.append(stack.Process(f"app server :{port}", argv, cwd, {**env, **unit_env},
                                           folder / f"web-{port}.log").start())
        worker_missing = _worker_command_missing(worker_check)
        worker = None
        if worker_missing is None:
            argv, cwd, unit_env = stack.unit_command(stack.DEPLOY / "systemd" / "tracker-worker.service")
            worker = stack.Process("worker", argv, cwd, {**env, **unit_env}, folder / "worker.log").start()
            processes.append(worker)

        cert, key = stack.self_signed_certificate(folder)
        site = folder / "tracker.conf"
        site.write_text(stack.render_site(http_port=http_port, https_port=https_port, app_ports=app_ports,
                                          direct_ports=direct_ports, cert=cert, key=key,
                                          ipv6=stack.ipv6_loopback()))
        conf = folder / "nginx.conf"
        conf.write_text(stack.nginx_conf(folder, site))
        check = subprocess.run([stack.NGINX, "-t", "-p", str(folder), "-e", str(folder / "error.log"),
                                "-c", str(conf)], capture_output=True, text=True, timeout=30, check=False)
        assert check.returncode == 0, \
            f"nginx -t refused the rendered site:\n{check.stderr}\n{site.read_text()}"
        nginx = stack.Process("nginx", [stack.NGINX, "-p", str(folder), "-e", str(folder / "error.log"),
                                        "-c", str(conf), "-g", "daemon off;"], folder, stack.base_env(),
                              folder / "nginx.out").start()
        processes.append(nginx)

        for port, process in zip(app_ports, processes, strict=False):
            stack.wait_until_answers(f"http://127.0.0.1:{port}/healthz", process, timeout=120)
        stack.wait_until_answers(f"https://127.0.0.1:{https_port}/healthz", nginx, cert=cert)
        yield Stack(https=f"https://127.0.0.1:{https_port}", http=f"http://127.0.0.1:{http_port}",
                    direct=[f"https://127.0.0.1:{p}" for p in direct_ports],
                    app_servers=[f"http://127.0.0.1:{p}" for p in app_ports], cert=cert, env=env,
                    database_url=database_url, proxy=proxy, smtp=smtp, worker=worker,
                    worker_missing=worker_missing, processes=processes)
        if request.session.testsfailed > failed_before:  # the logs of what ran, for the failure
            print("\n" + stack.logs(processes, folder / "error.log"))


@pytest.fixture
def http(prod: Stack) -> Iterator[requests.Session]:
    """A visitor's browser (a cookie jar) for one test, trusting the stack's certificate."""
    with prod.session() as session:
        yield session


# --- helpers ---------------------------------------------------------------------------------------


def open_case_slug(prod: Stack) -> str:
    rows = prod.query("SELECT slug FROM rescue_cases WHERE published_at IS NOT NULL"
                      " AND status IN ('fundraising', 'in_progress') ORDER BY id")
    assert rows, "seed-demo made no public case taking gifts"
    return rows[0][0]


def give(http: requests.Session, base: str, slug: str, email: str = "") -> str:
    """A ¥5,000 sandbox gift through ``base``, paid with the test card as the TEST MODE page
    asks; returns the donation's public id (from the thank-you page's address)."""
    form_url = f"{base}/cases/{slug}/donate"
    form = http.get(form_url)
    assert form.status_code == 200, form.text[:500]
    posted = http.post(form_url, allow_redirects=False, headers={"Referer": form_url}, data={
        "csrf_token": csrf_from(form.text), "frequency": "once", "currency": "JPY",
        "preset": "JPY:5000", "amount": "", "name": "", "email": email, "message": "",
        "wall": "anonymous"})
    assert posted.status_code == 303, posted.text[:800]
    checkout_url = base + urlsplit(posted.headers["Location"]).path
    assert "/sandbox/checkout/" in checkout_url
    page = http.get(checkout_url)
    assert page.status_code == 200 and "4242" in page.text
    paid = http.post(checkout_url, allow_redirects=False, headers={"Referer": checkout_url},
                     data={"csrf_token": csrf_from(page.text), "card_number": OK_CARD})
    assert paid.status_code == 303, paid.text[:800]
    thanks = urlsplit(paid.headers["Location"]).path
    match = re.fullmatch(r"/donations/([^/]+)/thanks", thanks)
    assert match, thanks
    assert http.get(base + thanks).status_code == 200
    return match.group(1)


def raised(http: requests.Session, base: str, slug: str) -> int:
    response = http.get(f"{base}/cases/{slug}/progress.json")
    assert response.status_code == 200
    return int(response.json()["raised"]["amount_minor"])


# --- the tests ---------------------------------------------------------------------------------------


def test_pages_and_static_files_through_nginx(prod: Stack, http: requests.Session) -> None:
    slug = open_case_slug(prod)
    home = http.get(prod.https + "/")
    assert home.status_code == 200 and "Content-Security-Policy" in home.headers
    assert http.get(f"{prod.https}/cases/{slug}").status_code == 200
    assert http.get(f"{prod.https}/cases/{slug}/progress.json").json()["case"]

    # static files: nginx serves them (no app headers), a versioned address for a year
    css = re.search(r'href="(/static/site\.css\?v=[0-9a-f]{12})"', home.text)
    assert css, "the page links a versioned stylesheet"
    static = http.get(prod.https + css.group(1))
    assert static.status_code == 200
    assert static.content == (stack.ROOT / "static" / "site.css").read_bytes()
    assert static.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in static.headers  # (not the app's answer)
    assert "text/css" in static.headers["Content-Type"]
    plain = http.get(prod.https + "/static/live.js")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "public, max-age=3600"
    assert http.get(prod.https + "/static/no-such-file.css").status_code == 404

    # plain HTTP goes to HTTPS
    redirect = http.get(prod.http + "/cases/x?y=1", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["Location"].startswith("https://127.0.0.1") and \
        redirect.headers["Location"].endswith("/cases/x?y=1")

    # a body over the limit is refused by nginx before any app server reads it
    host, port = urlsplit(prod.https).hostname, urlsplit(prod.https).port
    context = ssl.create_default_context(cafile=str(prod.cert))
    conn = HTTPSConnection(host, port, context=context, timeout=10)
    try:
        conn.putrequest("POST", "/login")
        conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Content-Length", str(13 * 1024 * 1024))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()


def test_hsts_when_the_proxy_says_https(prod: Stack, http: requests.Session) -> None:
    for base in (prod.https, *prod.direct):
        page = http.get(base + "/")
        assert page.status_code == 200
        assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000"), base
    # the same app server without nginx in front (plain HTTP, no forwarded headers): no HSTS
    for base in prod.app_servers:
        page = http.get(base + "/", timeout=10)
        assert page.status_code == 200 and "Strict-Transport-Security" not in page.headers


def test_a_sandbox_gift_is_recorded_once(prod: Stack, http: requests.Session) -> None:
    slug = open_case_slug(prod)
    public_id = give(http, prod.https, slug)
    # the donor presses "pay" again, and opens the thank-you page again
    checkout = prod.query("SELECT s.id FROM sandbox_sessions s JOIN donations d ON d.id = s.donation_id"
                          " WHERE d.public_id = :p", p=public_id)[0][0]
    again = http.post(f"{prod.https}/sandbox/checkout/{checkout}", allow_redirects=False,
                      headers={"Referer": f"{prod.https}/sandbox/checkout/{checkout}"},
                      data={"csrf_token": csrf_from(http.get(prod.https + "/donate").text),
                            "card_number": OK_CARD})
    assert again.status_code == 303
    assert http.get(f"{prod.https}/donations/{public_id}/thanks").status_code == 200
    [(status, entries, events)] = prod.query(
        "SELECT d.status, (SELECT count(*) FROM ledger_entries l WHERE l.donation_id = d.id"
        " AND l.kind = 'gift'), (SELECT count(*) FROM payment_events e WHERE e.payload LIKE :like)"
        " FROM donations d WHERE d.public_id = :p", p=public_id, like=f"%{public_id}%")
    assert (status, entries) == ("succeeded", 1)
    assert events == 1, f"{events} payment events stored for {public_id}"


def test_a_gift_through_one_app_server_shows_on_the_other(prod: Stack, http: requests.Session) -> None:
    """Each worker process caches public pages for TRACKER_PAGE_CACHE_SECONDS: a gift made
    through app server A shows on app server B (both of its workers) within that window."""
    slug = open_case_slug(prod)
    server_a, server_b = prod.direct
    window = float(prod.env["TRACKER_PAGE_CACHE_SECONDS"])
    time.sleep(window + 0.2)  # whatever B's workers hold now, they check before answering
    before = raised(http, server_b, slug)
    give(http, server_a, slug)
    given = time.monotonic()
    while True:
        asked = time.monotonic() - given
        if (now := raised(http, server_b, slug)) == before + 5000:
            break
        assert now == before, f"B shows {now}, neither {before} nor {before + 5000}"
        # (when the request was made counts, not how long a busy machine took to answer it)
        assert asked < window + 0.5, f"app server B showed the old total when asked {asked:.2f}s after " \
            f"the gift on A (TRACKER_PAGE_CACHE_SECONDS={window:g})"
        time.sleep(0.05)
    time.sleep(max(0.0, given + window + 0.3 - time.monotonic()))
    assert {raised(http, server_b, slug) for _ in range(6)} == {before + 5000}


def test_rate_limits_are_shared_through_redis(prod: Stack, http: requests.Session) -> None:
    """Sign-in attempts alternate between the two app servers (each sees half of them), each
    from a "different" address in X-Forwarded-For, which nginx appends to rather than trusts:
    the limit still counts them all together."""
    page = http.get(prod.direct[0] + "/login")
    token = csrf_from(page.text)
    answers = []
    for attempt in range(LOGIN_LIMIT + 2):
        base = prod.direct[attempt % 2]
        response = http.post(f"{base}/login", allow_redirects=False,
                             headers={"Referer": f"{base}/login",
                                      "X-Forwarded-For": f"203.0.113.{attempt + 1}"},
                             data={"csrf_token": token, "email": f"nobody{attempt}@example.org",
                                   "password": "wrong password"})
        answers.append(response.status_code)
        if response.status_code == 429:
            assert response.headers.get("Retry-After")
    assert 429 not in answers[:LOGIN_LIMIT], answers
    assert answers[LOGIN_LIMIT:] == [429, 429], answers


def test_the_worker_delivers_the_receipt(prod: Stack, http: requests.Session) -> None:
    """The app servers only queue mail (TRACKER_OUTBOX_DELIVERY=worker); the worker sends it.
    With the worker stopped a receipt waits; once it runs, the receipt reaches the SMTP server."""
    if prod.worker_missing:
        pytest.fail(prod.worker_missing, pytrace=False)
    assert prod.worker is not None
    prod.worker.stop()
    email = f"donor-{secrets.token_hex(4)}@example.org"
    public_id = give(http, prod.https, open_case_slug(prod), email=email)
    [(number,)] = prod.query("SELECT r.number FROM receipts r JOIN donations d ON d.id = r.donation_id"
                             " WHERE d.public_id = :p", p=public_id)
    time.sleep(2)
    assert not [m for m in prod.smtp.messages if m["To"] == email], "an app server sent mail itself"
    prod.worker.start()
    deadline = time.monotonic() + 30
    while not (sent := [m for m in prod.smtp.messages if m["To"] == email]):
        assert time.monotonic() < deadline, f"no receipt from the worker in 30s:\n{prod.worker.tail()}"
        time.sleep(0.2)
    assert len(sent) == 1 and number in sent[0].get_content()


def test_readyz_follows_postgresql(prod: Stack, http: requests.Session) -> None:
    """PostgreSQL "stops": the forwarder the app servers reach it through is cut (the shared
    server keeps running). /readyz turns 503 through nginx, and 200 once it is back; /healthz
    too."""
    readyz_there = http.get(prod.https + "/readyz").status_code != 404
    assert http.get(prod.https + "/healthz").status_code == 200
    prod.proxy.cut()
    try:
        for base in (prod.https, *prod.direct):
            deadline = time.monotonic() + 20
            while (status := http.get(base + "/healthz").status_code) != 503:
                assert time.monotonic() < deadline, f"{base}/healthz still {status} with PostgreSQL gone"
                time.sleep(0.2)
            if readyz_there:
                down = http.get(base + "/readyz")
                assert down.status_code == 503, (base, down.status_code, down.text[:300])
    finally:
        prod.proxy.restore()
    for base in (prod.https, *prod.direct):
        deadline = time.monotonic() + 20
        while (status := http.get(base + ("/readyz" if readyz_there else "/healthz")).status_code) != 200:
            assert time.monotonic() < deadline, f"{base} still {status} with PostgreSQL back"
            time.sleep(0.2)
    assert http.get(prod.https + "/").status_code == 200
    if not readyz_there:
        pytest.fail(f"GET /readyz answered 404. {READYZ_BRANCH_NOTE}. (The database cut itself "
                    "worked: /healthz went 503 and came back.)", pytrace=False)
