"""Password hashing, and the package's public surface."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

import smeflow.identity as identity
from smeflow.errors import ValidationFailed
from smeflow.identity import hash_password, validate_password, verify_password

from .conftest import PASSWORD


def test_hash_and_verify() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert hash_password(PASSWORD) != stored  # salted
    assert verify_password(stored, PASSWORD).ok
    assert not verify_password(stored, PASSWORD + "!").ok
    assert not verify_password("not-a-hash", PASSWORD).ok
    assert not verify_password(None, PASSWORD).ok  # the dummy hash: no user, same work, same answer
    assert not verify_password(stored, "x" * 5000).ok


def test_outdated_parameters_get_a_new_hash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    check = verify_password(weak, PASSWORD)
    assert check.ok
    assert check.new_hash is not None
    assert check.new_hash != weak
    assert verify_password(check.new_hash, PASSWORD).new_hash is None
    assert verify_password(weak, "wrong password").new_hash is None


@pytest.mark.parametrize("password", ["", "123456789", "x" * 1025])
def test_password_length_is_checked(password: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_password(password)
    assert [f.field for f in caught.value.fields] == ["password"]
    with pytest.raises(ValidationFailed):
        hash_password(password)
    validate_password("1234567890")


def test_public_names_are_all() -> None:
    public = {name for name in vars(identity) if not name.startswith("_")}
    modules = {"models", "principal"}  # submodules appear as attributes once imported
    assert public - modules - {"annotations"} == set(identity.__all__)
    assert len(identity.__all__) == len(set(identity.__all__))
