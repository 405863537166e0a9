"""Demo data: idempotent seeding, and every page the app can produce answers without a 5xx
and without private fields."""

from __future__ import annotations

import re

import pytest

from tracker.audit import AuditEntry
from tracker.budgets.models import Disbursement
from tracker.cases.models import Beneficiary, CaseCover, RescueCase
from tracker.core.access import policy_for
from tracker.core.time import current_fiscal_year, local_today
from tracker.donations.models import Donation, Donor
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.posts.models import Post, PostImage


def _counts():
    return {m.__name__: db.session.scalar(db.select(db.func.count()).select_from(m))
            for m in (RescueCase, Beneficiary, Post, Donation, LedgerEntry)}


def test_seed_demo_is_idempotent(runner, app):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = _counts()
    assert counts["RescueCase"] == 5 and counts["Donation"] > 0
    # every demo case has a drawn landscape cover that passed the face check, in both sizes,
    # recorded as reviewed by the demo loader itself (audited as "demo") so the demo shows it
    demo_covers = list(db.session.scalars(db.select(CaseCover)))
    assert len(demo_covers) == 5 and {c.face_status for c in demo_covers} == {"no_person"}
    reviews = list(db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "case.cover_no_person")))
    assert len(reviews) == 5 and {(e.actor_label, e.actor_id) for e in reviews} == {("demo", None)}
    assert len({c.data for c in demo_covers}) == 5  # varied per case
    assert all(c.card_width == 480 and c.width <= 1200 for c in demo_covers)
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "already there" in again.output
    assert _counts() == counts


def test_seed_demo_donations_tops_up_to_the_number_asked(runner, app):
    assert runner.invoke(args=["seed-demo", "--donations", "250"]).exit_code == 0
    demo = db.select(db.func.count()).select_from(Donation).where(Donation.public_id.like("demo_%"))
    assert db.session.scalar(demo) == 250
    result = runner.invoke(args=["seed-demo", "--donations", "250"])
    assert "Added 0 demo gifts" in result.output
    assert db.session.scalar(demo) == 250
    # every demo gift has exactly one gift entry on the ledger, with the same base amount
    gifts = db.session.scalar(
        db.select(db.func.count()).select_from(LedgerEntry).join(Donation)
        .where(LedgerEntry.kind == "gift", Donation.public_id.like("demo_%"))
    )
    assert gifts == 250


def test_seed_demo_refuses_a_negative_count(runner, app):
    result = runner.invoke(args=["seed-demo", "--donations", "-5"])
    assert result.exit_code != 0
    assert _counts()["RescueCase"] == 0


def _urls_for(app) -> list[str]:
    """Every GET URL the app can produce for the demo data."""
    cases = list(db.session.scalars(db.select(RescueCase)))
    posts = list(db.session.scalars(db.select(Post)))
    people = list(db.session.scalars(db.select(Beneficiary)))
    values = {
        # "about": the organization's pages (/staff/organization/pages/<slug>)
        "slug": [c.slug for c in cases] + [p.slug for p in posts] + ["no-such-thing", "about"],
        "case_id": [c.id for c in cases] + [999999],
        "person_id": [p.id for p in people][:3],
        "filename": ["site.css"],
        "public_id": [d.public_id for d in db.session.scalars(db.select(Donation).limit(3))]
        + ["don_unknown", "plg_unknown"],
        # pledged transfers' reference codes (the demo has none)
        "reference": ["AB3CDE", "not-a-code"],
        "session_id": ["cs_test_unknown"],
        "disbursement_id": [d.id for d in db.session.scalars(db.select(Disbursement).limit(3))]
        + [999999],
        "donor_id": [d.id for d in db.session.scalars(db.select(Donor).limit(3))] + [999999],
        "fiscal_year": [current_fiscal_year(), current_fiscal_year() - 1, 1990, 9999],
        "table": ["summary", "cases", "lybunt", "no-such-table"],
        # tax receipts (calendar years)
        "year": [local_today().year - 1, local_today().year, 1990],
        "token": ["not-a-real-sign-in-link"],
        "number": ["R-0000001", "no-such-receipt"],
        # the organization's logo (the demo has none), cover photos (the demo cases have drawn
        # ones) and their review images
        "name": ["no-such-logo.png"] + [
            f"{c.token}-{size}.jpg" for c in db.session.scalars(db.select(CaseCover).limit(2))
            for size in ("card", "page")] + ["nothing-card.jpg", "x.png"],
        "kind": ["page", "boxes", "preview", "other"],
        "image_id": [i.id for i in db.session.scalars(db.select(PostImage).limit(2))] + [999999],
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        if not rule.arguments:
            urls.append(rule.rule)
            continue
        for name in rule.arguments:
            for value in values[name]:
                urls.append(re.sub(rf"<(?:\w+:)?{name}>", str(value), rule.rule))
    return sorted({u for u in urls if "<" not in u})


@pytest.mark.parametrize("role", [None, "staff", "director", "admin"])
def test_every_page_answers_without_a_server_error(runner, client, auth, make_user, app, role):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    if role:
        user, password = make_user(role)
        auth.login(user.email, password)
    for url in _urls_for(app):
        response = client.get(url)
        response.close()  # static files are streamed
        assert response.status_code < 500, (url, response.status_code)


def test_public_pages_of_the_demo_never_show_private_fields(runner, client, app):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    secrets = {c.private_notes for c in db.session.scalars(db.select(RescueCase))}
    secrets |= {p.private_name for p in db.session.scalars(db.select(Beneficiary))}
    secrets.discard("")
    assert secrets
    for url in _urls_for(app):
        if policy_for(app, app.url_map.bind("localhost").match(url)[0]) != "public":
            continue
        response = client.get(url)
        body = response.get_data(as_text=True)
        response.close()
        for secret in secrets:
            assert secret not in body, url
