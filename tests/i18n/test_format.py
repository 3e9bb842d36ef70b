"""Money, numbers, dates, times and lists in the customer's locale (babel 2.18 / CLDR data)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.core.money import EXPONENTS, to_major
from smeflow.i18n import (
    LANGUAGES,
    format_date,
    format_datetime,
    format_list,
    format_money,
    format_number,
    format_time,
    locale_for,
)

NBSP = "\xa0"
NNBSP = "\u202f"


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [
        ("sw", "KE", "sw_KE"),
        ("yo", "NG", "yo_NG"),
        ("pcm", "NG", "pcm_NG"),
        ("en", "NG", "en_NG"),
        ("ha", "NG", "ha_NG"),
        ("ig", "NG", "ig_NG"),
        ("zu", "ZA", "zu_ZA"),
        ("xh", "ZA", "xh_ZA"),
        ("af", "ZA", "af_ZA"),
        ("am", "ET", "am_ET"),
        ("so", "SO", "so_SO"),
        ("fr", "SN", "fr_SN"),
        ("pt", "MZ", "pt_MZ"),
        ("ar", "EG", "ar_EG"),
        ("sw", "ke", "sw_KE"),
        ("yo", "KE", "yo"),  # no Yoruba-in-Kenya locale: the language alone
        ("sw", None, "sw"),
        ("tlh", "KE", "en"),  # a language babel does not know: English
        ("sw-TZ", None, "sw"),
    ],
)
def test_locale_for_prefers_language_and_country_then_language_then_english(
    language: str, country: str | None, expected: str
) -> None:
    assert str(locale_for(language, country)) == expected


def test_babel_has_a_locale_for_every_language() -> None:
    assert [language for language in LANGUAGES if str(locale_for(language)) != language] == []


@pytest.mark.parametrize(
    ("minor", "currency", "language", "country", "expected"),
    [
        (150000, "KES", "en", "KE", "Ksh1,500.00"),
        (150000, "KES", "sw", "KE", f"Ksh{NBSP}1,500.00"),
        (150050, "KES", "sw", "KE", f"Ksh{NBSP}1,500.50"),
        (150000, "NGN", "en", "NG", "₦1,500.00"),
        (150000, "NGN", "yo", "NG", "₦1,500.00"),
        (150000, "NGN", "pcm", "NG", "₦1,500.00"),  # CLDR has only "NGN" for Pidgin; en_NG lends "₦"
        (150000, "NGN", "ha", "NG", f"₦{NBSP}1,500.00"),
        (150000, "ZAR", "en", "ZA", f"R1{NBSP}500,00"),
        (150000, "ZAR", "af", "ZA", f"R1{NBSP}500,00"),
        (99, "ZAR", "zu", "ZA", "R0.99"),
        (5000, "UGX", "en", "UG", "USh5,000"),
        (5000, "UGX", "sw", "UG", f"USh{NBSP}5,000"),
        (2500, "RWF", "en", "RW", "RF2,500"),
        (2500, "RWF", "en", None, "RWF2,500"),
        (5000, "XOF", "fr", "SN", f"5{NNBSP}000{NBSP}F{NNBSP}CFA"),
        (-5000, "XOF", "fr", "SN", f"-5{NNBSP}000{NBSP}F{NNBSP}CFA"),
        (1000, "BWP", "en", "BW", "P10.00"),  # outside smeflow.core.money: CLDR's 2 decimals
        (150000, "KES", "am", "ET", "KES1,500.00"),  # no symbol known: the code
    ],
)
def test_format_money(minor: int, currency: str, language: str, country: str | None, expected: str) -> None:
    assert format_money(minor, currency, language, country) == expected


def test_format_money_in_arabic_keeps_latin_digits() -> None:
    text = format_money(150000, "EGP", "ar", "EG")
    assert "1,500.00" in text
    assert "ج.م." in text


def test_format_money_refuses_what_is_not_money() -> None:
    with pytest.raises(ValueError, match="not an ISO 4217 currency"):
        format_money(100, "XYZ", "en")
    with pytest.raises(ValueError, match="whole number of minor units"):
        format_money(15.5, "KES", "en")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number of minor units"):
        format_money(True, "KES", "en")


@given(
    st.sampled_from(sorted(EXPONENTS)),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(LANGUAGES),
    st.sampled_from([None, "KE", "NG", "ZA", "UG", "ET", "EG", "SN"]),
)
def test_format_money_shows_exactly_the_digits_of_the_amount(
    currency: str, minor: int, language: str, country: str | None
) -> None:
    text = format_money(minor, currency, language, country)
    digits = f"{abs(to_major(minor, currency)):.{EXPONENTS[currency]}f}".replace(".", "")
    assert re.sub(r"\D", "", text) == digits
    assert ("-" in text or "\u2212" in text) == (minor < 0)


def test_format_number_groups_per_locale() -> None:
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(1234567, "fr") == f"1{NNBSP}234{NNBSP}567"
    assert format_number(Decimal("1234.5"), "af", "ZA") == f"1{NBSP}234,5"


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [
        ("en", "KE", "7 Mar 2026"),
        ("en", None, "Mar 7, 2026"),
        ("sw", "KE", "7 Mac 2026"),
        ("fr", "SN", "7 mars 2026"),
        ("am", "ET", "7 ማርች 2026"),
        ("zu", "ZA", "Mas 7, 2026"),
    ],
)
def test_format_date(language: str, country: str | None, expected: str) -> None:
    assert format_date(date(2026, 3, 7), language, country) == expected


def test_format_date_in_full_names_the_day() -> None:
    assert format_date(date(2026, 3, 7), "sw", "KE", format="full") == "Jumamosi, 7 Machi 2026"
    assert format_date(date(2026, 3, 7), "yo", "NG", format="full").startswith("Ọjọ́ Àbámẹ́ta")


LATE_EVENING_UTC = datetime(2026, 3, 7, 21, 30, tzinfo=UTC)


def test_one_moment_across_midnight_in_lagos_and_nairobi() -> None:
    # 21:30 UTC is 22:30 on the 7th in Lagos (UTC+1) but 00:30 on the 8th in Nairobi (UTC+3).
    assert format_datetime(LATE_EVENING_UTC, "Africa/Lagos", "en", "NG") == "7 Mar 2026, 22:30"
    assert format_datetime(LATE_EVENING_UTC, "Africa/Nairobi", "en", "KE") == "8 Mar 2026, 00:30"
    assert format_datetime(LATE_EVENING_UTC, "Africa/Nairobi", "sw", "KE") == "8 Mac 2026 00:30"
    assert format_date(LATE_EVENING_UTC, "en", "NG", tz="Africa/Lagos") == "7 Mar 2026"
    assert format_date(LATE_EVENING_UTC, "en", "KE", tz="Africa/Nairobi") == "8 Mar 2026"
    assert format_time(LATE_EVENING_UTC, "en", "NG", tz="Africa/Lagos") == "22:30"
    assert format_time(LATE_EVENING_UTC, "en", "KE", tz="Africa/Nairobi") == "00:30"


def test_format_datetime_takes_any_aware_datetime() -> None:
    in_lagos = datetime(2026, 3, 7, 22, 30, tzinfo=timezone(timedelta(hours=1)))
    assert format_datetime(in_lagos, "Africa/Johannesburg", "en", "ZA") == "07 Mar 2026, 23:30"
    assert format_datetime(in_lagos, "Africa/Lagos", "fr", "SN") == "7 mars 2026, 22:30"


def test_a_long_datetime_format_drops_cldr_quotes() -> None:
    text = format_datetime(LATE_EVENING_UTC, "Africa/Lagos", "en", None, date_format="long")
    assert "'" not in text
    assert text.startswith("March 7, 2026")


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 7, 21, 30)
    with pytest.raises(ValueError, match="naive"):
        format_datetime(naive, "Africa/Lagos", "en")
    with pytest.raises(ValueError, match="naive"):
        format_time(naive, "en", tz="Africa/Lagos")
    with pytest.raises(ValueError, match="naive"):
        format_date(naive, "en", tz="Africa/Lagos")


def test_an_aware_datetime_needs_a_time_zone_to_be_shown_in() -> None:
    with pytest.raises(ValueError, match="time zone"):
        format_time(LATE_EVENING_UTC, "en")
    with pytest.raises(ValueError, match="time zone"):
        format_date(LATE_EVENING_UTC, "en")


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        format_datetime(LATE_EVENING_UTC, "Africa/Atlantis", "en")


def test_format_time_of_a_wall_clock_time() -> None:
    assert format_time(time(9, 5), "en", "KE") == "09:05"
    assert format_time(time(9, 5), "fr") == "09:05"
    assert format_time(time(14, 5), "en") == f"2:05{NNBSP}PM"


def test_yoruba_minutes_are_padded() -> None:
    # CLDR's Yoruba short time is "H:m" (9:5); SMEFlow pads the minutes.
    assert format_time(time(9, 5), "yo", "NG") == "9:05"
    assert format_datetime(LATE_EVENING_UTC, "Africa/Lagos", "yo", "NG").endswith("22:30")


def test_format_list() -> None:
    assert format_list(["a", "b", "c"], "en") == "a, b, and c"
    assert format_list(["a", "b", "c"], "en", "NG") == "a, b and c"
    assert format_list(["a", "b", "c"], "sw") == "a, b na c"
    assert format_list(["a", "b", "c"], "fr", style="or") == "a, b ou c"
    assert format_list(["a", "b"], "ha") == "a da b"
    assert format_list(["a"], "am") == "a"
    assert format_list([], "en") == ""
