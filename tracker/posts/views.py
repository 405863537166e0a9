"""Post pages: the public post and its photos, and the staff desk for writing posts."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from tracker.core.access import public, roles
from tracker.core.errors import DomainError
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale, language_url
from tracker.core.time import utcnow, zone_name
from tracker.core.transactions import transaction
from tracker.extensions import db
from tracker.posts import images, services
from tracker.posts.forms import PhotoForm, PostForm, post_form_data
from tracker.posts.freshness import post_fingerprint
from tracker.posts.models import PUBLISHED, SCHEDULED, Post, PostImage
from tracker.web import pagecache, photo_review
from tracker.web.templating import local_datetime

bp = Blueprint("posts", __name__)

STAFF = ("staff", "admin")
#: a public image never changes under its random name
PUBLIC_IMAGE_CACHE = "public, max-age=31536000, immutable"


@bp.route("/posts/<slug>")
@public
def show(slug: str):
    """A published post (or one whose embargo has passed), with its public cases.

    Shown in the reader's language when the post has a version in it, else as written (with a
    note saying so); a link leads to the version in the other language when there is one.
    """

    def render() -> str:
        post = services.get_visible_post(slug)
        if post is None:
            abort(404)
        return _render_post(post)

    return pagecache.serve(("post", slug), lambda: post_fingerprint(slug), render)


def _render_post(post: Post) -> str:
    page_language = current_locale()
    version = post.in_language(page_language)
    cases = [c for c in post.cases if c.is_public]
    photos = [p for p in images.images_of(post) if p.face_showable]
    og_image = (url_for("posts.image", filename=images.filename(photos[0]), _external=True)
                if photos else None)
    languages = post.languages
    # A post in two languages has an address per version, so that a shared link (and its
    # preview) shows the version the person sharing it read.
    page_url = url_for("posts.show", slug=post.slug, _external=True,
                       **({"lang": version.language} if len(languages) > 1 else {}))
    alternates = [(code, url_for("posts.show", slug=post.slug, lang=code, _external=True))
                  for code in languages] if len(languages) > 1 else []
    other_versions = [(code, language_url(code)) for code in languages if code != version.language]
    return render_template("posts/show.html", post=post, version=version, cases=cases,
                           og_image=og_image, page_url=page_url, page_language=page_language,
                           alternates=alternates, other_versions=other_versions)


@bp.route("/images/<filename>")
@public
def image(filename: str):
    """A post photo by its random name (``<token>.jpg`` or ``.png``).

    The public sees it once its post is public (published, or embargo passed) and staff decided
    it may be shown (never while it waits for review); signed-in staff see any photo, in
    responses no shared cache may keep. Anything else is a 404.
    """
    found = images.find_by_filename(filename)
    if found is None:
        abort(404)
    if images.is_public(found):
        cache_control = PUBLIC_IMAGE_CACHE
    elif current_user.is_authenticated and current_user.role in STAFF:
        cache_control = "private, no-store"
    else:
        abort(404)
    return photo_review.image_response(found.data, found.content_type, cache_control)


# --- staff -----------------------------------------------------------------------------------


def _staff_post(slug: str) -> Post:
    post = services.get_by_slug(slug)
    if post is None:
        abort(404)
    return post


def _post_form(post: Post | None = None) -> PostForm:
    if request.method == "POST" or post is None:
        form = PostForm()
    else:
        form = PostForm(data=post_form_data(post, utcnow()))
    form.cases.choices = services.case_choices()
    return form


def _wants_preview() -> bool:
    return request.method == "POST" and request.form.get("action") == "preview"


def _saved_message(post: Post) -> str:
    if post.status == PUBLISHED:
        return _("“%(title)s” is published.", title=post.title)
    if post.status == SCHEDULED:
        return _("“%(title)s” is scheduled: public from %(when)s (%(zone)s).", title=post.title,
                 when=local_datetime(post.publish_at), zone=zone_name())
    return _("“%(title)s” is saved as a draft (not public).", title=post.title)


def _photos(post: Post) -> list[tuple]:
    """Each photo of a post with its URL and the Markdown snippet staff paste."""
    result = []
    for found in images.images_of(post):
        url = url_for("posts.image", filename=images.filename(found))
        result.append((found, url, images.markdown_snippet(found, url)))
    return result


def _render_form(form: PostForm, post: Post | None = None, *, photo_form: PhotoForm | None = None,
                 preview: str | None = None, code: int | None = None):
    if code is None:
        code = 422 if form.errors or form.form_errors else 200
    return render_template(
        "staff/posts_form.html",
        form=form,
        post=post,
        photo_form=photo_form or PhotoForm(formdata=None),
        photos=_photos(post) if post is not None else [],
        preview=preview,
        visible=post is not None and post.is_visible(utcnow()),
        timezone=zone_name(),
    ), code


@bp.route("/staff/posts/")
@roles(*STAFF)
def staff_list():
    """Every post, drafts and embargoed ones included, newest first."""
    return render_template("staff/posts.html", posts=services.staff_posts(), now=utcnow(),
                           zone=zone_name())


@bp.route("/staff/posts/new", methods=["GET", "POST"])
@roles(*STAFF)
def staff_new():
    """Write a post; "Preview" shows the sanitized text without saving anything."""
    form = _post_form()
    if request.method == "GET" and request.args.get("case", type=int):
        form.cases.data = [request.args.get("case", type=int)]
    if _wants_preview():
        return _render_form(form, preview=form.body_markdown.data or "", code=200)
    if form.validate_on_submit():
        try:
            with transaction():
                post = services.create_post(form.to_input(), author_id=current_user.id)
        except DomainError as exc:
            apply_error(form, exc)
        else:
            flash(_saved_message(post), "success")
            return redirect(url_for("posts.staff_edit", slug=post.slug))
    return _render_form(form)


@bp.route("/staff/posts/<slug>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def staff_edit(slug: str):
    """Edit a post, publish, schedule or unpublish it, and add photos."""
    post = _staff_post(slug)
    form = _post_form(post)
    if _wants_preview():
        return _render_form(form, post, preview=form.body_markdown.data or "", code=200)
    if form.validate_on_submit():
        try:
            with transaction():
                services.update_post(post, form.to_input())
        except DomainError as exc:
            apply_error(form, exc)
        else:
            flash(_saved_message(post), "success")
            return redirect(url_for("posts.staff_edit", slug=post.slug))
    return _render_form(form, _staff_post(slug))


@bp.route("/staff/posts/<slug>/photos", methods=["POST"])
@roles(*STAFF)
def staff_photo(slug: str):
    """Upload a photo: stored re-encoded without any metadata, under a random name."""
    post = _staff_post(slug)
    photo_form = PhotoForm()
    if photo_form.validate_on_submit():
        try:
            with transaction():
                stored = images.store_image(images.read_upload(photo_form.photo.data.stream),
                                            photo_form.alt_text.data or "", post, current_user)
        except DomainError as exc:
            apply_error(photo_form, exc)
        else:
            if stored.face_held:
                flash(_("The photo shows a face, so it is held: blur the faces or confirm that "
                        "the person agreed before the post can be published."), "warning")
            else:
                flash(_("Photo added as %(name)s. Look at it before it is shown: the face check "
                        "found no face, but it misses some.", name=images.filename(stored)),
                      "warning")
            return redirect(url_for("posts.staff_photo_review", slug=post.slug,
                                    image_id=stored.id))
    post = _staff_post(slug)
    return _render_form(_post_form(post), post, photo_form=photo_form, code=422)


@bp.route("/staff/posts/<slug>/photos/<int:image_id>/remove", methods=["POST"])
@roles(*STAFF)
def staff_remove_photo(slug: str, image_id: int):
    """Remove a photo for good; its URL answers 404 from then on."""
    post = _staff_post(slug)
    found = db.session.get(PostImage, image_id)
    if found is None or found.post_id != post.id:
        abort(404)
    with transaction():
        images.remove_image(found, post)
    flash(_("Photo removed. Also take its Markdown out of the text."), "success")
    return redirect(url_for("posts.staff_edit", slug=post.slug) + "#photos")


# --- the review of a photo before the public may see it (tracker.web.photo_review) -----------


def _staff_image(slug: str, image_id: int) -> tuple[Post, PostImage]:
    post = _staff_post(slug)
    found = db.session.get(PostImage, image_id)
    if found is None or found.post_id != post.id:
        abort(404)
    return post, found


def _photo_under_review(slug: str, image_id: int) -> photo_review.PhotoUnderReview:
    """A post's photo as the shared review (tracker.web.photo_review) sees it; 404 unless it
    is a photo of that post."""
    post, found = _staff_image(slug, image_id)

    def url(name: str) -> str:
        if name == "review":
            return url_for("posts.staff_photo_review", slug=post.slug, image_id=found.id)
        return url_for("posts.staff_photo_decide", slug=post.slug, image_id=found.id,
                       decision=name)

    return photo_review.PhotoUnderReview(
        photo=found, data=found.data, content_type=found.content_type,
        title=_("Photo of “%(title)s”", title=post.title), url=url,
        image_url=lambda kind: url_for("posts.staff_photo_image", slug=post.slug,
                                       image_id=found.id, kind=kind),
        back_url=url_for("posts.staff_edit", slug=post.slug) + "#photos",
        apply=lambda decision, values: images.review_image(found, post, decision, values))


@bp.route("/staff/posts/<slug>/photos/<int:image_id>/review")
@roles(*STAFF)
def staff_photo_review(slug: str, image_id: int):
    """The photo and what it waits for: confirm no person can be recognised, mark an area to
    blur, blur the areas found, or confirm the person's consent."""
    return photo_review.render(_photo_under_review(slug, image_id))


@bp.route("/staff/posts/<slug>/photos/<int:image_id>/<kind>.img")
@roles(*STAFF)
def staff_photo_image(slug: str, image_id: int, kind: str):
    """The faces found framed ("boxes") or blurred as the blur would write it ("preview")."""
    return photo_review.review_image(_photo_under_review(slug, image_id), kind)


@bp.route(f"/staff/posts/<slug>/photos/<int:image_id>/<any({photo_review.ROUTE_DECISIONS}):decision>",
          methods=["POST"])
@roles(*STAFF)
def staff_photo_decide(slug: str, image_id: int, decision: str):
    """A decision about the photo (audited): blur, consent, no-person or mark."""
    return photo_review.decide(_photo_under_review(slug, image_id), decision)
