"""What the public pages depend on, each read in one query: their freshness fingerprints.

The fingerprint reads the case, its ledger and the posts the public can read about it, so a
cached page is re-rendered exactly when one of them changes. It sits in the site layer because
it reads several domains (cases, the ledger, posts).
"""

from __future__ import annotations

from sqlalchemy import func

from tracker.cases.models import RescueCase
from tracker.core.time import local_today, utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db
from tracker.ledger.models import LedgerEntry
from tracker.posts.freshness import visible_posts_now
from tracker.posts.models import (
    Post,
    PostTranslation,
    post_cases,
)


def _fingerprint_statement():
    """Built once: SQLAlchemy then reuses the compiled form on every request."""
    now = db.bindparam("now", type_=UTCDateTime())
    # Only the linked posts the public can read right now: saving a draft or an embargoed post
    # must not change a public page's ETag (anyone polling would learn something is being
    # prepared). An embargo lifting changes this set by itself, at request time.
    visible = db.select(post_cases.c.post_id).join(Post, Post.id == post_cases.c.post_id).where(
        post_cases.c.case_id == RescueCase.id,
        visible_posts_now(now),
    )
    return db.select(
        RescueCase.id,
        RescueCase.status,
        RescueCase.updated_at,
        db.select(func.max(LedgerEntry.id)).where(LedgerEntry.case_id == RescueCase.id)
        .scalar_subquery(),
        db.select(func.count()).where(Post.id.in_(visible)).scalar_subquery(),
        db.select(func.max(Post.updated_at)).where(Post.id.in_(visible)).scalar_subquery(),
        # the other-language versions of the linked posts: the list shows their titles
        db.select(func.count()).where(PostTranslation.post_id.in_(visible)).scalar_subquery(),
        db.select(func.max(PostTranslation.updated_at)).where(PostTranslation.post_id.in_(visible))
        .scalar_subquery(),
    ).where(RescueCase.slug == db.bindparam("slug"), RescueCase.is_public)


_FINGERPRINT = _fingerprint_statement()


def case_fingerprint(slug: str) -> tuple | None:
    """Everything a public case page depends on, in one indexed query (None: not public).

    Status and ``updated_at`` (bumped by every public change to the case or its people), the
    last ledger entry (gifts, refunds, transfers, the donor wall), the linked posts the public
    can read now (count and last edit) and their versions in the other language (count and
    last edit): when any of these moves, the page must be rendered again. Nothing the public
    cannot see (drafts, embargoed posts, private fields) is part of it. (The language the page is
    shown in is part of the cache key, not of the fingerprint.)
    """
    # Core execution on the session's connection: no ORM work for a row of plain values.
    row = db.session.connection().execute(_FINGERPRINT, {"slug": slug, "now": utcnow()}).first()
    return tuple(row) if row is not None else None


def _listing_statement():
    """What the home page and the case list depend on, in one statement of index probes.

    The public cases (how many, their last public change, publications and withdrawals),
    the newest ledger entry of each public case (their money bars), and the posts the public
    can read now with their versions (the news list). Nothing private moves it: a private
    case's gifts or edits and a draft post leave it alone.
    """
    now = db.bindparam("now", type_=UTCDateTime())
    public_ids = db.select(RescueCase.id).where(RescueCase.is_public)
    visible = db.select(Post.id).where(visible_posts_now(now))
    newest_entry = (db.select(func.max(LedgerEntry.id)).where(LedgerEntry.case_id == RescueCase.id)
                    .correlate(RescueCase).scalar_subquery())
    return db.select(
        db.select(func.count(RescueCase.id)).where(RescueCase.is_public).scalar_subquery(),
        db.select(func.max(RescueCase.updated_at)).where(RescueCase.is_public).scalar_subquery(),
        db.select(func.max(RescueCase.unpublished_at)).scalar_subquery(),
        db.select(func.max(newest_entry)).where(RescueCase.id.in_(public_ids)).scalar_subquery(),
        db.select(func.count()).where(Post.id.in_(visible)).scalar_subquery(),
        db.select(func.max(Post.updated_at)).where(Post.id.in_(visible)).scalar_subquery(),
        db.select(func.count()).where(PostTranslation.post_id.in_(visible)).scalar_subquery(),
        db.select(func.max(PostTranslation.updated_at)).where(PostTranslation.post_id.in_(visible))
        .scalar_subquery(),
    )


_LISTING = _listing_statement()


def listing_fingerprint() -> tuple:
    """Everything the home page and the list of cases depend on (see ``_listing_statement``),
    and the local day: the fiscal year whose lives saved the home page counts, and embargoes."""
    row = db.session.connection().execute(_LISTING, {"now": utcnow()}).one()
    return (*row, local_today().isoformat())
