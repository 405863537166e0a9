"""Import every model so that SQLAlchemy's metadata (and Alembic) sees the whole schema."""

from tracker.accounts.models import User
from tracker.budgets.models import BudgetLine, Disbursement, DisbursementReceipt
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core.audit import AuditEntry
from tracker.core.counters import Counter
from tracker.core.outbox import OutboxMessage
from tracker.donations.models import Donation, Donor, LedgerEntry, Receipt
from tracker.donations.recurring import RecurringGift
from tracker.donors.models import DonorSignIn
from tracker.payments.models import PaymentEvent
from tracker.posts.models import Post, PostImage, post_cases
from tracker.reports.rollups import DonorMonth, DonorYear, GiftAmountMonth, LedgerMonthTotal
from tracker.sandbox.models import SandboxClock, SandboxSession, SandboxSubscription

__all__ = [
    "AuditEntry", "Beneficiary", "BudgetLine", "Counter", "Disbursement", "DisbursementReceipt",
    "Donation", "Donor", "DonorMonth", "DonorSignIn", "DonorYear", "GiftAmountMonth", "LedgerEntry",
    "LedgerMonthTotal", "OutboxMessage",
    "PaymentEvent", "Post", "PostImage", "Receipt", "RecurringGift", "RescueCase", "SandboxClock",
    "SandboxSession", "SandboxSubscription", "User", "post_cases",
]
