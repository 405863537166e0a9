"""Staff forms of the money desk: record an offline gift, adjust one, refund a card gift.

Amounts are text here; the view parses them with ``tracker.core.money`` for the right
currency, so the field errors read the same as everywhere else in the app.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    EmailField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput

from tracker.core.forms import AmountField, Form
from tracker.core.money import InvalidAmount, Money, parse_amount
from tracker.core.time import EARLIEST_MONEY_DAY, local_today
from tracker.core.validation import REASON_MAX, REASON_MIN
from tracker.donations.models import CHANNEL_LABELS

#: the case-select value of the general fund (also the list filter's)
GENERAL_FUND = "general"
OFFLINE_CHANNELS = {c: CHANNEL_LABELS[c] for c in ("bank_transfer", "cash")}
#: an offline gift dated before this is a typo in the year
EARLIEST_RECEIVED_ON = EARLIEST_MONEY_DAY

_REASON = [
    DataRequired(_l("Say why: the reason is kept with the correction.")),
    Length(min=REASON_MIN, max=REASON_MAX,
           message=_l("Give a reason of %(min)d to %(max)d characters.",
                      min=REASON_MIN, max=REASON_MAX)),
]


def _one_of(field, choices, message: str) -> None:  # noqa: ANN001
    if field.data not in dict(choices):
        raise ValidationError(message)


class OfflineGiftForm(Form):
    """A bank transfer or cash gift typed in by staff. The view fills in the choices."""

    case = SelectField(_l("Case"), choices=[], validate_choice=False)
    amount = AmountField(_l("Amount"),
                         validators=[DataRequired(_l("Enter an amount.")), Length(max=30)])
    currency = SelectField(_l("Currency"), choices=[], validate_choice=False)
    channel = SelectField(_l("Channel"), validate_choice=False,
                          choices=[SelectChoice(c, label) for c, label in OFFLINE_CHANNELS.items()])
    received_on = DateField(_l("Date received"),
                            validators=[InputRequired(_l("Enter the day the money arrived."))])
    donor_name = StringField(_l("Donor name"),
                             validators=[DataRequired(_l("Enter the donor's name.")),
                                         Length(max=200)])
    donor_email = EmailField(_l("Donor email (optional, for the receipt)"),
                             validators=[Optional(), Length(max=254)])
    reference = StringField(_l("Reference (optional)"), validators=[Optional(), Length(max=120)])

    def configure(self, cases: list[tuple[str, str]], currencies: list[str]) -> None:
        """Offer the general fund and ``cases`` ((slug, label) pairs), and ``currencies``."""
        self.case.choices = [(GENERAL_FUND, _("General fund")), *cases]
        self.currency.choices = [(c, c) for c in currencies]

    def validate_case(self, field) -> None:  # noqa: ANN001
        """Only a case on offer (or the general fund)."""
        _one_of(field, self.case.choices, _("Choose a case from the list, or the general fund."))

    def validate_currency(self, field) -> None:  # noqa: ANN001
        """Only a configured currency (TRACKER_CURRENCIES)."""
        _one_of(field, self.currency.choices, _("Choose one of the listed currencies."))

    def validate_channel(self, field) -> None:  # noqa: ANN001
        """Bank transfer or cash: card gifts come through the gateway."""
        _one_of(field, OFFLINE_CHANNELS, _("Offline gifts are bank transfers or cash."))

    def validate_received_on(self, field) -> None:  # noqa: ANN001
        """A real local date, not in the future."""
        if field.data is None:
            return  # unreadable: the field already says "Not a valid date value."
        if field.data > local_today():
            raise ValidationError(_("The day received cannot be in the future."))
        if field.data < EARLIEST_RECEIVED_ON:
            raise ValidationError(_("That date is too long ago; check the year."))


class AdjustForm(Form):
    """A signed correction of an offline gift in the base currency, with its reason."""

    amount = AmountField(_l("Adjustment"),
                         validators=[DataRequired(_l("Enter an amount, like -1,000 or 500.")),
                                     Length(max=31)])
    reason = TextAreaField(_l("Reason"), validators=_REASON)


class RefundForm(Form):
    """A card refund in the donor's currency (blank: everything left), with its reason.

    ``seen_refunded`` carries how much was refunded when the form was shown, so sending the
    same form twice refunds once.
    """

    amount = AmountField(_l("Amount to refund"), validators=[Optional(), Length(max=30)])
    reason = TextAreaField(_l("Reason"), validators=_REASON)
    seen_refunded = IntegerField(
        widget=HiddenInput(),
        validators=[InputRequired(_l("This form is out of date; reload the page and try again.")),
                    NumberRange(min=0, message=_l("This form is out of date; reload the page."))],
    )


_SIGNS = {"-": -1, "−": -1, "－": -1, "+": 1, "＋": 1}


def parse_signed_amount(text: str | None, currency: str) -> Money:
    """Parse "-1,000", "+500" or "500" in ``currency`` into a signed Money.

    One leading sign (ASCII, the minus sign or full-width); the rest is read by
    ``parse_amount``, so its rules and messages hold (InvalidAmount, field "amount").
    """
    raw = (text or "").strip()
    sign = 1
    if raw[:1] in _SIGNS:
        sign, raw = _SIGNS[raw[:1]], raw[1:].lstrip()
        if not raw:
            raise InvalidAmount(_("Enter an amount after the sign, like -1,000."))
    money = parse_amount(raw, currency)
    return Money(sign * money.amount_minor, money.currency)


class PledgeConfirmForm(Form):
    """The transfer of a pledge arrived: when, and how much actually came."""

    received_on = DateField(_l("Date received"),
                            validators=[InputRequired(_l("Enter the day the money arrived."))])
    amount = AmountField(_l("Amount received"),
                         validators=[DataRequired(_l("Enter an amount.")), Length(max=30)])


class PledgeCancelForm(Form):
    """No transfer will come: why the pledge is cancelled."""

    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Say in a few words why the pledge is cancelled.")),
        Length(max=500, message=_l("Keep the reason to %(max)d characters.", max=500))])


class MessageDecisionForm(Form):
    """Approve or hide a donor's wall message (no fields beyond CSRF)."""
