"""A form asked as a conversation: one question at a time, on any channel.

:class:`FormSession` is immutable, JSON-serialisable state (:meth:`FormSession.to_json` /
:meth:`FormSession.from_json`), so a channel can keep it between messages (a USSD session, a
WhatsApp chat) anywhere. :meth:`FormSession.answer` returns a :class:`Step` carrying the next
state; nothing is changed in place.

What a reply can do, in this order:

1. On USSD, ``00`` goes back: one page of options, or from the first page to the previous
   question (its earlier answer is kept until it is answered again).
2. On USSD, ``0`` shows the next page of options when the screen offered ``0. More``.
3. A skip word (``SKIP``, ``RUKA``… see ``_words``) leaves an optional question unanswered;
   on a required question it is refused with ``form.required``.
4. Anything else is the answer, read by :func:`parse_answer`: accepted, the next question
   follows (or the form is done); rejected, the problem and the same question again.

When the form is done, :meth:`FormSession.answers` are exactly what the engine's
``check_answers`` returns for them (they are checked again there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import JsonValue

from smeflow.channels.forms._parse import parse_answer
from smeflow.channels.forms._prompts import Prompt, PromptChannel, prompt
from smeflow.channels.forms._reading import Accepted
from smeflow.channels.forms._words import BACK, MORE, is_skip, say
from smeflow.engine.definitions import FormField, check_answers

Outcome = Literal["accepted", "skipped", "rejected", "back", "more", "done"]
_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Step:
    """What one reply did: the ``outcome``, the ``session`` after it, the ``prompt`` to send
    next (``None`` when the form is done), the ``problem`` with a rejected reply (in the
    customer's language), and the checked ``answers`` once the form is done."""

    outcome: Outcome
    session: FormSession
    prompt: Prompt | None
    problem: str | None = None
    answers: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FormSession:
    """Where a customer is in a form: the question ``index``, the USSD ``page`` of its options
    and the answers so far. Build one with :meth:`start`."""

    fields: tuple[FormField, ...]
    channel: PromptChannel
    language: str
    country: str | None
    timezone: str
    index: int = 0
    page: int = 0
    collected: Mapping[str, JsonValue] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        fields: Sequence[FormField],
        *,
        channel: PromptChannel,
        language: str,
        country: str | None,
        timezone: str,
    ) -> FormSession:
        """A session at the first question of ``fields`` (a form node's ``config.fields``)."""
        if not fields:
            raise ValueError("a form needs at least one field")
        return cls(tuple(fields), channel, language, country, timezone)

    @property
    def done(self) -> bool:
        """Whether every question has been answered or skipped."""
        return self.index >= len(self.fields)

    @property
    def current(self) -> FormField | None:
        """The question being asked (``None`` when done)."""
        return None if self.done else self.fields[self.index]

    def next_prompt(self, notice: str | None = None) -> Prompt | None:
        """The current question on the session's channel (``None`` when the form is done)."""
        current = self.current
        if current is None:
            return None
        return prompt(
            current,
            channel=self.channel,
            language=self.language,
            country=self.country,
            page=self.page,
            back=self.channel == "ussd" and self.index > 0,
            notice=notice,
        )

    def answers(self) -> dict[str, Any]:
        """The answers checked and normalised by the engine's ``check_answers`` (one key per
        field, ``None`` for a skipped one); its ``ValidationFailed`` if the form is not done."""
        return check_answers(list(self.fields), dict(self.collected))

    def answer(
        self, text: str, attachment: Mapping[str, Any] | None = None, *, now: datetime | None = None
    ) -> Step:
        """The customer's reply to the current question (see the module docstring); ``now``
        (aware; the current time by default) anchors relative dates such as "kesho"."""
        current = self.current
        if current is None:
            raise ValueError("the form is already done")
        reply = text.strip()
        if self.channel == "ussd" and reply == BACK and attachment is None:
            return self._back()
        shown = self.next_prompt()
        if self.channel == "ussd" and reply == MORE and shown is not None and shown.page < shown.pages - 1:
            moved = replace(self, page=self.page + 1)
            return Step("more", moved, moved.next_prompt())
        if attachment is None and is_skip(reply):
            if current.required:
                return self._rejected(say("form.required", self.language))
            return self._advance(None, "skipped")
        parsed = parse_answer(
            current,
            text,
            language=self.language,
            country=self.country,
            timezone=self.timezone,
            now=now or datetime.now(UTC),
            attachment=attachment,
        )
        if isinstance(parsed, Accepted):
            return self._advance(parsed.value, "accepted")
        return self._rejected(parsed.message)

    def _back(self) -> Step:
        if self.page > 0:
            moved = replace(self, page=self.page - 1)
        else:
            moved = replace(self, index=max(self.index - 1, 0), page=0)
        return Step("back", moved, moved.next_prompt())

    def _rejected(self, problem: str) -> Step:
        again = replace(self, page=0)
        return Step("rejected", again, again.next_prompt(notice=problem), problem=problem)

    def _advance(self, value: JsonValue, outcome: Outcome) -> Step:
        current = self.fields[self.index]
        collected = {**self.collected, current.name: value}
        moved = replace(self, index=self.index + 1, page=0, collected=collected)
        if moved.done:
            return Step("done", moved, None, answers=moved.answers())
        return Step(outcome, moved, moved.next_prompt())

    def to_json(self) -> dict[str, JsonValue]:
        """The session as plain JSON (store it between messages; :meth:`from_json` reads it)."""
        return {
            "version": _STATE_VERSION,
            "fields": [item.model_dump(mode="json", exclude_none=True) for item in self.fields],
            "channel": self.channel,
            "language": self.language,
            "country": self.country,
            "timezone": self.timezone,
            "index": self.index,
            "page": self.page,
            "answers": dict(self.collected),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FormSession:
        """A session stored with :meth:`to_json`."""
        if data.get("version") != _STATE_VERSION:
            raise ValueError(f"unknown form session version {data.get('version')!r}")
        if data.get("channel") not in get_args(PromptChannel):
            raise ValueError(f"unknown channel {data.get('channel')!r}")
        fields = tuple(FormField.model_validate(item) for item in data["fields"])
        return cls(
            fields,
            data["channel"],
            data["language"],
            data["country"],
            data["timezone"],
            index=int(data["index"]),
            page=int(data["page"]),
            collected=dict(data["answers"]),
        )


__all__ = ["FormSession", "Outcome", "Step"]
