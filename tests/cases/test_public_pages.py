"""Public pages: home, case page, progress.json, posts; only public fields reach them."""

from __future__ import annotations

from datetime import date, timedelta

from tests.factories import make_case
from tracker.cases import services
from tracker.core.money import Money
from tracker.core.time import local_today, utcnow
from tracker.donations.services import OfflineGift, record_offline_gift
from tracker.extensions import db
from tracker.posts.models import Post

MARKERS = ("PRIVATE-NOTE-7f3a", "PRIVATE-CONTACT-91bc", "PRIVATE-NAME-c0de", "PRIVATE-DETAIL-5e5e",
           "PRIVATE-RESCUE-NOTE-0b0b")


def _case_with_secrets():
    case = make_case("flood-survivors", status="fundraising",
                     private_notes=MARKERS[0], private_contact=MARKERS[1])
    person = services.add_beneficiary(case, public_alias="Mr. Y.Y.", age_band="18-29",
                                      private_name=MARKERS[2], private_details=MARKERS[3])
    services.add_beneficiary(case, public_alias="Little N.", age_band="0-4")
    services.mark_rescued(person, local_today(), note=MARKERS[4])
    db.session.commit()
    return case


def test_home_lists_open_cases_with_money_and_people_progress_and_lives_saved(client, app):
    case = _case_with_secrets()
    record_offline_gift(case, OfflineGift(Money(5000, "JPY"), "cash", local_today()))
    db.session.commit()
    make_case("private-request", public_title="Hidden request title")
    page = client.get("/")
    assert page.status_code == 200
    assert "Six survivors" in page.text
    assert "¥5,000" in page.text and "¥1,000,000" in page.text
    assert "1 of 2" in page.text
    assert 'data-testid="lives-saved">1<' in page.text
    assert "Hidden request title" not in page.text


def test_case_page_shows_public_fields_only(client, app):
    case = _case_with_secrets()
    page = client.get(f"/cases/{case.slug}")
    assert page.status_code == 200
    for public in ("Mr. Y.Y.", "Little N.", "0–4", "Northeast China", "1 of 2"):
        assert public in page.text
    for marker in MARKERS:
        assert marker not in page.text
    body = client.get(f"/cases/{case.slug}/progress.json").text
    for marker in MARKERS:
        assert marker not in body


def test_progress_json_is_exactly_the_contract(client, app):
    case = _case_with_secrets()
    record_offline_gift(case, OfflineGift(Money(1000, "USD"), "bank_transfer", local_today(),
                                          donor_email="a@example.org"))
    record_offline_gift(case, OfflineGift(Money(3000, "JPY"), "cash", local_today(),
                                          donor_email="a@example.org"))
    db.session.commit()
    data = client.get(f"/cases/{case.slug}/progress.json").json
    assert set(data) == {"case", "status", "group_size", "rescued", "goal", "raised", "donors",
                         "updated_at"}
    assert data["case"] == case.slug and data["status"] == "fundraising"
    assert (data["group_size"], data["rescued"]) == (2, 1)
    assert data["goal"] == {"amount_minor": 1_000_000, "currency": "JPY"}
    # USD 10.00 at the default 150 yen per dollar, plus 3,000 yen, from one donor.
    assert data["raised"] == {"amount_minor": 4500, "currency": "JPY"}
    assert data["donors"] == 1
    assert data["updated_at"].endswith("Z")


def test_private_and_unknown_cases_are_404_everywhere(client, app):
    make_case("still-private", people=1)
    for url in ("/cases/still-private", "/cases/still-private/progress.json",
                "/cases/nope", "/cases/nope/progress.json"):
        response = client.get(url)
        assert response.status_code == 404, url
    assert client.get("/cases/nope/progress.json").is_json


def test_completed_case_says_so(client, app):
    case = make_case("done-case", people=1, status="in_progress")
    services.mark_rescued(case.beneficiaries[0], local_today() - timedelta(days=1))
    db.session.commit()
    page = client.get("/cases/done-case")
    assert "Everyone in this case is safe" in page.text
    assert client.get("/cases/done-case/progress.json").json["status"] == "rescued"
    assert "Recently completed" in client.get("/").text


def test_lives_saved_counts_this_fiscal_year_only(client, app):
    case = make_case("two-years", people=2, status="fundraising")
    services.mark_rescued(case.beneficiaries[0], date(2000, 8, 31))  # long ago
    services.mark_rescued(case.beneficiaries[1], local_today())
    db.session.commit()
    assert 'data-testid="lives-saved">1<' in client.get("/").text


def test_posts_show_when_published_or_past_embargo_and_render_sanitized(client, app):
    case = make_case("with-posts", status="fundraising")
    now = utcnow()
    db.session.add_all([
        Post(slug="live-post", kind="appeal", title="Live appeal", status="published",
             published_at=now, body_markdown="Hello <script>alert(1)</script> [x](javascript:alert(1))",
             cases=[case]),
        Post(slug="draft-post", kind="update", title="Draft title", status="draft", cases=[case]),
        Post(slug="future-post", kind="update", title="Future title", status="scheduled",
             publish_at=now + timedelta(days=1), cases=[case]),
        Post(slug="past-embargo", kind="news", title="Embargo over", status="scheduled",
             publish_at=now - timedelta(minutes=1)),
    ])
    db.session.commit()
    page = client.get("/cases/with-posts").text
    assert "Live appeal" in page and "Draft title" not in page and "Future title" not in page
    post = client.get("/posts/live-post")
    assert post.status_code == 200
    assert "<script>" not in post.text and "javascript:" not in post.text
    assert client.get("/posts/draft-post").status_code == 404
    assert client.get("/posts/future-post").status_code == 404
    assert client.get("/posts/past-embargo").status_code == 200


def test_unknown_pages_get_a_friendly_404(client, app):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Back to the open cases" in response.text
