"""A whole form walked one question at a time over SMS and over USSD: rejected answers come back
with the localized problem and the same question, optional questions are skipped, USSD pages
and goes back, the state survives JSON, and the final answers pass the engine unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from smeflow.channels import USSD_LIMIT, FormSession, Step
from smeflow.engine.definitions import FormConfig, check_answers
from smeflow.errors import ValidationFailed
from smeflow.i18n import format_money, messages

NOW = datetime(2026, 3, 7, 6, 0, tzinfo=UTC)
TOWNS = "Nairobi CBD|Westlands|Kilimani|Karen|Thika Road Mall|Mombasa Nyali|Kisumu Mega|Nakuru Westside"
BRANCHES = [f"Tawi la {town}" for town in [*TOWNS.split("|"), "Eldoret Rupa", "Machakos", "Nyeri", "Meru"]]
FORM = FormConfig.model_validate(
    {
        "title": "Booking",
        "fields": [
            {"name": "name", "type": "short_text", "label": "Jina lako?"},
            {"name": "phone", "type": "phone", "label": "Namba ya simu?"},
            {"name": "branch", "type": "single_choice", "label": "Tawi gani?", "options": BRANCHES},
            {
                "name": "services",
                "type": "multiple_choice",
                "label": "Huduma?",
                "options": ["Kunyoa", "Kusuka", "Kucha"],
            },
            {"name": "when", "type": "datetime", "label": "Lini?"},
            {"name": "deposit", "type": "money", "label": "Amana?", "currency": "KES", "min": 10000},
            {"name": "email", "type": "email", "label": "Barua pepe?", "required": False},
            {"name": "rating", "type": "rating", "label": "Alama?", "required": False},
            {"name": "terms", "type": "consent", "label": "Unakubali masharti?"},
        ],
    }
)
EXPECTED = {
    "name": "Amina",
    "phone": "+254712345678",
    "branch": BRANCHES[10],
    "services": ["Kunyoa", "Kucha"],
    "when": "2026-03-08T10:00:00+03:00",
    "deposit": {"amount": 50000, "currency": "KES"},
    "email": None,
    "rating": 5,
    "terms": True,
}


def _says(key: str, language: str = "sw", **values: str) -> str:
    return messages().text(key, language, **values)


def _start(channel: str) -> FormSession:
    return FormSession.start(
        FORM.fields, channel=channel, language="sw", country="KE", timezone="Africa/Nairobi"
    )  # type: ignore[arg-type]


def _reply(session: FormSession, text: str) -> Step:
    step = session.answer(text, now=NOW)
    # Between messages the state lives as JSON: every step's state survives the round trip.
    restored = FormSession.from_json(json.loads(json.dumps(step.session.to_json())))
    assert restored == step.session
    if step.prompt is not None:
        assert restored.next_prompt() == step.prompt or step.outcome == "rejected"
    return step


def test_a_whole_form_over_sms() -> None:
    session = _start("sms")
    first = session.next_prompt()
    assert first is not None
    assert first.text == "Jina lako?"
    step = _reply(session, "Amina")
    assert step.outcome == "accepted"
    step = _reply(step.session, "0712 34")
    assert step.outcome == "rejected"
    assert step.problem == _says("form.invalid_phone", example="0712 123456")
    assert step.prompt is not None
    assert step.prompt.text.split("\n")[:2] == [step.problem, "Namba ya simu?"]
    step = _reply(step.session, "0712 345 678")
    assert step.prompt is not None
    assert step.prompt.text.split("\n")[:3] == ["Tawi gani?", f"1. {BRANCHES[0]}", f"2. {BRANCHES[1]}"]
    for text in ("11", "1 na 3", "kesho saa nne asubuhi"):
        step = _reply(step.session, text)
        assert step.outcome == "accepted", step.problem
    step = _reply(step.session, "50")  # below the 100-shilling minimum
    assert step.outcome == "rejected"
    assert step.session.current is not None
    assert step.session.current.name == "deposit"
    step = _reply(step.session, "Ksh 500")
    assert step.prompt is not None
    assert step.prompt.text.endswith(_says("form.optional", skip="RUKA"))
    step = _reply(step.session, "ruka")
    assert step.outcome == "skipped"
    step = _reply(step.session, "⭐⭐⭐⭐⭐")
    step = _reply(step.session, "hapana")
    assert step.problem == _says("form.consent_required")
    step = _reply(step.session, "ndiyo")
    assert step.outcome == "done"
    assert step.prompt is None
    assert step.answers == EXPECTED
    assert check_answers(FORM.fields, step.answers) == step.answers
    assert step.session.answers() == EXPECTED


def test_a_whole_form_over_ussd_with_paging_and_going_back() -> None:
    session = _start("ussd")
    screens: list[str] = []

    def reply(text: str) -> Step:
        nonlocal session
        step = _reply(session, text)
        session = step.session
        if step.prompt is not None:
            screens.append(step.prompt.text)
        return step

    assert session.next_prompt() is not None
    reply("Amina")
    assert screens[-1].endswith("\n" + _says("form.back"))  # a question to go back to
    assert reply("00").outcome == "back"
    assert screens[-1].startswith("CON Jina lako?")
    reply("Amina")
    reply("0712345678")
    assert screens[-1].startswith("CON Tawi gani?")
    assert screens[-1].endswith(_says("form.more") + "\n" + _says("form.back"))
    assert reply("0").outcome == "more"
    assert f"11. {BRANCHES[10]}" in screens[-1]
    assert reply("0").outcome == "rejected"  # no more pages: 0 is no option
    assert screens[-1].startswith("CON " + _says("form.invalid_choice", options=f"1-{len(BRANCHES)}"))
    assert reply("0").outcome == "more"  # a rejected answer shows the first page again
    assert reply("00").outcome == "back"  # a page back
    assert f"11. {BRANCHES[10]}" not in screens[-1]
    assert reply("11").outcome == "accepted"  # numbers are the same on every page
    reply("13")  # options 1 and 3 typed without a comma (a USSD keypad has none)
    reply("kesho saa nne asubuhi")
    assert reply("5").outcome == "rejected"
    problem = _says("form.number_range", min=format_money(10000, "KES", "sw", "KE"), max="∞")
    assert screens[-1].startswith("CON " + problem.replace("\xa0", " "))  # USSD screens use plain spaces
    reply("500")
    assert reply("RUKA").outcome == "skipped"
    reply("5")
    assert screens[-1] == "CON Unakubali masharti?\n" + _says("form.yes_no") + "\n" + _says("form.back")
    step = reply("1")
    assert step.outcome == "done"
    assert step.answers == EXPECTED
    assert check_answers(FORM.fields, step.answers) == step.answers
    assert all(len(screen) <= USSD_LIMIT for screen in screens)


def test_a_required_question_cannot_be_skipped() -> None:
    step = _start("whatsapp").answer("ruka", now=NOW)
    assert step.outcome == "rejected"
    assert step.problem == _says("form.required")
    assert step.session.index == 0


def test_back_on_the_first_question_stays_there_and_00_is_an_answer_off_ussd() -> None:
    step = _start("ussd").answer("00", now=NOW)
    assert (step.outcome, step.session.index) == ("back", 0)
    assert _start("sms").answer("00", now=NOW).outcome == "accepted"  # a name of "00" is text


def test_answers_before_the_end_name_the_missing_questions() -> None:
    session = _start("sms").answer("Amina", now=NOW).session
    with pytest.raises(ValidationFailed):
        session.answers()
    assert not session.done


def test_a_done_form_takes_no_more_answers_and_a_stored_state_must_be_known() -> None:
    session = FormSession.start(
        FORM.fields[:1], channel="sms", language="en", country="KE", timezone="Africa/Nairobi"
    )
    done = session.answer("Amina", now=NOW).session
    assert done.done
    assert done.next_prompt() is None
    with pytest.raises(ValueError, match="done"):
        done.answer("again", now=NOW)
    with pytest.raises(ValueError, match="version"):
        FormSession.from_json({**done.to_json(), "version": 99})
    with pytest.raises(ValueError, match="channel"):
        FormSession.from_json({**done.to_json(), "channel": "fax"})
    with pytest.raises(ValueError, match="at least one"):
        FormSession.start([], channel="sms", language="en", country="KE", timezone="Africa/Nairobi")


def test_a_file_question_over_whatsapp_takes_the_attachment() -> None:
    form = FormConfig.model_validate(
        {"fields": [{"name": "receipt", "type": "file", "label": "Tuma risiti"}]}
    )
    session = FormSession.start(
        form.fields, channel="whatsapp", language="sw", country="KE", timezone="Africa/Nairobi"
    )
    assert session.answer("hii", now=NOW).problem == _says("form.file_required")
    pdf = {
        "name": "r.pdf",
        "content_type": "application/pdf",
        "size": 10,
        "url": "https://files.example/r.pdf",
    }
    step = session.answer("", attachment=pdf, now=NOW)
    assert step.answers == {"receipt": pdf}
