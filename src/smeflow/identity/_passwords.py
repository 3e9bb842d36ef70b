"""Password hashing with argon2id (argon2-cffi's defaults: RFC 9106 low-memory profile).

Key contracts:
- A password is 10 to 1024 characters; anything else is a :class:`ValidationFailed` naming
  the field ``password`` (the upper bound stops a megabyte "password" costing a CPU second).
- :func:`verify_password` with no stored hash (unknown user, or an account without a password)
  still runs one argon2 verification against a dummy hash, so a wrong email and a wrong
  password take the same time and answer the same way.
- These functions are CPU-bound (tens of milliseconds): async callers run them in a thread
  (:func:`asyncio.to_thread`; argon2-cffi releases the GIL).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from smeflow.errors import FieldProblem, ValidationFailed

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The outcome of :func:`verify_password`.

    ``new_hash`` is set when the password was right but its stored hash uses outdated
    parameters: store it in place of the old one.
    """

    ok: bool
    new_hash: str | None = None


def validate_password(password: str) -> None:
    """Raise :class:`ValidationFailed` (field ``password``) unless the password is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        problem = f"must be at least {MIN_PASSWORD_LENGTH} characters long"
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = f"must be at most {MAX_PASSWORD_LENGTH} characters long"
    else:
        return
    raise ValidationFailed(
        f"The password {problem}",
        fields=[FieldProblem("password", f"The password {problem}", "password_length")],
    )


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of an acceptable ``password``."""
    validate_password(password)
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> PasswordCheck:
    """Check ``password`` against ``password_hash`` in constant time.

    ``None`` (no such user, or no password set) verifies against a dummy hash and fails, so the
    caller's timing does not reveal which emails exist.
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        password = password[:MAX_PASSWORD_LENGTH]  # still pay for one verification
        password_hash = None
    if password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return PasswordCheck(ok=False)
    try:
        _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    if _hasher.check_needs_rehash(password_hash):
        return PasswordCheck(ok=True, new_hash=_hasher.hash(password))
    return PasswordCheck(ok=True)


__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordCheck",
    "hash_password",
    "validate_password",
    "verify_password",
]
