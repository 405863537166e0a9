"""Words for stored codes: the one place that turns a status, outcome, channel or kind as the
database holds it ("lost_contact", "bank_transfer", "succeeded") into what a person reads
("Lost contact", "Bank transfer", "Paid"; in Japanese 連絡途絶, 銀行振込, 入金済み).

Pages, mail and CSV files meant for people call ``label(domain, code)`` (templates: the
``label`` filter, ``{{ case.outcome|label("outcome") }}``); a code never reaches a person as it
is stored. Each label has its own msgctxt (the domain), because one English word may need
different Japanese in different places (a case "Cancelled" is 中止, a monthly gift's is 解約済み).

The tables are checked against the codes each domain stores by
``tests/core/test_no_codes_shown.py``, which also renders every page in both languages and
fails when a code shows. CSV columns meant for other programs keep the codes.
"""

from __future__ import annotations

import json
from typing import Final

from flask import Flask
from flask_babel import lazy_pgettext
from flask_babel.speaklater import LazyString

_TABLES: Final[dict[str, dict[str, LazyString]]] = {
    "case_status": {
        "requested": lazy_pgettext("case status", "Request received"),
        "fundraising": lazy_pgettext("case status", "Fundraising"),
        "in_progress": lazy_pgettext("case status", "Rescue under way"),
        "legal_action": lazy_pgettext("case status", "Legal action"),
        "on_hold": lazy_pgettext("case status", "On hold"),
        "rescued": lazy_pgettext("case status", "Rescued"),
        "closed": lazy_pgettext("case status", "Closed"),
    },
    "outcome": {
        "cancelled": lazy_pgettext("case outcome", "Cancelled"),
        "failed": lazy_pgettext("case outcome", "Failed"),
        "deported": lazy_pgettext("case outcome", "Deported"),
        "lost_contact": lazy_pgettext("case outcome", "Lost contact"),
        "merged": lazy_pgettext("case outcome", "Merged"),
        "other": lazy_pgettext("case outcome", "Other"),
    },
    "track": {
        "journey": lazy_pgettext("case track", "Journey"),
        "legal": lazy_pgettext("case track", "Legal"),
    },
    # a person's age band: 18〜29歳 in Japanese (the stored code "18-29" is not shown)
    "age_band": {
        "0-4": lazy_pgettext("age band", "0–4"),
        "5-11": lazy_pgettext("age band", "5–11"),
        "12-17": lazy_pgettext("age band", "12–17"),
        "18-29": lazy_pgettext("age band", "18–29"),
        "30-49": lazy_pgettext("age band", "30–49"),
        "50-69": lazy_pgettext("age band", "50–69"),
        "70+": lazy_pgettext("age band", "70 and over"),
    },
    "person_status": {
        "waiting": lazy_pgettext("person status", "Waiting"),
        "in_transit": lazy_pgettext("person status", "In transit"),
        "rescued": lazy_pgettext("person status", "Rescued"),
        "lost_contact": lazy_pgettext("person status", "Lost contact"),
        "detained": lazy_pgettext("person status", "Detained"),
    },
    "gift_status": {
        "pending": lazy_pgettext("gift status", "Awaiting payment"),
        "succeeded": lazy_pgettext("gift status", "Paid"),
        "failed": lazy_pgettext("gift status", "Failed"),
        "expired": lazy_pgettext("gift status", "Expired"),
        "flagged": lazy_pgettext("gift status", "Flagged for checking"),
    },
    "monthly_status": {
        "incomplete": lazy_pgettext("monthly gift status", "Waiting for the first payment"),
        "active": lazy_pgettext("monthly gift status", "Active"),
        "past_due": lazy_pgettext("monthly gift status", "Payment failed; retrying"),
        "canceled": lazy_pgettext("monthly gift status", "Cancelled"),
    },
    "pay_later": {
        "konbini": lazy_pgettext("way to pay", "Convenience store"),
        "bank_transfer": lazy_pgettext("way to pay", "Bank transfer"),
    },
    "payment_detail": {
        "store:familymart": lazy_pgettext("store", "FamilyMart"),
        "store:lawson": lazy_pgettext("store", "Lawson"),
        "store:ministop": lazy_pgettext("store", "Ministop"),
        "store:seicomart": lazy_pgettext("store", "Seicomart"),
        "bank_name": lazy_pgettext("transfer", "Bank"),
        "branch_name": lazy_pgettext("transfer", "Branch"),
        "account_type": lazy_pgettext("transfer", "Account type"),
        "account_number": lazy_pgettext("transfer", "Account number"),
        "account_holder_name": lazy_pgettext("transfer", "Account name"),
        "reference": lazy_pgettext("transfer", "Reference"),
    },
    "channel": {
        "card": lazy_pgettext("payment channel", "Card"),
        "bank_transfer": lazy_pgettext("payment channel", "Bank transfer"),
        "cash": lazy_pgettext("payment channel", "Cash"),
        "konbini": lazy_pgettext("payment channel", "Convenience store"),
    },
    "ledger_kind": {
        "gift": lazy_pgettext("ledger entry", "Gift"),
        "refund": lazy_pgettext("ledger entry", "Refund"),
        "dispute": lazy_pgettext("ledger entry", "Chargeback"),
        "dispute_reversal": lazy_pgettext("ledger entry", "Chargeback reversed"),
        "fee": lazy_pgettext("ledger entry", "Fee"),
        "transfer": lazy_pgettext("ledger entry", "Transfer"),
        "adjustment": lazy_pgettext("ledger entry", "Adjustment"),
        "disbursement": lazy_pgettext("ledger entry", "Disbursement"),
        "fee_cover": lazy_pgettext("ledger entry", "Payment fee covered by the donor"),
    },
    "post_kind": {
        "appeal": lazy_pgettext("post kind", "Appeal"),
        "update": lazy_pgettext("post kind", "Update"),
        "rescue_report": lazy_pgettext("post kind", "Rescue report"),
        "news": lazy_pgettext("post kind", "News"),
    },
    "post_status": {
        "draft": lazy_pgettext("post status", "Draft"),
        "scheduled": lazy_pgettext("post status", "Scheduled"),
        "published": lazy_pgettext("post status", "Published"),
    },
    "gateway": {
        "stripe": lazy_pgettext("payment gateway", "Online payment (Stripe)"),
        "sandbox": lazy_pgettext("payment gateway", "Test mode"),
        "offline": lazy_pgettext("payment gateway", "Recorded by staff"),
    },
    # a donor's message on the public wall, as staff decided it
    "message_status": {
        "none": lazy_pgettext("wall message", "No message"),
        "waiting": lazy_pgettext("wall message", "Awaiting review"),
        "approved": lazy_pgettext("wall message", "Shown on the wall"),
        "hidden": lazy_pgettext("wall message", "Hidden"),
    },
    "disbursement_status": {
        "pending": lazy_pgettext("disbursement status", "Awaiting approval"),
        "approved": lazy_pgettext("disbursement status", "Counted"),
        "rejected": lazy_pgettext("disbursement status", "Rejected"),
    },
}


def codes(domain: str) -> tuple[str, ...]:
    """The codes ``domain`` has words for (KeyError for an unknown domain)."""
    return tuple(_TABLES[domain])


def table(domain: str) -> dict[str, LazyString]:
    """``{code: lazy label}`` for ``domain``: for form choices and lists built at import time,
    each label shown in the reader's language when rendered."""
    return dict(_TABLES[domain])


def label(domain: str, code: str | None) -> str:
    """The words for ``code`` in ``domain``, in the current language. An empty code is "";
    a code with no entry (an old row, a new code not added here yet) is shown humanized
    ("vanished_overnight" -> "Vanished overnight") rather than as stored. KeyError for an
    unknown domain: that is a programming error, not data."""
    entries = _TABLES[domain]
    if not code:
        return ""
    found = entries.get(code)
    return str(found) if found is not None else code.replace("_", " ").capitalize()


#: which domain a stored value belongs to, by the record's table and the value's key (an
#: audit entry's before/after): {key: domain} per table, "*" for any table
_RECORD_FIELDS: Final[dict[str, dict[str, str]]] = {
    "*": {"outcome": "outcome", "channel": "channel", "track": "track"},
    "rescue_cases": {"status": "case_status"},
    "beneficiaries": {"status": "person_status"},
    "donations": {"status": "gift_status", "kind": "ledger_kind", "gateway": "gateway",
                  "message_status": "message_status"},
    "recurring_gifts": {"status": "monthly_status"},
    "posts": {"status": "post_status", "kind": "post_kind"},
    "disbursements": {"status": "disbursement_status"},
}


def readable(values: object, table_name: str | None = None) -> list[tuple[str, str]]:
    """A stored record of values (an audit entry's before or after) as ``(key, text)`` pairs
    for a page: each code a person would read turned into words; other values as JSON."""
    if not isinstance(values, dict):
        return [] if values in (None, "", {}) else [("", json.dumps(values, ensure_ascii=False))]
    fields = {**_RECORD_FIELDS["*"], **_RECORD_FIELDS.get(table_name or "", {})}
    shown = []
    for key, value in values.items():
        domain = fields.get(key)
        if domain and isinstance(value, str):
            shown.append((key, label(domain, value)))
        elif isinstance(value, str):
            shown.append((key, value))
        else:
            shown.append((key, json.dumps(value, ensure_ascii=False, default=str)))
    return shown


def init_app(app: Flask) -> None:
    """Register the template filters ``label`` (``{{ code|label("outcome") }}``) and
    ``readable`` (``{{ entry.after|readable(entry.object_type) }}``)."""
    app.add_template_filter(lambda code, domain: label(domain, code), "label")
    app.add_template_filter(readable, "readable")
