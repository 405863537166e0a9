"""Photos for posts: re-encoded from pixels only (``tracker.core.images``), stored in the
database under a random public name."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from tracker import audit
from tracker.core import faces
from tracker.core.errors import DomainError
from tracker.core.images import (
    ALT_MAX,
    EXTENSIONS,
    MAX_UPLOAD_BYTES,
    clean_alt_text,
    read_upload,
    reencode,
)

__all__ = ["ALT_MAX", "EXTENSIONS", "MAX_UPLOAD_BYTES", "clean_alt_text", "read_upload", "reencode",
           "store_image"]
from sqlalchemy.orm import defer

from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.posts.models import Post, PostImage
from tracker.posts.services import audit_case_id

if TYPE_CHECKING:
    from tracker.accounts.models import User

def store_image(upload_bytes: bytes, alt_text: str, post: Post, uploaded_by: User | None) -> PostImage:
    """Re-encode an uploaded photo for ``post`` and add it under a random public name.

    Refuses (DomainError at "photo" or "alt_text") uploads over 10 MB before decoding them,
    and anything that is not a JPEG, PNG, WebP or GIF Pillow can read. Flushes; the caller
    commits. Bumps the post's ``updated_at``.
    """
    alt = clean_alt_text(alt_text)
    data, content_type, width, height = reencode(upload_bytes)
    image = PostImage(
        token=secrets.token_urlsafe(16),
        post_id=post.id,
        content_type=content_type,
        width=width,
        height=height,
        byte_size=len(data),
        alt_text=alt,
        data=data,
        uploaded_by_id=uploaded_by.id if uploaded_by is not None else None,
    )
    faces.set_checked(image, data)
    db.session.add(image)
    post.updated_at = utcnow()
    db.session.flush()
    audit.record("post.image_added", post, case_id=audit_case_id(post),
                 after={"image_id": image.id, "width": width, "height": height,
                        "content_type": content_type, "byte_size": len(data),
                        "face_status": image.face_status, "face_regions": image.face_regions})
    return image


def remove_image(image: PostImage, post: Post) -> None:
    """Delete a photo of ``post`` (a wrong photo must be removable at once). Its URL answers
    404 from then on; copies already in browsers' or proxies' caches are out of our reach.
    Flushes; the caller commits."""
    _own(image, post)
    audit.record("post.image_removed", post, case_id=audit_case_id(post),
                 before={"image_id": image.id, "token": image.token})
    db.session.delete(image)
    post.updated_at = utcnow()
    db.session.flush()


def held_images(post: Post) -> list[PostImage]:
    """The post's photos waiting for review (the post cannot be published while any is)."""
    return [image for image in images_of(post) if image.face_awaiting]


def review_image(image: PostImage, post: Post, decision: str, values: dict | None = None, *,
                 actor_label: str | None = None) -> None:
    """Apply a staff decision (``tracker.core.faces.decide``) to a photo of ``post`` waiting
    for review: blur the areas found or marked, confirm the person's consent, confirm that no
    person can be recognised, or mark an area to blur. Audited "post.image_<event>". Raises
    DomainError (nothing changed) when the photo waits for no such decision. Flushes.

    A blurred photo keeps its name, so the Markdown already pasted into the post still shows
    it: a photo waiting for review was never served to the public, so no shared cache can hold
    the unblurred one.
    """
    _own(image, post)
    done = faces.decide(image, image.data, image.content_type, decision, values)
    if done.data is not None:
        image.data, image.byte_size = done.data, len(done.data)
    post.updated_at = utcnow()
    db.session.flush()
    audit.record(f"post.image_{done.event}", post, case_id=audit_case_id(post),
                 actor_label=actor_label,
                 before={"image_id": image.id, "token": image.token, **done.before},
                 after={"image_id": image.id, **done.after})


def blur_image(image: PostImage, post: Post) -> None:
    """Blur the areas found in a held photo of ``post`` and check it again (``review_image``)."""
    review_image(image, post, faces.BLUR)


def consent_image(image: PostImage, post: Post, agreed: bool, note: str | None) -> None:
    """Show a photo of ``post`` as it is: staff confirm the people shown agreed (box ticked,
    note required; ``review_image``)."""
    review_image(image, post, faces.CONSENT, {"agreed": agreed, "face_note": note})


def awaiting_review() -> list[tuple[Post, PostImage]]:
    """Every post photo waiting for a staff decision, with its post, oldest first (staff pages;
    the photos' bytes are not loaded)."""
    rows = db.session.execute(
        db.select(Post, PostImage).join(PostImage, PostImage.post_id == Post.id)
        .where(PostImage.face_status.in_(faces.AWAITING))
        .options(defer(PostImage.data))
        .order_by(PostImage.created_at, PostImage.id))
    return [(post, image) for post, image in rows]


def _own(image: PostImage, post: Post) -> None:
    if image.post_id != post.id:
        raise DomainError(_("This photo belongs to another post."), field="photo")


def filename(image: PostImage) -> str:
    """The public file name: the random token and the extension of the stored format."""
    return f"{image.token}.{EXTENSIONS[image.content_type]}"


def markdown_snippet(image: PostImage, url: str) -> str:
    """What staff paste into a post body to show the photo."""
    alt = image.alt_text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}]({url})"


def images_of(post: Post) -> list[PostImage]:
    """The photos uploaded for a post, oldest first."""
    return list(db.session.scalars(
        db.select(PostImage).where(PostImage.post_id == post.id).order_by(PostImage.id)
    ))


def find_by_filename(name: str) -> PostImage | None:
    """The image named ``<token>.<ext>``, or None (also when the extension does not match)."""
    token, dot, ext = name.rpartition(".")
    if not dot or not token or len(token) > 40:
        return None
    image = db.session.scalar(db.select(PostImage).where(PostImage.token == token))
    if image is None or EXTENSIONS.get(image.content_type) != ext:
        return None
    return image


def is_public(image: PostImage) -> bool:
    """Whether the public may see the image now: its post is published or past its embargo,
    and staff decided it may be shown (never a photo waiting for review)."""
    if image.post_id is None or not image.face_showable:
        return False
    post = db.session.get(Post, image.post_id)
    return post is not None and post.is_visible(utcnow())
