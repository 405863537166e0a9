"""Case pages: the public home, case and progress pages, and the staff case desk."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import escape

from tracker import audit
from tracker.budgets import services as budget_services
from tracker.cases import covers, services, workflow
from tracker.cases import public as public_view
from tracker.cases.forms import (
    TRACK_NAMES,
    CaseForm,
    CloseForm,
    CoverForm,
    EditCaseForm,
    PersonForm,
    PublishForm,
    RemoveCoverForm,
    RescuedForm,
    StatusForm,
    UnpublishForm,
)
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core import confirm
from tracker.core.access import public, roles
from tracker.core.errors import Conflict, DomainError
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale
from tracker.core.images import read_upload
from tracker.core.links import public_url
from tracker.core.money import Money, MoneyError, format_money, format_plain, parse_amount
from tracker.core.time import current_fiscal_year, local_today
from tracker.core.transactions import transaction
from tracker.donations import messages as wall_messages
from tracker.donations import services as donation_services
from tracker.extensions import db
from tracker.posts import images as post_images
from tracker.posts.services import recent_visible_posts, visible_posts_for_case
from tracker.reports.services import year_summary
from tracker.site.public import case_fingerprint, listing_fingerprint
from tracker.web import pagecache, photo_review, security

bp = Blueprint("cases", __name__)
staff_bp = Blueprint("staff", __name__, url_prefix="/staff")

STAFF = ("staff", "admin")


#: open cases on the home page; more are on the list of cases
HOME_OPEN_CASES = 12
#: recently completed cases on the home page
HOME_COMPLETED_CASES = 6
#: cases per page of the list of cases
CASES_PER_PAGE = 24


@bp.route("/")
@public
def home():
    """Open cases with money and people progress, and lives saved this fiscal year.

    Cached and validated like a case page; every list on it is bounded (the rest are on
    ``/cases``) and its figures come from the rollups, so it costs the same at any history.
    """

    def render() -> str:
        listed = public_view.public_cases(limit=HOME_OPEN_CASES + 1)
        cases, more = listed[:HOME_OPEN_CASES], len(listed) > HOME_OPEN_CASES
        completed = public_view.public_cases(frozenset({workflow.RESCUED}),
                                             limit=HOME_COMPLETED_CASES)
        return render_template(
            "cases/home.html",
            cases=cases,
            more_cases=more,
            completed=completed,
            progress=public_view.progress_for(cases + completed),
            covers=covers.public_covers([c.id for c in cases]),
            summary=year_summary(current_fiscal_year()),
            posts=recent_visible_posts(),
        )

    return pagecache.serve(("home",), listing_fingerprint, render)


@bp.route("/cases")
@public
def index():
    """Every public case, open ones first, newest first, a page at a time (``?page=2``)."""
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        abort(404)
    page = int(raw)

    def render() -> str:
        listed = public_view.public_case_page(page, CASES_PER_PAGE)
        if not listed and page > 1:
            abort(404)
        cases = listed[:CASES_PER_PAGE]
        return render_template(
            "cases/index.html", cases=cases, progress=public_view.progress_for(cases),
            covers=covers.public_covers([c.id for c in cases]),
            page=page, has_next=len(listed) > CASES_PER_PAGE,
        )

    return pagecache.serve(("cases", page), listing_fingerprint, render)


def _still_public(slug: str) -> RescueCase:
    """The case a page is being rendered for; 404 if staff took it off the public site
    between the page's freshness check and now."""
    case = public_view.get_public_case(slug)
    if case is None:
        abort(404)
    return case


@bp.route("/cases/<slug>")
@public
def show(slug: str):
    """A case's public page: story, progress, people by alias, linked posts, donor wall."""

    def render() -> str:
        case = _still_public(slug)
        return render_template(
            "cases/show.html",
            case=case,
            progress=public_view.progress_for([case])[case.id],
            people=public_view.public_people(case),
            posts=visible_posts_for_case(case),
            wall=donation_services.wall(case),
            accepts_gifts=donation_services.accepts_gifts(case),
            open_statuses=sorted(workflow.OPEN_STATUSES),
            budget=budget_services.public_budget(case),
            cover=covers.public_covers([case.id]).get(case.id),
        )

    return pagecache.serve(("case", slug), lambda: case_fingerprint(slug), render)


@bp.route("/cases/<slug>/widget")
@public
def widget(slug: str):
    """A small page for an iframe on the NGO's blog: the case's title, money and people
    progress (live, as on the case page) and a button that opens the donate page in a new
    tab. Framed by the sites TRACKER_EMBED_ORIGINS names (any when unset); cached like the
    case page."""

    def render() -> str:
        case = _still_public(slug)
        return render_template(
            "cases/widget.html",
            case=case,
            progress=public_view.progress_for([case])[case.id],
            accepts_gifts=donation_services.accepts_gifts(case),
            open_statuses=sorted(workflow.OPEN_STATUSES),
        )

    response = pagecache.serve(("widget", slug), lambda: case_fingerprint(slug), render)
    security.allow_framing()  # the widget only: a 404 above keeps framing denied
    return response


@bp.route("/cases/<slug>/progress.json")
@public
def progress(slug: str):
    """Money and people progress of a public case, exactly as the contract lists.

    Answers 304 to a matching If-None-Match, so pages can poll it cheaply.
    """

    def render() -> str:
        case = _still_public(slug)
        data = public_view.progress_json(public_view.progress_for([case])[case.id])
        return json.dumps(data, separators=(",", ":"))

    return pagecache.serve(("progress", slug), lambda: case_fingerprint(slug), render,
                           "application/json")


@bp.route("/cases/<slug>/people.json")
@public
def people(slug: str):
    """The people of a public case by alias with their status words, and the people counts,
    so an open page updates its table, count and bar together. Same visibility and caching as
    progress.json."""

    def render() -> str:
        case = _still_public(slug)
        data = public_view.people_json(case, public_view.progress_for([case])[case.id])
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    return pagecache.serve(("people", slug), lambda: case_fingerprint(slug), render,
                           "application/json")


# --- staff -----------------------------------------------------------------------------------


def _staff_case(case_id: int) -> RescueCase:
    case = db.session.get(RescueCase, case_id)
    if case is None:
        abort(404)
    return case


@staff_bp.route("/")
@roles(*STAFF)
def dashboard():
    """Every case, private requests included, with money and people progress."""
    cases = list(db.session.scalars(db.select(RescueCase).order_by(RescueCase.id.desc())))
    progress = public_view.progress_for(cases)
    return render_template(
        "staff/dashboard.html", cases=cases, progress=progress,
        attention=services.needs_attention(cases, progress),
        pending_approvals=budget_services.pending_count(),
        photos_awaiting=photos_awaiting_review(),
        messages_awaiting=wall_messages.awaiting_count(),
    )


def photos_awaiting_review() -> list[tuple[str, object, str]]:
    """Every photo that could reach a public page and waits for a staff decision (covers, then
    post photos, oldest first): what it is in words, the photo, the address of its review."""
    found: list[tuple[str, object, str]] = [
        (_("Cover photo of “%(title)s”", title=case.public_title), cover,
         url_for("staff.cover_review", case_id=case.id))
        for case, cover in covers.awaiting_review()]
    found += [
        (_("Photo of “%(title)s”", title=post.title), image,
         url_for("posts.staff_photo_review", slug=post.slug, image_id=image.id))
        for post, image in post_images.awaiting_review()]
    return found


@staff_bp.route("/cases/new", methods=["GET", "POST"])
@roles(*STAFF)
def new_case():
    """Open a case (private until staff publish it or open its appeal or legal fight)."""
    form = CaseForm()
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    if form.validate_on_submit():
        try:
            with transaction():
                goal = parse_amount(form.goal.data, base)
                data = services.CaseInput(
                    slug=form.slug.data.strip(),
                    public_title=form.public_title.data,
                    public_region=form.public_region.data,
                    public_summary=form.public_summary.data or "",
                    track=form.track.data,
                    goal=goal,
                    private_notes=form.private_notes.data or "",
                    private_contact=form.private_contact.data or "",
                    **_japanese_input(form),
                )
                case = services.create_case(data, base)
        except DomainError as exc:
            if isinstance(exc, MoneyError):
                exc.field = "goal"
            apply_error(form, exc)
        else:
            flash(_("Case '%(title)s' opened.", title=case.public_title), "success")
            return redirect(url_for("staff.case_detail", case_id=case.id))
    return render_template("staff/case_new.html", form=form, base_currency=base), (
        422 if form.errors or form.form_errors else 200
    )


def _japanese_input(form: CaseForm) -> dict[str, str]:
    """The case's Japanese version as typed (empty: none)."""
    return {"public_title_ja": form.public_title_ja.data or "",
            "public_region_ja": form.public_region_ja.data or "",
            "public_summary_ja": form.public_summary_ja.data or ""}


def _close_form(case: RescueCase, form: CloseForm | None = None) -> CloseForm:
    form = form or CloseForm()
    open_cases = db.session.scalars(
        db.select(RescueCase).where(RescueCase.status.in_(workflow.OPEN_STATUSES),
                                    RescueCase.id != case.id).order_by(RescueCase.public_title)
    )
    form.target.choices = {"": "—", **{str(c.id): c.public_title for c in open_cases}}
    return form


def _render_detail(case: RescueCase, *, status_form=None, person_form=None, rescued_form=None,
                   close_form=None, unpublish_form=None, cover_form=None, code: int = 200):
    return render_template(
        "staff/case_detail.html",
        case=case,
        progress=public_view.progress_for([case])[case.id],
        targets=sorted(workflow.allowed_targets(case.status)),
        labels=workflow.LABELS,
        tracks=TRACK_NAMES,
        status_form=status_form or StatusForm(),
        person_form=person_form or PersonForm(),
        rescued_form=rescued_form or RescuedForm(),
        close_form=_close_form(case, close_form),
        publish_form=PublishForm(),
        unpublish_form=unpublish_form or UnpublishForm(),
        cover=covers.cover_of(case),
        cover_form=cover_form or CoverForm(),
        remove_cover_form=RemoveCoverForm(),
        today=local_today(),
        embed_code=embed_code(case),
    ), code


#: the embed code's iframe height in CSS pixels (title, two bars, the button; the page wraps)
WIDGET_HEIGHT = 400  # the give button shows on a phone too, in Japanese


def embed_code(case: RescueCase) -> str:
    """The <iframe> staff paste into the NGO's blog to show the case's widget: its absolute
    address (on TRACKER_PUBLIC_URL), a title for screen readers, the full width."""
    src = public_url("cases.widget", slug=case.slug)
    title = _("Progress of the rescue “%(title)s”", title=case.public_title)
    return (f'<iframe src="{escape(src)}" title="{escape(title)}" width="100%" '
            f'height="{WIDGET_HEIGHT}" loading="lazy"></iframe>')


@staff_bp.route("/cases/<int:case_id>")
@roles(*STAFF)
def case_detail(case_id: int):
    """A case with its private fields, its people and the allowed status changes.

    Every view of identifying fields is audited, so this GET writes an audit entry.
    """
    case = _staff_case(case_id)
    with transaction():
        audit.record("case.private_viewed", case, case_id=case.id)
    return _render_detail(case)


@staff_bp.route("/cases/<int:case_id>/status", methods=["POST"])
@roles(*STAFF)
def change_status(case_id: int):
    """Move the case along its workflow; an illegal move says why and changes nothing."""
    form = StatusForm()
    case = _staff_case(case_id)
    if form.validate_on_submit():
        try:
            with transaction():
                if form.target.data == workflow.CLOSED:
                    # Closing cannot be undone: only the close panel does it, after a confirmation.
                    raise DomainError(_("Close a case with “Close the case” below: it shows what "
                                        "closing will do and asks you to confirm."), field="target")
                services.change_status(
                    services.get_case_for_update(case.id), form.target.data,
                    outcome=form.outcome.data or None,
                )
        except DomainError as exc:
            apply_error(form, exc)
        else:
            flash(_("Status is now %(status)s.", status=workflow.LABELS[case.status].lower()),
                  "success")
            return redirect(url_for("staff.case_detail", case_id=case.id))
    return _render_detail(_staff_case(case_id), status_form=form, code=409)


@staff_bp.route("/cases/<int:case_id>/people", methods=["POST"])
@roles(*STAFF)
def add_person(case_id: int):
    """Add a person by alias and age band; identifying details go to private fields."""
    form = PersonForm()
    case = _staff_case(case_id)
    if form.validate_on_submit():
        try:
            with transaction():
                services.add_beneficiary(
                    case, public_alias=form.public_alias.data, age_band=form.age_band.data,
                    private_name=form.private_name.data or "",
                    private_details=form.private_details.data or "",
                )
        except DomainError as exc:
            apply_error(form, exc)
        else:
            flash(_("Person added."), "success")
            return redirect(url_for("staff.case_detail", case_id=case.id))
    return _render_detail(_staff_case(case_id), person_form=form, code=422)


@staff_bp.route("/cases/<int:case_id>/people/<int:person_id>/rescued", methods=["POST"])
@roles(*STAFF)
def mark_rescued(case_id: int, person_id: int):
    """Record that a person is safe; the case completes when the last one is."""
    form = RescuedForm()
    person = db.session.get(Beneficiary, person_id)
    if person is None or person.case_id != case_id:
        abort(404)
    if form.validate_on_submit():
        try:
            with transaction():
                completed = services.mark_rescued(
                    person, form.rescued_on.data, note=form.note.data or "", today=local_today()
                )
        except DomainError as exc:
            apply_error(form, exc)
        else:
            flash(
                _("Everyone is safe: the case is complete.") if completed
                else _("%(alias)s is marked rescued.", alias=person.public_alias),
                "success",
            )
            return redirect(url_for("staff.case_detail", case_id=case_id))
    return _render_detail(_staff_case(case_id), rescued_form=form, code=422)


@staff_bp.route("/cases/<int:case_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def edit_case(case_id: int):
    """Edit the texts, region, track and goal of a case (audited; the slug stays)."""
    case = _staff_case(case_id)
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    form = EditCaseForm(obj=case) if request.method == "GET" else EditCaseForm()
    if request.method == "GET":
        form.goal.data = format_plain(Money(case.goal_amount_minor, case.goal_currency))
    if form.validate_on_submit():
        try:
            with transaction():
                changed = services.update_case(case, services.CaseInput(
                    slug=case.slug, public_title=form.public_title.data,
                    public_region=form.public_region.data,
                    public_summary=form.public_summary.data or "",
                    track=form.track.data, goal=parse_amount(form.goal.data, base),
                    private_notes=form.private_notes.data or "",
                    private_contact=form.private_contact.data or "",
                    **_japanese_input(form),
                ), base)
        except DomainError as exc:
            if isinstance(exc, MoneyError):
                exc.field = "goal"
            apply_error(form, exc)
        else:
            flash(_("Saved.") if changed else _("Nothing changed."), "success")
            return redirect(url_for("staff.case_detail", case_id=case.id))
    code = 422 if form.errors or form.form_errors else 200
    return render_template("staff/case_edit.html", form=form, case=case, base_currency=base), code


#: the confirmation token's name for closing a case (tracker.core.confirm)
CLOSE_ACTION = "case.close"


@staff_bp.route("/cases/<int:case_id>/close", methods=["POST"])
@roles(*STAFF)
def close_case(case_id: int):
    """Close a case with an outcome, moving what it holds where staff chose. The first POST
    shows what closing will do; only the confirmed POST closes (tracker.core.confirm)."""
    case = _staff_case(case_id)
    form = _close_form(case)
    if form.validate_on_submit():
        target = None
        if form.move_funds_to.data == "case" and (form.target.data or "").isdigit():
            target = db.session.get(RescueCase, int(form.target.data))
        actor = confirm.staff_actor()
        try:
            with transaction():
                plan = services.plan_close(case, form.outcome.data,
                                           move_funds_to=form.move_funds_to.data, target=target)
                # The confirmation covers the amount it showed: a gift or refund booked since
                # then makes the page ask again with the new amount instead of moving another.
                confirming = f"{case.id}:{plan.moves_minor}:{plan.currency}"
                if not confirm.confirmed(CLOSE_ACTION, confirming, actor):
                    # (planning wrote nothing, so the block ends keeping nothing)
                    return confirm.ask(
                        CLOSE_ACTION, confirming, actor,
                        title=_("Close the case “%(title)s”?", title=case.public_title),
                        consequences=_close_consequences(case, plan),
                        button=_("Close the case"),
                        back_url=url_for("staff.case_detail", case_id=case.id),
                    )
                moved = services.close_case(case, form.outcome.data,
                                            move_funds_to=form.move_funds_to.data,
                                            target=target, actor_id=current_user.id)
                if moved != plan.moves_minor:  # money booked between the check and the lock
                    raise Conflict(_("The money this case holds changed while you confirmed; "
                                     "nothing was closed. Check the amount and close it again."))
        except DomainError as exc:
            apply_error(form, exc)
        else:
            money = format_money(Money(moved, case.goal_currency), current_locale())
            flash(_("Case closed; %(money)s moved.", money=money) if moved else _("Case closed."),
                  "success")
            return redirect(url_for("staff.case_detail", case_id=case.id))
    return _render_detail(_staff_case(case_id), close_form=form, code=409)


def _close_consequences(case: RescueCase, plan: services.ClosePlan) -> list[str]:
    """What closing will do, in words and amounts."""
    outcome = workflow.OUTCOME_LABELS[plan.outcome]
    lines = [_("The case “%(title)s” closes as “%(outcome)s”; its status no longer changes.",
               title=case.public_title, outcome=outcome)]
    money = format_money(Money(plan.moves_minor, plan.currency), current_locale())
    if plan.moves_minor and plan.destination is not None:
        lines.append(_("%(money)s moves to the case “%(target)s”.", money=money,
                       target=plan.destination.public_title))
    elif plan.moves_minor:
        lines.append(_("%(money)s moves to the general fund.", money=money))
    elif plan.held_minor > 0:
        held = format_money(Money(plan.held_minor, plan.currency), current_locale())
        lines.append(_("%(money)s stays on this case.", money=held))
    else:
        lines.append(_("The case holds no money, so none moves."))
    return lines


@staff_bp.route("/cases/<int:case_id>/publish", methods=["POST"])
@roles(*STAFF)
def publish(case_id: int):
    """Make the case public on purpose (who and when are recorded and audited)."""
    form = PublishForm()
    case = _staff_case(case_id)
    if not form.validate_on_submit():
        return _render_detail(case, code=422)
    with transaction():
        done = services.publish(services.get_case_for_update(case.id))
    flash(_("The case is public now.") if done else _("The case was already public."), "success")
    return redirect(url_for("staff.case_detail", case_id=case.id))


@staff_bp.route("/cases/<int:case_id>/unpublish", methods=["POST"])
@roles(*STAFF)
def unpublish(case_id: int):
    """Pull the case back from the public (audited); needs the confirmation box ticked."""
    form = UnpublishForm()
    case = _staff_case(case_id)
    if not form.validate_on_submit():
        return _render_detail(case, unpublish_form=form, code=422)
    with transaction():
        done = services.unpublish(services.get_case_for_update(case.id))
    flash(_("The case is private again: its public addresses answer as if it never existed.")
          if done else _("The case was not public."), "success")
    return redirect(url_for("staff.case_detail", case_id=case.id))


# --- cover photos ------------------------------------------------------------------------------

#: a public cover never changes under its random name (new pixels get a new name)
PUBLIC_IMAGE_CACHE = "public, max-age=31536000, immutable"


@bp.route("/cases/<slug>/cover/<name>")
@public
def cover(slug: str, name: str):
    """A public case's cover in one size (``<token>-card.jpg`` or ``<token>-page.jpg``).

    404 unless the case is public and staff decided the photo may be shown: a hidden case's
    cover, or one waiting for review, answers like one that never existed, whoever asks (staff
    look at it on the staff page).
    """
    stem, dot, ext = name.rpartition(".")
    token, dash, size = stem.rpartition("-")
    if ext != "jpg" or not dot or not dash or size not in covers.SIZES:
        abort(404)
    found = covers.find_public(slug, token)
    if found is None:
        abort(404)
    return photo_review.image_response(found.data if size == "page" else found.card_data,
                                       "image/jpeg", PUBLIC_IMAGE_CACHE)


@staff_bp.route("/cases/<int:case_id>/cover", methods=["POST"])
@roles(*STAFF)
def cover_upload(case_id: int):
    """Upload (or replace) the case's cover, then review it: nothing is shown publicly before
    staff decide (a face found or not)."""
    case = _staff_case(case_id)
    form = CoverForm()
    if form.validate_on_submit():
        try:
            with transaction():
                stored = covers.store_cover(case, read_upload(form.photo.data.stream),
                                            form.alt_text.data or "", current_user)
                held = stored.face_held
        except DomainError as exc:
            apply_error(form, exc)
        else:
            if held:
                flash(_("The photo shows a face, so it is held: blur the faces or confirm that "
                        "the person agreed before it is shown."), "warning")
            else:
                flash(_("Cover photo saved. Look at it before it is shown: the face check "
                        "found no face, but it misses some."), "warning")
            return redirect(url_for("staff.cover_review", case_id=case.id))
    return _render_detail(_staff_case(case_id), cover_form=form, code=422)


@staff_bp.route("/cases/<int:case_id>/cover/remove", methods=["POST"])
@roles(*STAFF)
def cover_remove(case_id: int):
    """Take the cover away; its addresses answer 404 from then on."""
    case = _staff_case(case_id)
    if not RemoveCoverForm().validate_on_submit():
        return _render_detail(case, code=422)
    with transaction():
        covers.remove_cover(case)
    flash(_("Cover photo removed."), "success")
    return redirect(url_for("staff.case_detail", case_id=case.id) + "#cover")


def _cover_under_review(case_id: int) -> photo_review.PhotoUnderReview:
    """The case's cover as the shared review (tracker.web.photo_review) sees it; 404 when the
    case or its cover does not exist."""
    case = _staff_case(case_id)
    found = covers.cover_of(case)
    if found is None:
        abort(404)

    def url(name: str) -> str:
        if name == "review":
            return url_for("staff.cover_review", case_id=case.id)
        return url_for("staff.cover_decide", case_id=case.id, decision=name)

    return photo_review.PhotoUnderReview(
        photo=found, data=found.data, content_type="image/jpeg",
        title=_("Cover photo of “%(title)s”", title=case.public_title), url=url,
        image_url=lambda kind: url_for("staff.cover_image", case_id=case.id, kind=kind),
        back_url=url_for("staff.case_detail", case_id=case.id) + "#cover",
        apply=lambda decision, values: covers.review_cover(case, decision, values))


@staff_bp.route("/cases/<int:case_id>/cover/review")
@roles(*STAFF)
def cover_review(case_id: int):
    """The cover and what it waits for: confirm no person can be recognised, mark an area to
    blur, blur the areas found, or confirm the person's consent."""
    return photo_review.render(_cover_under_review(case_id))


@staff_bp.route("/cases/<int:case_id>/cover/<kind>.jpg")
@roles(*STAFF)
def cover_image(case_id: int, kind: str):
    """The cover as staff see it: as stored ("page"), the faces framed ("boxes") or blurred as
    the blur would write it ("preview"). Never kept by any cache; 404 without a cover."""
    place = _cover_under_review(case_id)
    if kind == "page":
        return photo_review.image_response(place.data, "image/jpeg", "private, no-store")
    return photo_review.review_image(place, kind)


@staff_bp.route(f"/cases/<int:case_id>/cover/<any({photo_review.ROUTE_DECISIONS}):decision>",
                methods=["POST"])
@roles(*STAFF)
def cover_decide(case_id: int, decision: str):
    """A decision about the cover (audited): blur, consent, no-person or mark."""
    return photo_review.decide(_cover_under_review(case_id), decision)
