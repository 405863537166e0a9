"""``/cases/<slug>/people.json``: what an open case page needs to update its people table, count
and bar together (issue 15, walk 5: after a person was marked rescued, an open page said
"2 of 6 rescued" while its table still said "Waiting" for that person).

Public fields only (alias, age band, status words) and the counts; the same visibility, 404
and ETag/304 as progress.json, whose contract stays exactly as it was. The browser side is
tests/e2e/test_live_people_browser.py. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json

from tests.factories import make_case
from tracker.cases import services
from tracker.core.time import local_today
from tracker.extensions import db

MARKERS = ("PRIVATE-NOTE-7f3a", "PRIVATE-CONTACT-91bc", "PRIVATE-NAME-c0de", "PRIVATE-DETAIL-5e5e",
           "PRIVATE-RESCUE-NOTE-0b0b")


def _case():
    case = make_case("flood-survivors", status="fundraising",
                     private_notes=MARKERS[0], private_contact=MARKERS[1])
    first = services.add_beneficiary(case, public_alias="Mr. Y.Y.", age_band="18-29",
                                     private_name=MARKERS[2], private_details=MARKERS[3])
    services.add_beneficiary(case, public_alias="Little N.", age_band="0-4")
    db.session.commit()
    return case, first


def test_people_json_lists_public_fields_and_the_counts(client, app):
    case, first = _case()
    services.mark_rescued(first, local_today(), note=MARKERS[4])
    db.session.commit()

    response = client.get(f"/cases/{case.slug}/people.json")

    assert response.status_code == 200 and response.is_json
    data = response.json
    assert data == {
        "case": "flood-survivors", "group_size": 2, "rescued": 1, "waiting": 1,
        "people": [
            {"alias": "Mr. Y.Y.", "age_band": "18-29", "age_band_text": "18–29", "status": "rescued",
             "status_text": "Rescued"},
            {"alias": "Little N.", "age_band": "0-4", "age_band_text": "0–4", "status": "waiting",
             "status_text": "Waiting"},
        ],
    }
    for marker in MARKERS:
        assert marker not in response.text
    # the counts agree with progress.json and with the rows themselves
    progress = client.get(f"/cases/{case.slug}/progress.json").json
    assert (progress["rescued"], progress["group_size"]) == (data["rescued"], data["group_size"])
    assert data["rescued"] == sum(p["status"] == "rescued" for p in data["people"])


def test_people_json_speaks_the_page_language(client, app):
    case, first = _case()
    services.mark_rescued(first, local_today())
    db.session.commit()
    response = client.get(f"/cases/{case.slug}/people.json?lang=ja")
    assert [p["status_text"] for p in response.json["people"]] == ["救出済み", "救出待ち"]
    assert "救出済み" in response.get_data(as_text=True)  # written as is, not \\u-escaped


def test_people_json_follows_a_rescue_and_answers_304_while_nothing_changed(client, app):
    case, first = _case()
    url = f"/cases/{case.slug}/people.json"
    before = client.get(url)
    etag = before.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    services.mark_rescued(first, local_today())
    db.session.commit()

    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json["rescued"] == 1 and after.json["people"][0]["status"] == "rescued"


def test_a_case_page_points_its_script_at_people_json(client, app):
    case, _first = _case()
    page = client.get(f"/cases/{case.slug}").text
    assert f'data-people-url="/cases/{case.slug}/people.json?lang=en"' in page
    assert '<tbody data-live="people">' in page


def test_private_and_unknown_cases_have_no_people_json(client, app):
    make_case("still-private", people=1)
    for slug in ("still-private", "nope"):
        response = client.get(f"/cases/{slug}/people.json")
        assert response.status_code == 404, slug
        assert "Person" not in response.get_data(as_text=True)
    assert client.get("/cases/still-private/progress.json").status_code == 404  # the same rule


def test_progress_json_keeps_its_exact_contract(client, app):
    case, _first = _case()
    data = client.get(f"/cases/{case.slug}/progress.json").json
    assert set(data) == {"case", "status", "group_size", "rescued", "goal", "raised", "donors",
                         "updated_at"}
    assert json.dumps(data).count("alias") == 0
