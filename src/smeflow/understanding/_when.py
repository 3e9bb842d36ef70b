"""Dates and times in customer messages, as timezone-aware datetimes in the tenant's zone.

Two layers:

1. Own rules, for what people write in chat and ``dateparser`` misses or gets wrong: day words
   ("kesho", "gobe", "ọ̀la", "kusasa", "demain"…), weekday names in the fourteen languages
   (with Bantu prefixes: "ngoLwesine"), and clock times — "3pm", "15h30", "16:00", "at 4",
   Swahili time ("saa nne asubuhi" is 10:00: Swahili hours count from 06:00, ``saa X`` is
   X + 6 o'clock, the period word asubuhi/mchana/jioni/usiku/alfajiri picks the half of the day),
   Hausa "ƙarfe huɗu na yamma" (16:00) and Yoruba "aago mẹ́rin ìrọ̀lẹ́" (16:00).
2. ``dateparser`` (``search_dates`` with the message's language where it has one, relative to
   *now* in the tenant's zone, preferring the future) for explicit dates — "25/12",
   "12 March", "next Friday" — and only when a date-looking token is present (it costs
   milliseconds; most messages have none).

A day without a time is returned at 00:00 local; a time without a day is today, or tomorrow if
that time has passed. A bare hour without am/pm or a period word is read as business hours
(1-6 → afternoon, 7-11 → morning).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from smeflow.understanding._text import normalize, words_of

_DATEPARSER_LANGUAGES = frozenset({"en", "sw", "ha", "yo", "ig", "zu", "af", "am", "so", "fr", "pt", "ar"})

_TODAY = words_of(
    """today leo yau oni loni taa namuhla namhlanje vandag hoje maanta اليوم ዛሬ tonight tonite caawa
    vanaand aujourd"""
)
_TOMORROW = words_of(
    """tomorrow tmrw tmr tomoro tommorow tomorow 2moro 2mrw kesho gobe ola lola echi kusasa ngomso demain
    amanha berri غدا الغد بكرة ነገ"""
)
_AFTER_TOMORROW = frozenset({"keshokutwa", "jibi", "otunla", "overmore", "ከነገ"})
_AF_TOMORROW = {"more", "môre"}  # Afrikaans "môre" (normalised "more") only when the message is Afrikaans

_WEEKDAYS: dict[str, int] = {}
for _day, _names in enumerate(
    [
        "monday mon jumatatu litinin aje monde msombuluko mvulo maandag lundi segunda isniin الاثنين ሰኞ",
        "tuesday tue tues jumanne talata isegun tuzdee lwesibili lwesibini dinsdag mardi terca talaado "
        "الثلاثاء ማክሰኞ",
        "wednesday wed jumatano laraba ojoru oru wenezdee lwesithathu woensdag mercredi quarta arbaco "
        "الاربعاء ረቡዕ",
        "thursday thu thur thurs alhamisi alhamis ojobo tozdee lwesine donderdag jeudi quinta khamiis "
        "الخميس ሐሙስ",
        "friday fri ijumaa juma jumaa eti fraidee lwesihlanu vrydag vendredi sexta jimco الجمعة ዓርብ አርብ",
        "saturday sat jumamosi asabar abameta satide satode mgqibelo saterdag samedi sabado sabti السبت ቅዳሜ",
        "sunday sun jumapili lahadi aiku sonde sonto cawa sondag dimanche domingo axad الاحد እሁድ",
    ]
):
    for _name in _names.split():
        _WEEKDAYS[_name] = _day
# Bantu and Somali weekday words carry prefixes/suffixes: ngoLwesine, ngeSonto, Khamiista.
_WEEKDAY_STEMS = [(n, d) for n, d in _WEEKDAYS.items() if len(n) >= 5 and n.isascii()]

_SW_NUMBERS = {"moja": 1, "mbili": 2, "tatu": 3, "nne": 4, "tano": 5, "sita": 6, "saba": 7, "nane": 8,
               "tisa": 9, "kumi": 10, "kumi na moja": 11, "kumi na mbili": 12}  # fmt: skip
_HA_NUMBERS = {"daya": 1, "ɗaya": 1, "biyu": 2, "uku": 3, "hudu": 4, "huɗu": 4, "biyar": 5, "shida": 6,
               "bakwai": 7, "takwas": 8, "tara": 9, "goma": 10, "goma sha daya": 11, "goma sha ɗaya": 11,
               "goma sha biyu": 12}  # fmt: skip
_YO_NUMBERS = {
    "okan": 1, "kan": 1, "meji": 2, "meta": 3, "merin": 4, "marun": 5, "marun un": 5, "mefa": 6, "meje": 7,
    "mejo": 8, "mesan": 9, "mesan an": 9, "mewa": 10, "mokanla": 11, "mejila": 12,
}  # fmt: skip


def _alternation(words: dict[str, int]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_SW_TIME = re.compile(
    rf"\bsaa\s+(?P<h>{_alternation(_SW_NUMBERS)}|\d{{1,2}})(?:[:.](?P<m>\d{{2}}))?"
    r"(?P<frac>\s+na\s+nusu|\s+na\s+robo|\s+kasoro\s+robo)?"
    r"(?:\s+(?:za\s+|ya\s+)?(?P<p>asubuhi|mchana|jioni|usiku|alfajiri))?\b"
)
_HA_TIME = re.compile(
    rf"\b[kƙ]arfe\s+(?P<h>{_alternation(_HA_NUMBERS)}|\d{{1,2}})(?:[:.](?P<m>\d{{2}}))?"
    r"(?:\s+(?:na\s+|da\s+)?(?P<p>safe|rana|yamma|dare))?\b"
)
_YO_TIME = re.compile(
    rf"\baago\s+(?P<h>{_alternation(_YO_NUMBERS)}|\d{{1,2}})(?:[:.](?P<m>\d{{2}}))?"
    r"(?:\s+(?:ni\s+)?(?P<p>aaro|owuro|osan|irole|ale))?\b"
)
_CLOCK = re.compile(
    r"(?<![\d/.:-])(?P<h3>\d{1,2})h(?P<m3>[0-5]\d)(?![\d])"
    r"|(?<![\d/.:-])(?P<h>\d{1,2})(?:(?::|\.)(?P<m>[0-5]\d))?\s*(?P<ap>a\.?m\.?|p\.?m\.?|h(?![a-z\d]))"
    r"|(?<![\d/.:-])(?P<h2>\d{1,2}):(?P<m2>[0-5]\d)(?![\d/.:])"
)
_AT_HOUR = re.compile(
    r"(?:\b(?:at|by|around|from|a|as|om|ngo|nge|saacadda|saacada|الساعة)\s*-?\s*)(?P<h>\d{1,2})(?![\d/:.]|\s*(?:%|k\b))"
)
_PERIOD_PM = re.compile(
    r"\b(afternoon|evening|tonight|night|pm|jioni|mchana|yamma|dare|osan|irole|ale|ehihie|mgbede|ntambama|"
    r"kusihlwa|ebusuku|ngokuhlwa|emva kwemini|middag|aand|vanaand|apres midi|soir|tarde|noite|galab|"
    r"galabnimo|fiid|habeen|caawa|مساء|مساءا|الظهر|ظهرا)\b"
)
_PERIOD_AM = re.compile(
    r"\b(morning|asubuhi|safe|aaro|owuro|ututu|ekuseni|oggend|matin|manha|subax|subaxda|صباحا|الصباح)\b"
)
_DATE_HINT = re.compile(
    r"\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b|\b\d{1,2}(?:st|nd|rd|th)?\s+[^\W\d_]{3,}|\b[^\W\d_]{3,}\s+\d{1,2}(?:st|nd|rd|th)?\b"
    r"|\bnext\s+(?:week|month)\b|\bin\s+\d+\s+(?:days?|weeks?)\b",
    re.IGNORECASE,
)


def _swahili_hour(h: int, period: str | None) -> int:
    base = (h + 6) % 12  # saa moja = 7, saa sita = 12, saa saba = 1
    if period == "asubuhi" or period == "alfajiri":
        return 12 if base == 0 and period == "asubuhi" else base
    if period == "mchana":
        return 12 if base == 0 else base + 12
    if period == "jioni":
        return base + 12 if base != 0 else 12
    if period == "usiku":
        return base + 12 if base >= 7 else base
    return 12 if base == 0 else (base + 12 if base <= 6 else base)


def _twelve(h: int, period: str | None, pm_words: frozenset[str]) -> int:
    """A 1-12 hour with a period word, or a bare hour read as business hours."""
    if h > 12:
        return h
    if period is not None:
        if period in pm_words:
            return h if h == 12 else h + 12
        return 0 if h == 12 and period in {"dare", "ale"} else h
    return h + 12 if 1 <= h <= 6 else h


def _number(word: str, table: dict[str, int]) -> int | None:
    if word.isdigit():
        return int(word)
    return table.get(" ".join(word.split()))


def _find_time(text: str, normalized: str, language: str | None) -> time | None:
    lowered = text.casefold()
    if language in (None, "sw"):
        m = _SW_TIME.search(normalized)
        if m and (h := _number(m["h"], _SW_NUMBERS)) and 1 <= h <= 12:
            minutes = int(m["m"] or 0)
            frac = (m["frac"] or "").split()
            if frac[-1:] == ["nusu"]:
                minutes = 30
            elif frac[-2:] == ["na", "robo"]:
                minutes = 15
            hour = _swahili_hour(h, m["p"])
            if frac[:1] == ["kasoro"]:
                hour, minutes = (hour - 1) % 24, 45
            return time(hour, minutes)
    for pattern, table, pm in (
        (_HA_TIME, _HA_NUMBERS, frozenset({"rana", "yamma", "dare"})),
        (_YO_TIME, _YO_NUMBERS, frozenset({"osan", "irole", "ale"})),
    ):
        source = lowered if pattern is _HA_TIME else normalized
        m = pattern.search(source)
        h = _number(m["h"], table) if m else None
        if m is not None and h is not None and 0 <= h <= 23:
            return time(_twelve(h, m["p"], pm) % 24, int(m["m"] or 0))
    m = _CLOCK.search(lowered)
    if m:
        if m["h3"] is not None:
            h, minutes, ap = int(m["h3"]), int(m["m3"]), "h"
        elif m["h2"] is not None:
            h, minutes, ap = int(m["h2"]), int(m["m2"]), None
        else:
            h, minutes, ap = int(m["h"]), int(m["m"] or 0), m["ap"].replace(".", "")
        if h <= 23:
            if ap == "pm" and h < 12:
                h += 12
            elif ap == "am" and h == 12:
                h = 0
            elif ap is None and h <= 12 and _PERIOD_PM.search(normalized) and h < 12:
                h += 12
            return time(h, minutes)
    m = _AT_HOUR.search(lowered)
    if m and 0 <= (hour := int(m["h"])) <= 23:
        period = "pm" if _PERIOD_PM.search(normalized) else ("am" if _PERIOD_AM.search(normalized) else None)
        return time(_twelve(hour, period, frozenset({"pm"})) % 24, 0)
    return None


def _find_day(normalized: str, language: str | None, today: date) -> date | None:
    tokens = normalized.split()
    token_set = set(tokens)
    if token_set & _AFTER_TOMORROW:
        return today + timedelta(days=2)
    if "apres demain" in normalized or "depois de amanha" in normalized:
        return today + timedelta(days=2)
    if token_set & _TOMORROW or (language == "af" and token_set & _AF_TOMORROW):
        if language == "xh" and "kusasa" in token_set and "ngomso" not in token_set:
            pass  # Xhosa "kusasa" is "in the morning", not "tomorrow"
        else:
            return today + timedelta(days=1)
    if token_set & _TODAY:
        return today
    for token in tokens:
        weekday = _WEEKDAYS.get(token)
        if weekday is None:
            weekday = next(
                (d for stem, d in _WEEKDAY_STEMS if stem in token and len(token) - len(stem) <= 4), None
            )
        if weekday is not None:
            ahead = (weekday - today.weekday()) % 7
            return today + timedelta(days=ahead or 7)
    return None


def _dateparser_dates(text: str, language: str | None, now: datetime) -> list[datetime]:
    if not _DATE_HINT.search(text):
        return []
    from dateparser.search import search_dates  # imported on first use: it takes ~0.3 s

    languages = [language] if language in _DATEPARSER_LANGUAGES else ["en"]
    settings = {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "DMY",
    }
    try:
        found = search_dates(text, languages=languages, settings=settings) or []
    except Exception:  # dateparser raises assorted errors on odd input; no date is the answer
        return []
    tz = now.tzinfo
    out = []
    for fragment, value in found:
        if not re.search(r"\d", fragment) and not _DATE_HINT.search(fragment):
            continue  # a stray word ("may", "sun") dateparser read as a date
        out.append(value.replace(tzinfo=tz))
    return out


def find_datetimes(text: str, *, language: str | None, timezone: str, now: datetime) -> tuple[datetime, ...]:
    """The date/times mentioned in ``text``, aware in ``timezone``, relative to ``now`` (aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    normalized = normalize(text)
    day = _find_day(normalized, language, local_now.date())
    at = _find_time(text, normalized, language)
    if day is None and at is None:
        parsed = _dateparser_dates(text, language, local_now)
        return tuple(p.replace(tzinfo=zone) for p in parsed)
    if day is None:
        parsed = _dateparser_dates(text, language, local_now)
        if parsed:
            day = parsed[0].date()
    if day is None and at is not None:
        candidate = datetime.combine(local_now.date(), at, zone)
        day = local_now.date() if candidate > local_now else local_now.date() + timedelta(days=1)
    assert day is not None
    return (datetime.combine(day, at or time(0, 0), zone),)


__all__ = ["find_datetimes"]
