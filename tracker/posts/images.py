"""Photos for posts: re-encoded from pixels only (``tracker.core.images``), stored in the
database under a random public name."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from tracker import audit
from tracker.core.errors import DomainError
from tracker.core.images import EXTENSIONS, MAX_UPLOAD_BYTES, read_upload, reencode

__all__ = ["EXTENSIONS", "MAX_UPLOAD_BYTES", "read_upload", "reencode", "store_image"]
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.posts.models import Post, PostImage
from tracker.posts.services import audit_case_id

if TYPE_CHECKING:
    from tracker.accounts.models import User

ALT_MAX = 300


def clean_alt_text(alt_text: str) -> str:
    """Alt text on one line (line breaks would break the Markdown snippet), 1-300 characters."""
    alt = " ".join((alt_text or "").split())
    if not alt:
        raise DomainError(
            _("Describe the photo for people who cannot see it (for example “Volunteers at the "
              "border crossing”). Never write names or places that identify someone."),
            field="alt_text",
        )
    if len(alt) > ALT_MAX:
        raise DomainError(_("Keep the description to %(max)d characters.", max=ALT_MAX),
                          field="alt_text")
    return alt


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
    db.session.add(image)
    post.updated_at = utcnow()
    db.session.flush()
    audit.record("post.image_added", post, case_id=audit_case_id(post),
                 after={"image_id": image.id, "width": width, "height": height,
                        "content_type": content_type, "byte_size": len(data)})
    return image


def remove_image(image: PostImage, post: Post) -> None:
    """Delete a photo of ``post`` (a wrong photo must be removable at once). Its URL answers
    404 from then on; copies already in browsers' or proxies' caches are out of our reach.
    Flushes; the caller commits."""
    if image.post_id != post.id:
        raise DomainError(_("This photo belongs to another post."), field="photo")
    audit.record("post.image_removed", post, case_id=audit_case_id(post),
                 before={"image_id": image.id, "token": image.token})
    db.session.delete(image)
    post.updated_at = utcnow()
    db.session.flush()


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
    """Whether the public may see the image now: its post is published or past its embargo."""
    if image.post_id is None:
        return False
    post = db.session.get(Post, image.post_id)
    return post is not None and post.is_visible(utcnow())
