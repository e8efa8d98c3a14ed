"""Working-day arithmetic and SLA clocks (工作日 / 办理时限), SPEC §4.4.

Pure rule code: plain values in, plain values out, no Django and no ORM. The database layer reads the calendar
table (节假日 / 调休上班) once, builds a :class:`WorkCalendar` and passes it in.

Definitions
-----------
* **Working day** (工作日): Monday–Friday except statutory holidays, plus weekend days declared make-up working
  days (调休上班). For a year whose schedule is *not loaded*, Monday–Friday only, and any result that depended
  on such a year is marked **provisional** (to be recomputed when the year is loaded). Unknown years never raise.
* **Deadline of N working days from a date** (N个工作日内): the N-th working day strictly *after* that date (the
  receipt day itself never counts), due at the end of that day, Asia/Shanghai (:func:`due_at`).
* **Counting convention**: every count in this module is over the half-open interval ``(start, end]`` —
  after ``start``, up to and including ``end``. Timelines therefore split without gaps or double counting:
  ``working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)``.

SLA clocks with pauses (退回补件)
---------------------------------
A manual reimbursement (零星报销) clock stops while the case waits for the applicant's documents and resumes on
resubmission with the days that were left. With the same half-open convention a pause ``(paused_on, resumed_on)``
owns the days ``(paused_on, resumed_on]``: the day the case is sent back still counts as used (the bureau worked
on it), the resubmission day does not (exactly like a receipt day). The remaining days are counted from the
resume date, i.e. the due date is the (remaining)-th working day after ``resumed_on``.

How the DB layer stores this (a proposal for the claims models):

* the case keeps ``received_on`` (date), ``sla_allowance`` (working days, copied from policy data when the
  clock starts) and, denormalised for the queues, ``sla_due_on`` (null while paused), ``sla_provisional``;
* one row per pause in a ``SlaPause`` table: ``case`` FK, ``paused_on`` (date), ``resumed_on`` (date, null while
  open), reason, who; constraints ``resumed_on >= paused_on`` and at most one open pause per case
  (``UniqueConstraint(fields=["case"], condition=Q(resumed_on__isnull=True))``);
* a service recomputes :func:`sla_clock` and the denormalised columns on pause, on resume, and for all open
  cases whenever the calendar of a year is loaded or edited (that is how provisional deadlines get fixed);
* a case exempted from the clock (特殊病案 / 疑问病案, with reason and sign-off) simply has no clock: the DB
  layer clears ``sla_due_on`` and keeps the exemption record; nothing here needs to know about it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "HOLIDAY",
    "MAKEUP_WORKDAY",
    "SHANGHAI",
    "Deadline",
    "Pause",
    "SlaClock",
    "WorkCalendar",
    "add_working_days",
    "due_at",
    "is_provisional_span",
    "sla_clock",
    "status_for",
    "working_days_between",
]

#: Calendar-table kinds (the ``kind`` column of the calendar table and of the seed rows).
HOLIDAY = "holiday"
MAKEUP_WORKDAY = "makeup_workday"

SHANGHAI = ZoneInfo("Asia/Shanghai")

_ONE_DAY = dt.timedelta(days=1)

DeadlineStatus = Literal["overdue", "due_soon", "on_track"]
ClockState = Literal["running", "paused", "overdue"]


def _require_date(value: object, name: str) -> dt.date:
    # datetime is a subclass of date; rule code receives local dates only (ARCHITECTURE: Dates).
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"{name} must be a datetime.date (a local date), not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class WorkCalendar:
    """The working-day calendar (工作日历) as plain data.

    ``loaded_years``: years whose official schedule is loaded. Only for these years are ``holidays`` and
    ``makeup_workdays`` consulted; dates of other years are Monday–Friday working days. Entries that belong to
    a year not (yet) marked loaded are ignored, so a half-entered schedule never takes effect piecemeal.

    ``holidays``: every date of a statutory holiday period (放假), *including* the weekend days inside the period,
    exactly as the State Council notice lists them ("10月1日至7日放假调休，共7天"). Weekend entries are
    harmless (weekends are days off anyway) and keep the table readable for staff.

    ``makeup_workdays``: weekend days declared working days (调休上班).

    A date may not be both a holiday and a make-up working day (``ValueError``).
    """

    loaded_years: frozenset[int] = frozenset()
    holidays: frozenset[dt.date] = frozenset()
    makeup_workdays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        # Accept any iterable for convenience but store frozensets so the calendar stays hashable and immutable.
        object.__setattr__(self, "loaded_years", frozenset(self.loaded_years))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "makeup_workdays", frozenset(self.makeup_workdays))
        clash = self.holidays & self.makeup_workdays
        if clash:
            days = ", ".join(sorted(d.isoformat() for d in clash))
            raise ValueError(f"dates cannot be both a holiday and a make-up working day: {days}")

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[object]], loaded_years: Iterable[int]) -> WorkCalendar:
        """Build from calendar-table rows ``(date, kind, name, ...)``; ``kind`` is HOLIDAY or MAKEUP_WORKDAY."""
        holidays: set[dt.date] = set()
        makeup: set[dt.date] = set()
        for row in rows:
            day, kind = _require_date(row[0], "row date"), row[1]
            if kind == HOLIDAY:
                holidays.add(day)
            elif kind == MAKEUP_WORKDAY:
                makeup.add(day)
            else:
                raise ValueError(f"{day.isoformat()}: unknown calendar kind {kind!r}")
        return cls(frozenset(loaded_years), frozenset(holidays), frozenset(makeup))

    def is_loaded(self, year: int) -> bool:
        return year in self.loaded_years

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day. Never raises for an unknown year (Monday–Friday is used)."""
        if day.year in self.loaded_years:
            if day in self.makeup_workdays:
                return True
            if day in self.holidays:
                return False
        return day.weekday() < 5


@dataclass(frozen=True)
class Deadline:
    """A due date (due at the end of ``due_on``, Asia/Shanghai) and whether it is provisional (暂定)."""

    due_on: dt.date
    provisional: bool = False

    @property
    def due_at(self) -> dt.datetime:
        return due_at(self.due_on)


def due_at(due_on: dt.date) -> dt.datetime:
    """The instant a deadline falls due: 23:59:59.999999 on ``due_on`` in Asia/Shanghai (aware datetime)."""
    _require_date(due_on, "due_on")
    return dt.datetime.combine(due_on, dt.time.max, tzinfo=SHANGHAI)


def is_provisional_span(calendar: WorkCalendar, start: dt.date, end: dt.date) -> bool:
    """Whether any day of ``(start, end]`` (or ``(end, start]``) falls in a year whose schedule is not loaded."""
    low, high = (start, end) if start <= end else (end, start)
    if low == high:
        return False
    first_year = (low + _ONE_DAY).year
    return any(year not in calendar.loaded_years for year in range(first_year, high.year + 1))


def add_working_days(calendar: WorkCalendar, start: dt.date, n: int) -> Deadline:
    """The ``n``-th working day after ``start`` (``start`` itself never counts).

    ``n == 0`` gives ``start`` itself (nothing counted, not provisional). The result is provisional when any
    day of ``(start, due_on]`` lies in a year whose schedule is not loaded, because loading that year could
    move the date. Raises ``ValueError`` for negative ``n``.
    """
    _require_date(start, "start")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = start
    remaining = n
    while remaining:
        day += _ONE_DAY
        if calendar.is_working_day(day):
            remaining -= 1
    return Deadline(due_on=day, provisional=is_provisional_span(calendar, start, day))


def _count_after(calendar: WorkCalendar, start: dt.date, end: dt.date) -> int:
    """Working days in ``(start, end]``; 0 when ``end <= start``."""
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        if calendar.is_working_day(day):
            count += 1
        day += _ONE_DAY
    return count


def working_days_between(calendar: WorkCalendar, start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end``; negative when ``end`` is before ``start``.

    ``working_days_between(cal, start, end) == -working_days_between(cal, end, start)`` and
    ``working_days_between(cal, start, add_working_days(cal, start, n).due_on) == n``.
    Remaining days on a deadline: ``working_days_between(cal, today, due_on)`` (0 on the due day itself);
    working days overdue: ``-working_days_between(cal, today, due_on)`` once ``today > due_on``. Note this is 0
    on a weekend right after a Friday deadline — use :func:`status_for` (which compares dates) for "overdue".
    """
    _require_date(start, "start")
    _require_date(end, "end")
    if end >= start:
        return _count_after(calendar, start, end)
    return -_count_after(calendar, end, start)


def status_for(
    calendar: WorkCalendar,
    deadline: Deadline | dt.date,
    today: dt.date,
    soon_threshold: int = 3,
) -> DeadlineStatus:
    """Queue status (SPEC §4.4): ``"overdue"`` once ``today`` is after the due day, ``"due_soon"`` when at most
    ``soon_threshold`` working days remain (the due day itself included: 0 remaining), else ``"on_track"``."""
    due_on = deadline.due_on if isinstance(deadline, Deadline) else _require_date(deadline, "deadline")
    _require_date(today, "today")
    if today > due_on:
        return "overdue"
    if working_days_between(calendar, today, due_on) <= soon_threshold:
        return "due_soon"
    return "on_track"


@dataclass(frozen=True)
class Pause:
    """One stop of an SLA clock (退回补件): owns the days ``(paused_on, resumed_on]``; ``resumed_on`` None = open."""

    paused_on: dt.date
    resumed_on: dt.date | None = None


@dataclass(frozen=True)
class SlaClock:
    """State of a pausable SLA clock as of a given day.

    ``due_on``: the day the allowance runs out — None while paused before the allowance ran out (it depends on
    the future resume date). ``used``: working days the clock has run up to and including today (pauses
    excluded). ``remaining``: ``allowance - used``, frozen while paused, negative once overdue.
    ``paused_working_days``: working days spent paused so far. ``state``: ``"paused"`` while a pause is open
    (even if the allowance was already exceeded before the pause; ``remaining`` then shows the overrun),
    ``"overdue"`` once running past ``due_on``, else ``"running"``. ``provisional``: some counted day (running
    time up to the later of today and ``due_on``) lies in a year whose schedule is not loaded.
    """

    received_on: dt.date
    allowance: int
    due_on: dt.date | None
    used: int
    remaining: int
    paused_working_days: int
    state: ClockState
    provisional: bool

    @property
    def deadline(self) -> Deadline | None:
        return None if self.due_on is None else Deadline(self.due_on, self.provisional)


def _normalise_pauses(received_on: dt.date, pauses: Iterable[Pause | tuple], today: dt.date) -> list[Pause]:
    """Validate and sort pauses; events after ``today`` have not happened yet and are dropped / reopened."""
    ordered = sorted(
        (p if isinstance(p, Pause) else Pause(*p) for p in pauses),
        key=lambda p: (p.paused_on, p.resumed_on or dt.date.max),  # same-day pauses: the shorter first
    )
    previous_resume: dt.date | None = received_on
    for index, pause in enumerate(ordered):
        _require_date(pause.paused_on, "paused_on")
        if pause.resumed_on is not None:
            _require_date(pause.resumed_on, "resumed_on")
        if pause.paused_on < received_on:
            raise ValueError(f"pause on {pause.paused_on} is before receipt on {received_on}")
        if previous_resume is None:
            raise ValueError(f"pause on {ordered[index - 1].paused_on} is still open but another pause follows")
        if pause.paused_on < previous_resume:
            raise ValueError(f"pause on {pause.paused_on} overlaps the previous pause (resumed {previous_resume})")
        if pause.resumed_on is not None and pause.resumed_on < pause.paused_on:
            raise ValueError(f"pause on {pause.paused_on} resumes earlier, on {pause.resumed_on}")
        previous_resume = pause.resumed_on
    as_of: list[Pause] = []
    for pause in ordered:
        if pause.paused_on > today:
            break
        if pause.resumed_on is not None and pause.resumed_on > today:
            pause = Pause(pause.paused_on, None)
        as_of.append(pause)
    return as_of


def sla_clock(
    calendar: WorkCalendar,
    *,
    received_on: dt.date,
    allowance: int,
    pauses: Iterable[Pause | tuple[dt.date, dt.date | None]] = (),
    today: dt.date,
) -> SlaClock:
    """Evaluate a pausable clock of ``allowance`` working days started by a receipt on ``received_on``.

    Running time is ``(received_on, p1.paused_on]``, ``(p1.resumed_on, p2.paused_on]``, … and finally
    ``(pk.resumed_on, …)``. The due date is the day on which running working days reach ``allowance``; after a
    resume it is the (remaining)-th working day after the resume date. Pauses may be given in any order but must
    not overlap, must not start before receipt, and only the latest may be open. Pause events dated after
    ``today`` are treated as not having happened yet, so the clock can be evaluated "as of" any day.
    """
    _require_date(received_on, "received_on")
    _require_date(today, "today")
    if allowance < 0:
        raise ValueError(f"allowance must be >= 0, got {allowance}")
    as_of = _normalise_pauses(received_on, pauses, today)

    used = 0
    paused_days = 0
    due_on: dt.date | None = None
    provisional = False
    segment_start = received_on
    open_pause = False

    def reach_due(start: dt.date) -> dt.date:
        deadline = add_working_days(calendar, start, allowance - used)
        return deadline.due_on

    for pause in as_of:
        # A closed running segment (segment_start, paused_on]; paused_on <= today.
        count = _count_after(calendar, segment_start, pause.paused_on)
        if due_on is None and used + count >= allowance:
            due_on = reach_due(segment_start)
        provisional |= is_provisional_span(calendar, segment_start, pause.paused_on)
        used += count
        if pause.resumed_on is None:
            open_pause = True
            paused_days += _count_after(calendar, pause.paused_on, today)
            break
        paused_days += _count_after(calendar, pause.paused_on, pause.resumed_on)
        segment_start = pause.resumed_on

    if not open_pause:
        if due_on is None:
            due_on = reach_due(segment_start)
        used += _count_after(calendar, segment_start, today)
        # Days counted in the open segment: up to today, and up to the due day when that is still ahead.
        counted_until = max(today, due_on) if due_on > segment_start else today
        if counted_until > segment_start:
            provisional |= is_provisional_span(calendar, segment_start, counted_until)

    if open_pause:
        state: ClockState = "paused"
    elif today > due_on:
        state = "overdue"
    else:
        state = "running"
    return SlaClock(
        received_on=received_on,
        allowance=allowance,
        due_on=due_on,
        used=used,
        remaining=allowance - used,
        paused_working_days=paused_days,
        state=state,
        provisional=provisional,
    )
