"""``GET /feed.atom``: an Atom 1.0 feed (RFC 4287) of the published appeals, updates and
rescue reports, newest first, for the NGO's blog and feed readers.

Public fields only: each entry's title and first paragraph (as plain text) in the reader's
language, its link (also its id), when it was published and last updated. A post linked to a
case that is not public is left out (it would name the case), and so are drafts and posts
whose embargo has not ended. Cached and validated (ETag, 304) like the home page, whose
fingerprint covers the same posts and cases.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from flask import Blueprint
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from tracker.cases.models import RescueCase
from tracker.core.access import public
from tracker.core.i18n import current_locale
from tracker.core.links import public_url
from tracker.core.time import as_utc, utcnow
from tracker.extensions import db
from tracker.organization.identity import current_identity
from tracker.posts.freshness import visible_posts_now
from tracker.posts.models import Post, post_cases
from tracker.site.public import listing_fingerprint
from tracker.web import pagecache
from tracker.web.templating import plain_excerpt

bp = Blueprint("feed", __name__)

ATOM = "http://www.w3.org/2005/Atom"
#: what the feed carries (news about no case stays on the site)
FEED_KINDS = ("appeal", "update", "rescue_report")
#: entries in the feed
FEED_SIZE = 30
#: the feed's ``updated`` when it has no entry
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_PARAGRAPHS = re.compile(r"\n\s*\n")


def feed_posts(limit: int = FEED_SIZE) -> list[Post]:
    """The newest published appeals, updates and rescue reports none of whose cases is
    private, with their versions in other languages."""
    private_link = (
        db.select(post_cases.c.post_id)
        .join(RescueCase, RescueCase.id == post_cases.c.case_id)
        .where(post_cases.c.post_id == Post.id, ~RescueCase.is_public)
    )
    return list(db.session.scalars(
        db.select(Post)
        .options(selectinload(Post.translations))
        .where(visible_posts_now(utcnow()), Post.kind.in_(FEED_KINDS), ~private_link.exists())
        .order_by(db.func.coalesce(Post.published_at, Post.publish_at).desc(), Post.id.desc())
        .limit(limit)
    ))


def first_paragraph(markdown: str, length: int = 300) -> str:
    """The first paragraph of some Markdown as plain text (cut near ``length``)."""
    for paragraph in _PARAGRAPHS.split(markdown or ""):
        text = plain_excerpt(paragraph, length)
        if text:
            return text
    return ""


def _stamp(value: datetime) -> str:
    return as_utc(value).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _published(post: Post) -> datetime:
    return as_utc(post.published_at or post.publish_at or post.created_at)


def render_feed(posts: list[Post]) -> str:
    """The Atom document for ``posts`` in the current language."""
    ET.register_namespace("", ATOM)
    locale = current_locale()

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": locale})
    self_url = public_url("feed.atom")
    sub(feed, "id", self_url)
    sub(feed, "title", _("%(name)s: appeals, updates and rescue reports",
                         name=current_identity().name()))
    updated = [max(_published(p), as_utc(p.updated_at)) for p in posts]
    sub(feed, "updated", _stamp(max(updated, default=_EPOCH)))
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=public_url("cases.home"))
    author = sub(feed, "author")
    sub(author, "name", current_identity().name())
    for post, when in zip(posts, updated, strict=True):
        version = post.in_language(locale)
        link = public_url("posts.show", slug=post.slug)
        entry = sub(feed, "entry")
        if version.language != locale:
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", version.language)
        sub(entry, "id", link)
        sub(entry, "title", version.title)
        sub(entry, "link", rel="alternate", type="text/html", href=link)
        sub(entry, "published", _stamp(_published(post)))
        sub(entry, "updated", _stamp(when))
        sub(entry, "category", term=post.kind, label=str(post.kind_label))
        summary = first_paragraph(version.body_markdown)
        if summary:
            sub(entry, "summary", summary, type="text")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


@bp.route("/feed.atom")
@public
def atom():
    """The Atom feed of published appeals, updates and rescue reports (newest 30)."""
    return pagecache.serve(("feed",), listing_fingerprint, lambda: render_feed(feed_posts()),
                           "application/atom+xml")
