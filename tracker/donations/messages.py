"""Review of donors' wall messages: a message reaches the public donor wall only once staff
approved it.

The people in the cases are in hiding, and a relative giving for them may write a real name
or village in the message. So a gift's message starts "waiting" (``start_donation``); the
wall shows the donor's chosen name at once and the message only when "approved". Staff may
hide a message (waiting or approved): it is never shown again, and the gift itself is
unaffected. Both decisions are audited, without copying the message into the audit trail.

When the public wall changes (a message appears or disappears), the case's ``updated_at`` is
bumped: the case page's fingerprint reads it, so no cached page keeps the old wall. Deciding on
a message the public cannot see (hiding a waiting one) leaves ``updated_at`` alone, since it
is public (progress.json) and must not tell anyone that staff did something.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func

from tracker import audit
from tracker.accounts.models import User
from tracker.cases.models import RescueCase
from tracker.core.errors import Conflict, NotFound
from tracker.core.locks import lock_row
from tracker.core.time import utcnow
from tracker.donations.models import (
    MESSAGE_APPROVED,
    MESSAGE_HIDDEN,
    MESSAGE_WAITING,
    SUCCEEDED,
    Donation,
)
from tracker.extensions import db

#: how many messages the review page lists in each of its lists
REVIEW_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class WallMessage:
    """One message as the review page shows it."""

    public_id: str
    case: RescueCase
    #: the name the wall shows for the gift ("" for Anonymous)
    display_name: str
    message: str
    status: str
    settled_at: datetime | None


def _on_a_wall():
    """The gifts whose entry a public wall lists: paid, to a case, the donor not hidden."""
    return (Donation.status == SUCCEEDED, Donation.case_id.is_not(None),
            Donation.show_on_wall.is_(True), Donation.message != "")  # "": erased by anonymizing


def awaiting_count() -> int:
    """How many messages on a wall wait for a staff decision (walks the message-status index)."""
    return db.session.scalar(
        db.select(func.count()).select_from(Donation)
        .where(Donation.message_status == MESSAGE_WAITING, *_on_a_wall())
    ) or 0


def _listed(status: str, newest_first: bool) -> list[WallMessage]:
    order = Donation.settled_at.desc() if newest_first else Donation.settled_at
    rows = db.session.execute(
        db.select(Donation, RescueCase).join(RescueCase, RescueCase.id == Donation.case_id)
        .where(Donation.message_status == status, *_on_a_wall())
        .order_by(order, Donation.id).limit(REVIEW_PAGE_SIZE)
    )
    return [WallMessage(d.public_id, case, d.display_name, d.message, d.message_status,
                        d.settled_at) for d, case in rows]


def awaiting() -> list[WallMessage]:
    """Messages waiting for a decision, oldest gift first."""
    return _listed(MESSAGE_WAITING, newest_first=False)


def recently_approved() -> list[WallMessage]:
    """Approved messages, newest gift first: staff may still hide one."""
    return _listed(MESSAGE_APPROVED, newest_first=True)


def _decide(public_id: str, new_status: str, allowed_from: tuple[str, ...],
            actor: User | None) -> Donation:
    donation = lock_row(Donation, Donation.public_id == public_id, touch=Donation.message_status)
    if donation is None or not donation.message:
        raise NotFound(_("There is no such message."))
    before = donation.message_status
    if before == new_status:
        return donation  # a second click: nothing changes, nothing to audit
    if before not in allowed_from:
        raise Conflict(_("This message was hidden; it stays hidden."))
    public = (donation.status == SUCCEEDED and donation.case_id is not None
              and donation.show_on_wall)
    donation.message_status = new_status
    shown_before, shown_after = before == MESSAGE_APPROVED, new_status == MESSAGE_APPROVED
    if public and shown_before != shown_after:
        case = db.session.get(RescueCase, donation.case_id)
        case.updated_at = utcnow()  # the case page's fingerprint moves: the wall is rendered again
    db.session.flush()
    audit.record(f"donation.message_{new_status}", donation, case_id=donation.case_id,
                 before={"message_status": before}, after={"message_status": new_status},
                 actor=actor)
    return donation


def approve(public_id: str, actor: User | None = None) -> Donation:
    """Show a waiting message on the public wall."""
    return _decide(public_id, MESSAGE_APPROVED, (MESSAGE_WAITING,), actor)


def hide(public_id: str, actor: User | None = None) -> Donation:
    """Never show this message (waiting or already approved); the gift is unaffected."""
    return _decide(public_id, MESSAGE_HIDDEN, (MESSAGE_WAITING, MESSAGE_APPROVED), actor)
