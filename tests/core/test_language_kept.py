"""No redirect loses the visitor's language (issue 15, walk 6: ``/reports?lang=ja`` came back
in English because the redirect to the year dropped ``lang`` and, the view never asking for
the locale, the pick was not remembered either).

Every GET route of the app is visited with ``?lang=ja`` as every kind of visitor; each answer
that redirects within the site must carry the language in its ``Location`` and, followed to
the end, show a Japanese page, both in the same browser (cookie) and in one that drops
cookies (a ``Secure`` cookie over plain HTTP)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.cases.test_seed_and_crawl import _urls_for
from tests.conftest import csrf_from

ENGLISH = {"Accept-Language": "en"}


def _with_lang(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "lang=ja"


def _same_site(location: str) -> str | None:
    """The path and query of a redirect within this site, or None for another site."""
    parts = urlsplit(location)
    if parts.netloc and parts.netloc != "localhost":
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


def _follow(client: FlaskClient, response, start: str) -> list[str]:
    """Follow a chain of redirects; the problems found on the way (empty when none)."""
    problems = []
    for _hop in range(6):
        if not 300 <= response.status_code < 400:
            break
        target = _same_site(response.headers["Location"])
        response.close()
        if target is None:
            return problems
        if parse_qs(urlsplit(target).query).get("lang") != ["ja"]:
            problems.append(f"{start} -> {target}: the redirect dropped lang=ja")
        response = client.get(target, headers=ENGLISH)
    if (response.status_code == 200 and response.mimetype == "text/html"
            and '<html lang="ja">' not in response.get_data(as_text=True)):
        problems.append(f"{start}: ended on {response.request.path} in English")
    response.close()
    return problems


def _redirects_keep_japanese(app, client: FlaskClient) -> int:
    """Visit every GET URL with ?lang=ja; returns how many redirected (asserts on the way)."""
    problems: list[str] = []
    redirected = 0
    for url in _urls_for(app):
        start = _with_lang(url)
        response = client.get(start, headers=ENGLISH)
        if not 300 <= response.status_code < 400:
            response.close()
            continue
        redirected += 1
        problems += _follow(client, response, start)
        # a browser whose cookie did not come back: only the Location can carry the language
        cookieless = app.test_client()
        for cookie in list(client._cookies.values()):  # same sign-in, no language cookie
            if cookie.key != "tracker_lang":
                cookieless.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        problems += _follow(cookieless, cookieless.get(start, headers=ENGLISH), start)
        client.delete_cookie("tracker_lang")
    assert not problems, "\n".join(sorted(set(problems)))
    return redirected


@pytest.mark.parametrize("role", [None, "staff", "director", "admin"])
def test_no_redirect_a_visitor_reaches_loses_the_language(runner, client, auth, make_user,
                                                          app, role):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    if role:
        user, password = make_user(role)
        auth.login(user.email, password)
    # the crawl did meet redirects (/transparency, /reports, sign-in, trailing slashes ...)
    assert _redirects_keep_japanese(app, client) >= 2


def test_reports_with_lang_ja_comes_back_in_japanese(client, auth, make_user, app):
    user, password = make_user("director")
    auth.login(user.email, password)
    response = client.get("/reports?lang=ja", headers=ENGLISH)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["lang"] == ["ja"]
    page = client.get(response.headers["Location"], headers=ENGLISH)
    assert page.status_code == 200 and '<html lang="ja">' in page.text
    # and the pick is remembered for the next page without ?lang
    assert '<html lang="ja">' in client.get("/", headers=ENGLISH).text


def test_signing_in_with_lang_ja_keeps_it_to_the_page_asked_for(client, make_user, app):
    user, password = make_user("director")
    page = client.get("/login?lang=ja&next=/reports", headers=ENGLISH)
    assert '<html lang="ja">' in page.text
    response = client.post("/login?lang=ja&next=/reports", headers=ENGLISH, data={
        "email": user.email, "password": password, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).path == "/reports"
    assert parse_qs(urlsplit(location).query)["lang"] == ["ja"]
    client.delete_cookie("tracker_lang")
    assert _follow(client, response, "/login?lang=ja&next=/reports") == []


def test_a_redirect_that_names_a_language_or_leaves_the_site_is_left_alone(app):
    from flask import redirect

    from tracker.core import i18n

    for location, expected in [
        ("/x?lang=en", "/x?lang=en"),              # a link that picks a language on purpose
        ("https://checkout.stripe.com/c/pay/cs_1", "https://checkout.stripe.com/c/pay/cs_1"),
        ("//evil.example/x", "//evil.example/x"),
        ("/reports/2025#top", "/reports/2025?lang=ja#top"),
        ("http://localhost/a?b=1", "http://localhost/a?b=1&lang=ja"),
    ]:
        with app.test_request_context("/start?lang=ja", base_url="http://localhost"):
            response = i18n._remember_choice(redirect(location))
            assert response.headers["Location"] == expected, location
