"""The credential vault: envelope encryption of integration credentials.

Key contracts:

* Each integration's secrets (its credentials JSON and its webhook URL token) are encrypted with
  AES-256-GCM under a **data key** of its own (32 random bytes), bound (AAD) to the tenant, the
  integration and what the value is, so a value copied onto another row or field does not open.
* The data key is stored **wrapped** (AES-256-GCM) by the key-encryption key, which is derived
  (HKDF) from the application's secret key; ``key_id`` names the key-encryption key (a
  fingerprint, never the key). Retired secret keys (``Settings.retired_secret_keys``) still
  unwrap what they wrapped, until :meth:`Vault.reseal` (``smeflow keys rotate``) re-encrypts it
  under a fresh data key wrapped by the current key.
* Nothing here logs, and :class:`Sealed` holds ciphertext only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smeflow.core.sealing import UnsealError, derive_key
from smeflow.settings import Settings

_NONCE = 12
_KEK_PURPOSE = "vault/kek"


@dataclass(frozen=True, slots=True)
class Sealed:
    """An integration's encrypted secrets, as stored."""

    credentials: bytes
    webhook_token: bytes
    wrapped_key: bytes
    key_id: str


def _aad(tenant_id: uuid.UUID, integration_id: uuid.UUID, what: str) -> bytes:
    return b"smeflow/vault/v1|" + tenant_id.bytes + integration_id.bytes + b"|" + what.encode()


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < _NONCE + 16:
        raise UnsealError("a stored secret is malformed")
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except InvalidTag:
        raise UnsealError("a stored secret was altered or sealed for another integration") from None


class Vault:
    """Seals and opens integration secrets with the current and retired secret keys."""

    def __init__(self, current: str, retired: list[str] | None = None) -> None:
        self._keks: dict[str, bytes] = {}
        self.current_key_id = self._add(current)
        for material in retired or []:
            self._add(material)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        return cls(
            settings.secret_key.get_secret_value(),
            [key.get_secret_value() for key in settings.retired_secret_keys],
        )

    def _add(self, material: str) -> str:
        kek = derive_key(material, _KEK_PURPOSE)
        key_id = "k1-" + hmac.new(kek, b"key-id", hashlib.sha256).hexdigest()[:16]
        self._keks.setdefault(key_id, kek)
        return key_id

    def seal(
        self,
        tenant_id: uuid.UUID,
        integration_id: uuid.UUID,
        credentials: dict[str, Any],
        webhook_token: str,
    ) -> Sealed:
        """Encrypt ``credentials`` and ``webhook_token`` under a fresh data key."""
        data_key = AESGCM.generate_key(bit_length=256)
        return Sealed(
            credentials=_encrypt(
                data_key, orjson.dumps(credentials), _aad(tenant_id, integration_id, "credentials")
            ),
            webhook_token=_encrypt(
                data_key, webhook_token.encode(), _aad(tenant_id, integration_id, "webhook-token")
            ),
            wrapped_key=_encrypt(
                self._keks[self.current_key_id], data_key, _aad(tenant_id, integration_id, "data-key")
            ),
            key_id=self.current_key_id,
        )

    def _data_key(self, tenant_id: uuid.UUID, integration_id: uuid.UUID, sealed: Sealed) -> bytes:
        kek = self._keks.get(sealed.key_id)
        if kek is None:
            raise UnsealError(
                "an integration's secrets were sealed with a secret key this deployment no longer has"
            )
        return _decrypt(kek, sealed.wrapped_key, _aad(tenant_id, integration_id, "data-key"))

    def open(
        self, tenant_id: uuid.UUID, integration_id: uuid.UUID, sealed: Sealed
    ) -> tuple[dict[str, Any], str]:
        """The credentials and the webhook token (:class:`UnsealError` if anything was altered)."""
        data_key = self._data_key(tenant_id, integration_id, sealed)
        credentials = orjson.loads(
            _decrypt(data_key, sealed.credentials, _aad(tenant_id, integration_id, "credentials"))
        )
        token = _decrypt(data_key, sealed.webhook_token, _aad(tenant_id, integration_id, "webhook-token"))
        return credentials, token.decode()

    def open_token(self, tenant_id: uuid.UUID, integration_id: uuid.UUID, sealed: Sealed) -> str:
        """Only the webhook token (the ingress needs no more to authenticate a delivery's URL)."""
        data_key = self._data_key(tenant_id, integration_id, sealed)
        return _decrypt(
            data_key, sealed.webhook_token, _aad(tenant_id, integration_id, "webhook-token")
        ).decode()

    def reseal(self, tenant_id: uuid.UUID, integration_id: uuid.UUID, sealed: Sealed) -> Sealed:
        """The same secrets under a fresh data key wrapped by the current key (rotation)."""
        credentials, token = self.open(tenant_id, integration_id, sealed)
        return self.seal(tenant_id, integration_id, credentials, token)


__all__ = ["Sealed", "Vault"]
