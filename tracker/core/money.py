"""Money: the one place the app turns amounts into numbers, numbers into text, and back.

Rules every caller can rely on:

* A ``Money`` is an integer count of the currency's *minor unit* (cents, yen, fils...) plus an
  ISO 4217 code.  Floats never appear: binary floating point cannot represent 0.10 exactly,
  and a donation tracker that loses a cent per row is an audit finding.
* The number of decimals a currency has (its *exponent*) comes from the ISO 4217 table
  shipped by the ``iso4217`` package, not from Babel/CLDR.  CLDR rounds some currencies
  for display (IDR, HUF, COP... show no decimals there) and its table is a display
  convention, not the definition of the minor unit that payment gateways use.
* Nothing is ever silently rounded.  Input with more decimals than the currency has is
  refused with a message the donor can act on.
* Different currencies are never added together; there is no implicit exchange rate.
"""

from __future__ import annotations

import copy
import decimal
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Final

from babel import Locale
from babel.numbers import format_currency, get_currency_name, get_currency_symbol
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from iso4217 import raw_table

from tracker.core.errors import DomainError

__all__ = [
    "GATEWAY_MINIMUMS",
    "AboveMaximum",
    "BelowMinimum",
    "CurrencyMismatch",
    "InvalidAmount",
    "Money",
    "MoneyError",
    "Settlement",
    "UnknownCurrency",
    "check_gateway_limits",
    "convert",
    "divide_half_up",
    "exponent",
    "format_money",
    "format_plain",
    "format_rate",
    "check_rate_places",
    "normalize_currency",
    "parse_amount",
    "parse_rate",
    "percent_up",
    "round_half_up",
    "settle_at_rate",
]


# --------------------------------------------------------------------------- errors


class MoneyError(DomainError, ValueError):
    """A money value or amount entered by a user was refused.

    ``field`` names the form field the problem belongs to and ``reason`` is a sentence that
    can be shown to the user as-is: in the request's language (English outside a request).
    Amounts in it are written as that language writes them (¥50 / 50円).  The
    ``(reason, field)`` argument order matches ``tracker.core.errors.DomainError`` so views
    can treat both the same way.
    """

    default_field: str = "amount"

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason, field if field is not None else self.default_field)


class UnknownCurrency(MoneyError):
    """The currency code is not in ISO 4217, has no minor unit, or we cannot take it."""

    default_field = "currency"


class InvalidAmount(MoneyError):
    """The amount is malformed, negative, zero or has too many decimals."""


class BelowMinimum(MoneyError):
    """The amount is smaller than the payment gateway will charge."""


class AboveMaximum(MoneyError):
    """The amount is larger than the limit the caller allows."""


class CurrencyMismatch(MoneyError):
    """Two amounts in different currencies were combined; there is no implicit exchange rate."""

    default_field = "currency"


# --------------------------------------------------------------------------- currencies


def _build_exponents() -> dict[str, int]:  # pragma: no mutate block (runs once, at import)
    # raw_table contains one row keyed by None ("No universal currency") and rows whose
    # minor unit is 'N.A.' (gold, SDR, test codes).  Neither can hold an amount of money.
    table: dict[str, int] = {}
    for code, row in raw_table.items():
        minor = row.get("CcyMnrUnts")
        if isinstance(code, str) and isinstance(minor, str) and minor.isdigit():
            table[code] = int(minor)
    return table


_EXPONENTS: Final[dict[str, int]] = _build_exponents()
_NO_MINOR_UNIT: Final[frozenset[str]] = frozenset(
    code for code in raw_table if isinstance(code, str) and code not in _EXPONENTS
)

# Longest input we try to parse.  The biggest real gift fits in well under 30 characters
# even with symbols and separators; the cap keeps regexes and int() cheap on hostile input.
MAX_INPUT_LENGTH: Final[int] = 30

# Ceiling on the number of digits from_decimal() will turn into an int.  A Decimal such as
# 1E+999999999 is valid but building 10**999999999 would exhaust memory.
_MAX_DIGITS: Final[int] = 60


def normalize_currency(code: str) -> str:
    """Return the canonical upper-case ISO 4217 code for ``code``.

    Surrounding whitespace and case are ignored (full-width letters are folded with NFKC).
    Raises ``UnknownCurrency`` for anything that is not an ISO 4217 currency with a minor
    unit, including metals and test codes such as XAU or XTS.
    """
    if not isinstance(code, str):
        raise UnknownCurrency(_("Unknown currency %(code)s.", code=repr(code)))
    cleaned = unicodedata.normalize("NFKC", code).strip()
    # Check ASCII before upper(): str.upper() maps e.g. dotless 'ı' to 'I', which would let
    # look-alike strings through.
    candidate = cleaned.upper() if cleaned.isascii() else cleaned
    if candidate in _EXPONENTS:
        return candidate
    shown = candidate[:12]
    if candidate in _NO_MINOR_UNIT:
        raise UnknownCurrency(_("Currency '%(code)s' has no minor unit and can't hold money.",
                                code=shown))
    raise UnknownCurrency(_("Unknown currency '%(code)s'.", code=shown))


def exponent(currency: str) -> int:
    """Return how many decimal places ``currency`` has in ISO 4217 (JPY 0, USD 2, BHD 3)."""
    return _EXPONENTS[normalize_currency(currency)]


def currency_words(code: str, locale: str | None = None) -> str:
    """A currency as a sentence names it: in Japanese its name (日本円, 米ドル: never the code
    JPY inside a Japanese sentence), in English its ISO code (JPY, USD) as before. ``locale``
    defaults to the current language."""
    if (locale or _message_language()) == "ja":
        return get_currency_name(code, locale="ja")
    return code


def _decimal_places_phrase(code: str) -> str:
    places = _EXPONENTS[code]
    if places == 0:
        return _("%(code)s amounts have no decimal places.", code=currency_words(code))
    # The singular is never used (no ISO 4217 currency has exactly one decimal place).
    return ngettext("%(code)s amounts have at most %(num)d decimal place.",  # pragma: no mutate
                    "%(code)s amounts have at most %(num)d decimal places.", places,
                    code=currency_words(code))


# --------------------------------------------------------------------------- Money


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``amount_minor`` minor units of ``currency``.

    ``Money(5000, "JPY")`` is five thousand yen, ``Money(5050, "USD")`` is fifty dollars and
    fifty cents.  Negative amounts are allowed (refunds, adjustments); validation of what a
    donor may enter lives in ``parse_amount`` and ``check_gateway_limits``.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        """Normalise the currency code and refuse anything that is not an exact integer."""
        # bool is an int subclass; True cents is always a bug, never an amount.
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise TypeError(
                "Money.amount_minor must be an int count of minor units, "
                f"not {type(self.amount_minor).__name__}."
            )
        # Frozen dataclass: object.__setattr__ is the sanctioned way to normalise in
        # __post_init__, so Money(1, "usd") == Money(1, "USD").
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return a zero amount in ``currency`` (a safe start value for ``sum``)."""
        return cls(0, currency)

    @property
    def is_zero(self) -> bool:
        """True when the amount is exactly zero."""
        return self.amount_minor == 0

    def _same_currency(self, other: Money, verb: str) -> None:
        if other.currency != self.currency:
            if verb == "add":
                reason = _("Can't add %(first)s and %(second)s amounts; convert one of them first.",
                           first=self.currency, second=other.currency)
            else:
                reason = _("Can't subtract %(first)s and %(second)s amounts; convert one of them "
                           "first.", first=self.currency, second=other.currency)
            raise CurrencyMismatch(reason)

    def __add__(self, other: object) -> Money:
        """Add two amounts of the same currency; mixing currencies raises CurrencyMismatch."""
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: object) -> Money:
        """Subtract an amount of the same currency; mixing currencies raises CurrencyMismatch."""
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        """Return the amount with its sign flipped (e.g. for a refund)."""
        return Money(-self.amount_minor, self.currency)

    def to_decimal(self) -> Decimal:
        """Return the exact major-unit value, e.g. ``Decimal('50.50')`` for 5050 USD cents.

        Built from the digit tuple rather than by division so the result is exact whatever
        the current decimal context precision is.
        """
        sign = 1 if self.amount_minor < 0 else 0
        digits = tuple(int(d) for d in str(abs(self.amount_minor)))
        return Decimal((sign, digits, -_EXPONENTS[self.currency]))

    @classmethod
    def from_decimal(cls, value: Decimal | int, currency: str) -> Money:
        """Build a Money from a major-unit ``Decimal`` (or int), never rounding.

        The test is on the value, not on how it is written: ``Decimal('50.500')`` is exactly
        50.50 and is accepted for USD, while ``Decimal('50.505')`` raises ``InvalidAmount``.
        Floats are refused with ``TypeError`` because they are already inexact.
        """
        code = normalize_currency(currency)
        if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
            raise TypeError(
                f"Money.from_decimal needs a Decimal or int, not {type(value).__name__}."
            )
        value = Decimal(value)
        if not value.is_finite():
            raise InvalidAmount(_("The amount must be a finite number."))
        sign, digit_tuple, exp = value.as_tuple()
        if not isinstance(exp, int):  # only NaN/Infinity have a str exponent; checked above
            raise InvalidAmount(_("The amount must be a finite number."))
        all_digits = "".join(str(d) for d in digit_tuple)
        significant = all_digits.rstrip("0")
        if not significant:
            return cls(0, code)
        # Shift so the significant digits are counted in minor units; a negative shift means
        # there are non-zero digits below the minor unit.
        shift = exp + (len(all_digits) - len(significant)) + _EXPONENTS[code]
        if shift < 0:
            raise InvalidAmount(_decimal_places_phrase(code))
        if len(significant) + shift > _MAX_DIGITS:
            raise InvalidAmount(_("That amount is too large."))
        minor = int(significant) * 10**shift
        return cls(-minor if sign else minor, code)

    def __str__(self) -> str:
        """Unambiguous text for logs and admin screens: ``'JPY 5000'``, ``'USD 50.50'``."""
        return f"{self.currency} {_plain_digits(self, group=False)}"


# --------------------------------------------------------------------------- formatting


def _plain_digits(money: Money, *, group: bool) -> str:
    # Pure integer arithmetic: exact for any size, no Decimal context involved.
    places = _EXPONENTS[money.currency]
    sign = "-" if money.amount_minor < 0 else ""
    units, fraction = divmod(abs(money.amount_minor), 10**places)
    whole = f"{units:,}" if group else str(units)
    if places:
        return f"{sign}{whole}.{fraction:0{places}d}"
    return f"{sign}{whole}"


def format_plain(money: Money) -> str:
    """Return the bare number with the currency's decimals and ',' groups: '5,000', '50.50'.

    This is what a form field is pre-filled with; ``parse_amount`` reads it back exactly.
    """
    return _plain_digits(money, group=True)


# Currencies a language writes as number + word rather than symbol + number: Japanese
# writes yen as 5,000円 (CLDR's ja pattern gives the full-width ￥5,000, which Japanese
# readers see far less on donation pages).
_SUFFIX_UNITS: Final[dict[tuple[str, str], str]] = {("ja", "JPY"): "円"}


def format_money(money: Money, locale: str = "en", *, drop_zero_cents: bool = False) -> str:
    """Return ``money`` formatted for people in ``locale``: '¥5,000', '5,000円' (ja), '$50.50'.

    Babel supplies the symbol and layout, but the number of decimals is forced to the ISO
    exponent: Babel's own (CLDR) precision would show e.g. IDR without its two decimals,
    which would hide part of the amount.

    ``drop_zero_cents`` writes a whole amount without its decimals ('$25' for $25.00; $25.50
    keeps them): for choices such as the give form's presets, never for receipts or ledgers,
    which always show every decimal.
    """
    places = _EXPONENTS[money.currency]
    if drop_zero_cents and places and money.amount_minor % 10**places == 0:
        places = 0
    unit = _SUFFIX_UNITS.get((_base_language(locale), money.currency))
    if unit:
        digits = _plain_digits(money, group=True)
        return (digits.partition(".")[0] if places == 0 else digits) + unit
    pattern = copy.copy(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (places, places)
    amount = money.to_decimal()
    # Babel quantizes with the active decimal context; give it enough precision that even a
    # 40-digit amount is never rounded.
    with decimal.localcontext() as ctx:
        ctx.prec = max(ctx.prec, len(amount.as_tuple().digits) + places + 10)
        return format_currency(
            amount,
            money.currency,
            format=pattern,
            locale=locale,
            currency_digits=False,
            decimal_quantization=True,
        )


# --------------------------------------------------------------------------- parsing

# Decimal mark and group mark per language.  English and Japanese both write 1,234.56, so
# today the two entries are identical; the table exists so adding e.g. German (1.234,56)
# is a one-line change rather than a rewrite.  Unknown locales are refused rather than
# guessed, because guessing the marks wrong turns 1.234 (one thousand) into 1.234 BHD.
_NUMBER_MARKS: Final[dict[str, tuple[str, str]]] = {
    "en": (".", ","),
    "ja": (".", ","),
}

# Symbols people type that Babel does not list as the currency's standard symbol.
_EXTRA_MARKERS: Final[dict[str, tuple[str, ...]]] = {
    "JPY": ("¥", "円"),
    "USD": ("$", "US$"),
}

_NEGATIVE_SIGNS: Final[frozenset[str]] = frozenset("-−(")


def _markers_for(code: str) -> tuple[str, ...]:  # pragma: no mutate block (runs once, at import)
    """Currency markers accepted around an amount in ``code``, longest first."""
    found = {code, *_EXTRA_MARKERS.get(code, ())}
    for language in _NUMBER_MARKS:
        found.add(get_currency_symbol(code, locale=language))
    normalized = {unicodedata.normalize("NFKC", m).strip().upper() for m in found}
    # A marker made of digits or separators would be confused with the number itself.
    usable = {m for m in normalized if m and not any(ch.isdigit() or ch in ",-(" for ch in m)}
    return tuple(sorted(usable, key=len, reverse=True))


_MARKERS: Final[dict[str, tuple[str, ...]]] = {code: _markers_for(code) for code in _EXPONENTS}
# Every marker of every currency, so "CA$50" entered as USD can be called out as a
# different currency instead of getting a generic "enter an amount" message.
_ALL_MARKERS: Final[frozenset[str]] = frozenset(m for ms in _MARKERS.values() for m in ms)


def _number_regex(decimal_mark: str, group_mark: str) -> re.Pattern[str]:  # pragma: no mutate block (import)
    # [0-9] rather than \d: \d matches Arabic-Indic and other digits that int() would then
    # happily accept, and we only want to accept what NFKC folds to ASCII.
    d, g = re.escape(decimal_mark), re.escape(group_mark)
    return re.compile(
        rf"(?P<whole>[0-9]+|[0-9]{{1,3}}(?:{g}[0-9]{{3}})+)(?:{d}(?P<fraction>[0-9]+))?"
    )


_NUMBER_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    language: _number_regex(*marks) for language, marks in _NUMBER_MARKS.items()
}
_SCIENTIFIC = re.compile(r"[0-9.,]+E[+-]?[0-9]+")


def _example(code: str) -> str:
    places = _EXPONENTS[code]
    sample = Money(5000 if places == 0 else 50 * 10**places, code)
    if places == 0:
        return _("Enter an amount like %(example)s (%(code)s has no decimals).",
                 example=format_plain(sample), code=currency_words(code))
    return _("Enter an amount like %(example)s.", example=format_plain(sample))


def _base_language(locale: str) -> str:
    # "en", "en_US", "ja-JP" -> "en" / "ja"
    return re.split(r"[-_]", str(locale), maxsplit=1)[0].lower()


def _language(locale: str) -> str:
    # number marks depend on the language only
    language = _base_language(locale)
    if language not in _NUMBER_MARKS:
        # A programming error (the view passed a locale we don't support), not bad input.
        raise ValueError(f"parse_amount does not support locale {locale!r}.")
    return language


def _strip_marker(text: str, markers: tuple[str, ...]) -> str:
    # At most one marker, either before or after the number ("¥5,000", "5,000円", "JPY 5000").
    for marker in markers:
        if text.startswith(marker):
            return text[len(marker) :].strip()
        if text.endswith(marker):
            return text[: -len(marker)].strip()
    return text


def parse_amount(text: str, currency: str, *, locale: str = "en") -> Money:
    """Parse what a donor typed into a positive ``Money`` in ``currency``.

    Accepts surrounding spaces, full-width digits and punctuation (folded with NFKC),
    ',' thousands separators in well-formed groups of three, one currency marker that
    belongs to ``currency`` (``¥5,000``, ``５，０００円``, ``US$ 50``, ``JPY 5000``) and up to
    the currency's number of decimals.  For both ``en`` and ``ja`` the decimal mark is '.'
    and the group mark ',', because that is how numbers are written in both languages.

    Raises ``InvalidAmount`` (field ``"amount"``) with a message the donor can act on for
    empty, negative, zero, malformed, scientific, non-finite, over-precise or overlong
    input; ``UnknownCurrency`` if ``currency`` is not usable; ``ValueError`` for a locale
    with no known number marks.
    """
    code = normalize_currency(currency)
    language = _language(locale)
    decimal_mark, group_mark = _NUMBER_MARKS[language]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise TypeError(f"parse_amount needs text, not {type(text).__name__}.")

    raw = text.strip()
    if not raw:
        raise InvalidAmount(_("Enter an amount."))
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidAmount(_("That amount is too long. Enter just the number, like 5,000."))

    # NFKC turns full-width digits, '，', '．', '￥' and no-break spaces into their plain
    # forms.  It would also turn '²' into '2' and '①' into '1'; refuse those first so a
    # stray superscript can't silently change the amount.
    for ch in raw:
        if unicodedata.numeric(ch, None) is not None and unicodedata.decimal(ch, None) is None:
            raise InvalidAmount(_example(code))
    normalized = unicodedata.normalize("NFKC", raw).strip().upper()
    if len(normalized) > MAX_INPUT_LENGTH:
        raise InvalidAmount(_("That amount is too long. Enter just the number, like 5,000."))

    if any(ch in _NEGATIVE_SIGNS for ch in normalized):
        raise InvalidAmount(_("The amount can't be negative."))

    number = _strip_marker(normalized, _MARKERS[code])
    if not number:
        raise InvalidAmount(_("Enter an amount."))
    own_markers = _MARKERS[code]
    if any(
        (number.startswith(m) or number.endswith(m)) and m not in own_markers for m in _ALL_MARKERS
    ):
        raise InvalidAmount(_("That looks like a different currency. Enter an amount in %(code)s.",
                              code=currency_words(code)))
    if any(marker in number for marker in own_markers):
        # "¥¥5,000" or "JPY 5,000円": the marker may appear only once.
        raise InvalidAmount(_example(code))
    if any(unicodedata.category(ch) == "Sc" for ch in number):
        raise InvalidAmount(_("That looks like a different currency. Enter an amount in %(code)s.",
                              code=currency_words(code)))
    if _SCIENTIFIC.fullmatch(number):
        raise InvalidAmount(_("Write the amount out in full, without an exponent."))
    if number.count(decimal_mark) > 1:
        raise InvalidAmount(_(
            "Use only one '%(decimal_mark)s' for decimals and '%(group_mark)s' between "
            "thousands, like 1,234,567.", decimal_mark=decimal_mark, group_mark=group_mark,
        ))

    match = _NUMBER_PATTERNS[language].fullmatch(number)
    if match is None:
        if group_mark in number and not any(ch.isalpha() or ch.isspace() for ch in number):
            raise InvalidAmount(_(
                "Put '%(group_mark)s' only between groups of three digits, like 1,234,567.",
                group_mark=group_mark,
            ))
        raise InvalidAmount(_example(code))

    places = _EXPONENTS[code]
    fraction = match.group("fraction") or ""
    if len(fraction) > places:
        raise InvalidAmount(_decimal_places_phrase(code))

    whole = int(match.group("whole").replace(group_mark, ""))
    minor = whole * 10**places + int(fraction.ljust(places, "0") or "0")
    if minor == 0:
        raise InvalidAmount(_("Enter an amount greater than zero."))
    return Money(minor, code)


# --------------------------------------------------------------------------- gateway limits


def _message_language() -> str:
    """The language messages are being written in (a request's, or a ``force_locale``
    block's): the one amounts inside them follow. English outside an app context, and for a
    language whose number marks we do not know."""
    locale = get_locale()
    language = re.split(r"[-_]", str(locale), maxsplit=1)[0].lower() if locale else "en"
    return language if language in _NUMBER_MARKS else "en"


# Stripe's published minimum charge amounts, in minor units of the charge currency
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).  Stripe also
# applies the minimum after converting to the account's settlement currency, so a charge
# just above these values can still be refused when currencies differ.  Currencies we are
# not sure about (e.g. KRW) are deliberately left out: check_gateway_limits refuses them
# rather than guessing.
GATEWAY_MINIMUMS: Final[dict[str, int]] = {
    "USD": 50,  # $0.50
    "EUR": 50,  # €0.50
    "GBP": 30,  # £0.30
    "JPY": 50,  # ¥50
    "AUD": 50,  # A$0.50
    "CAD": 50,  # CA$0.50
    "CHF": 50,  # CHF 0.50
    "HKD": 400,  # HK$4.00
    "SGD": 50,  # S$0.50
    "NZD": 50,  # NZ$0.50
}


def check_gateway_limits(money: Money, *, maximum_minor: int | None = None) -> None:
    """Refuse amounts the payment gateway can't charge (or that exceed ``maximum_minor``).

    Raises ``UnknownCurrency`` when we have no known minimum for the currency (we would
    rather refuse than send a charge the gateway rejects), ``BelowMinimum`` below the
    gateway minimum, and ``AboveMaximum`` above ``maximum_minor`` when it is given.
    """
    minimum = GATEWAY_MINIMUMS.get(money.currency)
    if minimum is None:
        raise UnknownCurrency(_("We can't take gifts in %(currency)s.",
                                currency=currency_words(money.currency)))
    if money.amount_minor < minimum:
        smallest = format_money(Money(minimum, money.currency), _message_language())
        raise BelowMinimum(_("The smallest gift we can take in %(currency)s is %(amount)s.",
                             currency=currency_words(money.currency), amount=smallest))
    if maximum_minor is not None and money.amount_minor > maximum_minor:
        largest = format_money(Money(maximum_minor, money.currency), _message_language())
        raise AboveMaximum(_("The largest gift we can take in %(currency)s is %(amount)s.",
                             currency=currency_words(money.currency), amount=largest))


# --------------------------------------------------------------------------- conversion


def convert(money: Money, to_currency: str, rate: Decimal) -> Money:
    """Convert at ``rate`` (units of ``to_currency`` per unit of ``money``'s currency).

    Rounded half-up to the target's minor unit: the one place where money is rounded, used
    for settlements at a configured rate (Stripe reports its own settled amounts).
    """
    target = normalize_currency(to_currency)
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise InvalidAmount(_("An exchange rate must be a positive Decimal."), field="rate")
    if target == money.currency and rate == 1:
        return money
    with localcontext() as ctx:
        ctx.prec = _MAX_DIGITS + 20
        value = money.to_decimal() * rate
        minor = round_half_up(value * (Decimal(10) ** _EXPONENTS[target]))
    return Money(int(minor), target)


# --------------------------------------------------------------------------- settlement


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the NGO received for one payment: the gross and the fee kept by the gateway, in
    minor units of the currency it settled in (the base currency, when all is well), the rate
    it was converted at, and the gateway's charge id when there is one.

    The one settlement type: Stripe reports it from the balance transaction, the sandbox and
    offline gifts make it at the configured rate (``settle_at_rate``). ``currency`` is kept as
    reported, so a settlement in another currency can be refused before it becomes money."""

    gross_minor: int
    fee_minor: int
    currency: str
    rate: Decimal
    charge_id: str | None = None

    @property
    def gross(self) -> Money:
        return Money(self.gross_minor, self.currency)

    @property
    def fee(self) -> Money:
        return Money(self.fee_minor, self.currency)

    @property
    def net(self) -> Money:
        return self.gross - self.fee


def settle_at_rate(amount: Money, base: str, rate: Decimal, *, fee_minor: int = 0,
                   fee_percent: Decimal = Decimal(0), charge_id: str | None = None) -> Settlement:
    """Settle ``amount`` in ``base`` at ``rate`` (``convert``'s rounding), less a fee given in
    base minor units and/or as a percentage of the gross (0 %: no fee)."""
    gross = convert(amount, base, rate)
    # convert() refuses a zero rate, and 0 % is a valid fee: nothing to convert then.
    percent = convert(gross, base, fee_percent / 100).amount_minor if fee_percent else 0
    return Settlement(gross_minor=gross.amount_minor, fee_minor=fee_minor + percent,
                      currency=gross.currency, rate=rate, charge_id=charge_id)


# --------------------------------------------------------------------------- exchange rates

#: no rate a person types is this large (base units per unit); keeps typos away from BIGINT
MAX_RATE = Decimal(1_000_000)
#: decimals of the stored rate (Numeric(18, 8))
RATE_PLACES = 8
_GROUPED_RATE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")


def parse_rate(text: str | None) -> Decimal | None:
    """A typed exchange rate ("150", "149.5"), or None when left empty."""
    raw = (text or "").strip()
    if not raw:
        return None
    # A comma groups thousands ("1,000"); a decimal comma ("149,85") is refused, not misread.
    if "," in raw and not _GROUPED_RATE.match(raw):
        raise DomainError(_("Write the rate with a point for decimals, like 149.85."), field="rate")
    try:
        rate = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise DomainError(_("Write the rate as a number, like 150 or 149.85."),
                          field="rate") from None
    if not rate.is_finite() or rate <= 0 or rate > MAX_RATE:
        raise DomainError(_("The rate must be a positive number (base-currency units per unit)."),
                          field="rate")
    check_rate_places(rate)
    return rate


def check_rate_places(rate: Decimal) -> None:
    """The rate is stored with RATE_PLACES decimals: refuse one the row could not reproduce."""
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        raise DomainError(_("Give the rate with at most %(places)d decimal places.",
                            places=RATE_PLACES), field="rate")


def format_rate(rate: Decimal) -> str:
    """A stored exchange rate as staff typed it: no trailing zeros, never an exponent
    (Numeric(18, 8) gives back 150.00000000, which ``normalize`` would print as 1.5E+2)."""
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------- rounding


def round_half_up(value: Decimal, places: int = 0) -> Decimal:
    """The one rounding rule for money and figures: to ``places`` decimals, a half away from
    zero (2.5 -> 3, -2.5 -> -3), with the active decimal context's precision."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def percent_up(money: Money, percent: Decimal) -> Money:
    """``percent`` of ``money``, rounded *up* to a whole minor unit of its currency (¥1 for yen,
    1 cent for dollars): a card fee to cover is never short. Decimal arithmetic, no floats."""
    value = Decimal(money.amount_minor) * Decimal(percent) / Decimal(100)
    return Money(int(value.to_integral_value(rounding=ROUND_CEILING)), money.currency)


def divide_half_up(numerator: int | Decimal, denominator: int | Decimal, places: int = 0) -> Decimal:
    """``numerator / denominator`` rounded by ``round_half_up``: a proportional share of an
    amount, an average gift, a median between two amounts, a percentage."""
    if denominator == 0:
        raise ZeroDivisionError("divide_half_up by zero")
    return round_half_up(Decimal(numerator) / Decimal(denominator), places)
