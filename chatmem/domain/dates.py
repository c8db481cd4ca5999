"""Turn the dates people say ("yesterday", "next Friday", "March 3") into ISO dates."""

from __future__ import annotations

import calendar
import datetime as dt
import re

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_DAYS = {"day": 1, "week": 7}
_MONTHS_IN = {"month": 1, "year": 12}
_LAST = dt.date.max.toordinal()
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def day(ts: float) -> str:
    """The local ISO date of a timestamp."""
    return dt.datetime.fromtimestamp(ts).date().isoformat()


def resolve_date(text: str, when: float) -> str | None:
    """An ISO date for ``text`` said at ``when`` (epoch seconds, local time), or None."""
    today = dt.datetime.fromtimestamp(when).date()
    s = text.strip().lower().rstrip(".")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return s
    if re.fullmatch(r"\d{4}-\d{2}|\d{4}", s):
        return s  # a month or a year is absolute too
    simple = {"today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1}
    if s in simple:
        return (today + dt.timedelta(days=simple[s])).isoformat()
    if m := re.fullmatch(r"(last|next|this) (week|month|year)", s):
        sign = {"last": -1, "next": 1, "this": 0}[m.group(1)]
        return _shift(today, sign, m.group(2))
    if m := re.fullmatch(r"(\d+|an?|one|two|three|four|five|six) (day|week|month|year)s? ago", s):
        return _shift(today, -(_NUMBERS.get(m.group(1)) or int(m.group(1))), m.group(2))
    if m := re.fullmatch(r"in (\d+|an?|one|two|three|four|five|six) (day|week|month|year)s?", s):
        return _shift(today, _NUMBERS.get(m.group(1)) or int(m.group(1)), m.group(2))
    if m := re.fullmatch(r"(last|next|this|on)? ?(" + "|".join(_WEEKDAYS) + ")", s):
        target = _WEEKDAYS.index(m.group(2))
        delta = target - today.weekday()
        if m.group(1) == "last":
            delta = delta - 7 if delta >= 0 else delta
        elif m.group(1) == "next":
            delta = delta + 7 if delta <= 0 else delta
        return (today + dt.timedelta(days=delta)).isoformat()
    month_names = "|".join(_MONTHS)
    if m := re.fullmatch(rf"({month_names}) (\d{{1,2}})(?:st|nd|rd|th)?,? ?(\d{{4}})?", s):
        return _month_day(m.group(1), m.group(2), m.group(3), today)
    if m := re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({month_names}),? ?(\d{{4}})?", s):
        return _month_day(m.group(2), m.group(1), m.group(3), today)
    return None


def _shift(today: dt.date, n: int, unit: str) -> str | None:
    """``today`` moved by ``n`` units on the calendar: a month back from March 31 is the last
    day of February, a year on from February 29 is February 28."""
    if unit in _DAYS:
        moved = today.toordinal() + n * _DAYS[unit]
        return dt.date.fromordinal(moved).isoformat() if 0 < moved <= _LAST else None
    months = today.year * 12 + today.month - 1 + n * _MONTHS_IN[unit]
    year, month = divmod(months, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    return dt.date(
        year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1])
    ).isoformat()


def _month_day(month: str, day: str, year: str | None, today: dt.date) -> str | None:
    try:
        return dt.date(int(year or today.year), _MONTHS.index(month) + 1, int(day)).isoformat()
    except ValueError:
        return None


def resolve_dates(values: list[str], when: float) -> list[str]:
    """The ISO forms of ``values``; what cannot be pinned to a date is dropped."""
    out = []
    for value in values:
        iso = resolve_date(str(value), when)
        if iso and iso not in out:
            out.append(iso)
    return out
