"""Staff page of monthly gifts: every donor's monthly gift and where it stands.

Staff and admins only. Read-only: a gift is cancelled or changed by its donor (their own
page) or by the gateway's reports; what staff need here is who gives monthly, to what, and
which gifts are failing.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.orm import joinedload

from tracker.core.access import roles
from tracker.core.money import Money
from tracker.donations.models import Donation
from tracker.extensions import db
from tracker.monthly.models import RECURRING_STATUSES, STATUS_LABELS, RecurringGift
from tracker.monthly.services import gifts_with_status

staff_recurring_bp = Blueprint("staff_recurring", __name__, url_prefix="/staff/recurring")

STAFF = ("staff", "admin")


def status_counts() -> dict[str, int]:
    """How many monthly gifts are in each status (every status listed, zero included)."""
    counts = dict.fromkeys(RECURRING_STATUSES, 0)
    for status, n in db.session.execute(
        db.select(RecurringGift.status, func.count()).group_by(RecurringGift.status)
    ):
        counts[status] = int(n)
    return counts


def last_paid(gift_ids: list[int]) -> dict[int, object]:
    """When each gift's latest payment settled (gift id -> datetime), for the gifts listed."""
    if not gift_ids:
        return {}
    return dict(db.session.execute(
        db.select(Donation.recurring_gift_id, func.max(Donation.settled_at))
        .where(Donation.recurring_gift_id.in_(gift_ids), Donation.status == "succeeded")
        .group_by(Donation.recurring_gift_id)).all())


@staff_recurring_bp.route("/")
@roles(*STAFF)
def index():
    """Every monthly gift, oldest first, with counts per status; ?status= narrows the list."""
    status = request.args.get("status", "").strip()[:16]
    problem = None
    if status and status not in RECURRING_STATUSES:
        problem = _("'%(status)s' is not a monthly gift status.", status=status)
    gifts = [] if problem else gifts_with_status(*([status] if status else []))
    if gifts:  # load donors and cases in one query each rather than one per row
        db.session.scalars(db.select(RecurringGift).where(
            RecurringGift.id.in_([g.id for g in gifts]))
            .options(joinedload(RecurringGift.donor), joinedload(RecurringGift.case))).all()
    paid = last_paid([g.id for g in gifts])
    rows = [(g, Money(g.amount_minor, g.currency), paid.get(g.id)) for g in gifts]
    return render_template(
        "staff/recurring.html", rows=rows, counts=status_counts(), statuses=RECURRING_STATUSES,
        labels=STATUS_LABELS, status=status, problem=problem,
    ), (400 if problem else 200)
