"""The one rounding rule (``round_half_up``, ``divide_half_up``) every figure goes through."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tracker.core.money import Money, convert, divide_half_up, round_half_up


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
