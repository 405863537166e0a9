"""Races the outside try found between a commit and a page being rendered (issue 17).

A request that read a page's fingerprint before a commit of this process and rendered after
it must not keep its page: the next visitor would be served what the commit changed (a case
staff just took off the public site) for up to TRACKER_PAGE_CACHE_SECONDS. And a case taken
off the site between the freshness check and the render answers 404, never a 500.
"""

from __future__ import annotations

from tests.factories import make_case
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.extensions import db
from tracker.web.pagecache import CachedPage, PageCache


def test_a_page_rendered_across_a_clear_is_not_kept() -> None:
    cache = PageCache()
    started = cache.generation
    cache.clear()  # a commit of this process while the page was being rendered
    cache.put("k", CachedPage(1, "e", b"old", "text/html"), started)
    assert cache.get("k", 1) is None
    cache.put("k", CachedPage(1, "e", b"new", "text/html"), cache.generation)
    assert cache.get("k", 1).body == b"new"


def test_a_case_unpublished_while_its_page_renders_is_a_404_and_not_kept(app, client, monkeypatch):
    case = make_case("six-survivors", people=2, status=workflow.FUNDRAISING)
    from tracker.cases import public as public_view

    real = public_view.get_public_case
    done = []

    def unpublish_first(slug):  # noqa: ANN001, ANN202 - staff's commit lands mid-request
        if not done:
            done.append(1)
            with app.app_context():
                fresh = db.session.get(type(case), case.id)
                case_services.unpublish(fresh)
                db.session.commit()
        return real(slug)

    monkeypatch.setattr(public_view, "get_public_case", unpublish_first)
    for path in ("/cases/six-survivors", "/cases/six-survivors/progress.json"):
        done.clear()
        app.extensions["tracker_pages"].clear()
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert client.get(path).status_code == 404
        # publish again for the next path
        with app.app_context():
            fresh = db.session.get(type(case), case.id)
            case_services.publish(fresh)
            db.session.commit()


def test_a_compressing_proxy_s_weak_etag_still_gets_a_304(app, client):
    make_case("six-survivors", people=2, status=workflow.FUNDRAISING)
    first = client.get("/cases/six-survivors/progress.json")
    etag = first.headers["ETag"]
    assert client.get("/cases/six-survivors/progress.json",
                      headers={"If-None-Match": "W/" + etag}).status_code == 304
    assert client.get("/cases/six-survivors/progress.json",
                      headers={"If-None-Match": 'W/"something-else"'}).status_code == 200
