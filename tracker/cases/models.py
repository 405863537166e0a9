"""Rescue cases and beneficiaries.

Safety rule: every column that could identify a person or a place is named ``private_*`` and
is staff-only. Public pages, JSON and emails use the explicit allowlists in
``tracker.cases.public`` — never a model's ``__dict__``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.cases import workflow
from tracker.cases.texts import CaseText, case_text
from tracker.core import faces, labels
from tracker.core.faces import FaceReviewMixin
from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime, sql_in
from tracker.extensions import db

AGE_BANDS: tuple[str, ...] = ("0-4", "5-11", "12-17", "18-29", "30-49", "50-69", "70+")

WAITING = "waiting"
IN_TRANSIT = "in_transit"
PERSON_RESCUED = "rescued"
LOST_CONTACT = "lost_contact"
DETAINED = "detained"
PERSON_STATUSES: tuple[str, ...] = (WAITING, IN_TRANSIT, PERSON_RESCUED, LOST_CONTACT, DETAINED)
PERSON_LABELS = labels.table("person_status")
TRACKS = ("journey", "legal")


class RescueCase(db.Model):
    """One rescue effort for a group of people, with its funding goal in the base currency."""

    __tablename__ = "rescue_cases"
    __table_args__ = (
        CheckConstraint(f"status IN {sql_in(workflow.STATUSES)}", name="status"),
        CheckConstraint(f"track IN {sql_in(TRACKS)}", name="track"),
        CheckConstraint(
            # IS NOT NULL spelled out: "NULL IN (...)" is unknown, and CHECK lets unknown pass.
            f"(status = 'closed' AND outcome IS NOT NULL AND outcome IN {sql_in(workflow.OUTCOMES)})"
            " OR (status <> 'closed' AND outcome IS NULL)",
            name="outcome_iff_closed",
        ),
        CheckConstraint("goal_amount_minor >= 0", name="goal_not_negative"),
        CheckConstraint("length(goal_currency) = 3", name="goal_currency_code"),
        CheckConstraint("length(slug) >= 3", name="slug_length"),
        # who published is known whenever the case is public (NULL only for a case published
        # before this was recorded whose actor the audit history does not name)
        CheckConstraint("published_at IS NOT NULL OR published_by_id IS NULL",
                        name="published_by_only_when_published"),
        Index("ix_rescue_cases_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: URL name, unique, public
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    #: public title and summary, written for the public by staff
    public_title: Mapped[str] = mapped_column(String(200))
    public_summary: Mapped[str] = mapped_column(Text, default="")
    #: coarse region only ("Northeast China"), never a town or an address
    public_region: Mapped[str] = mapped_column(String(80))
    #: the same three in Japanese, written by staff beside the English ones (NULL: none; pages
    #: in Japanese then show the English with a note). Always read through ``text()``.
    public_title_ja: Mapped[str | None] = mapped_column(String(200))
    public_summary_ja: Mapped[str | None] = mapped_column(Text)
    #: coarse like ``public_region`` (「中国東北部」), never a town
    public_region_ja: Mapped[str | None] = mapped_column(String(80))
    #: journey (a physical rescue) or legal (a hearing, an asylum claim)
    track: Mapped[str] = mapped_column(String(16), default="journey")
    status: Mapped[str] = mapped_column(String(16), default=workflow.REQUESTED)
    #: why a closed case closed; NULL unless closed
    outcome: Mapped[str | None] = mapped_column(String(16))
    goal_amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    goal_currency: Mapped[str] = mapped_column(String(3))
    #: the goal is the budget's total, kept in step by the budget service
    goal_follows_budget: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: staff chose to show donors the budget and spending per category
    show_budget: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: staff-only: how the request reached us, contacts, routes, anything identifying
    private_notes: Mapped[str] = mapped_column(Text, default="")
    private_contact: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: bumped on every public-facing change; drives progress.json's updated_at
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: when staff published the case (NULL: private). The one fact every public surface asks
    #: about, through ``is_public``; no status, transition, hold or closing sets it.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the staff member who published it
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    #: when staff last pulled the case back from the public (NULL: never)
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the case ended: everyone rescued, or closed
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    beneficiaries: Mapped[list[Beneficiary]] = relationship(
        back_populates="case", order_by="Beneficiary.position, Beneficiary.id",
        cascade="all, delete-orphan",
    )

    @hybrid_property
    def is_public(self) -> bool:
        """May the public see this case? Staff published it and have not pulled it back.

        The one question every public surface asks (pages, progress.json, home, feeds, post
        pages, donate pages, transparency figures, donor mail); in a query,
        ``.where(RescueCase.is_public)``.
        """
        return self.published_at is not None

    @is_public.inplace.expression
    @classmethod
    def _is_public_expression(cls):  # noqa: ANN206
        return cls.published_at.is_not(None)

    @property
    def status_label(self) -> str:
        return workflow.LABELS[self.status]

    def text(self, language: str) -> CaseText:
        """The public title, summary and region a reader of ``language`` sees
        (``tracker.cases.texts.case_text``, the one place that chooses)."""
        return case_text(self, language)

    def __repr__(self) -> str:
        return f"<RescueCase {self.slug} {self.status}>"


class Beneficiary(db.Model):
    """One person in a case, known publicly only by alias, age band and status."""

    __tablename__ = "beneficiaries"
    __table_args__ = (
        CheckConstraint(f"age_band IN {sql_in(AGE_BANDS)}", name="age_band"),
        CheckConstraint(f"status IN {sql_in(PERSON_STATUSES)}", name="status"),
        CheckConstraint(
            "(status = 'rescued' AND rescued_on IS NOT NULL)"
            " OR (status <> 'rescued' AND rescued_on IS NULL)",
            name="rescued_on_iff_rescued",
        ),
        CheckConstraint("length(public_alias) >= 1", name="alias_present"),
        Index("ix_beneficiaries_case_status", "case_id", "status"),
        Index("ix_beneficiaries_rescued_on", "rescued_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rescue_cases.id", ondelete="CASCADE"))
    #: order within the case
    position: Mapped[int] = mapped_column(default=0)
    #: public alias such as "Mr. Y.Y." — never the real name
    public_alias: Mapped[str] = mapped_column(String(60))
    age_band: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=WAITING)
    #: local date the person reached safety (counts toward that fiscal year's lives saved)
    rescued_on: Mapped[date | None]
    #: staff-only identifying details
    private_name: Mapped[str] = mapped_column(String(200), default="")
    private_details: Mapped[str] = mapped_column(Text, default="")
    private_rescue_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[RescueCase] = relationship(back_populates="beneficiaries")

    @property
    def status_label(self) -> str:
        return PERSON_LABELS[self.status]

    def __repr__(self) -> str:
        return f"<Beneficiary {self.id} case={self.case_id} {self.status}>"


class CaseCover(FaceReviewMixin, db.Model):
    """A case's cover photo, stored re-encoded (no metadata) in two sizes, so every app server
    serves it without shared disks: ``data`` for the case page and link previews, ``card_data``
    for the case cards. Public only while the case is public and the face check allows it
    (``tracker.core.faces``); the detected regions are in ``data``'s pixels."""

    __tablename__ = "case_covers"
    __table_args__ = (
        CheckConstraint("width > 0 AND height > 0 AND card_width > 0 AND card_height > 0",
                        name="dimensions"),
        faces.status_check(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: one cover per case (a new upload replaces it)
    case_id: Mapped[int] = mapped_column(ForeignKey("rescue_cases.id", ondelete="CASCADE"),
                                         unique=True)
    #: random public name used in URLs; a new one whenever the pixels change
    token: Mapped[str] = mapped_column(String(40), unique=True)
    #: the page size (JPEG)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    width: Mapped[int]
    height: Mapped[int]
    #: the card size (JPEG)
    card_data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    card_width: Mapped[int]
    card_height: Mapped[int]
    #: alternative text for screen readers, written by staff
    alt_text: Mapped[str] = mapped_column(String(300))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
