"""Following a case without giving: an email address gets a public case's rescue reports and
updates once it has confirmed that it asked to (double opt-in).

* ``request_follow`` stores the address (lower-cased, as ``tracker.core.validation`` writes
  every address) with the reader's language and queues a confirmation mail holding a signed
  link that works for ``CONFIRM_HOURS``. The caller shows the same answer whether or not the
  address already follows: a confirmed follower gets no mail, an unconfirmed one gets the
  confirmation again (at most once per ``RESEND_MINUTES``).
* ``confirm`` turns a confirmation link into a confirmed follow; a forged, expired or
  outdated link raises ``FollowLinkInvalid`` / ``FollowLinkExpired``, changing nothing.
* ``unsubscribe`` ends a follow from the link in every follower's mail (no expiry: RFC 8058
  one-click). The row is deleted: nothing of the address stays.
* ``prune_unconfirmed`` deletes follows never confirmed once their link has expired (the
  worker's hourly job): an address nobody confirmed is not kept.
* ``forget_email`` deletes every follow of an address (a person's erasure,
  ``tracker.donors.privacy``); ``follows_of`` lists them for a person's data export.

The posts domain mails confirmed followers from the same service that mails donors
(``tracker.posts.services.queue_post_emails``), with ``List-Unsubscribe`` headers built by
``unsubscribe_headers``. Tokens are signed with SECRET_KEY (itsdangerous) and carry the row's
id and its random ``secret``; they reveal no address. Services flush; the caller commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from tracker.cases.models import RescueCase
from tracker.core.errors import DomainError, NotFound
from tracker.core.i18n import known, language
from tracker.core.links import public_url
from tracker.core.time import as_utc, utcnow
from tracker.core.types import UTCDateTime
from tracker.core.validation import email_key, normalize_email
from tracker.extensions import db
from tracker.mail import outbox

#: how long a confirmation link works
CONFIRM_HOURS = 72
#: an unconfirmed address asking again gets a new confirmation at most this often
RESEND_MINUTES = 10
_CONFIRM_SALT = "tracker.follow.confirm.v1"
_UNSUBSCRIBE_SALT = "tracker.follow.unsubscribe.v1"


class CaseFollow(db.Model):
    """One email address following one case (confirmed or waiting for its confirmation)."""

    __tablename__ = "case_follows"
    __table_args__ = (UniqueConstraint("case_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rescue_cases.id", ondelete="CASCADE"))
    #: personal data: erased with the person (``forget_email``); lower-cased
    email: Mapped[str] = mapped_column(String(254), index=True)
    #: the language the follower read the site in ("en", "ja"); their mail is written in it
    locale: Mapped[str | None] = mapped_column(String(8))
    #: random, in every link of this follow: a new row (after an unsubscribe) has new links
    secret: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirm_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: set by the confirmation link; only a confirmed follower gets mail
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FollowLinkInvalid(DomainError):
    """A confirmation or unsubscribe link that was not made here (or no longer applies)."""


class FollowLinkExpired(DomainError):
    """A confirmation link older than CONFIRM_HOURS."""


def _confirm_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_CONFIRM_SALT)


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def confirm_token(follow: CaseFollow) -> str:
    """The signed, expiring token of ``follow``'s confirmation link."""
    return _confirm_serializer().dumps([follow.id, follow.secret])


def unsubscribe_token(follow: CaseFollow) -> str:
    """The signed token of ``follow``'s unsubscribe link (it does not expire)."""
    return _unsubscribe_serializer().dumps([follow.id, follow.secret])


def unsubscribe_url(follow: CaseFollow, locale: str | None) -> str:
    """``follow``'s unsubscribe link, opening in ``locale`` (the mail's language: ``?lang=``,
    like the confirmation link) whatever the browser that opens it says."""
    return public_url("follow.unsubscribe", token=unsubscribe_token(follow), lang=locale)


def unsubscribe_headers(follow: CaseFollow, locale: str | None) -> dict[str, str]:
    """The RFC 8058 one-click unsubscribe headers for mail to ``follow`` in ``locale``."""
    url = unsubscribe_url(follow, locale)
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _lookup(payload: object) -> CaseFollow | None:
    """The follow a token's payload names, if its secret still matches."""
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)
            and isinstance(payload[1], str)):
        return None
    follow = db.session.get(CaseFollow, payload[0])
    if follow is None or not secrets.compare_digest(follow.secret, payload[1]):
        return None
    return follow


def request_follow(case: RescueCase, email: str, locale: str | None,
                   now: datetime | None = None) -> CaseFollow | None:
    """Start following ``case`` with ``email`` (double opt-in); the follow, or None when
    nothing was sent (the address already follows, or asked again too soon).

    Raises DomainError (field "email") for an address that is not one and NotFound for a case
    that is not public. The caller answers the same either way (never whether the address
    already follows).
    """
    if not case.is_public:
        raise NotFound(_("There is no such case."))
    try:
        address = normalize_email(email)
    except DomainError:
        # Our own words: the validator's English would be spliced into a Japanese sentence.
        raise DomainError(_("This does not look like an email address. Please check it "
                            "(for example name@example.org)."), field="email") from None
    now = now or utcnow()
    follow = db.session.scalar(select(CaseFollow).where(CaseFollow.case_id == case.id,
                                                        CaseFollow.email == address))
    if follow is None:
        follow = CaseFollow(case_id=case.id, email=address, locale=known(locale),
                            secret=secrets.token_hex(16), created_at=now)
        db.session.add(follow)
        db.session.flush()
    elif follow.confirmed_at is not None or follow.confirm_sent_at is not None and \
            as_utc(follow.confirm_sent_at) > now - timedelta(minutes=RESEND_MINUTES):
        return None
    else:
        follow.locale = known(locale) or follow.locale
    follow.confirm_sent_at = now
    _queue_confirmation(case, follow, now)
    db.session.flush()
    return follow


def _queue_confirmation(case: RescueCase, follow: CaseFollow, now: datetime) -> None:
    """The confirmation mail, in the follower's language: the case's public title and the link."""
    with language(follow.locale) as code:
        link = public_url("follow.confirm", token=confirm_token(follow), lang=code)
        subject = _("Please confirm: news of “%(title)s”", title=case.text(code).title)[:200]
        body = (
            _("Someone, we hope you, asked to receive news of the rescue “%(title)s” at this "
              "address.", title=case.text(code).title) + "\n\n"
            + _("To confirm, open this link within %(hours)d hours and press the button:",
                hours=CONFIRM_HOURS) + "\n" + link + "\n\n"
            + _("If you did not ask for this, ignore this email: we will not write to you "
                "again.") + "\n"
        )
    outbox.queue("follow-confirm", f"follow-confirm:{follow.id}:{now.timestamp():.0f}",
                 follow.email, subject, body, locale=code)


def follow_from_confirm_link(token: str) -> CaseFollow:
    """The follow a confirmation link names (not confirmed yet). Raises FollowLinkExpired or
    FollowLinkInvalid; a follow whose case is no longer public is invalid."""
    try:
        payload = _confirm_serializer().loads(token, max_age=CONFIRM_HOURS * 3600)
    except SignatureExpired:
        raise FollowLinkExpired(_("This link has expired. Ask again to follow the case.")) from None
    except BadData:
        raise FollowLinkInvalid(_("This link is not valid.")) from None
    follow = _lookup(payload)
    if follow is None or not db.session.get(RescueCase, follow.case_id).is_public:
        raise FollowLinkInvalid(_("This link is not valid."))
    return follow


def confirm(token: str, now: datetime | None = None) -> CaseFollow:
    """Confirm the follow a confirmation link names (again: nothing changes). Raises
    FollowLinkExpired or FollowLinkInvalid, changing nothing."""
    follow = follow_from_confirm_link(token)
    if follow.confirmed_at is None:
        follow.confirmed_at = now or utcnow()
        db.session.flush()
    return follow


def check_unsubscribe_token(token: str) -> CaseFollow | None:
    """The follow an unsubscribe link names; None when it already ended (an unsubscribe
    link stays good to press twice). Raises FollowLinkInvalid for a forged link."""
    try:
        payload = _unsubscribe_serializer().loads(token)
    except BadData:
        raise FollowLinkInvalid(_("This link is not valid.")) from None
    return _lookup(payload)


def unsubscribe(token: str) -> RescueCase | None:
    """End the follow an unsubscribe link names (deleting its row); the case it was about,
    or None when it had already ended. Raises FollowLinkInvalid for a forged link."""
    follow = check_unsubscribe_token(token)
    if follow is None:
        return None
    case = db.session.get(RescueCase, follow.case_id)
    db.session.delete(follow)
    db.session.flush()
    return case


def confirmed_followers(case_ids: list[int]) -> list[CaseFollow]:
    """The confirmed follows of these cases, oldest first."""
    if not case_ids:
        return []
    return list(db.session.scalars(
        select(CaseFollow).where(CaseFollow.case_id.in_(case_ids), CaseFollow.confirmed_at.is_not(None))
        .order_by(CaseFollow.id)
    ))


def follows_of(email: str | None) -> list[CaseFollow]:
    """Every follow of an address (confirmed or not), oldest first."""
    if not email:
        return []
    return list(db.session.scalars(
        select(CaseFollow).where(CaseFollow.email == email_key(email)).order_by(CaseFollow.id)
    ))


def prune_unconfirmed(now: datetime | None = None) -> int:
    """Delete the follows never confirmed whose last confirmation link has expired: an
    address nobody confirmed is not kept. How many there were (the worker runs this hourly)."""
    cutoff = (now or utcnow()) - timedelta(hours=CONFIRM_HOURS)
    result = db.session.execute(
        delete(CaseFollow).where(CaseFollow.confirmed_at.is_(None),
                                 db.func.coalesce(CaseFollow.confirm_sent_at, CaseFollow.created_at) < cutoff)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return int(result.rowcount or 0)


def forget_email(email: str | None) -> int:
    """Delete every follow of an address (a person's erasure); how many there were."""
    if not email:
        return 0
    result = db.session.execute(
        delete(CaseFollow).where(CaseFollow.email == email_key(email))
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return int(result.rowcount or 0)
