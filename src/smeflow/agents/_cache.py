"""The model response cache: per tenant, exact and semantic.

Key contracts:

* An entry belongs to one tenant (its rows are under row-level security, and every lookup also
  names the tenant): two tenants asking the same question never share an answer.
* **Exact**: the key hashes the scope and the normalised conversation (case, spacing and
  Unicode form folded). **Semantic**: within the same scope and language, the closest earlier
  question by cosine similarity of its embedding (multilingual-e5-small), if at least the
  threshold. The *scope* hashes the model, the system instructions, the conversation before the
  last message, and the tools offered (names and schemas): a change of any of them misses.
* Only final answers (no tool calls) are cached semantically; an exact hit may replay a tool
  call decision, since its input was identical.
* Embeddings cannot tell "a slot today" from "a slot tomorrow" (cosine 0.96 with e5-small), nor
  "Sunday" from "Saturday" (0.98): questions that name a date or a time are not cached at all
  (their answer depends on when they are asked: :func:`cacheable`), and the numbers in a question
  are part of its scope, so "braids for 2" never reuses the answer for "braids for 3".
* Nor does e5-small separate close services well: "box braids" / "braids" 0.964, "manicure" /
  "pedicure" 0.953, while rewordings of one question score 0.98 ("Can you do braids for children
  please?"). No threshold separates them, so a semantic hit also needs the same words: the two
  questions may differ only in function and politeness words (:data:`FUNCTION_WORDS`, for the
  languages customers most write in), so
  "Do you do box braids?" never takes the answer to "Do you do braids?", however close their
  embeddings. In a language without a list, only the wording's order, case and punctuation may
  differ. Real paraphrases ("Do you have parking?" / "Is parking available?") therefore miss and
  are asked: that costs money, never a wrong answer.
* Entries expire after ``llm_cache_ttl_seconds``; :func:`invalidate` drops all of a tenant's (its
  knowledge changed). Hits count in ``hits`` and are recorded in the ledger at cost 0.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.agents.models import LlmCacheEntry
from smeflow.core import utcnow
from smeflow.understanding import find_datetimes

_SPACES = re.compile(r"\s+")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
_WORDS = re.compile(r"[^\W\d_]+")
#: words whose presence does not change what a customer asks (English, Swahili, Pidgin, French,
#: Portuguese, Afrikaans, Hausa, Yoruba, Zulu): a semantic hit may differ only in these
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "please",
        "pls",
        "plz",
        "kindly",
        "can",
        "could",
        "would",
        "will",
        "you",
        "your",
        "do",
        "does",
        "did",
        "is",
        "are",
        "am",
        "i",
        "me",
        "my",
        "we",
        "us",
        "our",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "and",
        "or",
        "so",
        "just",
        "hi",
        "hello",
        "hey",
        "ok",
        "okay",
        "thanks",
        "thank",
        "sir",
        "madam",
        "ma",
        "tafadhali",
        "naomba",
        "je",
        "na",
        "ya",
        "wa",
        "kwa",
        "ni",
        "hivi",
        "habari",
        "sasa",
        "bwana",
        "dada",
        "abeg",
        "abi",
        "dey",
        "na",
        "o",
        "oga",
        "sef",
        "una",
        "wetin",
        "svp",
        "s",
        "il",
        "vous",
        "plaît",
        "plait",
        "est",
        "ce",
        "que",
        "vous",
        "je",
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "de",
        "du",
        "et",
        "pour",
        "por",
        "favor",
        "você",
        "voce",
        "o",
        "a",
        "os",
        "as",
        "um",
        "uma",
        "de",
        "do",
        "da",
        "e",
        "para",
        "asseblief",
        "jy",
        "u",
        "die",
        "n",
        "en",
        "vir",
        "don",
        "allah",
        "ina",
        "kuna",
        "ne",
        "ce",
        "jọ",
        "jowo",
        "ẹ",
        "e",
        "ni",
        "ngicela",
        "ngiyacela",
    ]
)


def normalise(value: str) -> str:
    """Case, spacing and Unicode form folded, trailing punctuation dropped."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _SPACES.sub(" ", folded).strip().rstrip("?!.。؟ ")


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Where an answer may be found: the exact key, the scope, the language and the question."""

    key_hash: str
    scope_hash: str
    language: str
    question: str


def cache_key(
    model: str,
    system: str,
    history: Sequence[tuple[str, str]],
    question: str,
    tools: Sequence[dict[str, Any]],
    language: str,
) -> CacheKey:
    """``history``: (role, text) of the conversation before ``question``."""
    scope = _digest(
        {
            "model": model,
            "system": normalise(system),
            "history": [(role, normalise(content)) for role, content in history],
            "tools": list(tools),
            "numbers": _NUMBERS.findall(question),
        }
    )
    return CacheKey(_digest({"scope": scope, "question": normalise(question)}), scope, language, question)


def cacheable(question: str, *, language: str | None, timezone: str, now: datetime) -> bool:
    """Whether an answer to ``question`` may be reused: not when it names a date or a time."""
    return not find_datetimes(question, language=language, timezone=timezone, now=now)


def _vector(embedding: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in embedding) + "]"


@dataclass(frozen=True, slots=True)
class CacheHit:
    response: dict[str, Any]
    kind: str  # cache_exact | cache_semantic
    similarity: float


_EXACT = text(
    "UPDATE llm_cache SET hits = hits + 1 WHERE tenant_id = :tenant AND key_hash = :key"
    " AND expires_at > :now RETURNING response"
)
_NEAREST = text(
    """SELECT id, prompt, response, 1 - (embedding <=> CAST(:q AS vector)) AS similarity
         FROM llm_cache
        WHERE tenant_id = :tenant AND scope_hash = :scope AND language = :language
          AND expires_at > :now AND embedding IS NOT NULL
        ORDER BY embedding <=> CAST(:q AS vector)
        LIMIT 5"""
)


def content_words(question: str) -> frozenset[str]:
    """The words of ``question`` that say what it asks (see :data:`FUNCTION_WORDS`)."""
    return frozenset(_WORDS.findall(normalise(question))) - FUNCTION_WORDS


def same_question(one: str, other: str) -> bool:
    """Whether two questions ask about the same things (their content words are equal)."""
    return content_words(one) == content_words(other)


async def lookup(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    key: CacheKey,
    *,
    embed: Callable[[], Sequence[float]] | None,
    threshold: float,
) -> CacheHit | None:
    """The cached answer for ``key``: exact first, then (embedding the question only now) the
    nearest question in scope."""
    now = utcnow()
    response = await session.scalar(_EXACT, {"tenant": tenant_id, "key": key.key_hash, "now": now})
    if response is not None:
        return CacheHit(response, "cache_exact", 1.0)
    if embed is None:
        return None
    embedding = embed()
    params = {"tenant": tenant_id, "scope": key.scope_hash, "language": key.language, "now": now}
    rows = (await session.execute(_NEAREST, params | {"q": _vector(embedding)})).all()
    row = next(
        (r for r in rows if float(r.similarity) >= threshold and same_question(r.prompt, key.question)), None
    )
    if row is None:
        return None
    await session.execute(
        text("UPDATE llm_cache SET hits = hits + 1 WHERE tenant_id = :tenant AND id = :id"),
        {"tenant": tenant_id, "id": row.id},
    )
    return CacheHit(row.response, "cache_semantic", float(row.similarity))


_STORE = text(
    """INSERT INTO llm_cache (tenant_id, id, key_hash, scope_hash, language, prompt, embedding,
                              response, hits, created_at, expires_at)
    VALUES (:tenant, :id, :key, :scope, :language, :prompt, CAST(:embedding AS vector),
            CAST(:response AS jsonb), 0, :now, :expires)
    ON CONFLICT (tenant_id, key_hash) DO UPDATE
       SET response = EXCLUDED.response, embedding = EXCLUDED.embedding,
           created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at"""
)


async def store(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    key: CacheKey,
    response: dict[str, Any],
    *,
    embedding: Sequence[float] | None,
    ttl_seconds: int,
) -> None:
    """Keep ``response`` for ``key`` (with the question's embedding only if it may be reused for
    similar questions)."""
    now = utcnow()
    await session.execute(
        _STORE,
        {
            "tenant": tenant_id,
            "id": uuid.uuid4(),
            "key": key.key_hash,
            "scope": key.scope_hash,
            "language": key.language,
            "prompt": key.question[:2000],
            "embedding": None if embedding is None else _vector(embedding),
            "response": orjson.dumps(response).decode(),
            "now": now,
            "expires": now + timedelta(seconds=ttl_seconds),
        },
    )


async def invalidate(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Forget every cached answer of the tenant (its knowledge changed); how many were dropped."""
    result = await session.execute(delete(LlmCacheEntry).where(LlmCacheEntry.tenant_id == tenant_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = [
    "FUNCTION_WORDS",
    "CacheHit",
    "CacheKey",
    "cache_key",
    "cacheable",
    "content_words",
    "same_question",
    "invalidate",
    "lookup",
    "normalise",
    "store",
]
