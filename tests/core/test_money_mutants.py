"""More tests for tracker.core.money, written against mutation testing (issue 16).

Each test pins a behaviour a plausible slip would break: a boundary off by one, a flipped
condition, a conversion that divides instead of multiplies, a rate that should be refused.
Pure unit tests except the few at the end that need a Flask-Babel locale.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from tracker.core.money import (
    MAX_INPUT_LENGTH,
    AboveMaximum,
    BelowMinimum,
    CurrencyMismatch,
    InvalidAmount,
    Money,
    UnknownCurrency,
    check_gateway_limits,
    convert,
    format_money,
    normalize_currency,
    parse_amount,
)

# --------------------------------------------------------------------------- currencies


@pytest.mark.parametrize("code", [None, 840, b"USD", ("USD",)])
def test_a_currency_that_is_not_text_is_an_unknown_currency(code: object) -> None:
    with pytest.raises(UnknownCurrency) as info:
        normalize_currency(code)  # type: ignore[arg-type]
    assert info.value.field == "currency"
    assert info.value.reason == f"Unknown currency {code!r}."


def test_a_metal_is_refused_for_having_no_minor_unit_not_as_unknown() -> None:
    with pytest.raises(UnknownCurrency) as info:
        normalize_currency(" xau ")
    assert info.value.reason == "Currency 'XAU' has no minor unit and can't hold money."


def test_an_unknown_code_is_shown_cut_to_twelve_characters() -> None:
    with pytest.raises(UnknownCurrency) as info:
        normalize_currency("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert info.value.reason == "Unknown currency 'ABCDEFGHIJKL'."


def test_a_non_ascii_code_is_not_upper_cased_into_a_real_one() -> None:
    # 'ｕｓｄ' folds to ASCII 'usd' and is accepted; a look-alike that stays non-ASCII is not.
    assert normalize_currency("ｕｓｄ") == "USD"
    with pytest.raises(UnknownCurrency) as info:
        normalize_currency("usđ")
    assert info.value.reason == "Unknown currency 'usđ'."


# --------------------------------------------------------------------------- Money


def test_the_mismatch_message_names_the_operation() -> None:
    with pytest.raises(CurrencyMismatch) as added:
        Money(1, "USD") + Money(1, "JPY")
    assert added.value.reason.startswith("Can't add USD and JPY amounts")
    with pytest.raises(CurrencyMismatch) as subtracted:
        Money(1, "JPY") - Money(1, "USD")
    assert subtracted.value.reason == "Can't subtract JPY and USD amounts; convert one of them first."
    assert added.value.reason == "Can't add USD and JPY amounts; convert one of them first."


def test_a_money_amount_must_be_an_int_and_the_error_says_what_it_got() -> None:
    with pytest.raises(TypeError) as info:
        Money(1.5, "USD")  # type: ignore[arg-type]
    assert str(info.value) == "Money.amount_minor must be an int count of minor units, not float."
    with pytest.raises(TypeError, match="not bool"):
        Money(True, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None])
def test_from_decimal_refuses_what_is_not_a_decimal_or_int(value: object) -> None:
    with pytest.raises(TypeError, match=f"not {type(value).__name__}"):
        Money.from_decimal(value, "USD")  # type: ignore[arg-type]


def test_from_decimal_checks_the_currency_before_the_value() -> None:
    with pytest.raises(UnknownCurrency):
        Money.from_decimal(Decimal("NaN"), "XYZ")


@pytest.mark.parametrize(
    ("value", "code", "minor"),
    [
        (Decimal("50.55"), "USD", 5055),  # digits down to exactly the minor unit
        (Decimal("0.01"), "USD", 1),
        (Decimal("-0.01"), "USD", -1),
        (Decimal("120"), "USD", 12000),  # trailing zeros of the integer part are kept
        (Decimal("1.2E+2"), "USD", 12000),
        (Decimal("-3E+2"), "JPY", -300),
        (Decimal("0.000"), "JPY", 0),
        (Decimal("-0.00"), "USD", 0),
        (-7, "JPY", -7),
        (0, "BHD", 0),
        (Decimal("1.001"), "BHD", 1001),
    ],
)
def test_from_decimal_more_examples(value: Decimal | int, code: str, minor: int) -> None:
    money = Money.from_decimal(value, code)
    assert money == Money(minor, code)
    assert type(money.amount_minor) is int


def test_from_decimal_allows_up_to_sixty_digits_of_minor_units() -> None:
    sixty = Decimal("9" * 58 + ".99")
    assert Money.from_decimal(sixty, "USD").amount_minor == int("9" * 60)
    assert Money.from_decimal(Decimal("1E+57"), "USD").amount_minor == 10**59
    for too_large in (Decimal("1E+58"), Decimal("9" * 59 + ".99")):  # sixty-one digits
        with pytest.raises(InvalidAmount) as info:
            Money.from_decimal(too_large, "USD")
        assert info.value.reason == "That amount is too large."


def test_from_decimal_refuses_a_digit_below_the_minor_unit_with_a_helpful_message() -> None:
    with pytest.raises(InvalidAmount) as info:
        Money.from_decimal(Decimal("0.001"), "USD")
    assert info.value.reason == "USD amounts have at most 2 decimal places."
    with pytest.raises(InvalidAmount) as info:
        Money.from_decimal(Decimal("0.5"), "JPY")
    assert info.value.reason == "JPY amounts have no decimal places."


def test_from_decimal_refuses_non_finite_values_with_the_finite_message() -> None:
    for value in (Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity")):
        with pytest.raises(InvalidAmount) as info:
            Money.from_decimal(value, "USD")
        assert info.value.reason == "The amount must be a finite number."


def test_str_of_a_large_amount_has_no_group_separators() -> None:
    assert str(Money(123456789, "USD")) == "USD 1234567.89"
    assert str(Money(-1234567, "JPY")) == "JPY -1234567"


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("money", "locale", "expected"),
    [
        # Babel lays the amount out for the locale it is given, not for a default one.
        (Money(5050, "USD"), "de", "50,50\u00a0$"),
        (Money(5000, "JPY"), "de", "5.000\u00a0¥"),
        # The '円' suffix is Japanese only, and the language is read case-insensitively.
        (Money(5000, "JPY"), "JA", "5,000円"),
        (Money(5000, "JPY"), "ja-JP", "5,000円"),
        (Money(5000, "USD"), "ja", "$50.00"),
        (Money(1, "CLF"), "en", "CLF0.0001"),
        (Money(0, "USD"), "en", "$0.00"),
    ],
)
def test_format_money_more_examples(money: Money, locale: str, expected: str) -> None:
    assert format_money(money, locale) == expected


def test_format_money_is_exact_in_a_low_precision_context() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        assert format_money(Money(123456789, "USD")) == "$1,234,567.89"
        assert decimal.getcontext().prec == 3  # and the caller's context is left alone


def test_format_money_does_not_round_a_long_amount_with_many_decimals() -> None:
    # 35 digits of BHD: needs a context wider than the default 28 digits plus the 3 places.
    amount = Money(10**34 + 1, "BHD")
    assert format_money(amount).endswith(".001")


# --------------------------------------------------------------------------- parsing


def test_parse_amount_treats_none_as_empty() -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_amount(None, "JPY")  # type: ignore[arg-type]
    assert info.value.reason == "Enter an amount."


@pytest.mark.parametrize("text", [5000, 50.5, b"5000"])
def test_parse_amount_refuses_what_is_not_text(text: object) -> None:
    with pytest.raises(TypeError, match=f"not {type(text).__name__}"):
        parse_amount(text, "JPY")  # type: ignore[arg-type]


def test_parse_amount_checks_currency_and_locale_before_the_text() -> None:
    with pytest.raises(UnknownCurrency):
        parse_amount(None, "XYZ")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'de'"):
        parse_amount(None, "JPY", locale="de")  # type: ignore[arg-type]


def test_parse_amount_accepts_exactly_the_longest_input() -> None:
    assert MAX_INPUT_LENGTH == 30
    longest = "1" * 30
    assert parse_amount(longest, "JPY") == Money(int(longest), "JPY")
    # Spaces around it are not counted.
    assert parse_amount(f"  {longest}  ", "JPY") == Money(int(longest), "JPY")
    with pytest.raises(InvalidAmount) as info:
        parse_amount("1" * 31, "JPY")
    assert info.value.reason == "That amount is too long. Enter just the number, like 5,000."


def test_parse_amount_counts_length_again_after_folding() -> None:
    # "㌀" is one character typed but four after NFKC ("アパート"): 22 typed, 31 folded.
    with pytest.raises(InvalidAmount) as info:
        parse_amount("1" * 19 + "㌀" * 3, "JPY")
    assert info.value.reason == "That amount is too long. Enter just the number, like 5,000."
    # 30 characters after folding are still fine to look at (and refused only as not a number).
    with pytest.raises(InvalidAmount) as info:
        parse_amount("1" * 26 + "㌀", "JPY")
    assert "too long" not in info.value.reason


@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("５０００", "JPY", 5000),
        ("¥５，０００", "JPY", 5000),
        ("5,000円 ", "JPY", 5000),
        ("US$50", "USD", 5000),
        ("50 US$", "USD", 5000),
        ("$ 1", "USD", 100),
        ("1.5", "USD", 150),
        ("1.05", "USD", 105),
        ("0.1", "BHD", 100),
        ("10", "BHD", 10000),
        ("1,000", "JPY", 1000),
        ("100,000", "JPY", 100000),
        ("1", "JPY", 1),
        ("9", "JPY", 9),
    ],
)
def test_parse_amount_more_examples(text: str, code: str, minor: int) -> None:
    assert parse_amount(text, code) == Money(minor, code)


@pytest.mark.parametrize("locale", ["JA", "EN_us", "ja_JP"])
def test_parse_amount_reads_the_locale_case_insensitively(locale: str) -> None:
    assert parse_amount("1,234.50", "USD", locale=locale) == Money(123450, "USD")


@pytest.mark.parametrize(
    ("text", "code", "reason"),
    [
        # A group mark next to letters or spaces is not a grouping mistake: say what to type.
        ("5,000abc", "JPY", "Enter an amount like 5,000 (JPY has no decimals)."),
        ("5, 000", "JPY", "Enter an amount like 5,000 (JPY has no decimals)."),
        ("1,00", "USD", "Put ',' only between groups of three digits, like 1,234,567."),
        ("50.505", "USD", "USD amounts have at most 2 decimal places."),
        ("1.1.", "USD", "Use only one '.' for decimals and ',' between thousands, like 1,234,567."),
        ("1E5", "USD", "Write the amount out in full, without an exponent."),
        ("2.5e+3", "USD", "Write the amount out in full, without an exponent."),
        ("1,000E3", "JPY", "Write the amount out in full, without an exponent."),
        ("-1", "USD", "The amount can't be negative."),
        ("円", "JPY", "Enter an amount."),
        ("US$", "USD", "Enter an amount."),
        ("$$5", "USD", "Enter an amount like 50.00."),
        ("5$$", "USD", "Enter an amount like 50.00."),
        ("5$5", "USD", "Enter an amount like 50.00."),
        ("JPY5", "USD", "That looks like a different currency. Enter an amount in USD."),
        ("5€", "USD", "That looks like a different currency. Enter an amount in USD."),
        ("5₩5", "USD", "That looks like a different currency. Enter an amount in USD."),
        ("0.000", "BHD", "Enter an amount greater than zero."),
        ("00", "JPY", "Enter an amount greater than zero."),
        ("½", "USD", "Enter an amount like 50.00."),
        ("3¼", "USD", "Enter an amount like 50.00."),
        ("12", "CLF", None),
        ("1.23456", "CLF", "CLF amounts have at most 4 decimal places."),
        ("x", "BHD", "Enter an amount like 50.000."),
    ],
)
def test_parse_amount_more_refusals(text: str, code: str, reason: str | None) -> None:
    if reason is None:
        assert parse_amount(text, code) == Money(120000, code)
        return
    with pytest.raises(InvalidAmount) as info:
        parse_amount(text, code)
    assert info.value.field == "amount"
    assert info.value.reason == reason


# --------------------------------------------------------------------------- gateway limits


def test_the_minimum_is_checked_in_the_amounts_own_currency() -> None:
    assert check_gateway_limits(Money(400, "HKD")) is None
    assert check_gateway_limits(Money(30, "GBP")) is None
    with pytest.raises(BelowMinimum) as info:
        check_gateway_limits(Money(29, "GBP"))
    assert info.value.reason == "The smallest gift we can take in GBP is £0.30."


def test_a_maximum_of_zero_is_a_maximum() -> None:
    with pytest.raises(AboveMaximum) as info:
        check_gateway_limits(Money(50, "JPY"), maximum_minor=49)
    assert info.value.reason == "The largest gift we can take in JPY is ¥49."
    assert check_gateway_limits(Money(50, "JPY"), maximum_minor=50) is None


def test_a_currency_without_a_minimum_is_refused_even_below_any_maximum() -> None:
    with pytest.raises(UnknownCurrency):
        check_gateway_limits(Money(1, "KRW"), maximum_minor=10)


# --------------------------------------------------------------------------- gateway messages in a locale


@pytest.fixture
def babel_app() -> Flask:
    """A bare Flask app with Flask-Babel: enough for ``get_locale`` and ``force_locale``."""
    app = Flask(__name__)
    Babel(app)
    return app


@pytest.mark.parametrize(
    ("locale", "smallest"),
    [
        ("ja", "50円"),
        ("ja_JP", "50円"),
        ("en", "¥50"),
        ("de", "¥50"),  # a language whose number marks we do not know: English
    ],
)
def test_the_smallest_amount_is_written_as_the_message_language_writes_it(
    babel_app: Flask, locale: str, smallest: str
) -> None:
    with babel_app.test_request_context(), force_locale(locale):
        with pytest.raises(BelowMinimum) as info:
            check_gateway_limits(Money(1, "JPY"))
        assert info.value.reason.endswith(f" {smallest}.")


def test_the_largest_amount_is_written_as_the_message_language_writes_it(babel_app: Flask) -> None:
    with babel_app.test_request_context(), force_locale("ja"):
        with pytest.raises(AboveMaximum) as info:
            check_gateway_limits(Money(10_001, "JPY"), maximum_minor=10_000)
        assert info.value.reason.endswith(" 10,000円.")


def test_without_a_locale_messages_are_english(babel_app: Flask) -> None:
    with pytest.raises(BelowMinimum) as info:
        check_gateway_limits(Money(1, "JPY"))
    assert info.value.reason.endswith(" ¥50.")


# --------------------------------------------------------------------------- conversion


@pytest.mark.parametrize(
    ("money", "to", "rate", "expected"),
    [
        # USD to yen: a cent is a hundredth of a dollar, a yen has no decimals.
        (Money(1_000, "USD"), "JPY", Decimal(150), Money(1_500, "JPY")),
        (Money(1, "USD"), "JPY", Decimal(150), Money(2, "JPY")),  # 1.5 yen rounds half up
        # Yen to dollars: the result has cents, so a wrong scale shows at once.
        (Money(5_000, "JPY"), "USD", Decimal("0.0067"), Money(3_350, "USD")),
        (Money(150, "JPY"), "USD", Decimal("0.0067"), Money(101, "USD")),  # 1.005 -> 1.01
        (Money(1_000, "USD"), "EUR", Decimal("0.9"), Money(900, "EUR")),
        (Money(1_000, "USD"), "BHD", Decimal("0.376"), Money(3_760, "BHD")),
        (Money(1_000, "BHD"), "USD", Decimal("2.65"), Money(265, "USD")),
        (Money(3, "JPY"), "USD", Decimal("0.005"), Money(2, "USD")),  # 0.015 -> 0.02
        # Negative amounts (refunds) round half away from zero, symmetrically.
        (Money(-1, "USD"), "JPY", Decimal(150), Money(-2, "JPY")),
        (Money(-150, "JPY"), "USD", Decimal("0.0067"), Money(-101, "USD")),
        # A fee percentage in the same currency (what the card gateway does).
        (Money(10_000, "JPY"), "JPY", Decimal("0.036"), Money(360, "JPY")),
        (Money(1_001, "JPY"), "JPY", Decimal("0.5"), Money(501, "JPY")),
        (Money(1_000, "JPY"), "jpy", Decimal(2), Money(2_000, "JPY")),
        (Money(0, "USD"), "JPY", Decimal(150), Money(0, "JPY")),
    ],
)
def test_convert_examples(money: Money, to: str, rate: Decimal, expected: Money) -> None:
    result = convert(money, to, rate)
    assert result == expected
    assert type(result.amount_minor) is int


def test_convert_at_rate_one_to_another_currency_changes_the_currency() -> None:
    assert convert(Money(1_000, "USD"), "JPY", Decimal(1)) == Money(10, "JPY")
    assert convert(Money(1_000, "USD"), "EUR", Decimal("1.00")) == Money(1_000, "EUR")
    assert convert(Money(5, "JPY"), "USD", Decimal(1)) == Money(500, "USD")


def test_convert_at_rate_one_to_the_same_currency_is_the_same_amount() -> None:
    money = Money(12_345, "USD")
    assert convert(money, "usd", Decimal(1)) == money
    assert convert(money, "USD", Decimal("1.000")) == money
    assert convert(money, "USD", Decimal(2)) == Money(24_690, "USD")


def test_convert_is_exact_for_amounts_longer_than_the_default_precision() -> None:
    # 46 digits of yen; the default 28-digit context would round away the final 1.
    huge = Money(10**45 + 1, "JPY")
    assert convert(huge, "USD", Decimal(1)) == Money(10**47 + 100, "USD")
    assert convert(huge, "JPY", Decimal(3)) == Money(3 * 10**45 + 3, "JPY")
    assert convert(Money(10**59 + 1, "USD"), "USD", Decimal("0.5")) == Money(5 * 10**58 + 1, "USD")


def test_convert_leaves_the_callers_decimal_context_alone() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 5
        assert convert(Money(123_456_789, "JPY"), "JPY", Decimal(2)) == Money(246_913_578, "JPY")
        assert decimal.getcontext().prec == 5


@pytest.mark.parametrize(
    "rate",
    [
        Decimal(0),
        Decimal("0.000"),
        Decimal("-0"),
        Decimal(-150),
        Decimal("-0.0001"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        150,
        150.0,
        "150",
        None,
    ],
)
def test_convert_refuses_a_rate_that_is_not_a_positive_finite_decimal(rate: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        convert(Money(1_000, "USD"), "JPY", rate)  # type: ignore[arg-type]
    assert info.value.field == "rate"
    assert info.value.reason == "An exchange rate must be a positive Decimal."


def test_convert_refuses_a_bad_rate_even_within_one_currency() -> None:
    for rate in (Decimal(0), Decimal("NaN"), Decimal(-1)):
        with pytest.raises(InvalidAmount):
            convert(Money(1_000, "JPY"), "JPY", rate)


def test_convert_refuses_an_unknown_target_currency() -> None:
    with pytest.raises(UnknownCurrency):
        convert(Money(1_000, "USD"), "XYZ", Decimal(150))
    with pytest.raises(UnknownCurrency):
        convert(Money(1_000, "USD"), "XAU", Decimal(1))


def test_convert_accepts_the_smallest_positive_rate() -> None:
    assert convert(Money(10**6, "USD"), "JPY", Decimal("0.0001")) == Money(1, "JPY")
    assert convert(Money(1, "USD"), "JPY", Decimal("0.0001")) == Money(0, "JPY")
