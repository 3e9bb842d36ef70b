"""Conversational forms: one form node's questions asked on the web, WhatsApp, SMS or USSD.

Key contracts:

* :func:`parse_answer` reads free text typed in the customer's language into exactly the JSON
  value the engine's ``check_answers`` accepts for the field type, and runs it through
  ``check_answers`` so both agree; a problem is a ``form.*`` catalog message in the customer's
  language, with examples in their locale's formats.
* :func:`prompt` asks a field per channel; a USSD screen is never longer than 182 characters
  (options in pages: ``0. More``, ``00. Back``), WhatsApp buttons and lists keep the Cloud API
  limits (3 buttons of 20 characters, 10 rows of 24).
* :class:`FormSession` is immutable, JSON-serialisable state; its :meth:`FormSession.answers`
  pass ``check_answers`` unchanged. Skip words and the USSD back/more keys are in ``_words``.
* Pure code: no I/O, no clock unless ``now`` is left out of :meth:`FormSession.answer`.
"""

from smeflow.channels.forms._choices import parse_choice, parse_choices
from smeflow.channels.forms._numbers import read_number
from smeflow.channels.forms._parse import parse_answer
from smeflow.channels.forms._prompts import Prompt, PromptChannel, prompt
from smeflow.channels.forms._reading import Accepted, Parsed, Rejected
from smeflow.channels.forms._session import FormSession, Outcome, Step
from smeflow.channels.forms._ussd import USSD_LIMIT, ussd_pages
from smeflow.channels.forms._words import BACK, MORE, SKIP_WORDS, is_skip, skip_word

__all__ = [
    "BACK",
    "MORE",
    "SKIP_WORDS",
    "USSD_LIMIT",
    "Accepted",
    "FormSession",
    "Outcome",
    "Parsed",
    "Prompt",
    "PromptChannel",
    "Rejected",
    "Step",
    "is_skip",
    "parse_answer",
    "parse_choice",
    "parse_choices",
    "prompt",
    "read_number",
    "skip_word",
    "ussd_pages",
]
