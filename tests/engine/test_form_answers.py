"""Checking answers to a form (pure): every field type, what it accepts and how it is stored, what
it refuses and with which message at which path; properties with hypothesis (South African ids
with their Luhn digit, E.164 numbers, ranges, checking twice changes nothing)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.engine.definitions import FORM_FIELD_TYPES, FormField, check_answers
from smeflow.errors import ValidationFailed


def field(name: str, type: str, **extra: Any) -> FormField:
    return FormField.model_validate({"name": name, "type": type, "label": name.title()} | extra)


def problems(fields: list[FormField], answers: Any) -> dict[str, tuple[str, str]]:
    """``{path: (code, message)}`` of the problems check_answers reports."""
    with pytest.raises(ValidationFailed) as caught:
        check_answers(fields, answers)
    return {p.field: (p.code, p.message) for p in caught.value.fields}


def one(f: FormField, value: Any) -> Any:
    return check_answers([f], {f.name: value})[f.name]


def refused(f: FormField, value: Any) -> tuple[str, str, str]:
    """The single problem of answering ``value``: (path, code, message)."""
    found = problems([f], {f.name: value})
    assert len(found) == 1, found
    ((path, (code, message)),) = found.items()
    return path, code, message


# -- what every form shares


def test_required_unknown_and_missing_are_reported_together() -> None:
    fields = [
        field("name", "short_text"),
        field("email", "email"),
        field("note", "long_text", required=False),
    ]
    found = problems(fields, {"email": "not-an-email", "age": 3})
    assert set(found) == {"answers.name", "answers.email", "answers.age"}
    assert found["answers.name"] == ("required", "needs an answer")
    assert found["answers.age"] == ("unknown_field", "is not a question of this form")
    assert found["answers.email"][0] == "invalid"
    with pytest.raises(ValidationFailed) as caught:
        check_answers(fields, {"email": "not-an-email", "age": 3})
    assert caught.value.message.startswith("Check these answers: ")
    assert "Name (needs an answer)" in caught.value.message


def test_unanswered_optional_questions_are_null_and_blank_counts_as_unanswered() -> None:
    fields = [field("name", "short_text"), field("note", "long_text", required=False)]
    assert check_answers(fields, {"name": "  Wanjiru ", "note": "   "}) == {"name": "Wanjiru", "note": None}
    assert check_answers(fields, {"name": "Wanjiru", "note": None}) == {"name": "Wanjiru", "note": None}
    assert problems(fields, {"name": "  "}) == {"answers.name": ("required", "needs an answer")}


@pytest.mark.parametrize("answers", [None, [], "yes", 3])
def test_the_answers_must_be_an_object(answers: Any) -> None:
    assert problems([field("name", "short_text")], answers) == {
        "answers": ("type", "must be an object: question name → answer")
    }


def test_answers_come_back_in_the_forms_order() -> None:
    fields = [field("b", "short_text"), field("a", "short_text")]
    assert list(check_answers(fields, {"a": "1", "b": "2"})) == ["b", "a"]


def test_every_field_type_has_a_check() -> None:
    samples: dict[str, Any] = {
        "short_text": "hi",
        "long_text": "hello",
        "email": "a@example.com",
        "phone": "+254712345678",
        "number": 3,
        "money": 100,
        "date": "2025-06-01",
        "time": "09:30",
        "datetime": "2025-06-01T09:30:00+03:00",
        "single_choice": "A",
        "multiple_choice": ["A"],
        "consent": True,
        "rating": 4,
        "file": {
            "name": "a.pdf",
            "content_type": "application/pdf",
            "size": 10,
            "url": "https://x.example/a",
        },
        "address": {"text": "Moi Avenue, Nairobi"},
        "national_id": {"country": "NG", "kind": "nin", "number": "12345678901"},
        "url": "https://example.com",
    }
    assert set(samples) == set(FORM_FIELD_TYPES)
    for kind, sample in samples.items():
        extra: dict[str, Any] = {}
        if kind in ("single_choice", "multiple_choice"):
            extra["options"] = ["A", "B"]
        if kind == "money":
            extra["currency"] = "KES"
        assert one(field("q", kind, **extra), sample) is not None, kind


# -- text, email, phone, url


def test_text_lengths() -> None:
    assert one(field("q", "short_text"), "x" * 300) == "x" * 300
    assert refused(field("q", "short_text"), "x" * 301) == (
        "answers.q",
        "too_long",
        "must be at most 300 characters (it has 301)",
    )
    assert one(field("q", "long_text"), "x" * 5000) == "x" * 5000
    assert refused(field("q", "long_text"), "x" * 5001)[1] == "too_long"
    assert refused(field("q", "short_text"), 12) == ("answers.q", "type", "must be text")


def test_email_is_normalised_and_checked() -> None:
    assert one(field("q", "email"), " Wanjiru@EXAMPLE.com ") == "Wanjiru@example.com"
    path, code, message = refused(field("q", "email"), "wanjiru.example.com")
    assert (path, code) == ("answers.q", "invalid")
    assert message.startswith("is not a valid email address: ")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+254712345678", "+254712345678"),
        ("+254 712 345 678", "+254712345678"),
        ("+234-803-123-4567", "+2348031234567"),
    ],
)
def test_phone_numbers_in_e164(given: str, stored: str) -> None:
    assert one(field("q", "phone"), given) == stored


@pytest.mark.parametrize(
    "bad", ["0712345678", "254712345678", "+0712345678", "+1234567", "+1234567890123456", "+2547123x5678"]
)
def test_phone_numbers_not_in_e164_are_refused(bad: str) -> None:
    path, code, message = refused(field("q", "phone"), bad)
    assert (path, code) == ("answers.q", "invalid")
    assert "international form" in message
    assert "+254712345678" in message


def e164(low: int = 7, high: int = 14) -> st.SearchStrategy[str]:
    """``+``, a digit 1-9, then ``low``..``high`` digits."""
    rest = st.text("0123456789", min_size=low, max_size=high)
    return st.builds("+{}{}".format, st.integers(1, 9), rest)


@given(e164())
def test_any_e164_number_is_accepted_as_it_is(number: str) -> None:
    assert one(field("q", "phone"), number) == number


@given(e164(15, 20))
def test_more_than_15_digits_is_never_a_phone_number(number: str) -> None:
    assert refused(field("q", "phone"), number)[1] == "invalid"


def test_urls_are_http_or_https() -> None:
    assert one(field("q", "url"), "https://amani.example/book?x=1") == "https://amani.example/book?x=1"
    assert one(field("q", "url"), "http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    for bad in (
        "ftp://amani.example",
        "javascript:alert(1)",
        "amani.example",
        "https://",
        "https://a b.example",
    ):
        assert refused(field("q", "url"), bad)[1] == "invalid", bad
    assert refused(field("q", "url"), "https://a.example/" + "x" * 2000)[1] == "too_long"


# -- numbers, money, rating


def test_numbers_within_min_and_max() -> None:
    q = field("q", "number", min=1, max=10.5)
    assert one(q, 1) == 1
    assert one(q, 10.5) == 10.5
    assert refused(q, 0.5) == ("answers.q", "out_of_range", "must be at least 1")
    assert refused(q, 11) == ("answers.q", "out_of_range", "must be at most 10.5")
    for bad in ("3", True, float("nan"), float("inf")):
        assert refused(q, bad) == ("answers.q", "type", "must be a number"), bad


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_a_number_is_accepted_exactly_when_it_is_in_range(value: float, low: float, span: float) -> None:
    q = field("q", "number", min=low, max=low + span)
    if low <= value <= low + span:
        assert one(q, value) == value
    else:
        assert refused(q, value)[1] == "out_of_range"


def test_money_in_minor_units() -> None:
    deposit = field("deposit", "money", currency="KES", min=0, max=1_000_000)
    assert one(deposit, 150000) == {"amount": 150000, "currency": "KES"}
    assert one(deposit, {"amount": 0, "currency": "KES"}) == {"amount": 0, "currency": "KES"}
    assert one(deposit, {"amount": 5}) == {"amount": 5, "currency": "KES"}
    assert refused(deposit, 1500.5) == (
        "answers.deposit",
        "type",
        "must be a whole number of minor units (KES 15.00 is 1500), not 1500.5",
    )
    assert refused(deposit, {"amount": "15"})[0:2] == ("answers.deposit.amount", "type")
    assert refused(deposit, -1) == ("answers.deposit", "out_of_range", "must not be negative")
    assert refused(deposit, 1_000_001) == (
        "answers.deposit",
        "out_of_range",
        "must be at most 1000000 minor units",
    )
    assert refused(deposit, {"amount": 5, "currency": "NGN"}) == (
        "answers.deposit.currency",
        "invalid",
        "must be KES, the currency this question asks for",
    )
    assert refused(deposit, {"amount": 5, "tip": 1}) == (
        "answers.deposit.tip",
        "unknown_field",
        "is not part of a money answer",
    )
    assert refused(deposit, True)[1] == "type"


def test_money_without_a_currency_on_the_question_must_say_its_own() -> None:
    any_money = field("paid", "money")
    assert one(any_money, {"amount": 2500, "currency": "NGN"}) == {"amount": 2500, "currency": "NGN"}
    assert refused(any_money, 2500)[0:2] == ("answers.paid", "type")
    assert refused(any_money, {"amount": 2500})[0:2] == ("answers.paid.currency", "required")
    assert refused(any_money, {"amount": 2500, "currency": "naira"})[0:2] == (
        "answers.paid.currency",
        "invalid",
    )


def test_ratings_are_whole_numbers_from_one_to_five_unless_said() -> None:
    stars = field("stars", "rating")
    assert [one(stars, value) for value in (1, 5, 3.0)] == [1, 5, 3]
    assert refused(stars, 0) == ("answers.stars", "out_of_range", "must be from 1 to 5")
    assert refused(stars, 6)[1] == "out_of_range"
    assert refused(stars, 3.5) == ("answers.stars", "type", "must be a whole number")
    assert refused(stars, True)[1] == "type"
    ten = field("nps", "rating", min=0, max=10)
    assert one(ten, 0) == 0
    assert refused(ten, 11) == ("answers.nps", "out_of_range", "must be from 0 to 10")


# -- dates and times


def test_dates_times_and_datetimes_in_iso_8601() -> None:
    assert one(field("q", "date"), "2025-06-01") == "2025-06-01"
    assert one(field("q", "time"), "09:30") == "09:30:00"
    assert one(field("q", "time"), "09:30+03:00") == "09:30:00+03:00"
    assert one(field("q", "datetime"), "2025-06-01T09:30:00+03:00") == "2025-06-01T09:30:00+03:00"
    assert one(field("q", "datetime"), "2025-06-01T06:30:00Z") == "2025-06-01T06:30:00+00:00"
    assert refused(field("q", "date"), "01/06/2025") == (
        "answers.q",
        "invalid",
        "must be a date such as 2025-06-01 (year-month-day)",
    )
    assert refused(field("q", "date"), "2025-02-30")[1] == "invalid"
    assert refused(field("q", "time"), "25:00")[1] == "invalid"
    assert refused(field("q", "datetime"), "2025-06-01T09:30:00") == (
        "answers.q",
        "invalid",
        "must say its UTC offset, such as 2025-06-01T09:30:00+03:00 (or …Z for UTC)",
    )
    assert refused(field("q", "datetime"), "tomorrow")[1] == "invalid"
    assert refused(field("q", "date"), 20250601)[1] == "invalid"


# -- choices and consent


def test_single_and_multiple_choice_come_from_the_options() -> None:
    service = field("service", "single_choice", options=["Haircut", "Braids"])
    assert one(service, "Braids") == "Braids"
    assert refused(service, "braids") == (
        "answers.service",
        "not_an_option",
        "must be one of 'Haircut', 'Braids'",
    )
    extras = field("extras", "multiple_choice", options=["Wash", "Nails", "Massage"])
    assert one(extras, ["Nails", "Wash"]) == ["Nails", "Wash"]
    assert refused(extras, ["Wash", "Tea"])[0:2] == ("answers.extras[1]", "not_an_option")
    assert refused(extras, ["Wash", "Wash"]) == ("answers.extras[1]", "invalid", "'Wash' is chosen twice")
    assert refused(extras, "Wash")[0:2] == ("answers.extras", "type")
    assert refused(extras, []) == ("answers.extras", "required", "needs an answer")
    optional = field("extras", "multiple_choice", options=["Wash"], required=False)
    assert one(optional, []) is None


def test_consent() -> None:
    must = field("terms", "consent")
    assert one(must, True) is True
    assert refused(must, False) == ("answers.terms", "required", "must be agreed to (true) to go on")
    assert refused(must, "yes")[1] == "type"
    may = field("reminders", "consent", required=False)
    assert one(may, False) is False
    assert one(may, True) is True


# -- objects: file, address, national id


def test_files_are_described_not_uploaded() -> None:
    receipt = field("receipt", "file")
    good = {
        "name": " receipt.pdf ",
        "content_type": "Application/PDF",
        "size": 2048,
        "url": "https://files.example/r",
    }
    assert one(receipt, good) == {
        "name": "receipt.pdf",
        "content_type": "application/pdf",
        "size": 2048,
        "url": "https://files.example/r",
    }
    assert refused(receipt, good | {"size": -1})[0:2] == ("answers.receipt.size", "invalid")
    assert refused(receipt, good | {"content_type": "pdf"})[0:2] == (
        "answers.receipt.content_type",
        "invalid",
    )
    assert refused(receipt, good | {"url": "file:///etc/passwd"})[0:2] == ("answers.receipt.url", "invalid")
    assert refused(receipt, good | {"owner": "me"})[0:2] == ("answers.receipt.owner", "unknown_field")
    assert refused(receipt, {k: v for k, v in good.items() if k != "url"}) == (
        "answers.receipt.url",
        "required",
        "is needed",
    )
    assert refused(receipt, "receipt.pdf")[0:2] == ("answers.receipt", "type")


def test_addresses_with_optional_coordinates() -> None:
    where = field("where", "address")
    assert one(where, {"text": " Moi Avenue, Nairobi "}) == {"text": "Moi Avenue, Nairobi"}
    assert one(where, {"text": "Moi Avenue", "lat": -1.28, "lng": 36.82}) == {
        "text": "Moi Avenue",
        "lat": -1.28,
        "lng": 36.82,
    }
    assert refused(where, {"text": "Moi Avenue", "lat": -1.28}) == (
        "answers.where.lng",
        "required",
        "give both lat and lng, or neither",
    )
    assert refused(where, {"text": "x", "lat": 91, "lng": 0}) == (
        "answers.where.lat",
        "out_of_range",
        "must be from -90 to 90 degrees",
    )
    assert refused(where, {"text": "x", "lat": 0, "lng": -180.5})[0:2] == (
        "answers.where.lng",
        "out_of_range",
    )
    assert refused(where, {"text": "x", "lat": "1", "lng": 0})[0:2] == ("answers.where.lat", "type")
    assert refused(where, {"lat": 0, "lng": 0})[0:2] == ("answers.where.text", "required")
    assert refused(where, {"text": "x", "city": "Nairobi"})[0:2] == ("answers.where.city", "unknown_field")


def national(country: str, kind: str, number: str) -> dict[str, str]:
    return {"country": country, "kind": kind, "number": number}


def test_nigerian_and_kenyan_ids() -> None:
    q = field("id", "national_id")
    assert one(q, national("NG", "bvn", "22 1234 56789")) == national("NG", "bvn", "22123456789")
    assert one(q, national("ng", "NIN", "12345678901")) == national("NG", "nin", "12345678901")
    assert refused(q, national("NG", "bvn", "2212345678")) == (
        "answers.id.number",
        "invalid",
        "a BVN is 11 digits",
    )
    assert one(q, national("KE", "national_id", "1234567")) == national("KE", "national_id", "1234567")
    assert one(q, national("KE", "national_id", "12345678"))["number"] == "12345678"
    assert (
        refused(q, national("KE", "national_id", "123456789"))[2] == "a Kenyan national id is 7 or 8 digits"
    )
    assert one(q, national("KE", "kra_pin", "a123456789z")) == national("KE", "kra_pin", "A123456789Z")
    assert one(q, national("KE", "kra_pin", "P051234567X"))["number"] == "P051234567X"
    for bad in ("A12345678Z", "B123456789Z", "A1234567890"):
        assert refused(q, national("KE", "kra_pin", bad))[0:2] == ("answers.id.number", "invalid"), bad
    assert refused(q, national("KE", "bvn", "22123456789")) == (
        "answers.id.kind",
        "invalid",
        "must be one of national_id, kra_pin for KE",
    )
    assert refused(q, national("UG", "nin", "1"))[0:2] == ("answers.id.country", "invalid")
    assert refused(q, national("NG", "nin", 12345678901))[0:2] == ("answers.id.number", "type")  # type: ignore[arg-type]


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits`` (written here independently of the code under test)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return str((10 - total % 10) % 10)


@st.composite
def south_african_ids(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1920, 1, 1), date(2019, 12, 31)))
    middle = draw(st.text("0123456789", min_size=4, max_size=4)) + draw(
        st.sampled_from(["08", "09", "18", "19"])
    )
    body = born.strftime("%y%m%d") + middle
    return body + luhn_digit(body)


def test_a_known_south_african_id() -> None:
    q = field("id", "national_id")
    assert one(q, national("ZA", "national_id", "8001015009087"))["number"] == "8001015009087"
    assert refused(q, national("ZA", "national_id", "8001015009086")) == (
        "answers.id.number",
        "invalid",
        "this South African id number's check digit is wrong (a digit may be mistyped)",
    )
    assert refused(q, national("ZA", "national_id", "8013015009087"))[2].startswith(
        "a South African id number starts with a birth date"
    )
    assert (
        refused(q, national("ZA", "national_id", "800101500908"))[2]
        == "a South African id number is 13 digits"
    )


@given(south_african_ids())
def test_valid_south_african_ids_are_accepted(number: str) -> None:
    assert one(field("id", "national_id"), national("ZA", "national_id", number))["number"] == number


@given(south_african_ids(), st.integers(6, 12), st.integers(1, 9))
def test_one_mistyped_digit_is_always_caught(number: str, position: int, shift: int) -> None:
    wrong = str((int(number[position]) + shift) % 10)
    mistyped = number[:position] + wrong + number[position + 1 :]
    path, code, _ = refused(field("id", "national_id"), national("ZA", "national_id", mistyped))
    assert (path, code) == ("answers.id.number", "invalid")


@given(st.dates(date(1900, 1, 1), date(2099, 12, 31)))
def test_a_birth_date_that_does_not_exist_is_refused(born: date) -> None:
    impossible = born.strftime("%y") + "0230"  # 30 February
    body = impossible + "500908"
    message = refused(field("id", "national_id"), national("ZA", "national_id", body + luhn_digit(body)))[2]
    assert "birth date" in message


# -- properties of the whole


TEXT = "abcxyzABC019 \t-éñßŋɓƙ€漢字👍"  # letters of several scripts, spaces, an emoji
ANSWERABLE = st.fixed_dictionaries(
    {
        "name": st.text(TEXT, min_size=1, max_size=40),
        "stars": st.integers(1, 5),
        "deposit": st.integers(0, 10**12),
        "phone": e164(),
        "day": st.dates().map(date.isoformat),
        "extras": st.lists(st.sampled_from(["Wash", "Nails", "Massage"]), min_size=1, unique=True),
        "terms": st.just(True),
    }
)
FORM = [
    field("name", "short_text"),
    field("stars", "rating"),
    field("deposit", "money", currency="KES"),
    field("phone", "phone"),
    field("day", "date"),
    field("extras", "multiple_choice", options=["Wash", "Nails", "Massage"]),
    field("terms", "consent"),
]


@given(ANSWERABLE)
def test_checking_checked_answers_changes_nothing(answers: dict[str, Any]) -> None:
    if not answers["name"].strip():
        assert problems(FORM, answers) == {"answers.name": ("required", "needs an answer")}
        return
    checked = check_answers(FORM, answers)
    assert check_answers(FORM, checked) == checked
    assert checked["name"] == answers["name"].strip()
    assert checked["deposit"] == {"amount": answers["deposit"], "currency": "KES"}


@given(ANSWERABLE, st.text(TEXT, min_size=1, max_size=20).map("x_{}".format))
def test_an_unknown_key_is_always_refused_and_named(answers: dict[str, Any], key: str) -> None:
    answers["name"] = "Wanjiru"
    assert problems(FORM, answers | {key: "x"}) == {
        f"answers.{key}": ("unknown_field", "is not a question of this form")
    }
