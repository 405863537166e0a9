"""A case's cover photo: uploaded by staff, re-encoded without metadata in a page and a card
size, and checked for faces (``tracker.core.faces``) before the public may see it.

The public sees a cover only while its case is public and staff decided it may be shown (no
recognisable person, faces blurred, or consented to); anything else, an upload nobody has
reviewed yet included, answers like a photo that never existed.
Every change the public can see (a cover shown, replaced, removed or released) bumps the case's
``updated_at``, which the public pages' fingerprints read, so a cached card or page shows it at
once; a held upload leaves it alone (``updated_at`` is public: it must not tell anyone that
something is being prepared).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy.orm import defer

from tracker import audit
from tracker.cases.models import CaseCover, RescueCase
from tracker.cases.texts import SOURCE_LANGUAGE, CaseText
from tracker.core import faces
from tracker.core.errors import DomainError
from tracker.core.images import clean_alt_text, jpeg_variant, reencode
from tracker.core.time import utcnow
from tracker.extensions import db

if TYPE_CHECKING:
    from tracker.accounts.models import User

#: the case page's (and link previews') size: wide enough for a 2x phone screen
PAGE_WIDTH = 1200
#: the case cards' size
CARD_WIDTH = 480
#: the sizes served, by the name in their URL
SIZES = ("page", "card")


@dataclass(frozen=True, slots=True)
class PublicCover:
    """What a public page needs to show a cover: never its bytes or its review notes."""

    token: str
    alt_text: str
    width: int
    height: int
    card_width: int
    card_height: int

    def alt_in(self, text: CaseText) -> str:
        """The photo's description beside ``text`` (the case's texts as the page shows them):
        the one staff wrote, in the case's source language (English), when the page shows the
        case in that language; else a description in the page's language made of the case's
        public title (「…」の写真), so a screen reader never reads English on a Japanese page.
        Only public texts: never anything staff noted about the photo."""
        if text.language == SOURCE_LANGUAGE:
            return self.alt_text
        return _("Photo: %(title)s", title=text.title)


def cover_of(case: RescueCase) -> CaseCover | None:
    """The case's cover, whatever its face check says (staff)."""
    return db.session.scalar(db.select(CaseCover).where(CaseCover.case_id == case.id))


def _public(cover: CaseCover) -> PublicCover:
    return PublicCover(cover.token, cover.alt_text, cover.width, cover.height,
                       cover.card_width, cover.card_height)


def public_covers(case_ids: Sequence[int]) -> dict[int, PublicCover]:
    """The covers the public may see of these (public) cases, in one query without the
    photos' bytes: a list of cases costs one statement, however many it shows."""
    if not case_ids:
        return {}
    rows = db.session.scalars(
        db.select(CaseCover).where(CaseCover.case_id.in_(list(case_ids)),
                                   CaseCover.face_status.in_(faces.SHOWABLE)))
    return {cover.case_id: _public(cover) for cover in rows}


def find_public(slug: str, token: str) -> CaseCover | None:
    """The cover named ``token`` of the public case ``slug`` if the public may see it."""
    if not token or len(token) > 40:
        return None
    return db.session.scalar(
        db.select(CaseCover).join(RescueCase, RescueCase.id == CaseCover.case_id)
        .where(RescueCase.slug == slug, RescueCase.is_public, CaseCover.token == token,
               CaseCover.face_status.in_(faces.SHOWABLE)))


def _sizes(cover: CaseCover, page: bytes) -> None:
    """Set the page size (already a JPEG of at most PAGE_WIDTH) and derive the card size."""
    cover.data = page
    cover.card_data, cover.card_width, cover.card_height = jpeg_variant(page, CARD_WIDTH)
    cover.token = secrets.token_urlsafe(16)
    cover.updated_at = utcnow()


def _public_change(case: RescueCase, seen: bool) -> None:
    """Bump ``updated_at`` when the public sees a different cover (or none) from now on."""
    if seen:
        case.updated_at = utcnow()


def store_cover(case: RescueCase, upload: bytes, alt_text: str,
                uploaded_by: User | None) -> CaseCover:
    """Re-encode an upload as the case's cover (replacing any), check it for faces and audit
    "case.cover_added". Refuses (DomainError at "photo" or "alt_text") what
    ``tracker.core.images.reencode`` refuses. Flushes; the caller commits."""
    alt = clean_alt_text(alt_text)
    cleaned, _content_type, _w, _h = reencode(upload)
    page, width, height = jpeg_variant(cleaned, PAGE_WIDTH)
    previous = cover_of(case)
    was_shown = previous is not None and previous.face_showable
    if previous is not None:
        audit.record("case.cover_removed", case, case_id=case.id,
                     before={"cover_id": previous.id, "token": previous.token},
                     after={"reason": "replaced"})
        db.session.delete(previous)
        db.session.flush()
    cover = CaseCover(case_id=case.id, alt_text=alt, width=width, height=height,
                      uploaded_by_id=uploaded_by.id if uploaded_by is not None else None)
    _sizes(cover, page)
    faces.set_checked(cover, page)
    db.session.add(cover)
    _public_change(case, was_shown or cover.face_showable)
    db.session.flush()
    audit.record("case.cover_added", case, case_id=case.id,
                 after={"cover_id": cover.id, "width": width, "height": height,
                        "face_status": cover.face_status, "face_regions": cover.face_regions})
    return cover


def remove_cover(case: RescueCase) -> bool:
    """Take the case's cover away for good (its URLs answer 404). Flushes; audited."""
    cover = cover_of(case)
    if cover is None:
        return False
    audit.record("case.cover_removed", case, case_id=case.id,
                 before={"cover_id": cover.id, "token": cover.token})
    _public_change(case, cover.face_showable)
    db.session.delete(cover)
    db.session.flush()
    return True


def review_cover(case: RescueCase, decision: str, values: dict | None = None, *,
                 actor_label: str | None = None) -> CaseCover:
    """Apply a staff decision (``tracker.core.faces.decide``) to the case's cover waiting for
    review: blur the areas found or marked (kept under a new name), confirm the person's
    consent, confirm that no person can be recognised, or mark an area to blur. Audited
    "case.cover_<event>" with the before and after. Raises DomainError (nothing changed) when
    there is no cover or it waits for no such decision. Flushes; the caller commits."""
    cover = cover_of(case)
    if cover is None:
        raise DomainError(_("This case has no cover photo."), field="photo")
    token = cover.token
    done = faces.decide(cover, cover.data, "image/jpeg", decision, values)
    if done.data is not None:
        _sizes(cover, done.data)
    else:
        cover.updated_at = utcnow()
    _public_change(case, cover.face_showable)
    db.session.flush()
    audit.record(f"case.cover_{done.event}", case, case_id=case.id, actor_label=actor_label,
                 before={"cover_id": cover.id, "token": token, **done.before},
                 after={"cover_id": cover.id, "token": cover.token, **done.after})
    return cover


def blur_cover(case: RescueCase) -> CaseCover:
    """Blur the areas found in the held cover, check the result again and keep it under a new
    name (see ``review_cover``)."""
    return review_cover(case, faces.BLUR)


def consent_cover(case: RescueCase, agreed: bool, note: str | None) -> CaseCover:
    """Show the cover as it is: staff confirm the people shown agreed (box ticked, note
    required; see ``review_cover``)."""
    return review_cover(case, faces.CONSENT, {"agreed": agreed, "face_note": note})


def awaiting_review() -> list[tuple[RescueCase, CaseCover]]:
    """Every case cover waiting for a staff decision, with its case, oldest upload first (staff
    pages; the photos' bytes are not loaded)."""
    rows = db.session.execute(
        db.select(RescueCase, CaseCover).join(CaseCover, CaseCover.case_id == RescueCase.id)
        .where(CaseCover.face_status.in_(faces.AWAITING))
        .options(defer(CaseCover.data), defer(CaseCover.card_data))
        .order_by(CaseCover.updated_at, CaseCover.id))
    return [(case, cover) for case, cover in rows]
