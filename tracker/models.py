"""Import every model so that SQLAlchemy's metadata (and Alembic) sees the whole schema."""

from tracker.accounts.models import User
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core.audit import AuditEntry
from tracker.donations.models import Donation, Donor, LedgerEntry
from tracker.payments.models import PaymentEvent
from tracker.posts.models import Post, post_cases

__all__ = [
    "AuditEntry", "Beneficiary", "Donation", "Donor", "LedgerEntry", "PaymentEvent", "Post",
    "RescueCase", "User", "post_cases",
]
