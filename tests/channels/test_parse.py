"""Typed answers read for each of the 17 form field types, valid and invalid, in several
languages: the value is what the engine's check_answers accepts, the problem is the catalog's
message in the customer's language."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.channels import Accepted, Rejected, parse_answer, parse_choice, parse_choices, read_number
from smeflow.engine.definitions import FORM_FIELD_TYPES, FormField, check_answers
from smeflow.i18n import LANGUAGES, format_money, format_number, messages
from smeflow.understanding import normalize

COORDS = "-1.2864, 36.8172"
THOUSAND = "1\u202f000"  # French groups thousands with a narrow no-break space
NOW = datetime(2026, 3, 7, 21, 30, tzinfo=UTC)  # 00:30 on 8 March in Nairobi, 22:30 on 7 March in Lagos
ZONES = {"KE": "Africa/Nairobi", "NG": "Africa/Lagos", "ZA": "Africa/Johannesburg", "SN": "Africa/Dakar"}
SALON = {"options": ["Haircut", "Braids", "Manicure"]}
TOWNS = {"options": [f"Town {n}" for n in range(1, 21)]}
CUT, NAILS = "Haircut", "Manicure"
PDF = {
    "name": "receipt.pdf",
    "content_type": "application/pdf",
    "size": 2048,
    "url": "https://files.example/r.pdf",
}


def _money_example(currency: str, language: str, country: str) -> dict[str, str]:
    return {"example": format_money(150000, currency, language, country)}


def _id(country: str, kind: str, number: str) -> dict[str, str]:
    return {"country": country, "kind": kind, "number": number}


def _field(type_: str, **config: Any) -> FormField:
    return FormField(name="answer", type=type_, label="The tenant's question", **config)  # type: ignore[arg-type]


def _parse(field: FormField, text: str, language: str, country: str = "KE", **kwargs: Any) -> Any:
    return parse_answer(
        field, text, language=language, country=country, timezone=ZONES[country], now=NOW, **kwargs
    )


def _accepted(field: FormField, text: str, language: str, country: str = "KE", **kwargs: Any) -> Any:
    parsed = _parse(field, text, language, country, **kwargs)
    assert isinstance(parsed, Accepted), parsed
    # The engine agrees, and the value is already the engine's normalised one.
    assert check_answers([field], {field.name: parsed.value}) == {field.name: parsed.value}
    return parsed.value


def _rejected(field: FormField, text: str, language: str, country: str = "KE", **kwargs: Any) -> Rejected:
    parsed = _parse(field, text, language, country, **kwargs)
    assert isinstance(parsed, Rejected), parsed
    return parsed


def _says(key: str, language: str, **values: Any) -> str:
    return messages().text(key, language, **values)


# (field type, config, language, country, typed text, expected value)
VALID = [
    ("short_text", {}, "en", "KE", "  Amina Njeri ", "Amina Njeri"),
    ("short_text", {}, "sw", "KE", "Jina langu ni Amina", "Jina langu ni Amina"),
    ("long_text", {}, "ha", "NG", "Ina son gyaran gashi\nda kitso", "Ina son gyaran gashi\nda kitso"),
    ("long_text", {}, "yo", "NG", "Mo fẹ́ ṣe irun", "Mo fẹ́ ṣe irun"),
    ("email", {}, "en", "KE", "Amina@Example.COM", "Amina@example.com"),
    ("email", {}, "sw", "KE", "barua pepe yangu ni amina@example.com", "amina@example.com"),
    ("phone", {}, "en", "KE", "0712 345 678", "+254712345678"),
    ("phone", {}, "sw", "KE", "254712345678", "+254712345678"),
    ("phone", {}, "yo", "NG", "0802 123 4567", "+2348021234567"),
    ("number", {"min": 1, "max": 10}, "en", "KE", "7", 7),
    ("number", {}, "sw", "KE", "1,500", 1500),
    ("number", {}, "fr", "SN", "2,5", 2.5),
    ("number", {}, "fr", "SN", "1 500", 1500),
    ("money", {"currency": "KES"}, "en", "KE", "1,500", {"amount": 150000, "currency": "KES"}),
    ("money", {"currency": "KES"}, "sw", "KE", "Ksh 1,500.50", {"amount": 150050, "currency": "KES"}),
    ("money", {}, "ha", "NG", "₦5,000", {"amount": 500000, "currency": "NGN"}),
    ("money", {}, "yo", "NG", "2500", {"amount": 250000, "currency": "NGN"}),
    ("date", {}, "sw", "KE", "kesho", "2026-03-09"),
    ("date", {}, "en", "KE", "25/12", "2026-12-25"),
    ("date", {}, "en", "KE", "2026-05-01", "2026-05-01"),
    ("date", {}, "ha", "NG", "gobe", "2026-03-08"),
    ("time", {}, "sw", "KE", "saa nne asubuhi", "10:00:00"),
    ("time", {}, "en", "KE", "3pm", "15:00:00"),
    ("time", {}, "ha", "NG", "ƙarfe huɗu na yamma", "16:00:00"),
    ("time", {}, "fr", "SN", "15h30", "15:30:00"),
    ("datetime", {}, "sw", "KE", "kesho saa nne asubuhi", "2026-03-09T10:00:00+03:00"),
    ("datetime", {}, "en", "KE", "tomorrow 3pm", "2026-03-09T15:00:00+03:00"),
    ("datetime", {}, "yo", "NG", "ọ̀la aago mẹ́rin ìrọ̀lẹ́", "2026-03-08T16:00:00+01:00"),
    ("single_choice", SALON, "en", "KE", "2", "Braids"),
    ("single_choice", {"options": ["Kunyoa", "Kusuka", "Kucha"]}, "sw", "KE", "KUSUKA", "Kusuka"),
    ("single_choice", SALON, "sw", "KE", "man", "Manicure"),
    ("single_choice", {"options": ["Café", "Thé"]}, "fr", "SN", "cafe", "Café"),
    ("multiple_choice", SALON, "en", "KE", "1,3", [CUT, NAILS]),
    ("multiple_choice", SALON, "en", "KE", "3 and 1", [CUT, NAILS]),
    ("multiple_choice", SALON, "sw", "KE", "1 na 3", [CUT, NAILS]),
    ("multiple_choice", SALON, "ha", "NG", "2 da 3", ["Braids", "Manicure"]),
    ("multiple_choice", SALON, "yo", "NG", "1 àti braids", ["Haircut", "Braids"]),
    ("multiple_choice", SALON, "sw", "KE", "13", [CUT, NAILS]),
    ("consent", {}, "en", "KE", "yes", True),
    ("consent", {}, "sw", "KE", "Ndiyo!", True),
    ("consent", {}, "yo", "NG", "bẹ́ẹ̀ni", True),
    ("consent", {"required": False}, "ha", "NG", "a'a", False),
    ("consent", {}, "fr", "SN", "1", True),
    ("rating", {}, "en", "KE", "4", 4),
    ("rating", {}, "sw", "KE", "4/5", 4),
    ("rating", {}, "ha", "NG", "⭐⭐⭐⭐", 4),
    ("rating", {"min": 0, "max": 10}, "fr", "SN", "9/10", 9),
    ("address", {}, "en", "KE", "Moi Avenue, Nairobi", {"text": "Moi Avenue, Nairobi"}),
    ("address", {}, "sw", "KE", COORDS, {"text": COORDS, "lat": -1.2864, "lng": 36.8172}),
    ("national_id", {}, "en", "KE", "12345678", _id("KE", "national_id", "12345678")),
    ("national_id", {}, "sw", "KE", "a123456789z", _id("KE", "kra_pin", "A123456789Z")),
    ("national_id", {}, "ha", "NG", "BVN 2234 5678 901", _id("NG", "bvn", "22345678901")),
    ("national_id", {}, "yo", "NG", "22345678901", _id("NG", "nin", "22345678901")),
    ("national_id", {}, "zu", "ZA", "800101 5009 087", _id("ZA", "national_id", "8001015009087")),
    ("url", {}, "en", "KE", "https://salon.example/book", "https://salon.example/book"),
    ("url", {}, "sw", "KE", "salon.example", "https://salon.example"),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "config", "language", "country", "text", "expected"), VALID)
def test_a_typed_answer_is_read_as_the_value_the_engine_accepts(
    type_: str, config: dict[str, Any], language: str, country: str, text: str, expected: Any
) -> None:
    assert _accepted(_field(type_, **config), text, language, country) == expected


# (field type, config, language, country, typed text, catalog key, its values)
INVALID = [
    ("short_text", {}, "en", "KE", "...", "form.invalid_text", {}),
    ("short_text", {}, "sw", "KE", "x" * 301, "form.too_long", {"max": "300"}),
    ("long_text", {}, "ha", "NG", "!!!", "form.invalid_text", {}),
    ("long_text", {}, "fr", "SN", "x" * 5001, "form.too_long", {"max": "5\u202f000"}),
    ("email", {}, "en", "KE", "amina@", "form.invalid_email", {}),
    ("email", {}, "sw", "KE", "amina at example", "form.invalid_email", {}),
    ("phone", {}, "en", "KE", "12345", "form.invalid_phone", {"example": "0712 123456"}),
    ("phone", {}, "sw", "KE", "0712", "form.invalid_phone", {"example": "0712 123456"}),
    ("phone", {}, "ha", "NG", "080", "form.invalid_phone", {"example": "0802 123 4567"}),
    ("number", {}, "en", "KE", "seven", "form.invalid_number", {}),
    ("number", {"min": 1, "max": 10}, "sw", "KE", "11", "form.number_range", {"min": "1", "max": "10"}),
    ("number", {"min": 1000, "max": 5000}, "fr", "SN", "12", "form.number_range",
     {"min": THOUSAND, "max": "5\u202f000"}),
    ("money", {"currency": "KES"}, "en", "KE", "USD 5", "form.invalid_amount",
     _money_example("KES", "en", "KE")),
    ("money", {"currency": "KES"}, "sw", "KE", "1500.555", "form.invalid_amount",
     _money_example("KES", "sw", "KE")),
    ("money", {"currency": "NGN"}, "ha", "NG", "kudi", "form.invalid_amount",
     _money_example("NGN", "ha", "NG")),
    ("money", {"currency": "KES", "max": 100000}, "sw", "KE", "5000", "form.number_range",
     {"min": "-∞", "max": format_money(100000, "KES", "sw", "KE")}),
    ("date", {}, "en", "KE", "banana", "form.invalid_date", {"example": "09/03/2026"}),
    ("date", {}, "sw", "KE", "sijui", "form.invalid_date", {"example": "09/03/2026"}),
    ("date", {}, "yo", "NG", "3pm", "form.invalid_date", {"example": "8/3/2026"}),
    ("time", {}, "en", "KE", "soon", "form.invalid_time", {"example": "09:30"}),
    ("time", {}, "sw", "KE", "kesho", "form.invalid_time", {"example": "09:30"}),
    ("time", {}, "fr", "SN", "bientôt", "form.invalid_time", {"example": "09:30"}),
    ("datetime", {}, "en", "KE", "tomorrow", "form.invalid_datetime", {"example": "09/03/2026 09:30"}),
    ("datetime", {}, "sw", "KE", "kesho", "form.invalid_datetime", {"example": "09/03/2026 09:30"}),
    ("single_choice", SALON, "en", "KE", "4", "form.invalid_choice",
     {"options": "1. Haircut, 2. Braids, or 3. Manicure"}),
    ("single_choice", SALON, "sw", "KE", "pedicure", "form.invalid_choice",
     {"options": "1. Haircut, 2. Braids au 3. Manicure"}),
    ("single_choice", {"options": ["Braids", "Braids and beads"]}, "en", "KE", "braid", "form.invalid_choice",
     {"options": "1. Braids or 2. Braids and beads"}),
    ("single_choice", TOWNS, "ha", "NG", "Kano", "form.invalid_choice",
     {"options": "1-20"}),
    ("multiple_choice", SALON, "en", "KE", "1,5", "form.invalid_choices",
     {"options": "1. Haircut, 2. Braids, or 3. Manicure"}),
    ("multiple_choice", SALON, "sw", "KE", "1 na chai", "form.invalid_choices",
     {"options": "1. Haircut, 2. Braids au 3. Manicure"}),
    ("consent", {}, "en", "KE", "no", "form.consent_required", {}),
    ("consent", {}, "sw", "KE", "hapana", "form.consent_required", {}),
    ("consent", {}, "yo", "NG", "bóyá", "confirm.yes_no", {}),
    ("rating", {}, "en", "KE", "6", "form.invalid_rating", {"min": "1", "max": "5"}),
    ("rating", {}, "sw", "KE", "8/10", "form.invalid_rating", {"min": "1", "max": "5"}),
    ("rating", {}, "ha", "NG", "mai kyau", "form.invalid_rating", {"min": "1", "max": "5"}),
    ("file", {}, "en", "KE", "here it is", "form.file_required", {}),
    ("file", {}, "sw", "KE", "hii hapa", "form.file_required", {}),
    ("address", {}, "en", "KE", "-100, 36.8", "form.invalid_location", {}),
    ("address", {}, "sw", "KE", "???", "form.invalid_location", {}),
    ("national_id", {}, "en", "KE", "123", "form.invalid_id", {"id_name": "ID"}),
    ("national_id", {}, "sw", "KE", "B123456789Z", "form.invalid_id", {"id_name": "ID"}),
    ("national_id", {}, "ha", "NG", "BVN 12345", "form.invalid_id", {"id_name": "BVN"}),
    ("national_id", {}, "zu", "ZA", "8001015009088", "form.invalid_id", {"id_name": "ID"}),  # bad Luhn
    ("url", {}, "en", "KE", "not a web address", "form.invalid_url", {}),
    ("url", {}, "sw", "KE", "ftp://salon.example", "form.invalid_url", {}),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "config", "language", "country", "text", "key", "values"), INVALID)
def test_a_wrong_answer_gets_the_catalog_message_in_the_customers_language(
    type_: str,
    config: dict[str, Any],
    language: str,
    country: str,
    text: str,
    key: str,
    values: dict[str, str],
) -> None:
    rejected = _rejected(_field(type_, **config), text, language, country)
    assert rejected.key == key
    assert rejected.message == _says(key, language, **values)


def test_every_field_type_is_covered_valid_and_invalid_in_at_least_two_languages() -> None:
    for cases in (VALID, INVALID):
        languages: dict[str, set[str]] = {}
        for case in cases:
            languages.setdefault(case[0], set()).add(case[2])
        missing = {name for name in FORM_FIELD_TYPES if len(languages.get(name, set())) < 2}
        assert missing <= {"file"} if cases is VALID else missing == set()


@pytest.mark.parametrize("language", ["en", "sw", "yo"])
def test_a_file_question_takes_the_attachment_the_message_carries(language: str) -> None:
    field = _field("file")
    assert _accepted(field, "", language, attachment=PDF) == PDF
    assert _accepted(field, "my receipt", language, attachment=PDF) == PDF
    broken = {**PDF, "url": "not a url"}
    assert _rejected(field, "", language, attachment=broken).message == _says("form.file_required", language)
    assert _rejected(field, "", language).message == _says("form.file_required", language)


def test_a_shared_whatsapp_location_is_an_address_with_coordinates() -> None:
    location = {"latitude": -1.2864, "longitude": 36.8172, "name": "Salon Amina", "address": "Moi Avenue"}
    value = _accepted(_field("address"), "", "sw", attachment=location)
    assert value == {"text": "Salon Amina, Moi Avenue", "lat": -1.2864, "lng": 36.8172}


@pytest.mark.parametrize("language", ["en", "sw", "ha"])
def test_a_blank_answer_is_required_or_none(language: str) -> None:
    assert _rejected(_field("short_text"), "   ", language).message == _says("form.required", language)
    assert _accepted(_field("email", required=False), "", language) is None


def test_a_money_field_without_a_currency_takes_the_tenants_country_currency() -> None:
    assert _accepted(_field("money"), "1,500", "sw", "KE") == {"amount": 150000, "currency": "KES"}
    assert _accepted(_field("money"), "1500", "fr", "SN") == {
        "amount": 1500,
        "currency": "XOF",
    }  # no decimals


def test_a_phone_number_for_another_country_keeps_its_country_code() -> None:
    assert _accepted(_field("phone"), "+234 802 123 4567", "sw", "KE") == "+2348021234567"


def test_a_relative_day_depends_on_the_tenants_time_zone_across_midnight() -> None:
    # 21:30 UTC on 7 March: already 8 March in Nairobi (00:30), still 7 March in Lagos (22:30).
    field = _field("date")
    assert _accepted(field, "kesho", "sw", "KE") == "2026-03-09"
    assert _accepted(field, "tomorrow", "en", "NG") == "2026-03-08"
    assert _accepted(field, "today", "en", "KE") == "2026-03-08"
    assert _accepted(field, "today", "en", "NG") == "2026-03-07"
    at = _field("datetime")
    assert _accepted(at, "tomorrow 9am", "en", "KE") == "2026-03-09T09:00:00+03:00"
    assert _accepted(at, "tomorrow 9am", "en", "NG") == "2026-03-08T09:00:00+01:00"
    # A time already past today is tomorrow: 22:00 has passed in neither zone's "today" the same way.
    assert _accepted(at, "10pm", "en", "NG") == "2026-03-08T22:00:00+01:00"
    assert _accepted(at, "10pm", "en", "KE") == "2026-03-08T22:00:00+03:00"


def test_an_iso_datetime_without_an_offset_is_read_in_the_tenants_zone() -> None:
    assert _accepted(_field("datetime"), "2026-05-01T09:30", "en", "NG") == "2026-05-01T09:30:00+01:00"


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["en", "sw", "fr", "ha", "af", "pt"]))
def test_a_number_written_the_locales_way_reads_back(value: int, language: str) -> None:
    assert read_number(format_number(value, language), language) == value


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=99))
def test_an_amount_in_minor_units_is_never_a_float(major: int, cents: int) -> None:
    field = _field("money", currency="KES")
    value = _accepted(field, f"{major}.{cents:02d}", "en")
    assert value == {"amount": major * 100 + cents, "currency": "KES"}
    assert isinstance(value["amount"], int)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_answer(_field("date"), "kesho", language="sw", country="KE", timezone="Africa/Nairobi",
                     now=datetime(2026, 3, 7))  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_yes_and_no_a_prompt_shows_read_back_in_every_language(language: str) -> None:
    lines = messages().text("form.yes_no", language).split("\n")
    yes, no = (line.split(". ", 1)[1] for line in lines)
    consent = _field("consent", required=False)
    assert _accepted(consent, yes, language) is True
    assert _accepted(consent, no, language) is False
    assert _accepted(consent, "1", language) is True
    assert _accepted(consent, "2", language) is False


_labels = st.lists(
    st.text(min_size=1, max_size=40).filter(lambda text: normalize(text)), min_size=1, max_size=30
)


@given(_labels, st.data())
def test_an_option_is_chosen_by_its_number_and_by_its_label(labels: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(labels) - 1))
    assert parse_choice(str(index + 1), labels) == labels[index]
    assert parse_choice("²", labels) in (None, *labels)  # a superscript digit is never an index error
    same = [label for label in labels if normalize(label) == normalize(labels[index])]
    if not labels[index].strip().isdigit() and len(same) == 1:
        assert (
            parse_choice(labels[index].upper(), labels) in (labels[index], None)
            or labels[index].upper() != labels[index]
        )
        assert parse_choice(labels[index], labels) == labels[index]
    chosen = sorted(set(data.draw(st.lists(st.integers(min_value=1, max_value=len(labels)), min_size=1))))
    picked = parse_choices(",".join(str(n) for n in chosen), labels, "sw")
    assert picked is not None
    assert set(picked) == {labels[n - 1] for n in chosen}
