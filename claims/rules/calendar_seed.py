"""Seed rows for the working-day calendar table from the ``chinese-calendar`` package (SPEC §4.4).

Pure helper: returns plain rows, writes nothing. The package holds the State Council schedules for 2004–2026 and
raises ``NotImplementedError`` for any other year; such years are skipped and reported, never fatal.

Rows are ``CalendarRow(day, kind, name)`` (a NamedTuple, so also a plain ``(date, kind, name)`` tuple):

* ``kind == "holiday"`` for every date of a statutory holiday period, weekend days inside the period included
  (as the official notice lists them); ``kind == "makeup_workday"`` for weekend days declared working (调休上班).
* ``name`` is the Chinese holiday name. The package labels each date with one festival only; where Mid-Autumn
  and National Day form one holiday period (2009, 2012, 2017, 2020, 2023, 2025) the notice names them together,
  so do we: ``"中秋节、国庆节"`` when the period starts on Mid-Autumn, else ``"国庆节、中秋节"``. A period counts as
  combined when one contiguous run of holiday dates carries both labels, or — as the package has it for 2020,
  when Mid-Autumn fell on 1 October — when a year since 2008 (Mid-Autumn became a statutory holiday in 2008)
  has no Mid-Autumn date of its own. Make-up working days take the name of the holiday they belong to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

import chinese_calendar

from claims.rules.workdays import HOLIDAY, MAKEUP_WORKDAY, WorkCalendar

__all__ = [
    "HOLIDAY_NAMES",
    "CalendarRow",
    "CalendarSeed",
    "chinese_calendar_seed",
    "rows_from_chinese_calendar",
]

_Holiday = chinese_calendar.Holiday

#: chinese_calendar's holiday labels (the enum values, English) → the Chinese names used in the calendar table.
HOLIDAY_NAMES: dict[str, str] = {
    _Holiday.new_years_day.value: "元旦",
    _Holiday.spring_festival.value: "春节",
    _Holiday.tomb_sweeping_day.value: "清明节",
    _Holiday.labour_day.value: "劳动节",
    _Holiday.dragon_boat_festival.value: "端午节",
    _Holiday.mid_autumn_festival.value: "中秋节",
    _Holiday.national_day.value: "国庆节",
    _Holiday.anti_fascist_70th_day.value: "抗战胜利70周年纪念日",
}

_MID_AUTUMN = _Holiday.mid_autumn_festival.value
_NATIONAL_DAY = _Holiday.national_day.value
_MID_AUTUMN_STATUTORY_SINCE = 2008
_ONE_DAY = dt.timedelta(days=1)


class CalendarRow(NamedTuple):
    day: dt.date
    kind: str  # HOLIDAY or MAKEUP_WORKDAY
    name: str


class CalendarSeed(NamedTuple):
    rows: list[CalendarRow]
    loaded_years: frozenset[int]
    skipped_years: frozenset[int]

    def calendar(self) -> WorkCalendar:
        return WorkCalendar.from_rows(self.rows, self.loaded_years)


def _chinese_name(label: str) -> str:
    if label in HOLIDAY_NAMES:
        return HOLIDAY_NAMES[label]
    # A label added by a newer package version: fall back on the enum's own Chinese name, then the raw label.
    for member in _Holiday:
        if member.value == label:
            return member.chinese
    return label


def _year_supported(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except (NotImplementedError, ValueError):  # ValueError: not a valid date year at all (e.g. 0)
        return False
    return True


def _combined_autumn_name(holiday_labels: dict[dt.date, str], year: int) -> str | None:
    """The joint name of the Mid-Autumn + National Day period of ``year``, or None when they are apart."""
    if year >= _MID_AUTUMN_STATUTORY_SINCE and _MID_AUTUMN not in holiday_labels.values():
        if _NATIONAL_DAY in holiday_labels.values():
            return "国庆节、中秋节"
        return None
    run: list[str] = []
    previous: dt.date | None = None
    for day in sorted(holiday_labels):
        if previous is not None and day - previous != _ONE_DAY:
            run = []
        run.append(holiday_labels[day])
        previous = day
        if _MID_AUTUMN in run and _NATIONAL_DAY in run:
            return "中秋节、国庆节" if run[0] == _MID_AUTUMN else "国庆节、中秋节"
    return None


def _rows_for_year(year: int) -> list[CalendarRow]:
    holiday_labels = {day: label for day, label in chinese_calendar.holidays.items() if day.year == year}
    makeup_labels = {day: label for day, label in chinese_calendar.workdays.items() if day.year == year}
    combined = _combined_autumn_name(holiday_labels, year)

    def name(label: str) -> str:
        if combined and label in (_MID_AUTUMN, _NATIONAL_DAY):
            return combined
        return _chinese_name(label)

    rows = [CalendarRow(day, HOLIDAY, name(label)) for day, label in holiday_labels.items()]
    rows += [CalendarRow(day, MAKEUP_WORKDAY, name(label)) for day, label in makeup_labels.items()]
    rows.sort()
    return rows


def chinese_calendar_seed(years: Iterable[int]) -> CalendarSeed:
    """Rows for each requested year that ``chinese-calendar`` covers, with the loaded and skipped years."""
    rows: list[CalendarRow] = []
    loaded: set[int] = set()
    skipped: set[int] = set()
    for year in sorted(set(years)):
        if not _year_supported(year):
            skipped.add(year)
            continue
        loaded.add(year)
        rows += _rows_for_year(year)
    return CalendarSeed(rows, frozenset(loaded), frozenset(skipped))


def rows_from_chinese_calendar(years: Iterable[int]) -> list[CalendarRow]:
    """Just the rows of :func:`chinese_calendar_seed` (years the package does not cover are skipped)."""
    return chinese_calendar_seed(years).rows
