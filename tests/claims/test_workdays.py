"""Working-day arithmetic and SLA clocks (SPEC §4.4) — pure, no database.

Run alone with ``pytest tests/claims/test_workdays.py -p no:django``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from claims.rules.calendar_seed import CalendarRow, chinese_calendar_seed, rows_from_chinese_calendar
from claims.rules.workdays import (
    HOLIDAY,
    MAKEUP_WORKDAY,
    Deadline,
    Pause,
    WorkCalendar,
    add_working_days,
    due_at,
    is_provisional_span,
    sla_clock,
    status_for,
    working_days_between,
)

D = dt.date.fromisoformat
SEED = chinese_calendar_seed(range(2004, 2027))
REAL = SEED.calendar()  # 2004–2026 loaded, as the package publishes them
WEEKDAYS_ONLY = WorkCalendar()  # nothing loaded


def reference_add(start: dt.date, n: int) -> dt.date:
    """Independent reference: walk chinese_calendar.is_workday directly (loaded years only)."""
    day = start
    while n:
        day += dt.timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


# --------------------------------------------------------------------------------------------------------------
# The seed
# --------------------------------------------------------------------------------------------------------------


def test_seed_reports_loaded_and_skipped_years():
    seed = chinese_calendar_seed([2003, 2026, 2027, 2031, 2026])
    assert seed.loaded_years == {2026}
    assert seed.skipped_years == {2003, 2027, 2031}
    assert all(row.day.year == 2026 for row in seed.rows)
    assert rows_from_chinese_calendar([2027, 2031]) == []
    assert chinese_calendar_seed([]).rows == []


def test_seed_2026_matches_state_council_schedule():
    rows = {row.day: (row.kind, row.name) for row in rows_from_chinese_calendar([2026])}
    makeup = sorted(day for day, (kind, _) in rows.items() if kind == MAKEUP_WORKDAY)
    assert makeup == [
        D("2026-01-04"),
        D("2026-02-14"),
        D("2026-02-28"),
        D("2026-05-09"),
        D("2026-09-20"),
        D("2026-10-10"),
    ]
    assert all(day.weekday() >= 5 for day in makeup)
    spring = sorted(day for day, (kind, name) in rows.items() if kind == HOLIDAY and name == "春节")
    assert spring == [D("2026-02-15") + dt.timedelta(days=i) for i in range(9)]  # 2-15 .. 2-23
    assert rows[D("2026-09-25")] == (HOLIDAY, "中秋节")
    assert rows[D("2026-10-07")] == (HOLIDAY, "国庆节")
    assert rows[D("2026-04-06")] == (HOLIDAY, "清明节")
    assert rows[D("2026-06-19")] == (HOLIDAY, "端午节")
    assert rows[D("2026-05-05")] == (HOLIDAY, "劳动节")
    assert rows[D("2026-01-01")] == (HOLIDAY, "元旦")
    assert rows[D("2026-09-20")] == (MAKEUP_WORKDAY, "国庆节")


@pytest.mark.parametrize(
    ("year", "name"),
    [
        (2009, "国庆节、中秋节"),
        (2012, "中秋节、国庆节"),
        (2017, "国庆节、中秋节"),
        (2020, "国庆节、中秋节"),
        (2023, "中秋节、国庆节"),
        (2025, "国庆节、中秋节"),
    ],
)
def test_seed_names_joint_mid_autumn_national_day_period(year, name):
    rows = rows_from_chinese_calendar([year])
    autumn = {row.name for row in rows if row.day.month in (9, 10) and row.name != "抗战胜利70周年纪念日"}
    assert autumn == {name}


def test_seed_keeps_separate_names_when_periods_are_apart():
    names = {row.name for row in rows_from_chinese_calendar([2015])}
    assert {"中秋节", "国庆节", "抗战胜利70周年纪念日"} <= names
    assert not any("、" in name for name in names)


def test_seed_rows_are_plain_date_kind_name_tuples():
    row = rows_from_chinese_calendar([2026])[0]
    assert isinstance(row, CalendarRow) and isinstance(row, tuple)
    day, kind, name = row
    assert (day, kind, name) == (D("2026-01-01"), HOLIDAY, "元旦")


def test_seeded_calendar_agrees_with_chinese_calendar_for_every_day_2004_2026():
    day, last = D("2004-01-01"), D("2026-12-31")
    while day <= last:
        assert REAL.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


# --------------------------------------------------------------------------------------------------------------
# Deadlines
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "n", "due_on", "provisional"),
    [
        # SPEC §4.4 example: 09-20 make-up Sunday counts, 09-25..27 and 10-01..07 are holidays.
        ("2026-09-18", 10, "2026-10-09", False),
        ("2026-09-18", 1, "2026-09-20", False),  # the make-up Sunday is the first working day
        ("2026-09-18", 0, "2026-09-18", False),
        ("2026-09-24", 1, "2026-09-28", False),  # over the Mid-Autumn holiday
        # 2026 Spring Festival: holiday 02-15..23, make-up Saturdays 02-14 and 02-28.
        ("2026-02-13", 1, "2026-02-14", False),
        ("2026-02-13", 2, "2026-02-24", False),
        ("2026-02-13", 10, "2026-03-05", False),
        ("2026-02-13", 25, "2026-03-26", False),
        # 2026 National Day: holiday 10-01..07, make-up Saturday 10-10.
        ("2026-09-30", 1, "2026-10-08", False),
        ("2026-09-30", 3, "2026-10-10", False),
        ("2026-09-30", 10, "2026-10-20", False),
        ("2026-09-30", 25, "2026-11-10", False),
        # Received on a holiday / weekend.
        ("2026-10-03", 1, "2026-10-08", False),
        ("2026-02-15", 1, "2026-02-24", False),
        # Hospital batch: 10 working days, then the following 15 counted from the payment day.
        ("2026-10-09", 15, "2026-10-29", False),
        # Crossing into 2027 (not in chinese-calendar): Monday–Friday, provisional.
        ("2026-12-25", 10, "2027-01-08", True),
        ("2026-12-30", 1, "2026-12-31", False),
        ("2026-12-31", 1, "2027-01-01", True),
        # Unknown year 2031: Monday–Friday, provisional, no exception (10-01 counts: schedule unknown).
        ("2031-03-07", 10, "2031-03-21", True),
        ("2031-09-30", 1, "2031-10-01", True),
    ],
)
def test_add_working_days_table(received, n, due_on, provisional):
    assert add_working_days(REAL, D(received), n) == Deadline(D(due_on), provisional)


@pytest.mark.parametrize(
    ("received", "n"),
    [
        ("2026-09-18", 10),
        ("2026-02-13", 10),
        ("2026-02-13", 25),
        ("2026-09-30", 25),
        ("2025-09-26", 25),
        ("2024-12-31", 25),
        ("2004-01-02", 40),
    ],
)
def test_add_working_days_matches_chinese_calendar_directly(received, n):
    assert add_working_days(REAL, D(received), n).due_on == reference_add(D(received), n)


def test_spec_example_holds_in_chinese_calendar_2026_data():
    # The SPEC's facts about 2026, checked against the package itself (not our seed).
    assert chinese_calendar.is_workday(D("2026-09-20")) and D("2026-09-20").weekday() == 6
    for day in ["2026-09-25", "2026-09-26", "2026-09-27"] + [f"2026-10-0{i}" for i in range(1, 8)]:
        assert not chinese_calendar.is_workday(D(day)), day
    assert chinese_calendar.find_workday(10, D("2026-09-18")) == D("2026-10-09")


def test_negative_n_is_rejected():
    with pytest.raises(ValueError):
        add_working_days(REAL, D("2026-01-05"), -1)


def test_datetimes_are_rejected():
    with pytest.raises(TypeError):
        add_working_days(REAL, dt.datetime(2026, 9, 18, 10, 0), 10)
    with pytest.raises(TypeError):
        working_days_between(REAL, D("2026-09-18"), dt.datetime(2026, 10, 9))


# --------------------------------------------------------------------------------------------------------------
# The calendar itself
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-09-20", True),  # make-up Sunday
        ("2026-10-10", True),  # make-up Saturday
        ("2026-10-01", False),
        ("2026-02-23", False),  # Monday inside the Spring Festival
        ("2026-09-19", False),  # ordinary Saturday
        ("2026-09-21", True),
        ("2027-01-01", True),  # unloaded: Friday counts
        ("2027-01-02", False),
        ("2031-10-01", True),
        ("0001-01-01", True),  # Monday, year 1: never raises
        ("9999-12-31", True),  # Friday
    ],
)
def test_is_working_day(day, working):
    assert REAL.is_working_day(D(day)) is working


def test_unloaded_year_ignores_its_rows_until_loaded():
    rows = [(D("2031-10-01"), HOLIDAY, "国庆节"), (D("2031-09-28"), MAKEUP_WORKDAY, "国庆节")]
    draft = WorkCalendar.from_rows(rows, loaded_years=[])
    assert draft.is_working_day(D("2031-10-01")) and not draft.is_working_day(D("2031-09-28"))
    loaded = WorkCalendar.from_rows(rows, loaded_years=[2031])
    assert not loaded.is_working_day(D("2031-10-01")) and loaded.is_working_day(D("2031-09-28"))
    assert add_working_days(loaded, D("2031-09-30"), 1) == Deadline(D("2031-10-02"), False)


def test_calendar_rejects_bad_data():
    with pytest.raises(ValueError, match="2026-10-01"):
        WorkCalendar(frozenset({2026}), frozenset({D("2026-10-01")}), frozenset({D("2026-10-01")}))
    with pytest.raises(ValueError, match="unknown calendar kind"):
        WorkCalendar.from_rows([(D("2026-10-01"), "festival", "x")], [2026])


def test_calendar_is_immutable_and_hashable():
    cal = WorkCalendar({2026}, {D("2026-10-01")}, set())
    assert isinstance(cal.loaded_years, frozenset) and hash(cal) == hash(WorkCalendar({2026}, {D("2026-10-01")}))
    with pytest.raises(AttributeError):
        cal.loaded_years = frozenset()  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------------------
# Counting, due instant, status
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        ("2026-09-18", "2026-10-09", 10),
        ("2026-10-09", "2026-09-18", -10),
        ("2026-09-18", "2026-09-18", 0),
        ("2026-10-09", "2026-10-12", 2),  # 10-10 make-up Saturday, 10-12 Monday
        ("2026-10-09", "2026-10-10", 1),
        ("2026-10-16", "2026-10-17", 0),  # Friday → Saturday: no working day
        ("2026-02-13", "2026-02-23", 1),  # only the 02-14 make-up Saturday
        ("2026-12-31", "2027-01-01", 1),  # unloaded 2027: Friday counts
    ],
)
def test_working_days_between_table(start, end, count):
    assert working_days_between(REAL, D(start), D(end)) == count


def test_due_at_is_end_of_day_in_shanghai():
    moment = due_at(D("2026-10-09"))
    assert moment == dt.datetime(2026, 10, 9, 23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert moment.utcoffset() == dt.timedelta(hours=8)
    assert moment.astimezone(dt.UTC) == dt.datetime(2026, 10, 9, 15, 59, 59, 999999, tzinfo=dt.UTC)
    assert Deadline(D("2026-10-09")).due_at == moment


@pytest.mark.parametrize(
    ("today", "status"),
    [
        ("2026-09-18", "on_track"),  # 10 left
        ("2026-09-28", "on_track"),  # 09-29, 09-30, 10-08, 10-09: 4 left
        ("2026-09-29", "due_soon"),  # 3 left
        ("2026-09-30", "due_soon"),  # 2 left (the holiday week does not count)
        ("2026-10-05", "due_soon"),
        ("2026-10-09", "due_soon"),  # due today, still not overdue (due at end of day)
        ("2026-10-10", "overdue"),
        ("2026-12-01", "overdue"),
    ],
)
def test_status_for(today, status):
    deadline = add_working_days(REAL, D("2026-09-18"), 10)
    assert status_for(REAL, deadline, D(today)) == status
    assert status_for(REAL, deadline.due_on, D(today)) == status  # a bare date works too


def test_status_for_weekend_after_friday_deadline_is_overdue():
    # working_days_between gives 0 here (no working day in (Fri, Sat]); the status compares dates.
    assert working_days_between(REAL, D("2026-10-17"), D("2026-10-16")) == 0
    assert status_for(REAL, D("2026-10-16"), D("2026-10-17")) == "overdue"


def test_status_for_threshold():
    due = D("2026-10-20")  # from 10-13: 14, 15, 16, 19, 20 → 5 left
    assert status_for(REAL, due, D("2026-10-13")) == "on_track"
    assert status_for(REAL, due, D("2026-10-13"), soon_threshold=5) == "due_soon"
    assert status_for(REAL, due, D("2026-10-19"), soon_threshold=0) == "on_track"
    assert status_for(REAL, due, D("2026-10-20"), soon_threshold=0) == "due_soon"


# --------------------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------------------

dates = st.dates(min_value=D("2003-06-01"), max_value=D("2032-12-31"))
counts = st.integers(min_value=0, max_value=80)


@st.composite
def calendars(draw):
    """The real calendar, nothing loaded, or a random calendar (random holidays and weekend make-up days)."""
    choice = draw(st.sampled_from(["real", "empty", "random"]))
    if choice == "real":
        return REAL
    if choice == "empty":
        return WEEKDAYS_ONLY
    years = draw(st.frozensets(st.integers(2024, 2030)))
    days = st.dates(min_value=D("2024-01-01"), max_value=D("2030-12-31"))
    holidays = draw(st.frozensets(days, max_size=60))
    makeup = draw(st.frozensets(days.filter(lambda d: d.weekday() >= 5), max_size=20)) - holidays
    return WorkCalendar(years, holidays, makeup)


@settings(max_examples=300)
@given(calendars(), dates, counts)
def test_property_add_working_days(cal, start, n):
    deadline = add_working_days(cal, start, n)
    if n == 0:
        assert deadline == Deadline(start, False)
        return
    assert deadline.due_on > start
    assert cal.is_working_day(deadline.due_on)
    assert working_days_between(cal, start, deadline.due_on) == n
    assert working_days_between(cal, deadline.due_on, start) == -n
    # No working day is skipped: the day before the result is still short of n.
    assert working_days_between(cal, start, deadline.due_on - dt.timedelta(days=1)) == n - 1
    unloaded = any(
        year not in cal.loaded_years
        for year in range(start.year, deadline.due_on.year + 1)
        if dt.date(year, 12, 31) > start
    )
    assert deadline.provisional == unloaded


@settings(max_examples=200)
@given(calendars(), dates, counts, st.integers(min_value=1, max_value=30))
def test_property_monotone_in_n(cal, start, n, extra):
    first = add_working_days(cal, start, n)
    later = add_working_days(cal, start, n + extra)
    assert later.due_on > first.due_on
    assert later.provisional >= first.provisional  # a longer span can only add unloaded years
    assert add_working_days(cal, first.due_on, extra).due_on == later.due_on  # composition


@settings(max_examples=200)
@given(calendars(), dates, dates, dates)
def test_property_working_days_between_is_additive(cal, a, b, c):
    assert working_days_between(cal, a, b) + working_days_between(cal, b, c) == working_days_between(cal, a, c)
    assert working_days_between(cal, a, b) == -working_days_between(cal, b, a)


@given(st.dates())
def test_property_never_raises_for_any_year(day):
    assert REAL.is_working_day(day) in (True, False)
    assert is_provisional_span(REAL, day, day) is False


def test_is_provisional_span():
    assert not is_provisional_span(REAL, D("2026-12-30"), D("2026-12-31"))
    assert is_provisional_span(REAL, D("2026-12-31"), D("2027-01-01"))
    assert is_provisional_span(REAL, D("2027-01-01"), D("2026-12-31"))
    assert not is_provisional_span(REAL, D("2003-12-31"), D("2004-01-05"))  # 2003-12-31 itself is not counted


# --------------------------------------------------------------------------------------------------------------
# SLA clock with pauses (退回补件)
# --------------------------------------------------------------------------------------------------------------

RECEIVED = D("2026-03-02")  # Monday
PAUSED = D("2026-03-09")  # the 5th working day after receipt
RESUMED = D("2026-03-19")  # 10 calendar days later
# Remaining 20 working days counted after 03-19: 03-20, 03-23..27, 03-30..04-03, (04-04..06 清明), 04-07..10,
# 04-13..17 → 04-17. Without the pause it would have been 04-07.
PAUSE_DUE = D("2026-04-17")


def clock(today, pauses=((PAUSED, RESUMED),), allowance=25, received=RECEIVED, cal=REAL):
    return sla_clock(cal, received_on=received, allowance=allowance, pauses=pauses, today=D(today))


def test_clock_without_pauses_is_a_plain_deadline():
    c = clock("2026-03-02", pauses=())
    assert (c.due_on, c.used, c.remaining, c.state, c.provisional) == (D("2026-04-07"), 0, 25, "running", False)
    assert c.deadline == add_working_days(REAL, RECEIVED, 25)
    assert clock("2026-04-07", pauses=()).state == "running"
    late = clock("2026-04-08", pauses=())
    assert (late.state, late.remaining, late.used) == ("overdue", -1, 26)


def test_clock_pause_shifts_due_date():
    assert add_working_days(REAL, RECEIVED, 5).due_on == PAUSED
    c = clock("2026-03-20")
    assert c.due_on == PAUSE_DUE == add_working_days(REAL, RESUMED, 20).due_on
    assert (c.used, c.remaining, c.state) == (6, 19, "running")
    assert c.paused_working_days == 8  # 03-10..13, 03-16..19
    assert c.due_on == add_working_days(REAL, RECEIVED, 25 + c.paused_working_days).due_on


@pytest.mark.parametrize("today", ["2026-03-09", "2026-03-10", "2026-03-16", "2026-03-18"])
def test_clock_paused_freezes_remaining(today):
    c = clock(today)  # resume on 03-19 has not happened yet as of these days
    assert (c.state, c.used, c.remaining, c.due_on, c.deadline) == ("paused", 5, 20, None, None)
    open_pause = clock(today, pauses=[Pause(PAUSED)])
    assert (open_pause.state, open_pause.remaining) == ("paused", 20)
    assert open_pause.paused_working_days == c.paused_working_days


def test_clock_resume_day_does_not_count():
    c = clock("2026-03-19")
    assert (c.state, c.used, c.remaining, c.due_on) == ("running", 5, 20, PAUSE_DUE)


@pytest.mark.parametrize(
    ("today", "used", "state"),
    [("2026-04-10", 20, "running"), ("2026-04-17", 25, "running"), ("2026-04-20", 26, "overdue")],
)
def test_clock_after_resume(today, used, state):
    c = clock(today)
    assert (c.used, c.remaining, c.state) == (used, 25 - used, state)
    assert c.remaining == working_days_between(REAL, D(today), c.due_on)


def test_clock_pause_on_receipt_day_and_zero_length_pause():
    c = clock("2026-03-02", pauses=[(RECEIVED, None)])
    assert (c.state, c.used, c.remaining) == ("paused", 0, 25)
    same_day = clock("2026-03-10", pauses=[(PAUSED, PAUSED)])
    assert same_day.due_on == D("2026-04-07") and same_day.paused_working_days == 0


def test_clock_several_pauses_in_any_order():
    pauses = [(D("2026-03-23"), D("2026-03-25")), Pause(PAUSED, RESUMED)]  # second pause: 03-24, 03-25
    c = clock("2026-03-26", pauses=pauses)
    assert c.paused_working_days == 10
    assert c.due_on == add_working_days(REAL, RECEIVED, 35).due_on == D("2026-04-21")
    assert c.used == 5 + 2 + 1  # (03-02, 03-09] + (03-19, 03-23] + (03-25, 03-26]


def test_clock_overdue_then_paused_keeps_overrun():
    c = clock("2026-04-15", pauses=[(D("2026-04-09"), None)])  # due 04-07 passed, then sent back on 04-09
    assert (c.state, c.due_on, c.used, c.remaining) == ("paused", D("2026-04-07"), 27, -2)
    resumed = clock("2026-04-16", pauses=[(D("2026-04-09"), D("2026-04-15"))])
    assert (resumed.state, resumed.due_on, resumed.used, resumed.remaining) == ("overdue", D("2026-04-07"), 28, -3)


def test_clock_before_receipt_and_zero_allowance():
    early = clock("2026-02-27", pauses=())
    assert (early.used, early.remaining, early.state) == (0, 25, "running")
    zero = clock("2026-03-02", pauses=(), allowance=0)
    assert (zero.due_on, zero.state) == (RECEIVED, "running")
    assert clock("2026-03-03", pauses=(), allowance=0).state == "overdue"


def test_clock_provisional_when_crossing_into_unloaded_year():
    c = clock("2026-12-20", pauses=[(D("2026-12-10"), D("2026-12-18"))], received=D("2026-12-01"))
    assert c.provisional and c.due_on.year == 2027
    assert not clock("2026-03-20").provisional
    assert clock("2031-03-10", pauses=(), received=D("2031-03-07"), allowance=10).provisional


@pytest.mark.parametrize(
    "pauses",
    [
        [(D("2026-02-27"), D("2026-03-03"))],  # before receipt
        [(D("2026-03-10"), D("2026-03-09"))],  # resumes before it pauses
        [(D("2026-03-05"), D("2026-03-12")), (D("2026-03-10"), D("2026-03-13"))],  # overlap
        [(D("2026-03-05"), None), (D("2026-03-10"), D("2026-03-13"))],  # open pause followed by another
    ],
)
def test_clock_rejects_inconsistent_pauses(pauses):
    with pytest.raises(ValueError):
        clock("2026-04-01", pauses=pauses)


def test_clock_rejects_negative_allowance():
    with pytest.raises(ValueError):
        clock("2026-04-01", allowance=-1)


@st.composite
def clock_cases(draw):
    cal = draw(calendars())
    received = draw(st.dates(min_value=D("2025-06-01"), max_value=D("2027-06-30")))
    allowance = draw(st.integers(0, 40))
    pauses = []
    cursor = received
    for _ in range(draw(st.integers(0, 3))):
        paused_on = cursor + dt.timedelta(days=draw(st.integers(0, 30)))
        resumed_on = None if draw(st.integers(0, 5)) == 0 else paused_on + dt.timedelta(days=draw(st.integers(0, 20)))
        pauses.append(Pause(paused_on, resumed_on))
        if resumed_on is None:
            break
        cursor = resumed_on
    today = received + dt.timedelta(days=draw(st.integers(-5, 150)))
    return cal, received, allowance, pauses, today


@settings(max_examples=300)
@given(clock_cases())
def test_property_clock(case):
    cal, received, allowance, pauses, today = case
    c = sla_clock(cal, received_on=received, allowance=allowance, pauses=pauses, today=today)
    assert c.used + c.remaining == allowance
    assert c.used >= 0 and c.paused_working_days >= 0
    past = [p for p in pauses if p.paused_on <= today]
    last_start = max([received] + [p.resumed_on for p in past if p.resumed_on is not None and p.resumed_on <= today])
    paused_now = bool(past) and (past[-1].resumed_on is None or past[-1].resumed_on > today)
    assert (c.state == "paused") == paused_now
    if c.due_on is None:
        assert paused_now and c.remaining > 0
    if not paused_now:
        assert c.state == ("overdue" if today > c.due_on else "running")
        if c.due_on >= last_start and today >= received:
            # Running in the last segment: remaining is what the calendar shows between today and the due day.
            assert c.remaining == working_days_between(cal, today, c.due_on)
            # Every paused working day pushes the due day by one working day.
            assert c.due_on == add_working_days(cal, received, allowance + c.paused_working_days).due_on
    # "As of" evaluation: events after today are as if not recorded.
    future_free = [p if p.resumed_on is None or p.resumed_on <= today else Pause(p.paused_on) for p in past]
    assert sla_clock(cal, received_on=received, allowance=allowance, pauses=future_free, today=today) == c


@settings(max_examples=150)
@given(clock_cases(), st.integers(1, 40))
def test_property_clock_used_grows_with_time(case, later_by):
    cal, received, allowance, pauses, today = case
    assume(today >= received)
    now = sla_clock(cal, received_on=received, allowance=allowance, pauses=pauses, today=today)
    later = sla_clock(
        cal, received_on=received, allowance=allowance, pauses=pauses, today=today + dt.timedelta(days=later_by)
    )
    assert later.used >= now.used
    assert later.paused_working_days >= now.paused_working_days
    settled = all(p.paused_on <= today and p.resumed_on is not None and p.resumed_on <= today for p in pauses)
    if settled:  # nothing left to happen: the due day no longer moves
        assert later.due_on == now.due_on
