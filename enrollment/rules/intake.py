"""Plan year and coverage start of an enrolment (参保) — SPEC §3.1, as pure functions.

The August-31 rule (Qiannan 黔南医保发〔2019〕36号 §二(二)): "每年8月底前，动态调整新认定的医保扶贫保障对象，纳入当年度
基本医保；9月至12月新认定且未参保的医保扶贫保障对象，统一纳入下一年度基本医保". A person certified (identity start
date) on or before the cut-off of year Y joins plan year Y; one certified after it and not yet insured joins Y+1.
The cut-off month and day are policy data (`PolicyVersion.intake_cutoff_month/day`), never constants here.

Regional variants, also data:

- green channel (绿色通道, Guangdong 粤医保发〔2021〕33号 §二(一)2): people of the policy's green-channel categories
  may enrol mid-year and are covered "从完成参保登记、做好身份标识之日起" — from the later of the registration day
  and the certification day;
- newborns (Jin'an 金医保发〔2022〕18号): a newborn enrolled within N months of birth is covered from the birth date
  in the birth year ("自出生之日起享受当年居民医保待遇").

Dates are local (Asia/Shanghai) calendar dates. A caller holding an aware datetime may pass it: it is converted to
Beijing time first, so 2024-08-31 15:30 UTC (23:30 in Beijing) is still 31 August. Naive datetimes are refused.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "LOCAL_TIMEZONE",
    "Intake",
    "IntakeReason",
    "add_months",
    "coverage_for_enrolment",
    "identity_counts_for_plan_year",
    "intake_cutoff",
    "local_date",
    "newborn_intake",
    "plan_year_for_certification",
]

LOCAL_TIMEZONE = ZoneInfo("Asia/Shanghai")


class IntakeReason(StrEnum):
    """Why an enrolment got its plan year and coverage start."""

    ON_OR_BEFORE_CUTOFF = "on_or_before_cutoff"  # certified by the cut-off: this year's plan, from 1 January
    AFTER_CUTOFF = "after_cutoff"  # certified after the cut-off and not insured: next year's plan
    ALREADY_INSURED = "already_insured"  # certified after the cut-off but already insured this year: stays there
    GREEN_CHANNEL = "green_channel"  # mid-year enrolment, covered from registration
    NEWBORN = "newborn"  # enrolled within the newborn window, covered from birth
    REGULAR = "regular"  # the yearly enrolment, covered from 1 January of the plan year


@dataclass(frozen=True)
class Intake:
    plan_year: int
    coverage_start: date
    reason: IntakeReason


def local_date(value: date | datetime) -> date:
    """The Asia/Shanghai calendar date of a date or an aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError("a naive datetime has no local date; pass a date or an aware datetime")
        return value.astimezone(LOCAL_TIMEZONE).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date or an aware datetime, got {value!r}")


def intake_cutoff(year: int, *, cutoff_month: int, cutoff_day: int) -> date:
    """The last certification day of `year` that still joins that year's plan.

    A day beyond the month's end (e.g. 29 February in a common year) means the month's last day.
    """
    if not 1 <= cutoff_month <= 12 or not 1 <= cutoff_day <= 31:
        raise ValueError(f"invalid intake cut-off {cutoff_month}-{cutoff_day}")
    last_day = calendar.monthrange(year, cutoff_month)[1]
    return date(year, cutoff_month, min(cutoff_day, last_day))


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months, clamped to the month's end (30 Nov + 3 months = 28/29 Feb)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def plan_year_for_certification(
    certified_at: date | datetime,
    *,
    cutoff_month: int,
    cutoff_day: int,
    already_insured_this_year: bool = False,
    green_channel: bool = False,
    registered_on: date | datetime | None = None,
) -> Intake:
    """Plan year and coverage start for a person newly certified on `certified_at` (the identity's start).

    - Certified on or before the cut-off of year Y → plan year Y, covered from 1 January of Y.
    - Certified after the cut-off and not yet insured → plan year Y+1, covered from 1 January of Y+1.
    - Certified after the cut-off but already insured in Y → stays in plan year Y: the person is covered this year
      already (the document moves only those "未参保" to next year); next year follows the yearly enrolment.
    - Green channel (`green_channel=True`, the identity's category is in the policy's green-channel set), not yet
      insured → enrolled mid-year, covered from the later of `registered_on` (default: the certification day) and
      the certification day, in that day's year, whatever the cut-off.
    """
    certified_on = local_date(certified_at)
    year = certified_on.year
    if already_insured_this_year and (
        green_channel or certified_on > intake_cutoff(year, cutoff_month=cutoff_month, cutoff_day=cutoff_day)
    ):
        return Intake(year, date(year, 1, 1), IntakeReason.ALREADY_INSURED)
    if green_channel:
        registered = local_date(registered_on) if registered_on is not None else certified_on
        start = max(registered, certified_on)
        return Intake(start.year, start, IntakeReason.GREEN_CHANNEL)
    if certified_on <= intake_cutoff(year, cutoff_month=cutoff_month, cutoff_day=cutoff_day):
        return Intake(year, date(year, 1, 1), IntakeReason.ON_OR_BEFORE_CUTOFF)
    return Intake(year + 1, date(year + 1, 1, 1), IntakeReason.AFTER_CUTOFF)


def newborn_intake(birth_date: date, *, registered_on: date | datetime, window_months: int) -> Intake | None:
    """Coverage from birth for a newborn enrolled within `window_months` of birth (0 = the region has no such rule).

    Returns None when the rule does not apply (no rule, registered before birth or after the window).
    """
    if window_months <= 0:
        return None
    registered = local_date(registered_on)
    if not birth_date <= registered <= add_months(birth_date, window_months):
        return None
    return Intake(birth_date.year, birth_date, IntakeReason.NEWBORN)


def coverage_for_enrolment(
    plan_year: int,
    *,
    registered_on: date | datetime,
    birth_date: date | None = None,
    newborn_window_months: int = 0,
    green_channel: bool = False,
) -> Intake:
    """Coverage start of an enrolment into `plan_year` registered on `registered_on`.

    - A newborn (born in the plan year) registered within the newborn window → from the birth date.
    - A green-channel person registering during the plan year itself (mid-year) → from the registration day.
    - Otherwise → 1 January of the plan year (the yearly enrolment, including registrations made ahead of it).
    """
    registered = local_date(registered_on)
    if birth_date is not None and birth_date.year == plan_year:
        newborn = newborn_intake(birth_date, registered_on=registered, window_months=newborn_window_months)
        if newborn is not None:
            return newborn
    if green_channel and registered.year == plan_year and registered > date(plan_year, 1, 1):
        return Intake(plan_year, registered, IntakeReason.GREEN_CHANNEL)
    return Intake(plan_year, date(plan_year, 1, 1), IntakeReason.REGULAR)


def identity_counts_for_plan_year(
    valid_from: date,
    valid_to: date | None,
    *,
    plan_year: int,
    cutoff_month: int,
    cutoff_day: int,
    known_on: date,
    green_channel: bool = False,
) -> bool:
    """Whether an identity held from `valid_from` to `valid_to` decides the subsidy of plan year `plan_year`.

    It counts when all three hold:

    1. it is valid at some time in the plan year (`valid_to` empty or on/after 1 January);
    2. it was certified by the intake cut-off of the plan year — the August-31 rule sends people certified later
       to the next plan year (green-channel categories: by 31 December, they may enrol mid-year);
    3. it was certified by `known_on`, the enrolment (payment) date: the subsidy is set by the identities held "at
       the time of enrolment and payment" (Chongqing 渝乡振发〔2022〕15号 Q1: "按参保缴费时就高身份确定"), so a
       certification dated after that day does not count.

    An identity that ends during the plan year still counts: the person held it in the year they enrolled for.
    """
    last_certification = (
        date(plan_year, 12, 31) if green_channel
        else intake_cutoff(plan_year, cutoff_month=cutoff_month, cutoff_day=cutoff_day)
    )
    if valid_from > min(last_certification, known_on):
        return False
    return valid_to is None or valid_to >= date(plan_year, 1, 1)
