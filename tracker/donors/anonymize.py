"""Anonymizing a donor: their monthly gifts are stopped at the gateway first, then their
personal data is erased (``tracker.donors.privacy``).

The order matters: a monthly gift that the gateway goes on charging would bring the donor's
name back with each month's gift, and with the email gone the donor could no longer sign in
to cancel it. So every monthly gift that is not cancelled is cancelled through the gateway
(Stripe: the subscription is cancelled through its API; the sandbox likewise) before any
column is touched. If the gateway refuses, GatewayError propagates and the caller rolls back:
nothing is erased (a Stripe subscription that was cancelled before the refusal is reported
back by its ``customer.subscription.deleted`` event).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from tracker.core.errors import Conflict, NotFound
from tracker.donations.models import Donor
from tracker.donors import privacy
from tracker.donors.services import forget_sign_ins
from tracker.monthly import services as recurring


def anonymize_donor(donor: Donor, actor: Any, reason: str) -> privacy.Redactions:
    """Cancel the donor's monthly gifts at the gateway, then erase their personal data and
    their sign-in links. Returns what was redacted. The gateway reports each cancellation
    through the webhook once the caller has committed (``tracker.core.transactions.commit``).

    Raises what ``privacy.anonymize_donor`` raises (a bad reason, a donor gone or already
    anonymized) before the gateway is called, and GatewayError when the gateway refuses to
    cancel a gift (nothing is erased then; the caller rolls back). Flushes only.
    """
    reason = privacy.check_reason(reason)
    locked = privacy.lock_donor(donor.id)
    if locked is None:
        raise NotFound(_("There is no such donor."))
    if locked.anonymized_at is not None:
        raise Conflict(_("This donor was already anonymized on %(date)s; nothing was changed.",
                         date=locked.anonymized_at.strftime("%Y-%m-%d")))
    label = getattr(actor, "email", None) or "staff"
    for gift in privacy.live_monthly_gifts(locked):
        recurring.cancel_recurring(gift, by=label)
    done = privacy.anonymize_donor(locked, actor, reason)
    forget_sign_ins(locked)
    return done
