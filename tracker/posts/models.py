"""Posts: Markdown written by staff, sanitized when shown, linked to any number of cases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.cases.models import RescueCase
from tracker.core import faces, labels
from tracker.core.faces import FaceReviewMixin
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

KINDS: tuple[str, ...] = ("appeal", "update", "rescue_report", "news")
#: what each kind is called on pages (lazy: shown in the reader's language)
KIND_LABELS = labels.table("post_kind")
DRAFT, SCHEDULED, PUBLISHED = "draft", "scheduled", "published"
POST_STATUSES: tuple[str, ...] = (DRAFT, SCHEDULED, PUBLISHED)
#: the languages a post (or its second version) can be written in: tracker.core.i18n.LANGUAGES
POST_LANGUAGES: tuple[str, ...] = ("en", "ja")


def other_language(language: str) -> str:
    """The language a post's second version is written in: the one it is not written in."""
    return next(code for code in POST_LANGUAGES if code != language)

post_cases = Table(
    "post_cases",
    db.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("case_id", ForeignKey("rescue_cases.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_post_cases_case_id", "case_id"),
)


class Post(db.Model):
    """An appeal, update, rescue report or news item."""

    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint(f"kind IN {sql_in(KINDS)}", name="kind"),
        CheckConstraint(f"status IN {sql_in(POST_STATUSES)}", name="status"),
        # An embargoed post needs the moment it may go out; a published one records when it did.
        CheckConstraint("status <> 'scheduled' OR publish_at IS NOT NULL", name="scheduled_has_time"),
        CheckConstraint("status <> 'published' OR published_at IS NOT NULL", name="published_has_time"),
        CheckConstraint("length(slug) >= 3", name="slug_length"),
        Index("ix_posts_status_published_at", "status", "published_at"),
        CheckConstraint(f"language IN {sql_in(POST_LANGUAGES)}", name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    #: the language ``title`` and ``body_markdown`` are written in; a version in the other
    #: language, if any, is a PostTranslation
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    #: Markdown source; rendered then sanitized with nh3 whenever it is displayed
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    #: embargo: not public before this moment
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cases: Mapped[list[RescueCase]] = relationship(secondary=post_cases, order_by="RescueCase.id")
    translations: Mapped[list[PostTranslation]] = relationship(
        back_populates="post", cascade="all, delete-orphan", order_by="PostTranslation.language")

    @property
    def kind_label(self) -> str:
        """The kind as the page's language names it (a lazy string: ``str()`` it for a str)."""
        return KIND_LABELS[self.kind]

    def version(self, language: str) -> Post | PostTranslation | None:
        """The version written in ``language``, or None when there is none."""
        if language == self.language:
            return self
        return next((t for t in self.translations if t.language == language), None)

    @property
    def languages(self) -> list[str]:
        """The languages the post can be read in: its own first, then its versions'."""
        return [self.language, *(t.language for t in self.translations if t.language != self.language)]

    def in_language(self, language: str) -> Post | PostTranslation:
        """The version to show a reader of ``language``: its translation when there is one,
        else the post as written. Both have ``title``, ``body_markdown`` and ``language``
        (use the last as the ``lang`` attribute of what shows it)."""
        if language != self.language:
            for version in self.translations:
                if version.language == language:
                    return version
        return self

    def is_visible(self, now: datetime) -> bool:
        """Whether the public may read the post at ``now`` (published, or embargo passed)."""
        if self.status == PUBLISHED:
            return True
        return self.status == SCHEDULED and self.publish_at is not None and self.publish_at <= now


class PostTranslation(db.Model):
    """A post's version in another language: its own title and Markdown body. Everything
    else (status, embargo, linked cases, photos) is the post's."""

    __tablename__ = "post_translations"
    __table_args__ = (
        UniqueConstraint("post_id", "language", name="uq_post_translations_post_language"),
        CheckConstraint(f"language IN {sql_in(POST_LANGUAGES)}", name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(200))
    #: Markdown source, sanitized whenever displayed, like Post.body_markdown
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    post: Mapped[Post] = relationship(back_populates="translations")


class PostImage(FaceReviewMixin, db.Model):
    """A photo for posts, stored re-encoded (EXIF and GPS gone) in the database, so that every
    app server can serve it without shared disks."""

    __tablename__ = "post_images"
    __table_args__ = (
        CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="content_type"),
        CheckConstraint("width > 0 AND height > 0", name="dimensions"),
        CheckConstraint("byte_size > 0", name="byte_size"),
        faces.status_check(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: random public name used in URLs (never the uploaded file name)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"),
                                                index=True)
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int]
    height: Mapped[int]
    byte_size: Mapped[int]
    #: alternative text for screen readers, written by staff
    alt_text: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
