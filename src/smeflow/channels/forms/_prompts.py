"""Asking one form question on a channel: a web control, a WhatsApp or SMS message, a USSD screen.

The question's words (label, help, options) are the tenant's and are shown as written; only
SMEFlow's own words (Yes/No, More/Back, the skip hint, "Choose") come from the catalogs.

* ``web``: :attr:`Prompt.control` is a JSON description the chat widget renders as a form
  control (type, name, label, help, required, options, limits); :attr:`Prompt.text` is the label.
* ``sms``: the question, its help, the numbered options (or ``1. Yes / 2. No``) and hints.
* ``whatsapp``: the same text, plus :attr:`Prompt.interactive`, a WhatsApp Cloud API
  ``interactive`` object when the question suits one: reply buttons for a consent and for up to
  3 short options (titles ≤ 20 characters), a list for up to 10 options or a 1-10 rating (row
  titles ≤ 24, the full label as the row description, ≤ 72). Button and row ids are the option
  numbers, so the reply's id can be passed to :func:`parse_answer` as the typed text.
* ``ussd``: :attr:`Prompt.text` is a ``CON`` screen of at most 182 characters; ``page``
  chooses the page of a long option list (see ``_ussd`` for ``0. More`` / ``00. Back``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import JsonValue

from smeflow.channels.forms._examples import number_text
from smeflow.channels.forms._parse import RATING_DEFAULT
from smeflow.channels.forms._ussd import shorten, ussd_pages
from smeflow.channels.forms._words import say, skip_word, yes_no_labels
from smeflow.engine.definitions import FormField

PromptChannel = Literal["web", "whatsapp", "sms", "ussd"]

BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
BODY_MAX = 1024

_INPUTS = {
    "short_text": "text", "long_text": "textarea", "email": "email", "phone": "tel", "number": "number",
    "money": "number", "date": "date", "time": "time", "datetime": "datetime-local",
    "single_choice": "radio", "multiple_choice": "checkbox", "consent": "checkbox", "rating": "rating",
    "file": "file", "address": "address", "national_id": "text", "url": "url",
}  # fmt: skip
_MAX_LENGTH = {"short_text": 300, "long_text": 5000, "url": 2000, "address": 1000}


@dataclass(frozen=True, slots=True)
class Prompt:
    """One question as a channel shows it (see the module docstring per channel)."""

    channel: PromptChannel
    text: str
    control: dict[str, JsonValue] | None = None
    interactive: dict[str, JsonValue] | None = None
    page: int = 0
    pages: int = 1


def _rating_range(field: FormField) -> tuple[int, int]:
    low = int(field.min) if field.min is not None else RATING_DEFAULT[0]
    high = int(field.max) if field.max is not None else RATING_DEFAULT[1]
    return low, high


def _web_control(field: FormField) -> dict[str, JsonValue]:
    control: dict[str, JsonValue] = {
        "type": field.type,
        "input": _INPUTS[field.type],
        "name": field.name,
        "label": field.label,
        "required": field.required,
    }
    if field.help:
        control["help"] = field.help
    if field.options is not None:
        control["options"] = [{"value": option, "label": option} for option in field.options]
        control["multiple"] = field.type == "multiple_choice"
    if field.type == "rating":
        control["min"], control["max"] = _rating_range(field)
    elif field.min is not None or field.max is not None:
        control["min"], control["max"] = field.min, field.max
    if field.type == "money":
        control["currency"] = field.currency
        control["unit"] = "minor"  # min, max and the answer's amount are minor units
    if field.type in _MAX_LENGTH:
        control["max_length"] = _MAX_LENGTH[field.type]
    return control


def _hints(field: FormField, language: str, country: str | None) -> list[str]:
    hints = []
    if field.type == "multiple_choice":
        hints.append(say("form.choose_many", language))
    if field.type == "rating":
        low, high = _rating_range(field)
        hints.append(f"({number_text(low, language, country)}-{number_text(high, language, country)})")
    if not field.required:
        hints.append(say("form.optional", language, skip=skip_word(language)))
    return hints


def _choice_lines(field: FormField, language: str) -> list[str]:
    if field.type == "consent":
        return say("form.yes_no", language).split("\n")
    return [f"{number}. {option}" for number, option in enumerate(field.options or [], 1)]


def _whatsapp_interactive(field: FormField, body: str, language: str) -> dict[str, JsonValue] | None:
    labels: list[str]
    if field.type == "consent":
        labels = list(yes_no_labels(language))
    elif field.type == "single_choice":
        labels = list(field.options or [])
    elif field.type == "rating":
        low, high = _rating_range(field)
        if not (low >= 0 and high - low < LIST_ROWS_MAX and high <= LIST_ROWS_MAX):
            return None
        labels = [f"{value} " + "⭐" * value for value in range(low, high + 1)]
    else:
        return None
    ids = [str(number) for number in range(1, len(labels) + 1)]
    if field.type == "rating":
        ids = [label.split()[0] for label in labels]
    text: dict[str, JsonValue] = {"text": body[:BODY_MAX]}
    if len(labels) <= BUTTONS_MAX and all(len(label) <= BUTTON_TITLE_MAX for label in labels):
        buttons: list[JsonValue] = [
            {"type": "reply", "reply": {"id": id_, "title": label}}
            for id_, label in zip(ids, labels, strict=True)
        ]
        return {"type": "button", "body": text, "action": {"buttons": buttons}}
    if len(labels) > LIST_ROWS_MAX:
        return None
    rows: list[JsonValue] = []
    for id_, label in zip(ids, labels, strict=True):
        row: dict[str, JsonValue] = {"id": id_, "title": shorten(label, ROW_TITLE_MAX)}
        if len(label) > ROW_TITLE_MAX:
            row["description"] = shorten(label, ROW_DESCRIPTION_MAX)
        rows.append(row)
    button = shorten(say("form.choose", language), BUTTON_TITLE_MAX)
    return {
        "type": "list",
        "body": text,
        "action": {"button": button, "sections": [{"title": button, "rows": rows}]},
    }


def prompt(
    field: FormField,
    *,
    channel: PromptChannel,
    language: str,
    country: str | None,
    page: int = 0,
    back: bool = False,
    notice: str | None = None,
) -> Prompt:
    """``field`` asked on ``channel`` in ``language`` (see the module docstring).

    ``notice`` (a problem with the last answer, already in ``language``) comes before the
    question. For USSD, ``page`` picks the page of a long option list (clamped to the pages
    there are) and ``back`` shows ``00. Back`` on the first page too (there is a question to
    go back to).
    """
    if channel == "web":
        control = _web_control(field)
        if notice:
            control["error"] = notice
        return Prompt(channel, field.label, control=control)
    if channel == "ussd":
        heading = " ".join([field.label, *_hints(field, language, country)[:1]])
        options = list(yes_no_labels(language)) if field.type == "consent" else list(field.options or [])
        screens = ussd_pages(
            heading,
            options,
            more=say("form.more", language),
            back=say("form.back", language),
            back_on_first=back,
            notice=notice,
        )
        shown = min(max(page, 0), len(screens) - 1)
        return Prompt(channel, screens[shown], page=shown, pages=len(screens))
    question = [field.label, *([field.help] if field.help else [])]
    lines = [*([notice] if notice else []), *question, *_choice_lines(field, language)]
    lines += _hints(field, language, country)
    text = "\n".join(lines)
    interactive = None
    if channel == "whatsapp":
        body = "\n".join([*([notice] if notice else []), *question, *_hints(field, language, country)])
        interactive = _whatsapp_interactive(field, body, language)
    return Prompt(channel, text, interactive=interactive)


__all__ = ["Prompt", "PromptChannel", "prompt"]
