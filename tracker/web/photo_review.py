"""The staff review of a photo before the public may see it (``tracker.core.faces``), once for
every kind of photo: a case's cover and a post's photos use the same page, the same staff-only
images and the same handling of a decision; their views only say where the photo lives.

Each decision is applied by the photo's own service (which audits it) inside one transaction;
a refusal (a box not ticked, a note missing, an area outside the photo) is shown at its field
and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, flash, redirect, render_template
from flask_babel import gettext as _

from tracker.core import faces
from tracker.core.errors import DomainError
from tracker.core.forms import (
    FaceBlurForm,
    FaceConsentForm,
    FaceMarkForm,
    FaceNoPersonForm,
    Form,
    apply_error,
)
from tracker.core.transactions import transaction

#: the form each decision is sent with
FORMS: dict[str, type[Form]] = {
    faces.BLUR: FaceBlurForm,
    faces.CONSENT: FaceConsentForm,
    faces.CONFIRM_NO_PERSON: FaceNoPersonForm,
    faces.MARK: FaceMarkForm,
}
#: the decisions as a route's ``any`` converter lists them
ROUTE_DECISIONS = ", ".join(f'"{name}"' for name in faces.DECISIONS)


@dataclass(frozen=True, slots=True)
class PhotoUnderReview:
    """Where a photo under review lives: its page's title, its addresses and the service that
    applies (and audits) a staff decision to it."""

    photo: Any  # a model with tracker.core.faces.FaceReviewMixin, width and height
    data: bytes
    content_type: str
    title: str
    #: the address of the review page ("review"), of a decision ("blur", "consent", ...)
    url: Callable[[str], str]
    #: the address of a staff-only image of the photo ("boxes", "preview")
    image_url: Callable[[str], str]
    #: where staff go back to: the case's or the post's staff page, at the photo
    back_url: str
    #: applies ``(decision, form values)``; raises DomainError, changing nothing, on a refusal
    apply: Callable[[str, dict], None]


def render(place: PhotoUnderReview, forms: dict[str, Form] | None = None, code: int = 200):
    """The review page: the photo (with the areas found framed, and blurred as the blur will
    write it), its state in words and the decisions it waits for."""
    forms = forms or {}
    made = {name: forms.get(name) or form_class() for name, form_class in FORMS.items()}
    for made_form in made.values():  # every form names the photo shown on this page
        made_form.looked_at.data = place.photo.review_version
    return render_template(
        "staff/photo_review.html", title=place.title, photo=place.photo,
        image_url=place.image_url, back_url=place.back_url,
        blur_url=place.url(faces.BLUR), consent_url=place.url(faces.CONSENT),
        no_person_url=place.url(faces.CONFIRM_NO_PERSON), mark_url=place.url(faces.MARK),
        blur_form=made[faces.BLUR], consent_form=made[faces.CONSENT],
        no_person_form=made[faces.CONFIRM_NO_PERSON], mark_form=made[faces.MARK],
    ), code


def image_response(data: bytes, mimetype: str, cache_control: str) -> Response:
    """An image answer no browser may guess another type for."""
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = cache_control
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def review_image(place: PhotoUnderReview, kind: str) -> Response:
    """A staff-only image of the photo: the areas found framed ("boxes") or blurred as the
    blur will write them ("preview"); never kept by any cache. Any other kind is a 404."""
    if kind not in faces.REVIEW_KINDS:
        abort(404)
    data = faces.review_image(place.photo, place.data, place.content_type, kind)
    mimetype = place.content_type if kind == "preview" else "image/jpeg"
    return image_response(data, mimetype, "private, no-store")


_DONE = {
    faces.CONSENT: lambda: _("Noted: the photo is shown as it is."),
    faces.CONFIRM_NO_PERSON: lambda: _("Noted: no person can be recognized in the photo; it "
                                       "can be shown."),
}


def decide(place: PhotoUnderReview, decision: str):
    """Apply the decision staff sent (its form checked, CSRF included), then tell them what
    happened in words: back to the staff page when the photo can be shown, to the review page
    when something is left to do."""
    if decision not in FORMS:
        abort(404)
    form = FORMS[decision]()
    if not form.validate_on_submit():
        if decision == faces.BLUR:
            abort(400)
        return render(place, {decision: form}, 422)
    values = {name: field.data for name, field in form._fields.items()}
    seen = values.pop("looked_at", None)
    try:
        if place.photo.face_awaiting:  # (one already decided is refused by its service, in words)
            faces.check_version(place.photo, seen)
    except DomainError as exc:
        # another photo than the one staff looked at: show them the one stored now
        flash(exc.reason, "error")
        return render(place, code=409)
    try:
        with transaction():
            place.apply(decision, values)
            held = place.photo.face_held
    except DomainError as exc:
        if decision == faces.BLUR:
            flash(exc.reason, "error")
            return redirect(place.back_url)
        apply_error(form, exc)
        return render(place, {decision: form}, 422)
    if decision == faces.MARK:
        flash(_("The area is marked: look at the preview, then blur it."), "warning")
        return redirect(place.url("review"))
    if decision == faces.BLUR and held:
        flash(_("The check still finds a face: look at the new boxes and blur again, or confirm "
                "that the person agreed."), "warning")
        return redirect(place.url("review"))
    flash(_DONE[decision]() if decision in _DONE
          else _("The faces are blurred; the photo can be shown."), "success")
    return redirect(place.back_url)
