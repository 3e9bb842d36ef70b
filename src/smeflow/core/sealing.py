"""Sealing small secrets (TOTP seeds, provider tokens) with AES-256-GCM.

Key contracts:
- The AES key is derived with HKDF-SHA256 from the application's secret key and a *purpose*
  label, so a value sealed for one purpose never unseals under another, and no two purposes
  share a key.
- A sealed value is ``version (1 byte) | key id (1 byte) | nonce (12 bytes) | ciphertext+tag``.
  The key id is a fingerprint of the derived key: :func:`unseal` accepts several secret keys
  (the current one first, then retired ones) and picks the one the value was sealed with, so
  the secret key can be rotated without re-sealing everything at once.
- The header and the caller's associated data (``aad``: e.g. the owner's id, so a sealed value
  copied onto another row does not unseal) are authenticated; any change to any byte is
  refused with :class:`UnsealError`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from smeflow.errors import SMEFlowError

VERSION = 1
_NONCE_BYTES = 12
_HEADER_BYTES = 2
_SALT = b"smeflow/hkdf/v1"


class UnsealError(SMEFlowError):
    """A sealed value could not be opened: wrong key or purpose, or it was altered."""

    code = "unseal_failed"
    status = 500
    title = "A stored secret could not be decrypted"


@lru_cache(maxsize=128)
def derive_key(key_material: str, purpose: str, length: int = 32) -> bytes:
    """A ``length``-byte key for ``purpose``, derived (HKDF-SHA256) from ``key_material``.

    Different purposes give independent keys; use one purpose per use (``"jwt/access"``,
    ``"seal/mfa-totp"``...).
    """
    if not purpose:
        raise ValueError("a purpose label is required")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode())
    return hkdf.derive(key_material.encode())


def _seal_key(key_material: str, purpose: str) -> tuple[bytes, int]:
    key = derive_key(key_material, f"seal/{purpose}")
    key_id = hmac.new(key, b"key-id", hashlib.sha256).digest()[0]
    return key, key_id


def seal(key_material: str, purpose: str, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate ``plaintext`` for ``purpose``; ``aad`` is bound but not stored."""
    key, key_id = _seal_key(key_material, purpose)
    header = bytes((VERSION, key_id))
    nonce = os.urandom(_NONCE_BYTES)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def unseal(key_material: str | Sequence[str], purpose: str, sealed: bytes, aad: bytes = b"") -> bytes:
    """Open a value made by :func:`seal` with the same purpose and ``aad``.

    ``key_material`` is the secret key, or a sequence of them (current first, then retired).
    Raises :class:`UnsealError` if the value is malformed, was sealed with another key,
    purpose or ``aad``, or was altered.
    """
    keys = [key_material] if isinstance(key_material, str) else list(key_material)
    if len(sealed) < _HEADER_BYTES + _NONCE_BYTES + 16 or sealed[0] != VERSION:
        raise UnsealError("The sealed value is malformed or of an unknown version")
    end = _HEADER_BYTES + _NONCE_BYTES
    header, nonce, body = sealed[:_HEADER_BYTES], sealed[_HEADER_BYTES:end], sealed[end:]
    for material in keys:
        key, key_id = _seal_key(material, purpose)
        if key_id != header[1]:
            continue
        try:
            return AESGCM(key).decrypt(nonce, body, header + aad)
        except InvalidTag:
            continue  # a one-byte key id can collide: try the other keys before giving up
    raise UnsealError("The sealed value was altered or sealed with another key or purpose")


__all__ = ["VERSION", "UnsealError", "derive_key", "seal", "unseal"]
