"""Following a case without giving: the form, the confirmation link and the unsubscribe link.

* ``GET|POST /cases/<slug>/follow``: an email address (and the page's language) asks for a
  public case's news. The answer is the same page whether or not the address already
  follows; a confirmation mail goes out through the outbox (``tracker.cases.follows``).
  Rate limited per client address (TRACKER_RATELIMIT_FOLLOW).
* ``GET|POST /follow/confirm/<token>``: opening the link shows a button (mail scanners open
  links), pressing it confirms. Forged: 400; expired: 410; nothing changes.
* ``GET|POST /unsubscribe/<token>``: RFC 8058. A GET shows a page with a button; a POST
  unsubscribes with no page, session or CSRF token (a mail client's one-click POST carries
  ``List-Unsubscribe=One-Click``). Pressing twice is fine; a forged token answers 400.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from tracker.cases import follows
from tracker.cases import public as public_view
from tracker.cases.forms import FollowButtonForm, FollowForm
from tracker.core.access import public
from tracker.core.errors import DomainError, NotFound, form_status
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale
from tracker.core.transactions import transaction
from tracker.extensions import csrf

bp = Blueprint("follow", __name__)


@bp.route("/cases/<slug>/follow", methods=["GET", "POST"])
@public
def follow(slug: str):
    """Ask for a public case's rescue reports and updates by email (404 for any other case)."""
    case = public_view.get_public_case(slug)
    if case is None:
        abort(404)
    form = FollowForm()
    if form.validate_on_submit():
        try:
            with transaction():
                follows.request_follow(case, form.email.data, current_locale())
        except NotFound:
            abort(404)
        except DomainError as exc:
            apply_error(form, exc)
            return render_template("cases/follow.html", case=case, form=form), form_status(exc)
        # The same answer whether the address is new, waiting or already following.
        return render_template("cases/follow_sent.html", case=case)
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("cases/follow.html", case=case, form=form), status


@bp.route("/follow/confirm/<token>", methods=["GET", "POST"])
@public
def confirm(token: str):
    """The confirmation link: a button (GET) that confirms the follow (POST)."""
    form = FollowButtonForm()
    try:
        if request.method == "GET":
            found = follows.follow_from_confirm_link(token)
            case = public_view.get_public_case_by_id(found.case_id)
            return render_template("cases/follow_confirm.html", form=form, token=token, case=case,
                                   confirmed=found.confirmed_at is not None)
        if not form.validate_on_submit():
            found = follows.follow_from_confirm_link(token)
            case = public_view.get_public_case_by_id(found.case_id)
            return render_template("cases/follow_confirm.html", form=form, token=token,
                                   case=case, confirmed=False), 422
        with transaction():
            done = follows.confirm(token)
            case = public_view.get_public_case_by_id(done.case_id)
            page = render_template("cases/follow_confirmed.html", case=case)
        return page
    except follows.FollowLinkExpired as exc:
        return render_template("cases/follow_link.html", message=exc.reason, expired=True), 410
    except follows.FollowLinkInvalid as exc:
        return render_template("cases/follow_link.html", message=exc.reason, expired=False), 400


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
@csrf.exempt
def unsubscribe(token: str):
    """Stop a follower's mail: a page with a button (GET); the unsubscribe itself (POST, from
    the button or a mail client's one-click, RFC 8058)."""
    try:
        if request.method == "GET":
            found = follows.check_unsubscribe_token(token)
            case = public_view.get_public_case_by_id(found.case_id) if found else None
            return render_template("cases/unsubscribe.html", token=token, case=case,
                                   following=found is not None)
        with transaction():
            case = follows.unsubscribe(token)
    except follows.FollowLinkInvalid as exc:
        if request.method == "POST" and _one_click():
            return Response("not a valid link\n", status=400, mimetype="text/plain")
        return render_template("cases/follow_link.html", message=exc.reason, expired=False), 400
    if _one_click():
        return Response("unsubscribed\n", mimetype="text/plain")
    public_case = public_view.get_public_case_by_id(case.id) if case is not None else None
    return render_template("cases/unsubscribed.html", case=public_case)


def _one_click() -> bool:
    """A mail client's RFC 8058 one-click POST (no page wanted)."""
    return request.form.get("List-Unsubscribe") == "One-Click"
