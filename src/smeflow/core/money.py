"""Money: integer minor units plus an ISO 4217 currency, never floats.

``KES 1500.00`` is ``Money(150000, "KES")``; ``UGX 5000`` is ``Money(5000, "UGX")`` (UGX has no
minor unit). Providers speak major units (Daraja, Flutterwave) or minor units (Paystack):
convert at the connector's edge with :func:`to_major` / :func:`from_major`, which are exact
(``Decimal``) and refuse amounts that do not fit the currency's exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# ISO 4217 exponents of the currencies SMEFlow's markets use (see protocols_africa.md §7.2).
EXPONENTS: dict[str, int] = {
    "KES": 2,
    "NGN": 2,
    "ZAR": 2,
    "GHS": 2,
    "EGP": 2,
    "MAD": 2,
    "TZS": 2,
    "ETB": 2,
    "ZMW": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "UGX": 0,
    "RWF": 0,
    "XOF": 0,
    "XAF": 0,
}


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


def exponent(currency: str) -> int:
    """The number of minor-unit digits of ``currency`` (``KES`` → 2, ``UGX`` → 0)."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"{currency!r} is not a currency SMEFlow handles") from None


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units of ``currency``."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise MoneyError("an amount of money is a whole number of minor units")
        exponent(self.currency)

    @property
    def major(self) -> Decimal:
        """The amount in major units, exactly (``Money(150050, "KES").major == Decimal("1500.50")``)."""
        return to_major(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.currency} {self.major:.{exponent(self.currency)}f}"


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units → major units, exactly."""
    return Decimal(minor).scaleb(-exponent(currency))


def from_major(amount: Decimal | int | str | float, currency: str) -> int:
    """Major units (as a provider sends them: ``1500``, ``"1500.50"``, ``1.00``) → minor units.

    Floats are read through their shortest decimal form (``1.1`` is ``1.1``, not
    ``1.100000000000000088…``). An amount with more decimals than the currency allows is refused.
    """
    try:
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not an amount")
    minor = value.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        raise MoneyError(f"{amount} has more decimals than {currency} allows")
    return int(minor)


__all__ = ["EXPONENTS", "Money", "MoneyError", "exponent", "from_major", "to_major"]
