"""Post rules: what the public may read, and when."""

from __future__ import annotations

from sqlalchemy import and_, or_

from tracker.cases.models import RescueCase
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.posts.models import PUBLISHED, SCHEDULED, Post, post_cases


def _visible_now():
    now = utcnow()
    return or_(
        Post.status == PUBLISHED,
        and_(Post.status == SCHEDULED, Post.publish_at <= now),
    )


def visible_posts_for_case(case: RescueCase, limit: int = 20) -> list[Post]:
    """Posts linked to a case that the public may read now, newest first."""
    return list(
        db.session.scalars(
            db.select(Post)
            .join(post_cases, post_cases.c.post_id == Post.id)
            .where(post_cases.c.case_id == case.id, _visible_now())
            .order_by(db.func.coalesce(Post.published_at, Post.publish_at).desc())
            .limit(limit)
        )
    )


def recent_visible_posts(limit: int = 5) -> list[Post]:
    """The newest posts the public may read."""
    return list(
        db.session.scalars(
            db.select(Post)
            .where(_visible_now())
            .order_by(db.func.coalesce(Post.published_at, Post.publish_at).desc())
            .limit(limit)
        )
    )


def get_visible_post(slug: str) -> Post | None:
    """A post by slug if the public may read it now (drafts and embargoed posts stay hidden)."""
    return db.session.scalar(db.select(Post).where(Post.slug == slug, _visible_now()))
