"""Canonical JSON: one byte string per value, so hashes of JSON are stable.

Keys sorted, no insignificant whitespace, UTF-8. Floats are refused: their text form is not
stable across JSON implementations and databases (``1e16`` comes back from PostgreSQL as
``10000000000000000``); money is integer minor units anyway. NUL characters are refused too:
PostgreSQL cannot store them in text or JSONB.
"""

from __future__ import annotations

import json
from typing import Any


def _check(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise TypeError(f"{path or 'value'}: text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TypeError(f"{path or 'value'}: text is not valid Unicode (a lone surrogate)") from exc
        return
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return
    if isinstance(value, float):
        raise TypeError(f"{path or 'value'}: floats are not allowed in canonical JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise TypeError(f"{path or 'value'}: keys must be strings without NUL characters")
            _check(item, f"{path}.{key}" if path else key)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise TypeError(f"{path or 'value'}: {type(value).__name__} is not JSON")


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON encoding of ``value`` (dicts, lists, str, int, bool, None)."""
    _check(value, "")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


__all__ = ["canonical_json"]
