"""``understand``: language, intent and slots of one message in one call, with timings."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from smeflow.understanding import Amount, IntentModel, understand

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_a_swahili_booking_with_time_and_name(model: IntentModel) -> None:
    result = understand(
        "Habari, naitwa Amina. Nataka ku-book kesho saa nne asubuhi, namba yangu ni 0712 345 678",
        model=model,
        candidates=["sw", "en"],
        default_language="sw",
        country="KE",
        timezone="Africa/Nairobi",
        now=NOW,
        default_currency="KES",
    )
    assert result.language.language == "sw"
    assert result.intent.intent == "book"
    assert result.slots.when == (datetime(2026, 12, 5, 10, 0, tzinfo=ZoneInfo("Africa/Nairobi")),)
    assert result.slots.phones == ("+254712345678",)
    assert result.slots.names == ("Amina",)
    assert set(result.timings) == {"language", "embedding", "intent", "slots", "total"}
    assert all(isinstance(v, int) and v >= 0 for v in result.timings.values())
    assert result.timings["total"] >= result.timings["embedding"]


def test_a_pidgin_payment(model: IntentModel) -> None:
    result = understand(
        "abeg I don send N5,000 to una account, make una confirm am",
        model=model,
        candidates=["en", "pcm", "yo", "ha", "ig"],
        default_language="en",
        country="NG",
        timezone="Africa/Lagos",
        now=NOW,
        default_currency="NGN",
    )
    assert result.language.language == "pcm"
    assert result.intent.intent == "pay"
    assert result.slots.amounts == (Amount(500000, "NGN"),)


def test_a_short_stop_uses_the_tenants_language(model: IntentModel) -> None:
    result = understand(
        "STOP",
        model=model,
        candidates=["zu", "en"],
        default_language="zu",
        country="ZA",
        timezone="Africa/Johannesburg",
        now=NOW,
        default_currency="ZAR",
    )
    assert result.intent.intent == "opt_out"
    assert not result.language.reliable


def test_an_empty_message(model: IntentModel) -> None:
    result = understand(
        "   ",
        model=model,
        candidates=None,
        default_language="en",
        country=None,
        timezone="UTC",
        now=NOW,
        default_currency=None,
    )
    assert result.intent.intent is None
    assert result.language.language == "en"
    assert result.slots.amounts == ()
