"""Offline turns: an agent that answers with no model at all (by choice, or because the month's
budget is spent). Language detection, intent matching on multilingual embeddings and slot
extraction come from :mod:`smeflow.understanding`; the reply from the message catalogs of
:mod:`smeflow.i18n`, in the customer's language when the agent speaks it.

Output: ``reply``, ``language``, ``intent``, ``confidence``, ``slots``, ``escalate`` (the
confidence is under the agent's threshold, or the customer asked for a person), ``mode:
offline`` and ``reason`` (``configured``, ``budget``, ``routing``). Deterministic and free.
"""

from __future__ import annotations

import hashlib
import string
from collections import OrderedDict
from typing import Any

import orjson
from pydantic import JsonValue

from smeflow.agents._turns import TurnResult
from smeflow.agents.models import Agent
from smeflow.agents.schemas import AgentConfig
from smeflow.core import utcnow
from smeflow.i18n import DEFAULT_LANGUAGE, LANGUAGES, choose_language, messages, normalize_language
from smeflow.tenancy.models import Tenant
from smeflow.understanding import (
    IntentModel,
    default_examples,
    detect_language,
    extract_slots,
    merge_examples,
)

#: the catalog message that answers each intent when the agent names none
DEFAULT_REPLIES = {
    "greeting": "greeting",
    "book": "booking.ask_date",
    "reschedule": "booking.ask_date",
    "cancel": "booking.ask_which",
    "price": "faq_unknown",
    "pay": "payment.pending",
    "human": "handoff",
    "opt_out": "opt_out_confirmed",
    "thanks": "thanks_reply",
    "yes": "confirm.yes_no",
    "no": "confirm.yes_no",
}
FALLBACK_REPLY = "not_understood"
_MODELS: OrderedDict[str, IntentModel] = OrderedDict()
_MODELS_KEPT = 64


def intent_model(extra: dict[str, list[str]]) -> IntentModel:
    """The default intents with ``extra`` examples (kept per distinct set of examples)."""
    key = hashlib.sha256(orjson.dumps(extra, option=orjson.OPT_SORT_KEYS)).hexdigest()
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = IntentModel.from_examples(merge_examples(default_examples(), extra))
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    else:
        _MODELS.move_to_end(key)
    return model


def tenant_language(tenant: Tenant) -> str:
    language = normalize_language(tenant.default_locale or DEFAULT_LANGUAGE)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _languages(tenant: Tenant, config: AgentConfig) -> list[str]:
    return list(config.languages) or [tenant_language(tenant)]


def detect(text: str, tenant: Tenant, config: AgentConfig) -> str:
    """The language to answer ``text`` in: the customer's if the agent speaks it, else the
    agent's first (or the tenant's)."""
    spoken = _languages(tenant, config)
    found = detect_language(text, candidates=spoken, default=spoken[0])
    return choose_language(found.language, spoken, spoken[0])


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _reply(key: str, language: str, values: dict[str, str]) -> tuple[str, str]:
    catalog = messages()
    for candidate in (key, FALLBACK_REPLY):
        needed = catalog.placeholders(candidate, language)
        if needed <= values.keys():
            return candidate, catalog.text(candidate, language, **{k: values[k] for k in needed})
    return FALLBACK_REPLY, catalog.text(FALLBACK_REPLY, language)


def _slots(found: Any) -> dict[str, JsonValue]:
    return {
        "phones": list(found.phones),
        "emails": list(found.emails),
        "amounts": [{"amount_minor": a.minor, "currency": a.currency} for a in found.amounts],
        "when": [moment.isoformat() for moment in found.when],
        "names": list(found.names),
    }


def offline_turn(
    text: str,
    tenant: Tenant,
    agent: Agent,
    config: AgentConfig,
    language: str | None,
    given: dict[str, Any],
    *,
    reason: str,
) -> TurnResult:
    """Understand ``text`` and answer from the catalogs."""
    spoken = _languages(tenant, config)
    detected = detect_language(text, candidates=spoken, default=spoken[0])
    reply_language = choose_language(language or detected.language, spoken, spoken[0])
    match = intent_model(dict(config.intents)).match(text, language=detected.language)
    found = extract_slots(
        text,
        language=detected.language or reply_language,
        country=tenant.country,
        timezone=tenant.timezone,
        now=utcnow(),
        default_currency=tenant.currency,
    )
    intent = match.intent if match.confidence > 0 else None
    values = {k: v for k, v in given.items() if isinstance(v, str)} | {"business": tenant.name}
    key = config.replies.get(intent or "", DEFAULT_REPLIES.get(intent or "", FALLBACK_REPLY))
    if intent is None or match.confidence < config.confidence_threshold:
        key = FALLBACK_REPLY
    used, reply = _reply(key, reply_language, values)
    escalate = intent == "human" or match.confidence < config.confidence_threshold
    output: dict[str, JsonValue] = {
        "reply": reply,
        "reply_key": used,
        "language": reply_language,
        "detected_language": detected.language,
        "intent": intent,
        "confidence": round(float(match.confidence), 4),
        "slots": _slots(found),
        "escalate": escalate,
        "mode": "offline",
        "reason": reason,
        "agent": agent.name,
    }
    return TurnResult(output, float(match.confidence))


__all__ = ["DEFAULT_REPLIES", "detect", "intent_model", "offline_turn", "tenant_language"]
