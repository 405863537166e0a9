"""Budget rules: planning a case's spending, paying it out with four eyes, reversing mistakes.

Services take models and plain values, raise DomainError with the field at fault, flush and
write audit entries; the caller commits once. Every change takes the case's row lock first
(``get_case_for_update``), so recording, approving, reversing and closing a case serialize.

Audit entries never carry the payee, the note or the receipt: they say "changed" or give ids,
so the audit log does not become a second copy of private data.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from tracker import audit
from tracker.budgets.models import (
    APPROVED,
    PENDING,
    REJECTED,
    BudgetLine,
    Disbursement,
    DisbursementReceipt,
)
from tracker.cases import signals as case_signals
from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.cases.services import get_case_for_update
from tracker.config import CATEGORY_LABELS
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.images import reencode
from tracker.core.money import (
    Money,
    MoneyError,
    check_rate_places,
    convert,
    currency_words,
    format_money,
)
from tracker.core.time import EARLIEST_MONEY_DAY, local_zone, utcnow
from tracker.core.validation import check_length, check_reason, check_staff_amount
from tracker.extensions import db
from tracker.ledger import book
from tracker.ledger.models import DISBURSEMENT, LedgerEntry

if TYPE_CHECKING:
    from tracker.accounts.models import User

PAYEE_MAX = 200
NOTE_MAX = 5000
LINE_NOTE_MAX = 500

#: the default categories' labels in the page's language (a label written in the
#: configuration is shown as it is written)
DEFAULT_CATEGORY_LABELS = {
    "guides": _l("Guides"), "transport": _l("Transport"), "safe_house": _l("Safe house"),
    "documents_legal": _l("Documents and legal"), "medical": _l("Medical"), "food": _l("Food"),
    "other": _l("Other"),
}


# --- categories and settings -----------------------------------------------------------------


def categories() -> dict[str, str]:
    """The configured budget categories, {key: label}, in their configured order."""
    return current_app.config["TRACKER_BUDGET_CATEGORIES"]


def category_label(key: str) -> str:
    """A category's label, in the page's language when it is a default category's default
    label; a key no longer configured keeps a readable label."""
    label = categories().get(key)
    if label is not None and label == CATEGORY_LABELS.get(key) and key in DEFAULT_CATEGORY_LABELS:
        return str(DEFAULT_CATEGORY_LABELS[key])
    return label or key.replace("_", " ").capitalize()


def category_choices() -> list[tuple[str, str]]:
    """The configured categories as (key, label) pairs for a form, in their order."""
    return [(key, category_label(key)) for key in categories()]


def approval_threshold() -> Money:
    """Disbursements above this need a second staff member's approval."""
    return Money(current_app.config["TRACKER_APPROVAL_THRESHOLD_MINOR"],
                 current_app.config["TRACKER_BASE_CURRENCY"])


def _open_for_money(case: RescueCase) -> None:
    if case.status == workflow.CLOSED:
        raise Conflict(_("This case is closed: its budget and spending no longer change."))


def _noon(day: date) -> datetime:
    """Local noon of ``day``: safely inside that day (and its fiscal year) in UTC."""
    return datetime.combine(day, time(12, 0), local_zone())


# --- budget lines ----------------------------------------------------------------------------


def lines_for(case_id: int) -> list[BudgetLine]:
    """A case's budget lines in the configured category order (unknown keys last)."""
    order = {key: i for i, key in enumerate(categories())}
    lines = db.session.scalars(db.select(BudgetLine).where(BudgetLine.case_id == case_id))
    return sorted(lines, key=lambda line: (order.get(line.category, len(order)), line.category))


def budget_total(case_id: int) -> int:
    """The sum of a case's planned amounts, base-currency minor units."""
    return int(db.session.scalar(
        db.select(func.coalesce(func.sum(BudgetLine.planned_minor), 0))
        .where(BudgetLine.case_id == case_id)
    ) or 0)


def _sync_goal(case: RescueCase) -> None:
    """Keep a budget-following goal equal to the budget total (audited when it moves)."""
    if not case.goal_follows_budget:
        return
    total = budget_total(case.id)
    if total <= 0:
        raise Conflict(_("This case's goal follows its budget, so it needs at least one budget "
                         "line; set the goal by hand first."))
    if case.goal_amount_minor != total:
        audit.record("case.updated", case, case_id=case.id,
                     before={"goal_amount_minor": case.goal_amount_minor},
                     after={"goal_amount_minor": total, "because": "budget"})
        case.goal_amount_minor = total
        case.updated_at = utcnow()


def set_line(case: RescueCase, category: str, planned: Money, private_note: str = "") -> BudgetLine:
    """Plan ``planned`` for ``category`` on ``case``: adds the line, or changes its amount.

    Raises DomainError for an unknown category, a zero, negative or oversized amount, a
    currency other than the base currency; Conflict for a closed case.
    """
    case = get_case_for_update(case.id)
    _open_for_money(case)
    if category not in categories():
        raise DomainError(_("Choose one of the budget categories."), field="category")
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    if planned.currency != base:
        raise DomainError(_("Plan budget lines in %(currency)s.", currency=currency_words(base)),
                          field="planned")
    if planned.amount_minor <= 0:
        raise DomainError(_("Plan an amount greater than zero."), field="planned")
    check_staff_amount(planned, field="planned")
    check_length(private_note, LINE_NOTE_MAX, "private_note", "note")
    line = db.session.scalar(db.select(BudgetLine).where(
        BudgetLine.case_id == case.id, BudgetLine.category == category))
    if line is None:
        line = BudgetLine(case_id=case.id, category=category, planned_minor=planned.amount_minor,
                          currency=base, private_note=private_note)
        db.session.add(line)
        db.session.flush()
        audit.record("budget.line_added", line, case_id=case.id,
                     after={"category": category, "planned_minor": planned.amount_minor})
    else:
        before = line.planned_minor
        if before == planned.amount_minor and line.private_note == private_note:
            return line
        line.planned_minor = planned.amount_minor
        line.private_note = private_note
        line.updated_at = utcnow()
        db.session.flush()
        audit.record("budget.line_changed", line, case_id=case.id,
                     before={"category": category, "planned_minor": before},
                     after={"category": category, "planned_minor": planned.amount_minor,
                            "private_note": "changed"})
    case.updated_at = utcnow()
    _sync_goal(case)
    db.session.flush()
    return line


def remove_line(line: BudgetLine) -> None:
    """Remove a budget line nothing was paid against (a line with payments stays: its
    history is part of the books)."""
    case = get_case_for_update(line.case_id)
    _open_for_money(case)
    used = db.session.scalar(
        db.select(func.count(Disbursement.id)).where(Disbursement.budget_line_id == line.id))
    if used:
        raise Conflict(_("Money was paid against this line, so it stays; lower its plan instead."))
    audit.record("budget.line_removed", line, case_id=case.id,
                 before={"category": line.category, "planned_minor": line.planned_minor})
    db.session.delete(line)
    db.session.flush()
    case.updated_at = utcnow()
    _sync_goal(case)
    db.session.flush()


def set_options(case: RescueCase, *, goal_follows_budget: bool, show_budget: bool) -> list[str]:
    """Turn on or off "the goal follows the budget" and "show donors the budget"."""
    case = get_case_for_update(case.id)
    _open_for_money(case)
    new = {"goal_follows_budget": goal_follows_budget, "show_budget": show_budget}
    changed = [name for name, value in new.items() if getattr(case, name) != value]
    if not changed:
        return []
    before = {name: getattr(case, name) for name in changed}
    for name in changed:
        setattr(case, name, new[name])
    audit.record("case.budget_options", case, case_id=case.id, before=before,
                 after={name: new[name] for name in changed})
    case.updated_at = utcnow()
    _sync_goal(case)
    db.session.flush()
    return changed


# --- disbursements ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisbursementInput:
    """What staff type when recording a payment."""

    line_id: int
    spent_on: date
    amount: Money
    payee: str
    #: base-currency units per unit of ``amount``'s currency; None: the configured rate
    rate: Decimal | None = None
    note: str = ""


def _rate_for(currency: str, typed: Decimal | None) -> Decimal:
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    if currency == base:
        if typed is not None and typed != 1:
            raise DomainError(_("A payment in %(currency)s has no exchange rate; leave it empty "
                                "or 1.", currency=base), field="rate")
        return Decimal(1)
    if typed is not None:
        check_rate_places(typed)
        return typed
    configured = current_app.config["TRACKER_EXCHANGE_RATES"].get(currency)
    if configured is None:
        raise DomainError(_("There is no configured rate for %(currency)s; type the rate you "
                            "paid at.", currency=currency), field="rate")
    return configured


def _count(disbursement: Disbursement, actor: User | None) -> None:
    """Mark a disbursement approved and book it on the ledger (once: UNIQUE disbursement_id)."""
    # Read the actor's id before touching the row: loading an expired user would autoflush
    # a half-decided row into the decision_recorded CHECK.
    actor_id = actor.id if actor is not None else None
    disbursement.status = APPROVED
    disbursement.decided_by_id = actor_id
    disbursement.decided_at = utcnow()
    db.session.flush()
    book_disbursement(disbursement, booked_at=_noon(disbursement.spent_on))


def book_disbursement(disbursement: Disbursement, *, booked_at: datetime) -> LedgerEntry:
    """Write an approved disbursement (or its reversal) on the ledger; returns the entry."""
    return book.book_disbursement(
        disbursement_id=disbursement.id, case_id=disbursement.case_id,
        base=disbursement.base_amount, original=disbursement.amount,
        booked_at=booked_at, created_by_id=disbursement.decided_by_id,
    )


def record_disbursement(case: RescueCase, data: DisbursementInput, *, actor: User | None,
                        today: date, receipt: bytes | None = None) -> Disbursement:
    """Record money paid out of ``case`` against one of its budget lines.

    At or under the approval threshold it counts at once; above it, it waits for a second
    staff member. ``receipt`` (an uploaded photo) is re-encoded without EXIF/GPS and kept
    staff-only. Raises DomainError (with the field) for bad input, Conflict for a closed case.
    """
    case = get_case_for_update(case.id)
    _open_for_money(case)
    line = db.session.get(BudgetLine, data.line_id)
    if line is None or line.case_id != case.id:
        raise DomainError(_("Choose one of this case's budget lines."), field="line")
    if data.amount.amount_minor <= 0:
        raise DomainError(_("Enter an amount greater than zero."), field="amount")
    check_staff_amount(data.amount)
    if data.spent_on > today:
        raise DomainError(_("The payment date cannot be in the future."), field="spent_on")
    if data.spent_on < EARLIEST_MONEY_DAY:
        raise DomainError(_("That date is too long ago; check the year."), field="spent_on")
    payee = (data.payee or "").strip()
    if not payee:
        raise DomainError(_("Describe who was paid (kept private, staff only)."), field="payee")
    check_length(payee, PAYEE_MAX, "payee", "payee")
    check_length(data.note or "", NOTE_MAX, "note", "note")
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    rate = _rate_for(data.amount.currency, data.rate)
    try:
        base_amount = convert(data.amount, base, rate)
    except MoneyError as exc:
        raise DomainError(exc.reason, field="rate") from None
    if base_amount.amount_minor <= 0:
        raise DomainError(_("At that rate the payment is less than the smallest unit of "
                            "%(currency)s.", currency=base), field="amount")
    check_staff_amount(base_amount)
    stored_receipt = reencode(receipt, field="receipt") if receipt else None
    disbursement = Disbursement(
        case_id=case.id, budget_line_id=line.id, spent_on=data.spent_on,
        amount_minor=data.amount.amount_minor, currency=data.amount.currency,
        exchange_rate=rate, base_amount_minor=base_amount.amount_minor, base_currency=base,
        private_payee=payee, private_note=data.note or "", status=PENDING,
        needs_approval=base_amount.amount_minor > approval_threshold().amount_minor,
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(disbursement)
    db.session.flush()
    if stored_receipt is not None:
        _attach_receipt(disbursement, stored_receipt)
    audit.record("disbursement.recorded", disbursement, case_id=case.id, actor=actor,
                 after={"line": line.category, "amount": str(data.amount),
                        "base_amount_minor": base_amount.amount_minor,
                        "spent_on": data.spent_on.isoformat(),
                        "needs_approval": disbursement.needs_approval,
                        "payee": "recorded", "receipt": stored_receipt is not None})
    if not disbursement.needs_approval:
        _count(disbursement, actor)
    return disbursement


def _attach_receipt(disbursement: Disbursement, stored: tuple[bytes, str, int, int]) -> None:
    data, content_type, _, _ = stored
    db.session.add(DisbursementReceipt(disbursement_id=disbursement.id, content_type=content_type,
                                       byte_size=len(data), data=data))
    db.session.flush()


def _locked(disbursement_id: int) -> tuple[Disbursement, RescueCase]:
    """A disbursement with its case locked, re-read after the lock."""
    found = db.session.get(Disbursement, disbursement_id)
    if found is None:
        raise NotFound(_("There is no such disbursement."))
    case = get_case_for_update(found.case_id)
    disbursement = db.session.scalar(
        db.select(Disbursement).where(Disbursement.id == disbursement_id)
        .execution_options(populate_existing=True))
    return disbursement, case


def _already(status: str) -> str:
    """Why a disbursement that was already decided cannot be decided again."""
    if status == APPROVED:
        return _("This disbursement is already approved.")
    if status == REJECTED:
        return _("This disbursement is already rejected.")
    return _("This disbursement is already %(status)s.", status=status)


def _reversed_already(original_id: int, *, statuses: tuple[str, ...]) -> bool:
    return bool(db.session.scalar(
        db.select(func.count(Disbursement.id)).where(
            Disbursement.reverses_id == original_id, Disbursement.status.in_(statuses))))


def approve(disbursement_id: int, *, actor: User) -> Disbursement:
    """A second staff member approves a disbursement; from then on it counts.

    Conflict when it is not awaiting approval, when the approver recorded it themselves,
    when the case is closed, or when it reverses a payment already reversed.
    """
    disbursement, case = _locked(disbursement_id)
    if disbursement.status != PENDING:
        raise Conflict(_already(disbursement.status))
    if disbursement.created_by_id == actor.id:
        raise Conflict(_("You recorded this disbursement, so someone else must approve it "
                         "(four eyes)."))
    _open_for_money(case)
    if disbursement.reverses_id is not None and _reversed_already(
            disbursement.reverses_id, statuses=(APPROVED,)):
        raise Conflict(_("That payment has already been reversed."))
    _count(disbursement, actor)
    audit.record("disbursement.approved", disbursement, case_id=case.id, actor=actor,
                 after={"base_amount_minor": disbursement.base_amount_minor,
                        "reversal": disbursement.is_reversal})
    # case.updated_at stays: progress.json's updated_at must not tell when money was paid out
    # (the new ledger entry refreshes the cached case page by itself).
    return disbursement


def reject(disbursement_id: int, *, actor: User, reason: str) -> Disbursement:
    """Turn down a disbursement awaiting approval (its creator may withdraw it too)."""
    disbursement, case = _locked(disbursement_id)
    if disbursement.status != PENDING:
        raise Conflict(_already(disbursement.status))
    reason = check_reason(reason)
    actor_id = actor.id  # before touching the row (see _count)
    disbursement.status = REJECTED
    disbursement.decided_by_id = actor_id
    disbursement.decided_at = utcnow()
    db.session.flush()
    audit.record("disbursement.rejected", disbursement, case_id=case.id, actor=actor,
                 after={"reason": "recorded"})
    return disbursement


def reverse(disbursement_id: int, *, actor: User | None, reason: str, today: date) -> Disbursement:
    """Correct a counted disbursement by reversing it in full: a linked row with negative
    amounts, booked when made (the original stays as it was). Record the right payment anew.

    The reversal follows the same four-eyes rule as a payment of its size.
    """
    original, case = _locked(disbursement_id)
    _open_for_money(case)
    if original.is_reversal:
        raise Conflict(_("A reversal cannot itself be reversed; record the payment again instead."))
    if original.status != APPROVED:
        raise Conflict(_("Only a counted disbursement can be reversed; reject one awaiting "
                         "approval."))
    if _reversed_already(original.id, statuses=(PENDING, APPROVED)):
        raise Conflict(_("This payment is already reversed or has a reversal awaiting approval."))
    reason = check_reason(reason)
    reversal = Disbursement(
        case_id=case.id, budget_line_id=original.budget_line_id, spent_on=today,
        amount_minor=-original.amount_minor, currency=original.currency,
        exchange_rate=original.exchange_rate, base_amount_minor=-original.base_amount_minor,
        base_currency=original.base_currency, private_payee=original.private_payee,
        private_note=reason, status=PENDING, reverses_id=original.id,
        needs_approval=original.base_amount_minor > approval_threshold().amount_minor,
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(reversal)
    db.session.flush()
    audit.record("disbursement.reversal_recorded", reversal, case_id=case.id, actor=actor,
                 after={"reverses": original.id, "base_amount_minor": reversal.base_amount_minor,
                        "needs_approval": reversal.needs_approval, "reason": "recorded"})
    if not reversal.needs_approval:
        _count(reversal, actor)
    return reversal


def add_receipt(disbursement: Disbursement, upload: bytes) -> DisbursementReceipt:
    """Attach the photo of a paper receipt to a disbursement that has none."""
    if disbursement.receipt is not None:
        raise Conflict(_("This disbursement already has a receipt."))
    _attach_receipt(disbursement, reencode(upload, field="receipt"))
    audit.record("disbursement.receipt_added", disbursement, case_id=disbursement.case_id)
    return disbursement.receipt


def pending_approvals() -> list[Disbursement]:
    """Every disbursement awaiting a second approval, oldest first."""
    return list(db.session.scalars(
        db.select(Disbursement).where(Disbursement.status == PENDING)
        .order_by(Disbursement.created_at, Disbursement.id)))


def pending_count() -> int:
    """How many disbursements await a second approval, across all cases."""
    return int(db.session.scalar(
        db.select(func.count(Disbursement.id)).where(Disbursement.status == PENDING)) or 0)


def disbursements_for(case_id: int) -> list[Disbursement]:
    """A case's disbursements and reversals, newest first."""
    return list(db.session.scalars(
        db.select(Disbursement).where(Disbursement.case_id == case_id)
        .order_by(Disbursement.spent_on.desc(), Disbursement.id.desc())))


# --- budget against actual -------------------------------------------------------------------


class _PlannedAgainstSpent:
    """What a budget line and a whole budget share: the plan against what was paid."""

    __slots__ = ()
    planned: Money
    spent: Money

    @property
    def remaining(self) -> Money:
        return self.planned - self.spent

    @property
    def overspent(self) -> bool:
        return self.spent.amount_minor > self.planned.amount_minor


@dataclass(frozen=True, slots=True)
class LineFigures(_PlannedAgainstSpent):
    """One budget line: planned, paid out (from the ledger), awaiting approval."""

    line: BudgetLine
    label: str
    planned: Money
    spent: Money
    pending: Money


@dataclass(frozen=True, slots=True)
class BudgetFigures(_PlannedAgainstSpent):
    """A case's whole budget: its lines and their totals."""

    lines: list[LineFigures]
    planned: Money
    spent: Money
    pending: Money


def spent_by_line(case_id: int) -> dict[int, int]:
    """Paid out per budget line from the ledger (approved payments less reversals), positive."""
    rows = db.session.execute(
        db.select(Disbursement.budget_line_id, func.sum(LedgerEntry.amount_minor))
        .join(Disbursement, Disbursement.id == LedgerEntry.disbursement_id)
        .where(LedgerEntry.case_id == case_id, LedgerEntry.kind == DISBURSEMENT)
        .group_by(Disbursement.budget_line_id)
    )
    return {line_id: -int(total) for line_id, total in rows}


def budget_figures(case: RescueCase) -> BudgetFigures:
    """A case's budget against what was actually paid, line by line."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    spent = spent_by_line(case.id)
    pending: dict[int, int] = defaultdict(int)
    for line_id, amount in db.session.execute(
        db.select(Disbursement.budget_line_id, func.sum(Disbursement.base_amount_minor))
        .where(Disbursement.case_id == case.id, Disbursement.status == PENDING)
        .group_by(Disbursement.budget_line_id)
    ):
        pending[line_id] = int(amount)
    lines = [
        LineFigures(line, category_label(line.category), Money(line.planned_minor, base),
                    Money(spent.get(line.id, 0), base), Money(pending[line.id], base))
        for line in lines_for(case.id)
    ]
    return BudgetFigures(
        lines=lines,
        planned=Money(sum(f.planned.amount_minor for f in lines), base),
        spent=Money(sum(spent.values()), base),
        pending=Money(sum(pending.values()), base),
    )


@dataclass(frozen=True, slots=True)
class PublicBudgetRow:
    """What donors see of one budget category: its label, plan and spending. No payees,
    dates, notes or receipts."""

    label: str
    planned: Money
    spent: Money


def public_budget(case: RescueCase) -> list[PublicBudgetRow] | None:
    """The budget by category for a case's public page, or None unless staff chose to show it."""
    if not case.show_budget:
        return None
    figures = budget_figures(case)
    if not figures.lines:
        return None
    return [PublicBudgetRow(f.label, f.planned, f.spent) for f in figures.lines]


def describe(disbursement: Disbursement) -> str:
    """A one-line staff description: amount, line and date (never the payee)."""
    amount = format_money(Money(disbursement.amount_minor, disbursement.currency))
    return f"{amount} · {category_label(disbursement.line.category)} · {disbursement.spent_on}"


@case_signals.count_waiting_payments.connect
def _waiting_payments(_sender: object, *, case_id: int) -> int:
    """How many of a case's disbursements await a second approval (asked before closing)."""
    return int(db.session.scalar(
        db.select(func.count(Disbursement.id)).where(
            Disbursement.case_id == case_id, Disbursement.status == PENDING)
    ) or 0)
