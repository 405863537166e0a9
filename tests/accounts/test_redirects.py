"""Issue 15, item 2: no open redirect after sign-in.

Every ``next=`` goes through tracker.core.redirects.same_site_path. The corpus below is sent as
an attacker would write the link (the raw query string), through the real POST /login, and
the answer must be a redirect to a path on this site as a browser would read it (browsers
treat ``\\`` as ``/`` and drop tabs and newlines), or a 400 for a query that is refused
outright (control characters, see tracker.core.query) - never a trip to another host.
"""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.conftest import csrf_from
from tracker.core.redirects import same_site_path

#: raw query-string values of ``next`` (percent-encoding exactly as an attacker would send it)
RAW_CORPUS = [
    "%2F%2F%2F%2Fevil.example%2Fx",  # the repro: ////evil.example/x
    "////evil.example/x",
    "///evil.example/x",
    "//evil.example/x",
    "/%2F/evil.example/x",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",  # double-encoded
    "/%25252F%25252Fevil.example",  # triple
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https://evil.example/",
    "https%3A%2F%2Fevil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "java%0Ascript:alert(1)",
    "data:text/html,x",
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D/evil.example",
    "%09//evil.example",
    "%20//evil.example",
    "/%E3%80%80/evil.example",  # an ideographic space
    "/%E2%80%8B/evil.example",  # a zero-width space
    "/%E2%80%AE/evil.example",  # a right-to-left override
    "/%00/evil.example",
    "/staff/%0D%0ASet-Cookie:x=1",
    "/%7F/evil.example",
    "//user@evil.example",
    "/@evil.example",
    "@evil.example",
    "//evil.example@localhost",
    "/%2F@evil.example",
    "evil.example",
    ".//evil.example",
    "/.//evil.example",
    "/%2E%2E//evil.example",
    "%2Fstaff%2F",
    "/" + "a" * 5000,
]

#: same-site paths that must still be followed as they are
FOLLOWED = ["/staff/", "/staff/cases/new?x=1", "/staff/donors/?q=a%40b.example&page=2",
            "/reports/2025?lang=ja", "/staff/?q=%2F%2Fx", "/posts/a-b_c.d"]


def browser_host(location: str) -> str | None:
    """The host a browser on http://localhost/login would go to for this Location."""
    lenient = location.replace("\\", "/").replace("\t", "").replace("\n", "").replace("\r", "")
    return urlsplit(urljoin("http://localhost/login", lenient.strip())).hostname


def sign_in(client: FlaskClient, email: str, password: str, raw_next: str):
    token = csrf_from(client.get("/login").text)
    return client.post("/login?next=" + raw_next,
                       data={"email": email, "password": password, "csrf_token": token})


@pytest.mark.parametrize("raw", RAW_CORPUS)
def test_sign_in_never_redirects_off_site(client, make_user, raw: str) -> None:
    user, password = make_user("staff")
    response = sign_in(client, user.email, password, raw)
    if response.status_code == 400:  # refused whole (a control character in the query)
        return
    assert response.status_code == 302
    location = response.headers["Location"]
    assert browser_host(location) == "localhost", f"followed {raw!r} to {location!r}"
    assert location.startswith("/") and location[1:2] not in ("/", "\\")
    if "evil" in raw and "@" not in raw:  # nothing naming another host is followed at all
        assert location == "/staff/", f"followed {raw!r} to {location!r}"


@pytest.mark.parametrize("path", FOLLOWED)
def test_sign_in_follows_same_site_paths(client, make_user, path: str) -> None:
    user, password = make_user("staff")
    response = sign_in(client, user.email, password, quote(path, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == path


def test_the_code_step_keeps_the_same_rule(client, make_user) -> None:
    """An admin signs in in two steps; the second follows ``next`` by the same helper."""
    user, password = make_user("admin")
    from tests.conftest import Auth

    auth = Auth(client)
    token = csrf_from(client.get("/login").text)
    first = client.post("/login?next=%2F%2F%2F%2Fevil.example%2Fx",
                        data={"email": user.email, "password": password, "csrf_token": token})
    assert first.status_code == 302 and first.headers["Location"].startswith("/login/code")
    done = auth.enter_code(user.email, first.headers["Location"])
    assert done.status_code == 302
    assert browser_host(done.headers["Location"]) == "localhost"
    assert not done.headers["Location"].startswith("//")


@pytest.mark.parametrize("value", [
    None, "", "////evil.example/x", "//evil.example", "/\\evil.example", "/%2F/evil.example",
    "/%252F/evil.example", "https:evil.example", "/\x00x", "/\tx", "/a\u202ex", "/\u200b/x",
    "\u3000/x", "/%E3%80%80/x", "x", "/%5Cx", "/./x", "/a/..//x", "/a//b", "/%2E%2E/x",
])
def test_same_site_path_refuses(value) -> None:
    assert same_site_path(value) is None


@pytest.mark.parametrize("value", FOLLOWED + ["/staff/?q=%09", "/staff/?next=//x"])
def test_same_site_path_keeps_plain_paths_unchanged(value: str) -> None:
    assert same_site_path(value) == value
