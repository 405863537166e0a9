"""Import every model so that SQLAlchemy's metadata (and Alembic) sees the whole schema."""

from tracker.accounts.models import User
from tracker.audit import AuditEntry
from tracker.budgets.models import BudgetLine, Disbursement, DisbursementReceipt
from tracker.cases.follows import CaseFollow
from tracker.cases.models import Beneficiary, RescueCase
from tracker.core.counters import Counter
from tracker.core.jobruns import WorkerJob
from tracker.donations.models import Donation, Donor, PresetNote, Receipt
from tracker.donors.models import DonorSignIn
from tracker.ledger.models import LedgerEntry
from tracker.ledger.rollups import DonorMonth, DonorYear, GiftAmountMonth, LedgerMonthTotal
from tracker.mail.outbox import OutboxMessage
from tracker.monthly.models import RecurringGift
from tracker.organization.models import Organization, OrganizationLogo, SitePage
from tracker.payments.models import PaymentEvent
from tracker.posts.models import Post, PostImage, post_cases
from tracker.sandbox.models import SandboxClock, SandboxSession, SandboxSubscription

__all__ = [
    "PresetNote",
    "AuditEntry", "Beneficiary", "BudgetLine", "CaseFollow", "Counter", "Disbursement", "DisbursementReceipt",
    "Donation", "Donor", "DonorMonth", "DonorSignIn", "DonorYear", "GiftAmountMonth", "LedgerEntry",
    "LedgerMonthTotal", "Organization", "OrganizationLogo", "OutboxMessage",
    "PaymentEvent", "Post", "PostImage", "Receipt", "RecurringGift", "RescueCase", "SandboxClock",
    "SandboxSession", "SandboxSubscription", "SitePage", "User", "WorkerJob", "post_cases",
]
