"""The working-day calendar in the database (SPEC §4.4): seed, cache, load a year, recompute open deadlines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import chinese_calendar
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import translation

from claims.calendar import deadline_after, invalidate_calendar, work_calendar
from claims.models import CalendarDay, CalendarYear, DeadlineRecompute, HospitalBatch, ReimbursementCase, SlaPause
from claims.models.calendar import DayKind
from claims.models.reimbursement import CaseState
from claims.services.calendar import load_year, recompute_open_deadlines, seed_calendar
from tests.claims.factories import make_claim, make_hospital
from tests.factories import make_person, make_user

D = dt.date.fromisoformat

# A made-up 2031 National Day schedule (the package stops at 2026): 1–7 October off, Sundays 28 Sep and
# Saturday 11 Oct worked.
SCHEDULE_2031 = [
    *[(dt.date(2031, 10, day), DayKind.HOLIDAY, "国庆节") for day in range(1, 8)],
    (D("2031-09-28"), DayKind.MAKEUP_WORKDAY, "国庆节"),
    (D("2031-10-11"), DayKind.MAKEUP_WORKDAY, "国庆节"),
]


@pytest.fixture(autouse=True)
def _fresh_calendar_cache_in_english(settings):
    # Test transactions roll back without signals: never let one test's calendar leak into the next.
    settings.LANGUAGE_CODE = "en"  # assertions read the English msgids, whatever the catalogue holds
    invalidate_calendar()
    with translation.override("en"):
        yield
    invalidate_calendar()


@pytest.fixture
def world(regions):
    person = make_person(regions["a"])
    hospital = make_hospital(regions["a"])
    return {"person": person, "hospital": hospital, "region": regions["a"]}


def reference_add(start: dt.date, n: int) -> dt.date:
    """Independent reference: walk chinese_calendar.is_workday (2004–2026 only)."""
    day = start
    while n:
        day += dt.timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


def open_case(world, received_on: dt.date, allowance: int = 25, **fields) -> ReimbursementCase:
    """A case written directly (the service refuses receipt dates in the future, and 2031 is in the future)."""
    deadline = deadline_after(received_on, allowance)
    claim = make_claim(world["person"], world["hospital"], admitted_on=received_on - dt.timedelta(days=20))
    values = {"sla_due_on": deadline.due_on, "sla_provisional": deadline.provisional, **fields}
    return ReimbursementCase.objects.create(
        claim=claim, received_on=received_on, sla_working_days=allowance, **values)


# --------------------------------------------------------------------------------------------------------------
# The seed (data migration) and the cached calendar
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_fresh_database_has_the_published_schedules_2004_to_2026():
    assert set(CalendarYear.objects.values_list("year", flat=True)) == set(range(2004, 2027))
    assert CalendarDay.objects.get(day=D("2026-10-01")).kind == DayKind.HOLIDAY
    assert CalendarDay.objects.get(day=D("2026-09-20")).kind == DayKind.MAKEUP_WORKDAY
    assert CalendarDay.objects.get(day=D("2026-02-17")).name == "春节"
    calendar = work_calendar()
    assert calendar.loaded_years == frozenset(range(2004, 2027))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        ("2026-09-18", 10, "2026-10-09"),  # SPEC §4.4's example: 09-20 worked, 09-25..27 and 10-01..07 off
        ("2026-02-13", 1, "2026-02-14"),  # Spring Festival: Saturday 14 Feb is a make-up working day
        ("2026-02-13", 2, "2026-02-24"),  # … then 15–23 Feb are off
        ("2026-02-13", 10, "2026-03-05"),  # Saturday 28 Feb worked too
        ("2026-02-10", 25, "2026-03-23"),
        ("2026-09-18", 25, "2026-10-29"),
        ("2026-10-09", 15, "2026-10-29"),  # Saturday 10 Oct is a make-up working day
    ],
)
def test_deadlines_through_the_database_calendar(received, days, due):
    deadline = deadline_after(D(received), days)
    assert deadline.due_on == D(due) == reference_add(D(received), days)
    assert deadline.provisional is False


@pytest.mark.django_db
def test_the_cached_calendar_costs_no_query_and_follows_an_edit(django_assert_num_queries):
    work_calendar()
    with django_assert_num_queries(0):
        assert work_calendar().is_working_day(D("2026-10-08"))
    CalendarDay.objects.create(day=D("2026-10-08"), kind=DayKind.HOLIDAY, name="test")  # a signal invalidates
    assert not work_calendar().is_working_day(D("2026-10-08"))
    assert deadline_after(D("2026-09-18"), 10).due_on == D("2026-10-10")  # Saturday 10 Oct is worked


@pytest.mark.django_db
def test_unknown_year_counts_monday_to_friday_and_is_provisional_never_an_error():
    deadline = deadline_after(D("2031-09-26"), 10)
    assert deadline == deadline_after(D("2031-09-26"), 10)
    assert deadline.due_on == D("2031-10-10")  # ten weekdays, National Day ignored
    assert deadline.provisional is True
    assert deadline_after(D("2026-12-15"), 25).provisional is True  # spans into 2027, not loaded
    assert deadline_after(D("2026-11-02"), 10).provisional is False


# --------------------------------------------------------------------------------------------------------------
# Loading a year recomputes open deadlines
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_loading_2031_fixes_provisional_deadlines_of_open_cases_and_batches(world):
    head = make_user("calendar_admin", is_superuser=True)
    running = open_case(world, D("2031-09-26"), 10)
    reviewed = open_case(world, D("2031-09-26"), 10, state=CaseState.REVIEWED)
    untouched_2030 = open_case(world, D("2030-03-04"), 10)
    paid = open_case(world, D("2031-09-26"), 10, state=CaseState.PAID)
    assert running.sla_due_on == D("2031-10-10") and running.sla_provisional
    batch = HospitalBatch.objects.create(
        hospital=world["hospital"], region=world["region"], number="B-2031", period_start=D("2031-09-01"),
        period_end=D("2031-09-25"), received_on=D("2031-09-26"), advance_ratio=Decimal("0.70"),
        advance_working_days=10, advance_due_on=D("2031-10-10"), advance_provisional=True, final_working_days=15)

    result = load_year(year=2031, rows=SCHEDULE_2031, source="国办发明电〔2030〕×号", by=head)

    assert (result.created, result.updated, result.deleted) == (9, 0, 0)
    running.refresh_from_db()
    reviewed.refresh_from_db()
    # Sun 28 Sep (1), 29, 30, 1–7 Oct off, 8, 9, 10, Sat 11 (7), 13, 14, 15 Oct (10).
    assert (running.sla_due_on, running.sla_provisional) == (D("2031-10-15"), False)
    assert (reviewed.sla_due_on, reviewed.sla_provisional) == (D("2031-10-15"), False)
    batch.refresh_from_db()
    assert (batch.advance_due_on, batch.advance_provisional) == (D("2031-10-15"), False)
    untouched_2030.refresh_from_db()
    assert untouched_2030.sla_provisional is True  # 2030 is still unknown
    paid_before = (paid.sla_due_on, paid.sla_provisional)
    paid.refresh_from_db()
    assert (paid.sla_due_on, paid.sla_provisional) == paid_before  # closed cases keep their due date
    assert result.recomputed.cases_changed == 2
    assert result.recomputed.batches_changed == 1
    # Who changed the deadline is in the history.
    assert running.history.first().history_user == head
    assert CalendarYear.objects.get(year=2031).source == "国办发明电〔2030〕×号"


@pytest.mark.django_db
def test_recompute_leaves_paused_and_exempted_cases_alone(world):
    head = make_user("head_x", is_superuser=True)
    paused = open_case(world, D("2031-09-26"), 10, state=CaseState.RETURNED, sla_due_on=None,
                       sla_provisional=False)
    SlaPause.objects.create(case=paused, paused_on=D("2031-09-29"), reason="发票", paused_by=head)
    exempted = open_case(world, D("2031-09-26"), 10, exempt=True, exempt_kind="special", exempt_reason="特殊病案",
                         exempt_signed_off_by=head, sla_due_on=None, sla_provisional=False)
    load_year(year=2031, rows=SCHEDULE_2031)
    paused.refresh_from_db()
    exempted.refresh_from_db()
    assert paused.sla_due_on is None and exempted.sla_due_on is None


@pytest.mark.django_db
def test_recompute_uses_closed_pauses_and_works_per_pattern(world):
    user = make_user("pauser", is_superuser=True)
    cases = [open_case(world, D("2031-09-19"), 10) for _ in range(5)]
    paused_once = open_case(world, D("2031-09-19"), 10)
    SlaPause.objects.create(case=paused_once, paused_on=D("2031-09-23"), resumed_on=D("2031-09-26"),
                            reason="发票", paused_by=user)
    result = load_year(year=2031, rows=SCHEDULE_2031)
    # Six cases, two patterns: the five alike are computed once.
    assert result.recomputed.cases_checked == 6
    assert result.recomputed.case_patterns == 2
    for case in cases:
        case.refresh_from_db()
        # From Fri 19 Sep: 22, 23, 24, 25, 26, Sun 28 (6), 29, 30, 8, 9 Oct (10).
        assert case.sla_due_on == D("2031-10-09")
    paused_once.refresh_from_db()
    # Used 22 and 23 Sep (2); 8 left after the resubmission on Fri 26 Sep: Sun 28, 29, 30, 8, 9, 10, Sat 11, 13.
    assert (paused_once.sla_due_on, paused_once.sla_provisional) == (D("2031-10-13"), False)


@pytest.mark.django_db
def test_editing_a_day_in_the_admin_recomputes_after_commit(world, django_capture_on_commit_callbacks):
    case = open_case(world, D("2026-09-18"), 10)
    assert case.sla_due_on == D("2026-10-09")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        day = CalendarDay.objects.create(day=D("2026-10-08"), kind=DayKind.HOLIDAY, name="临时")
        day.name = "临时休假"
        day.save()
    # One per change — the first starts the recomputation for both, the second sees it is covered — and the
    # queued task of that one run.
    assert len(callbacks) == 3
    assert DeadlineRecompute.objects.count() == 1
    case.refresh_from_db()
    assert case.sla_due_on == D("2026-10-10")

    with django_capture_on_commit_callbacks(execute=True):
        day.delete()
    case.refresh_from_db()
    assert case.sla_due_on == D("2026-10-09")


@pytest.mark.django_db
def test_unloading_a_year_makes_its_deadlines_provisional_again(world, django_capture_on_commit_callbacks):
    case = open_case(world, D("2026-09-18"), 10)
    with django_capture_on_commit_callbacks(execute=True):
        CalendarYear.objects.filter(year=2026).get().delete()
    case.refresh_from_db()
    # Weekdays only: 21, 22, 23, 24, 25, 28, 29, 30 Sep, 1, 2 Oct.
    assert (case.sla_due_on, case.sla_provisional) == (D("2026-10-02"), True)


# --------------------------------------------------------------------------------------------------------------
# load_year validation, idempotence, seed and command
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_load_year_rejects_bad_rows_whole_and_writes_nothing():
    rows = [
        ("2031-10-01", "holiday", "国庆节"),
        ("2031-10-01", "holiday", "国庆节"),  # twice
        ("2030-12-31", "holiday", ""),  # other year
        ("2031-10-08", "makeup_workday", ""),  # a Wednesday
        ("2031-13-01", "holiday", ""),  # not a date
        ("2031-05-01", "day_off", ""),  # unknown kind
    ]
    with pytest.raises(ValidationError) as error:
        load_year(year=2031, rows=rows)
    text = " ".join(error.value.messages)
    for fragment in ("Row 2", "Row 3", "Row 4", "Row 5", "Row 6"):
        assert fragment in text
    assert not CalendarYear.objects.filter(year=2031).exists()
    assert not CalendarDay.objects.filter(day__year=2031).exists()


@pytest.mark.django_db
def test_load_year_replaces_the_year_and_is_idempotent():
    load_year(year=2031, rows=SCHEDULE_2031)
    again = load_year(year=2031, rows=SCHEDULE_2031)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    changed = load_year(year=2031, rows=[*SCHEDULE_2031[:6], (D("2031-10-07"), "holiday", "国庆节调休")])
    assert (changed.created, changed.updated, changed.deleted) == (0, 1, 2)
    assert CalendarDay.objects.filter(day__year=2031).count() == 7
    assert not work_calendar().is_working_day(D("2031-10-07"))
    assert not work_calendar().is_working_day(D("2031-09-28"))  # the make-up Sunday was removed


@pytest.mark.django_db
def test_seed_keeps_loaded_years_and_reports_years_the_package_lacks():
    CalendarDay.objects.filter(day=D("2026-10-08")).delete()
    CalendarDay.objects.create(day=D("2026-10-08"), kind=DayKind.HOLIDAY, name="staff correction")
    result = seed_calendar(years=[2026, 2031])
    assert result.kept == [2026] and result.loaded == [] and result.skipped == [2031]
    assert CalendarDay.objects.filter(day=D("2026-10-08")).exists()
    replaced = seed_calendar(years=[2026], replace=True)
    assert replaced.loaded == [2026]
    assert not CalendarDay.objects.filter(day=D("2026-10-08")).exists()


@pytest.mark.django_db
def test_seed_calendar_command_loads_a_year_from_a_file(tmp_path):
    csv_file = tmp_path / "2031.csv"
    csv_file.write_text("date,kind,name\n" + "".join(f"{d},{k},{n}\n" for d, k, n in SCHEDULE_2031),
                        encoding="utf-8")
    out = StringIO()
    call_command("seed_calendar", "--year", "2031", "--file", str(csv_file), stdout=out)
    assert "2031" in out.getvalue()
    assert CalendarDay.objects.filter(day__year=2031).count() == 9
    out = StringIO()
    call_command("seed_calendar", "2025", "2032", stdout=out)
    assert "2025" in out.getvalue() and "2032" in out.getvalue()


@pytest.mark.django_db
def test_recompute_with_nothing_open_is_cheap(django_assert_max_num_queries):
    with django_assert_max_num_queries(7):  # savepoint, calendar (2), pauses, cases, batches, release
        result = recompute_open_deadlines()
    assert result.cases_checked == 0 and result.batches_checked == 0
