"""USSD screens: a question and its numbered options, in pages of at most 182 characters.

Conventions (the same on every USSD question):

* A screen is ``CON `` + the question + one line per option (``7. Label``) + navigation
  lines; the whole body, ``CON `` included, is at most :data:`USSD_LIMIT` characters
  (code points; telcos cut longer prompts).
* Options keep their global numbers across pages, so ``7`` picks option 7 on any page.
* ``0. More`` (``form.more``) shows the next page; it is on every page but the last.
* ``00. Back`` (``form.back``) shows the previous page, or on the first page goes back one
  question (shown there only when there is a question to go back to).
* Whitespace (no-break spaces included) is shown as plain spaces, one line per item.
* A question too long for a screen (or over 100 characters above options) is shortened with
  ``...``, as is an option label too long
  for a line, so every page holds at least one option and every option is reachable.
"""

from __future__ import annotations

from collections.abc import Sequence

USSD_LIMIT = 182
_CON = "CON "
_ELLIPSIS = "..."
_MIN_OPTION_LINE = 16  # "100. " + a few letters of the label
_QUESTION_WITH_OPTIONS_MAX = 100  # a long question must leave room for options on each page


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``...`` when longer."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: max(limit - len(_ELLIPSIS), 0)].rstrip() + _ELLIPSIS if limit >= len(_ELLIPSIS) else ""


def ussd_pages(
    question: str,
    options: Sequence[str],
    *,
    more: str,
    back: str,
    back_on_first: bool,
    notice: str | None = None,
) -> tuple[str, ...]:
    """Every screen of a USSD question: ``CON`` pages of the numbered ``options`` (one page
    when there are none), each at most :data:`USSD_LIMIT` characters.

    ``more`` / ``back`` are the navigation lines (``0. More`` / ``00. Back``, translated);
    ``notice`` (a problem with the last answer) goes above the question on every page.
    """
    nav_room = len(more) + len(back) + 2
    room = USSD_LIMIT - len(_CON) - nav_room - (_MIN_OPTION_LINE + 1 if options else 0)
    head_lines = []
    if notice:
        head_lines.append(shorten(notice, room // 2))
    question_room = room - sum(len(line) + 1 for line in head_lines)
    if options:
        question_room = min(question_room, _QUESTION_WITH_OPTIONS_MAX)
    head_lines.append(shorten(question, question_room))
    header = _CON + "\n".join(head_lines)
    lines = [f"{number}. {' '.join(label.split())}" for number, label in enumerate(options, 1)]
    pages: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        used = len(header) + sum(len(item) + 1 for item in current) + nav_room
        if current and used + len(line) + 1 > USSD_LIMIT:
            pages.append(current)
            current = []
            used = len(header) + nav_room
        current.append(line if used + len(line) + 1 <= USSD_LIMIT else shorten(line, USSD_LIMIT - used - 1))
    pages.append(current)
    screens = []
    for index, page_lines in enumerate(pages):
        body = [header, *page_lines]
        if index < len(pages) - 1:
            body.append(more)
        if index > 0 or back_on_first:
            body.append(back)
        screens.append("\n".join(body))
    return tuple(screens)


__all__ = ["USSD_LIMIT", "shorten", "ussd_pages"]
