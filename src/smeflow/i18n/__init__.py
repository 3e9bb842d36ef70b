"""Customer-facing language: message catalogs in 14 languages and locale-aware formatting.

Key contracts:

* Every catalog has exactly the keys of the English one, and each message uses exactly the
  placeholders of its English twin (the tests hold the catalogs to this).
* :meth:`Catalog.text` inserts values as given: callers format money, dates, times and lists
  first with :func:`format_money`, :func:`format_date`, :func:`format_time`,
  :func:`format_datetime` and :func:`format_list`, in the same language.
* Command words customers type back (BOOK, CHANGE, CANCEL, PRICES, PAY, AGENT, START, STOP, YES,
  NO) stay in English capitals inside every translation; the understanding layer accepts them in
  every language, and :func:`vocabulary` lists the local words beside them.
* Datetimes shown to a customer are timezone-aware and shown in an explicit IANA time zone.
"""

from smeflow.i18n._catalogs import Catalog, MissingPlaceholderError, UnknownMessageError, messages
from smeflow.i18n._format import (
    DateFormat,
    ListStyle,
    format_date,
    format_datetime,
    format_list,
    format_money,
    format_number,
    format_time,
    locale_for,
)
from smeflow.i18n._languages import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    choose_language,
    language_name,
    normalize_language,
)
from smeflow.i18n._vocabulary import Vocabulary, is_no, is_yes, normalize_reply, vocabulary

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Catalog",
    "DateFormat",
    "ListStyle",
    "MissingPlaceholderError",
    "UnknownMessageError",
    "Vocabulary",
    "choose_language",
    "format_date",
    "format_datetime",
    "format_list",
    "format_money",
    "format_number",
    "format_time",
    "is_no",
    "is_yes",
    "language_name",
    "locale_for",
    "messages",
    "normalize_language",
    "normalize_reply",
    "vocabulary",
]
