"""Sealing small secrets: round trips, and every alteration refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.core.sealing import VERSION, UnsealError, derive_key, seal, unseal

KEY = "k" * 40
OTHER_KEY = "o" * 40


@given(
    plaintext=st.binary(max_size=512), aad=st.binary(max_size=64), purpose=st.text(min_size=1, max_size=30)
)
def test_round_trip(plaintext: bytes, aad: bytes, purpose: str) -> None:
    sealed = seal(KEY, purpose, plaintext, aad)
    assert sealed[0] == VERSION
    assert len(plaintext) < 16 or plaintext not in sealed  # encrypted, not merely wrapped
    assert unseal(KEY, purpose, sealed, aad) == plaintext


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_changed_byte_is_refused(plaintext: bytes, data: st.DataObject) -> None:
    sealed = bytearray(seal(KEY, "p", plaintext, b"row-1"))
    index = data.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(UnsealError):
        unseal(KEY, "p", bytes(sealed), b"row-1")


@given(plaintext=st.binary(max_size=64), cut=st.integers(1, 80))
def test_truncated_values_are_refused(plaintext: bytes, cut: int) -> None:
    sealed = seal(KEY, "p", plaintext)
    with pytest.raises(UnsealError):
        unseal(KEY, "p", sealed[: max(0, len(sealed) - cut)])


def test_purpose_aad_and_key_are_bound() -> None:
    sealed = seal(KEY, "mfa-totp", b"secret", b"user-1")
    with pytest.raises(UnsealError):
        unseal(KEY, "provider-token", sealed, b"user-1")
    with pytest.raises(UnsealError):
        unseal(KEY, "mfa-totp", sealed, b"user-2")
    with pytest.raises(UnsealError):
        unseal(OTHER_KEY, "mfa-totp", sealed, b"user-1")
    with pytest.raises(UnsealError, match="altered"):
        unseal(KEY, "mfa-totp", sealed)


def test_same_plaintext_seals_differently() -> None:
    assert seal(KEY, "p", b"same") != seal(KEY, "p", b"same")


def test_rotation_with_retired_keys() -> None:
    old = seal(OTHER_KEY, "p", b"from before the rotation")
    new = seal(KEY, "p", b"after")
    keys = [KEY, OTHER_KEY]  # current first, then retired
    assert unseal(keys, "p", old) == b"from before the rotation"
    assert unseal(keys, "p", new) == b"after"
    with pytest.raises(UnsealError):
        unseal([KEY], "p", old)


def test_unknown_version_and_garbage() -> None:
    sealed = seal(KEY, "p", b"x")
    with pytest.raises(UnsealError, match="version"):
        unseal(KEY, "p", bytes([VERSION + 1]) + sealed[1:])
    with pytest.raises(UnsealError):
        unseal(KEY, "p", b"")


def test_derived_keys_are_independent_per_purpose() -> None:
    assert len(derive_key(KEY, "jwt/access")) == 32
    assert derive_key(KEY, "jwt/access") != derive_key(KEY, "jwt/mfa")
    assert derive_key(KEY, "jwt/access") != derive_key(OTHER_KEY, "jwt/access")
    with pytest.raises(ValueError, match="purpose"):
        derive_key(KEY, "")
