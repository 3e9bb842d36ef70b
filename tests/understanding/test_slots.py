"""Slots: phones in E.164 per country, e-mails, money as integer minor units, dates and times
(Swahili time-telling, timezones across midnight), names; never an exception on any text."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.understanding import Amount, Slots, extract_slots

NAIROBI = "Africa/Nairobi"
LAGOS = "Africa/Lagos"
# Friday 4 December 2026, 09:00 UTC (12:00 in Nairobi, 10:00 in Lagos).
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def slots(
    text: str,
    *,
    language: str | None = "en",
    country: str | None = "KE",
    timezone: str = NAIROBI,
    now: datetime = NOW,
    currency: str | None = "KES",
) -> Slots:
    return extract_slots(
        text, language=language, country=country, timezone=timezone, now=now, default_currency=currency
    )


def at(timezone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(timezone))  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "country", "e164"),
    [
        ("nipigie 0712 345 678", "KE", "+254712345678"),
        ("my number is 0712-345-678", "KE", "+254712345678"),
        ("call +254 712 345678 please", "NG", "+254712345678"),
        ("lambata 0803 123 4567", "NG", "+2348031234567"),
        ("WhatsApp me on 08031234567", "NG", "+2348031234567"),
        ("my cell is 082 123 4567", "ZA", "+27821234567"),
        ("ligue para 84 123 4567", "MZ", "+258841234567"),
        ("nambari yangu ni 0754 123 456", "TZ", "+255754123456"),
        ("call 024 412 3456", "GH", "+233244123456"),
    ],
)
def test_phones_are_e164_with_the_country_as_default_region(text: str, country: str, e164: str) -> None:
    assert slots(text, country=country).phones == (e164,)


def test_phone_numbers_are_not_money_or_times() -> None:
    found = slots("I paid, my number is 0712 345 678")
    assert found.phones == ("+254712345678",)
    assert found.amounts == ()
    assert found.when == ()


def test_invalid_numbers_are_not_phones() -> None:
    assert slots("order 12345 is ready").phones == ()
    assert slots("call 0712 345").phones == ()


def test_emails() -> None:
    found = slots("mail amina.o+salon@Example.CO.KE or bob@shop.ng, not bob@ or @x.com")
    assert found.emails == ("amina.o+salon@example.co.ke", "bob@shop.ng")


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("KES 1,500", None, Amount(150000, "KES")),
        ("Ksh1500", None, Amount(150000, "KES")),
        ("sh. 500", "KES", Amount(50000, "KES")),
        ("1500/=", "KES", Amount(150000, "KES")),
        ("I sent 1500 bob", None, Amount(150000, "KES")),
        ("₦5,000", None, Amount(500000, "NGN")),
        ("N5000 abeg", None, Amount(500000, "NGN")),
        ("I don send 5k naira", None, Amount(500000, "NGN")),
        ("R250", None, Amount(25000, "ZAR")),
        ("R 1 250,50", None, Amount(125050, "ZAR")),
        ("GH₵ 20", None, Amount(2000, "GHS")),
        ("20 cedis", None, Amount(2000, "GHS")),
        ("UGX 50,000", None, Amount(50000, "UGX")),
        ("sh 5000", "UGX", Amount(5000, "UGX")),
        ("$12.50", None, Amount(1250, "USD")),
        ("500 meticais", None, Amount(50000, "MZN")),
        ("200 birr", None, Amount(20000, "ETB")),
        ("5000 francs", "XOF", Amount(5000, "XOF")),
        ("nimetuma 1500", "KES", Amount(150000, "KES")),
        ("I paid 2,000 already", "NGN", Amount(200000, "NGN")),
    ],
)
def test_amounts_in_minor_units(text: str, currency: str | None, amount: Amount) -> None:
    found = slots(text, currency=currency).amounts
    assert found == (amount,)
    assert type(found[0].minor) is int


@pytest.mark.parametrize(
    "text",
    [
        "book for 2 people at 4pm",
        "room 12 please",
        "kesho saa 4",
        "see you on 25/12",
        "I have 3 kids",
        "my order 4471 hasn't come",  # a number, but no money word
    ],
)
def test_bare_numbers_are_not_money_unless_the_message_is_about_money(text: str) -> None:
    assert slots(text, currency="KES").amounts == ()


def test_a_bare_number_needs_a_default_currency() -> None:
    assert slots("I paid 1500", currency=None).amounts == ()


def test_more_decimals_than_the_currency_has_are_not_rounded() -> None:
    assert slots("UGX 1500.50").amounts == ()
    assert slots("KES 10.5").amounts == (Amount(1050, "KES"),)


def test_several_amounts_in_order() -> None:
    found = slots("it was KES 1,500 but I only have Ksh 1,200").amounts
    assert found == (Amount(150000, "KES"), Amount(120000, "KES"))


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("tomorrow at 3pm", "en", (2026, 12, 5, 15, 0)),
        ("next Friday", "en", (2026, 12, 11, 0, 0)),
        ("can I come on Monday at 10:30?", "en", (2026, 12, 7, 10, 30)),
        ("25/12", "en", (2026, 12, 25, 0, 0)),
        ("12 March at 9:30", "en", (2027, 3, 12, 9, 30)),
        ("demain à 15h", "fr", (2026, 12, 5, 15, 0)),
        ("vendredi prochain à 16h30", "fr", (2026, 12, 11, 16, 30)),
        ("amanhã às 16h", "pt", (2026, 12, 5, 16, 0)),
        ("môre om 3", "af", (2026, 12, 5, 15, 0)),
        ("gobe da karfe 10", "ha", (2026, 12, 5, 10, 0)),
        ("gobe da ƙarfe huɗu na yamma", "ha", (2026, 12, 5, 16, 0)),
        ("ọ̀la ní aago mẹ́rin ìrọ̀lẹ́", "yo", (2026, 12, 5, 16, 0)),
        ("ngoLwesine ngo-4 ntambama", "zu", (2026, 12, 10, 16, 0)),
    ],
)
def test_dates_and_times(text: str, language: str, expected: tuple[int, ...]) -> None:
    assert slots(text, language=language).when == (at(NAIROBI, *expected),)


@pytest.mark.parametrize(
    ("text", "hour"),
    [
        ("kesho saa nne asubuhi", 10),  # saa nne = the fourth hour after 06:00
        ("kesho saa moja asubuhi", 7),
        ("kesho saa sita mchana", 12),
        ("kesho saa nane mchana", 14),
        ("kesho saa kumi jioni", 16),
        ("kesho saa kumi na mbili jioni", 18),
        ("kesho saa mbili usiku", 20),
        ("kesho saa tatu na nusu asubuhi", 9),  # 09:30, checked below
        ("kesho saa 4 asubuhi", 10),
        ("kesho saa tano", 11),  # no period word: the daytime reading
    ],
)
def test_swahili_time_counts_hours_from_six(text: str, hour: int) -> None:
    (when,) = slots(text, language="sw").when
    assert when.date() == at(NAIROBI, 2026, 12, 5).date()
    assert when.hour == hour
    assert when.minute == (30 if "nusu" in text else 0)


def test_swahili_time_is_only_read_in_swahili() -> None:
    # "saa" is Swahili; an English message reading "at 4" means 16:00, not 10:00.
    assert slots("tomorrow at 4", language="en").when == (at(NAIROBI, 2026, 12, 5, 16, 0),)


def test_timezones_across_midnight() -> None:
    # 22:30 UTC: already Saturday 01:30 in Nairobi, still Friday 23:30 in Lagos.
    late = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)
    nairobi = slots("tomorrow at 10am", timezone=NAIROBI, now=late).when
    lagos = slots("tomorrow at 10am", timezone=LAGOS, country="NG", now=late).when
    assert nairobi == (at(NAIROBI, 2026, 12, 6, 10, 0),)
    assert lagos == (at(LAGOS, 2026, 12, 5, 10, 0),)
    assert nairobi[0].utcoffset() != lagos[0].utcoffset()


def test_a_time_that_has_passed_today_is_tomorrow() -> None:
    # 12:00 in Nairobi: 10am has passed, 3pm has not.
    assert slots("at 10am").when == (at(NAIROBI, 2026, 12, 5, 10, 0),)
    assert slots("at 3pm").when == (at(NAIROBI, 2026, 12, 4, 15, 0),)


def test_messages_without_dates_have_none() -> None:
    for text in ["how much is a haircut?", "I want to pay", "book for 2 people", "more promotions? no"]:
        assert slots(text).when == (), text


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        slots("tomorrow", now=datetime(2026, 12, 4, 9, 0))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Hi, my name is Wanjiru Kamau, I want to book", ("Wanjiru Kamau",)),
        ("I am Peter", ("Peter",)),
        ("I am late, sorry", ()),
        ("jina langu ni amina", ("Amina",)),
        ("naitwa Otieno na nataka kubook", ("Otieno",)),
        ("sunana Musa", ("Musa",)),
        ("orúkọ mi ni Adé", ("Adé",)),
        ("aha m bụ Chioma", ("Chioma",)),
        ("igama lami ngu-Thandi", ("Thandi",)),
        ("je m'appelle Aïcha", ("Aïcha",)),
        ("je suis en retard", ()),
        ("o meu nome é João", ("João",)),
        ("magacaygu waa Hodan", ("Hodan",)),
    ],
)
def test_names(text: str, names: tuple[str, ...]) -> None:
    assert slots(text, language=None).names == names


@given(
    st.text(max_size=200),
    st.sampled_from([None, "en", "sw", "ha", "yo", "fr", "am", "ar", "pcm", "xh"]),
    st.sampled_from([None, "KE", "NG", "ZA", "GH"]),
    st.sampled_from([None, "KES", "NGN", "UGX", "ZAR"]),
)
def test_extract_slots_never_raises_and_money_is_whole_minor_units(
    text: str, language: str | None, country: str | None, currency: str | None
) -> None:
    found = extract_slots(
        text, language=language, country=country, timezone=LAGOS, now=NOW, default_currency=currency
    )
    for amount in found.amounts:
        assert type(amount.minor) is int
        assert amount.minor >= 0
        assert len(amount.currency) == 3
        assert amount.currency.isupper()
    for when in found.when:
        assert when.tzinfo is not None
    for phone in found.phones:
        assert phone.startswith("+")
        assert phone[1:].isdigit()


@given(st.integers(min_value=1, max_value=10**7), st.sampled_from(["KES ", "Ksh", "₦", "R", "UGX "]))
def test_written_amounts_read_back_exactly(major: int, prefix: str) -> None:
    (amount,) = slots(f"I paid {prefix}{major:,}").amounts
    assert amount.minor == major * (1 if amount.currency == "UGX" else 100)
