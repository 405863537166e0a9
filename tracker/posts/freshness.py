"""What a public post page depends on, read in one query: its freshness fingerprint."""

from __future__ import annotations

from sqlalchemy import func

from tracker.cases.models import RescueCase
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db
from tracker.posts.models import (
    PUBLISHED,
    SCHEDULED,
    Post,
    PostImage,
    PostTranslation,
    post_cases,
)


def visible_posts_now(now):  # noqa: ANN001, ANN202 - a SQL expression
    """Posts the public can read at ``now`` (a bind parameter in the freshness statements)."""
    return db.or_(Post.status == PUBLISHED, db.and_(Post.status == SCHEDULED, Post.publish_at <= now))


def _post_statement():
    """What a public post page depends on: the post (if the public can read it now), its
    versions, its photos and its linked cases (which of them are public, their titles)."""
    now = db.bindparam("now", type_=UTCDateTime())
    linked = db.select(post_cases.c.case_id).where(post_cases.c.post_id == Post.id)
    return db.select(
        Post.id,
        Post.updated_at,
        db.select(func.count()).where(PostTranslation.post_id == Post.id).scalar_subquery(),
        db.select(func.max(PostTranslation.updated_at)).where(PostTranslation.post_id == Post.id)
        .scalar_subquery(),
        db.select(func.count()).where(PostImage.post_id == Post.id).scalar_subquery(),
        db.select(func.max(PostImage.id)).where(PostImage.post_id == Post.id).scalar_subquery(),
        db.select(func.count()).where(RescueCase.id.in_(linked), RescueCase.is_public)
        .scalar_subquery(),
        db.select(func.max(RescueCase.updated_at)).where(RescueCase.id.in_(linked))
        .scalar_subquery(),
        db.select(func.max(RescueCase.unpublished_at)).where(RescueCase.id.in_(linked))
        .scalar_subquery(),
    ).where(Post.slug == db.bindparam("slug"), visible_posts_now(now))


_POST = _post_statement()


def post_fingerprint(slug: str) -> tuple | None:
    """Everything a public post page depends on, in one statement (None: not readable now)."""
    row = db.session.connection().execute(_POST, {"slug": slug, "now": utcnow()}).first()
    return tuple(row) if row is not None else None
