"""Personal data is replaced before a prompt leaves, and put back in what comes back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smeflow.agents._redaction import Redactor


def test_phones_emails_cards_and_ids_are_replaced_and_restored() -> None:
    redactor = Redactor(region="KE")
    text = (
        "Hi, I'm Wanjiru, call me on 0712 345 678 or +254 733 000111, mail wanjiru@example.co.ke; "
        "card 4111 1111 1111 1111, NIN 12345678901. Again: 0712 345 678"
    )
    hidden = redactor.redact(text)
    for secret in (
        "0712 345 678",
        "733 000111",
        "wanjiru@example.co.ke",
        "4111 1111 1111 1111",
        "12345678901",
    ):
        assert secret not in hidden
    assert hidden.count("<PHONE_1>") == 2  # the same number, the same placeholder
    assert "<PHONE_2>" in hidden
    assert "<EMAIL_1>" in hidden
    assert "<CARD_1>" in hidden
    assert "<ID_1>" in hidden
    assert "Wanjiru" in hidden  # names are not personal data the patterns can know
    assert redactor.restore(hidden) == text
    args = {"phone": "<PHONE_1>", "note": ["for <EMAIL_1>", 3]}
    assert redactor.restore(args) == {"phone": "0712 345 678", "note": ["for wanjiru@example.co.ke", 3]}
    assert redactor.restore("<PHONE_9> is unknown") == "<PHONE_9> is unknown"


def test_a_short_number_is_not_personal_data() -> None:
    redactor = Redactor(region="NG")
    assert redactor.redact("Book 2 people at 10:30 for 5000 naira") == "Book 2 people at 10:30 for 5000 naira"


@given(st.text(max_size=200))
def test_restore_undoes_redact(text: str) -> None:
    redactor = Redactor(region="ZA")
    hidden = redactor.redact(text)
    assert redactor.restore(hidden) == text or "<" in text  # a text with its own placeholders may differ


@given(st.from_regex(r"0[17]\d{8}", fullmatch=True))
def test_kenyan_mobile_numbers_never_leave(number: str) -> None:
    redactor = Redactor(region="KE")
    hidden = redactor.redact(f"my number is {number} thanks")
    assert number not in hidden
    assert redactor.restore(hidden) == f"my number is {number} thanks"
