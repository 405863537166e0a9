"""Security headers on every response, and the role matrix over every route."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Auth
from tests.factories import give, make_case
from tracker.cases import workflow
from tracker.core.access import PUBLIC, policy_for


def _csp(response) -> dict[str, str]:  # noqa: ANN001
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("path", ["/", "/cases/six-survivors", "/donate", "/login",
                                  "/transparency/2025", "/no-such-page"])
def test_every_response_carries_a_strict_policy(app, client, path):
    case = make_case(status=workflow.FUNDRAISING)
    give(case, 5_000)
    first, second = client.get(path), client.get(path)
    for response in (first, second):
        csp = _csp(response)
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
        assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
        assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
        assert csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'self'"
        assert re.fullmatch(r"'self' 'nonce-[A-Za-z0-9_-]{20,}'", csp["script-src"]), csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here
    # a fresh nonce per request
    assert _csp(first)["script-src"] != _csp(second)["script-src"]


def test_hsts_is_sent_over_https(app, client):
    response = client.get("/", base_url="https://tracker.example.org")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_pages_use_no_inline_script_or_style(app, client, make_user):
    """The policy forbids inline code: the pages must not need any."""
    case = make_case(status=workflow.FUNDRAISING, people=2)
    give(case, 5_000)
    user, password = make_user("admin")
    Auth(client).login(user.email, password)
    for path in ["/", f"/cases/{case.slug}", "/donate", "/staff/", f"/staff/cases/{case.id}",
                 f"/staff/cases/{case.id}/budget", "/reports/2025", "/transparency/2025"]:
        html = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"<style\b", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert not re.search(r"\sstyle\s*=", html), path


@pytest.mark.parametrize(("role", "path"), [("staff", "/staff/"), ("director", "/reports/2025"),
                                            ("admin", "/staff/audit/")])
def test_staff_and_report_pages_are_never_stored(app, client, make_user, role, path):
    give(make_case(status=workflow.FUNDRAISING), 5_000)
    user, password = make_user(role)
    Auth(client).login(user.email, password)
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


# --- the role matrix --------------------------------------------------------------------------

WHO = (None, "staff", "director", "admin")
#: staff pages only admins may open (the organization's identity and its pages)
ADMIN_ONLY = ("/staff/organization",)


def _url(rule) -> str:  # noqa: ANN001
    values = {}
    for name, converter in rule._converters.items():
        if getattr(converter, "items", None):  # any(...): one of its words
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = 1 if type(converter).__name__.lower().find("int") >= 0 else "x"
    return rule.rule if not values else re.sub(
        r"<(?:[^<>:]+:)?([^<>:]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def test_every_route_declares_who_may_open_it(app):
    undeclared = sorted(r.endpoint for r in app.url_map.iter_rules()
                        if policy_for(app, r.endpoint) is None)
    assert undeclared == [], f"routes without an access policy: {undeclared}"


@pytest.mark.parametrize("role", WHO)
def test_the_role_matrix(app, client, make_user, role):
    """Every route, requested by anonymous visitors, staff, directors and admins: nobody
    but staff and admins reaches /staff (and only admins /staff/organization), nobody but
    directors and admins reaches /reports, anonymous visitors are sent to sign in, and nothing
    answers 500."""
    if role:
        user, password = make_user(role)
        assert Auth(client).login(user.email, password).status_code == 302
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule in ("/logout",):
            continue
        policy = policy_for(app, rule.endpoint)
        path = _url(rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = client.open(path, method=method)
            response.close()
            checked += 1
            assert response.status_code < 500, (role, method, path, response.status_code)
            if policy == PUBLIC:
                continue
            allowed = role in policy
            if method == "POST" and response.status_code == 400:
                # refused before any view runs: the CSRF check comes first (no token here)
                assert b"CSRF" in response.data or b"csrf" in response.data, (method, path)
                continue
            if role is None:
                assert response.status_code == 302 and "/login" in response.headers["Location"], (
                    method, path, response.status_code)
            elif not allowed:
                assert response.status_code == 403, (role, method, path, response.status_code)
            else:
                assert response.status_code not in (302, 403) or (
                    response.status_code == 302 and "/login" not in response.headers.get(
                        "Location", "")), (role, method, path, response.status_code)
            if path.startswith(ADMIN_ONLY):
                assert (role == "admin") == allowed, (role, path)
            elif path.startswith("/staff"):
                assert (role in ("staff", "admin")) == allowed, (role, path)
            if path.startswith("/reports"):
                assert (role in ("director", "admin")) == allowed, (role, path)
    assert checked > 50
