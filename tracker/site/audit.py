"""The audit log page: who did what, when, filterable by case, user and action."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from tracker.accounts.models import User
from tracker.audit import AuditEntry
from tracker.cases.models import RescueCase
from tracker.core.access import roles
from tracker.core.query import BadQuery, int_arg
from tracker.extensions import db

bp = Blueprint("audit", __name__, url_prefix="/staff/audit")

PAGE_SIZE = 100


@bp.route("/")
@roles("staff", "admin")
def log():
    """Newest first; ?case=<slug>&user=<email>&action=<prefix>&before=<id> narrow it down."""
    query = db.select(AuditEntry).order_by(AuditEntry.id.desc())
    problems = []
    case_slug = request.args.get("case", "").strip()[:80]
    email = request.args.get("user", "").strip().lower()[:254]
    action = request.args.get("action", "").strip()[:64]
    try:
        before = int_arg("before", minimum=1)
    except BadQuery:
        before = None
        problems.append(_("The page marker must be a number."))
    if case_slug:
        case_id = db.session.scalar(db.select(RescueCase.id).where(RescueCase.slug == case_slug))
        if case_id is None:
            problems.append(_("No case with the address '%(slug)s'.", slug=case_slug))
        query = query.where(AuditEntry.case_id == case_id)
    if email:
        query = query.where(AuditEntry.actor_label == email)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    entries = list(db.session.scalars(query.limit(PAGE_SIZE)))
    cases = dict(db.session.execute(db.select(RescueCase.id, RescueCase.slug)).all())
    actions = list(db.session.scalars(db.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
    users = list(db.session.scalars(db.select(User.email).order_by(User.email)))
    return render_template(
        "staff/audit.html", entries=entries, cases=cases, actions=actions, users=users,
        filters={"case": case_slug, "user": email, "action": action}, problems=problems,
        next_before=entries[-1].id if len(entries) == PAGE_SIZE else None,
    ), (400 if problems else 200)
