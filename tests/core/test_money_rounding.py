"""The one rounding rule (``round_half_up``, ``divide_half_up``) every figure goes through, and
the exchange rates staff type (``parse_rate``), beside ``convert`` in core.money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tracker.core.errors import DomainError
from tracker.core.money import (
    Money,
    Settlement,
    check_rate_places,
    convert,
    divide_half_up,
    format_rate,
    parse_rate,
    round_half_up,
    settle_at_rate,
)


@pytest.mark.parametrize(("value", "places", "expected"), [
    ("2.5", 0, "3"), ("3.5", 0, "4"), ("-2.5", 0, "-3"), ("2.49", 0, "2"), ("-2.49", 0, "-2"),
    ("0.05", 1, "0.1"), ("0.04999", 1, "0.0"), ("12.345", 2, "12.35"), ("7", 0, "7"),
])
def test_a_half_goes_away_from_zero(value, places, expected):
    rounded = round_half_up(Decimal(value), places)
    assert rounded == Decimal(expected)
    assert rounded.as_tuple().exponent == -places


@pytest.mark.parametrize(("numerator", "denominator", "places", "expected"), [
    (5, 2, 0, "3"), (7, 2, 0, "4"), (-5, 2, 0, "-3"), (1, 3, 0, "0"), (2, 3, 0, "1"),
    (1, 3, 1, "0.3"), (2, 3, 1, "0.7"), (100, 8, 1, "12.5"), (1, 8, 2, "0.13"),
    (Decimal("1000") * 333, 1000, 0, "333"),
])
def test_divide_half_up(numerator, denominator, places, expected):
    assert divide_half_up(numerator, denominator, places) == Decimal(expected)


def test_divide_half_up_refuses_zero():
    with pytest.raises(ZeroDivisionError):
        divide_half_up(1, 0)


def test_a_proportional_share_of_a_gift_is_rounded_half_up():
    """A partial refund's base share (tracker.donations.recording._base_share): 1,501 of a
    3,000 gift that settled at 4,501 is 2,251.999... -> 2,252; exactly half rounds up."""
    assert int(divide_half_up(Decimal(4501) * 1501, 3000)) == 2252
    assert int(divide_half_up(Decimal(3) * 1, 2)) == 2


def test_convert_rounds_with_the_same_rule():
    assert convert(Money(1, "USD"), "JPY", Decimal("150.5")) == Money(2, "JPY")  # 1.505 -> 2
    assert convert(Money(3, "USD"), "JPY", Decimal("0.5")) == Money(0, "JPY")  # 0.015 -> 0
    assert convert(Money(100, "JPY"), "USD", Decimal("0.006675")) == Money(67, "USD")  # 0.6675


# --- exchange rates typed by staff (core.money.parse_rate) -------------------------------------

POINT = "Write the rate with a point for decimals, like 149.85."
NUMBER = "Write the rate as a number, like 150 or 149.85."
POSITIVE = "The rate must be a positive number (base-currency units per unit)."
PLACES = "Give the rate with at most 8 decimal places."


@pytest.mark.parametrize(("text", "expected"), [
    ("1,000,000", Decimal(1_000_000)), ("1000000", Decimal(1_000_000)), ("999,999.5", Decimal("999999.5")),
    ("0.00000001", Decimal("0.00000001")), ("1.12345678", Decimal("1.12345678")), ("\t7\n", Decimal(7)),
    ("1,234", Decimal(1234)), ("12,345,678.9", None),
])
def test_parse_rate_at_its_limits(text, expected):
    if expected is None:
        with pytest.raises(DomainError) as refused:
            parse_rate(text)
        assert (refused.value.reason, refused.value.field) == (POSITIVE, "rate")
    else:
        assert parse_rate(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("149,85", POINT), ("1,00", POINT), ("1,0000", POINT), (",150", POINT), ("150,", POINT),
    ("abc", NUMBER), ("1.2.3", NUMBER), ("150 yen", NUMBER),
    ("0", POSITIVE), ("-1", POSITIVE), ("NaN", POSITIVE), ("Infinity", POSITIVE),
    ("1000000.00000001", POSITIVE), ("1000001", POSITIVE),
    ("0.000000001", PLACES), ("150.123456789", PLACES), ("1e-9", PLACES),
])
def test_parse_rate_says_what_is_wrong_at_the_rate_field(text, message):
    with pytest.raises(DomainError) as refused:
        parse_rate(text)
    assert (refused.value.reason, refused.value.field) == (message, "rate")


@pytest.mark.parametrize("rate", ["1", "0.00000001", "150.5", "12345.12345678"])
def test_check_rate_places_takes_up_to_eight_decimals(rate):
    check_rate_places(Decimal(rate))


@pytest.mark.parametrize("rate", ["0.000000001", "1.000000005", "150.123456789"])
def test_check_rate_places_refuses_a_ninth_decimal(rate):
    with pytest.raises(DomainError) as refused:
        check_rate_places(Decimal(rate))
    assert (refused.value.reason, refused.value.field) == (PLACES, "rate")


def test_rounding_keeps_the_sign_and_the_places_asked():
    assert divide_half_up(5, -2) == Decimal(-3)
    assert divide_half_up(-5, -2) == Decimal(3)
    assert divide_half_up(1, 2) == Decimal(1)
    assert divide_half_up(1, 4, 1) == Decimal("0.3")
    assert str(divide_half_up(10, 4, 2)) == "2.50"
    assert str(divide_half_up(10, 4)) == "3"
    assert str(round_half_up(Decimal("2.5"))) == "3"
    with pytest.raises(ZeroDivisionError, match="^divide_half_up by zero$"):
        divide_half_up(Decimal(1), Decimal(0))


@pytest.mark.parametrize(("stored", "shown"), [
    ("150.00000000", "150"), ("100", "100"), ("1E+2", "100"), ("149.85000000", "149.85"),
    ("0.00670000", "0.0067"), ("1000000.00000000", "1000000"), ("0.00000001", "0.00000001"),
])
def test_a_rate_is_shown_as_typed_never_with_an_exponent(stored, shown):
    """Found by an outside try: a budget payment in dollars read "at 1.5E+2"."""
    assert format_rate(Decimal(stored)) == shown


# --- the one settlement type -------------------------------------------------------------------


def test_settling_at_a_rate_converts_the_gross_and_takes_the_fee():
    dollars = Money(10_000, "USD")  # $100.00
    assert settle_at_rate(dollars, "JPY", Decimal(150)) == Settlement(
        gross_minor=15_000, fee_minor=0, currency="JPY", rate=Decimal(150))
    paid = settle_at_rate(dollars, "jpy", Decimal("150.5"), fee_percent=Decimal("3.6"),
                          charge_id="ch_1")
    # 15,050 yen; 3.6 % of it is 541.8 -> 542 (half up, as convert rounds)
    assert (paid.gross, paid.fee, paid.net) == (Money(15_050, "JPY"), Money(542, "JPY"),
                                                 Money(14_508, "JPY"))
    assert (paid.rate, paid.charge_id, paid.currency) == (Decimal("150.5"), "ch_1", "JPY")
    assert settle_at_rate(Money(5_000, "JPY"), "JPY", Decimal(1), fee_minor=180).fee_minor == 180
    assert settle_at_rate(Money(5_000, "JPY"), "JPY", Decimal(1), fee_minor=10,
                          fee_percent=Decimal(1)).fee_minor == 60


def test_a_settlement_keeps_the_currency_the_gateway_reported():
    """A settlement in another currency than the base one is refused by the recorder before
    it becomes money: the type keeps the reported code as it is."""
    reported = Settlement(gross_minor=5_000, fee_minor=0, currency="EUR", rate=Decimal(1))
    assert reported.currency == "EUR" and reported.gross == Money(5_000, "EUR")
