"""Countries, currencies, locales and time zones: validation and per-country defaults.

Validation uses babel's CLDR data (countries, ISO 4217 currencies, locales) and the IANA time
zone database through ``zoneinfo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_precision, list_currencies


@dataclass(frozen=True, slots=True)
class CountryDefaults:
    currency: str
    timezone: str
    locale: str


# What a new tenant in each country gets unless it says otherwise.
COUNTRY_DEFAULTS: dict[str, CountryDefaults] = {
    "KE": CountryDefaults("KES", "Africa/Nairobi", "en_KE"),
    "NG": CountryDefaults("NGN", "Africa/Lagos", "en_NG"),
    "ZA": CountryDefaults("ZAR", "Africa/Johannesburg", "en_ZA"),
    "GH": CountryDefaults("GHS", "Africa/Accra", "en_GH"),
    "UG": CountryDefaults("UGX", "Africa/Kampala", "en_UG"),
    "TZ": CountryDefaults("TZS", "Africa/Dar_es_Salaam", "sw_TZ"),
    "RW": CountryDefaults("RWF", "Africa/Kigali", "rw_RW"),
    "ET": CountryDefaults("ETB", "Africa/Addis_Ababa", "am_ET"),
    "EG": CountryDefaults("EGP", "Africa/Cairo", "ar_EG"),
    "MA": CountryDefaults("MAD", "Africa/Casablanca", "fr_MA"),
    "SN": CountryDefaults("XOF", "Africa/Dakar", "fr_SN"),
    "CI": CountryDefaults("XOF", "Africa/Abidjan", "fr_CI"),
    "CM": CountryDefaults("XAF", "Africa/Douala", "fr_CM"),
    "ZM": CountryDefaults("ZMW", "Africa/Lusaka", "en_ZM"),
    "ZW": CountryDefaults("USD", "Africa/Harare", "en_ZW"),
    "BW": CountryDefaults("BWP", "Africa/Gaborone", "en_BW"),
    "MZ": CountryDefaults("MZN", "Africa/Maputo", "pt_MZ"),
    "SO": CountryDefaults("SOS", "Africa/Mogadishu", "so_SO"),
}


# CLDR territories that are not countries: unknown region, EU, eurozone, UN, outlying Oceania.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


@cache
def _countries() -> frozenset[str]:
    codes = (str(code) for code in Locale("en").territories)
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha()) - _NOT_COUNTRIES


def is_country(code: str) -> bool:
    """True for an ISO 3166-1 alpha-2 code (upper case)."""
    return code in _countries()


def is_currency(code: str) -> bool:
    """True for an ISO 4217 currency code (upper case)."""
    return code in list_currencies()


def currency_decimals(code: str) -> int:
    """Digits after the decimal point in ``code``'s minor unit (KES 2, UGX 0)."""
    return int(get_currency_precision(code))


def normalize_locale(tag: str) -> str | None:
    """``sw-KE`` / ``sw_KE`` → ``sw_KE``; None if babel does not know the locale."""
    try:
        return str(Locale.parse(tag.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def is_timezone(name: str) -> bool:
    """True for an IANA time zone name such as ``Africa/Nairobi``."""
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


__all__ = [
    "COUNTRY_DEFAULTS",
    "CountryDefaults",
    "currency_decimals",
    "is_country",
    "is_currency",
    "is_timezone",
    "normalize_locale",
]
