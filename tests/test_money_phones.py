"""Money in minor units and phone numbers in E.164: exact conversions, clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.core.money import EXPONENTS, Money, MoneyError, exponent, from_major, to_major
from smeflow.core.phones import PhoneError, msisdn, region_of, to_e164

MARKET_CURRENCIES = ["KES", "NGN", "ZAR", "GHS", "UGX"]


@given(st.sampled_from(MARKET_CURRENCIES), st.integers(min_value=1, max_value=10**15))
def test_minor_units_round_trip_through_major_units_exactly(currency: str, minor: int) -> None:
    major = to_major(minor, currency)
    assert from_major(major, currency) == minor
    assert from_major(str(major), currency) == minor
    assert Money(minor, currency).major == major


@given(st.integers(min_value=1, max_value=10**12))
def test_a_float_amount_from_a_provider_is_read_by_its_decimal_form(minor: int) -> None:
    as_float = float(to_major(minor, "KES"))
    if Decimal(repr(as_float)) == to_major(minor, "KES"):
        assert from_major(as_float, "KES") == minor


def test_zero_decimal_currencies_refuse_fractions() -> None:
    assert exponent("UGX") == 0
    assert EXPONENTS["RWF"] == 0
    assert from_major("5000", "UGX") == 5000
    with pytest.raises(MoneyError, match="more decimals"):
        from_major("5000.5", "UGX")
    with pytest.raises(MoneyError, match="more decimals"):
        from_major("1.005", "KES")
    assert str(Money(150050, "KES")) == "KES 1500.50"
    assert str(Money(5000, "UGX")) == "UGX 5000"


@pytest.mark.parametrize("bad", [1.5, "1.5", True])
def test_money_is_whole_minor_units(bad: object) -> None:
    with pytest.raises(MoneyError):
        Money(bad, "KES")  # type: ignore[arg-type]


def test_unknown_currencies_and_non_amounts_are_refused() -> None:
    with pytest.raises(MoneyError, match="not a currency"):
        Money(100, "XYZ")
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(MoneyError):
            from_major(bad, "KES")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0712345678", "KE", "+254712345678"),
        ("0110123456", "KE", "+254110123456"),
        ("712345678", "KE", "+254712345678"),
        ("254712345678", "KE", "+254712345678"),
        ("254712345678", None, "+254712345678"),
        ("+2540712345678", None, "+254712345678"),
        ("08031234567", "NG", "+2348031234567"),
        ("+23408031234567", None, "+2348031234567"),
        ("0821234567", "ZA", "+27821234567"),
        ("0241234567", "GH", "+233241234567"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize(("raw", "region"), [("071234567", "KE"), ("0812345678", "NG"), ("hello", "KE")])
def test_invalid_phone_numbers_are_refused_naming_the_number(raw: str, region: str) -> None:
    with pytest.raises(PhoneError, match=raw):
        to_e164(raw, region)


def test_provider_renderings() -> None:
    assert msisdn("+254712345678") == "254712345678"
    assert region_of("+2348031234567") == "NG"
