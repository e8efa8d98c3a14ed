"""The August-31 rule, green channel and newborn coverage (enrollment.rules.intake). Pure: no database."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollment.rules.intake import (
    Intake,
    IntakeReason,
    add_months,
    coverage_for_enrolment,
    identity_counts_for_plan_year,
    intake_cutoff,
    local_date,
    newborn_intake,
    plan_year_for_certification,
)

AUG31 = {"cutoff_month": 8, "cutoff_day": 31}
BEIJING = ZoneInfo("Asia/Shanghai")
R = IntakeReason


@pytest.mark.parametrize(
    ("certified", "already_insured", "expected"),
    [
        (date(2024, 1, 1), False, Intake(2024, date(2024, 1, 1), R.ON_OR_BEFORE_CUTOFF)),
        (date(2024, 8, 31), False, Intake(2024, date(2024, 1, 1), R.ON_OR_BEFORE_CUTOFF)),
        (date(2024, 9, 1), False, Intake(2025, date(2025, 1, 1), R.AFTER_CUTOFF)),
        (date(2024, 12, 31), False, Intake(2025, date(2025, 1, 1), R.AFTER_CUTOFF)),
        # Certified after the cut-off but already insured this year: covered this year, not moved on.
        (date(2024, 9, 1), True, Intake(2024, date(2024, 1, 1), R.ALREADY_INSURED)),
        (date(2024, 12, 31), True, Intake(2024, date(2024, 1, 1), R.ALREADY_INSURED)),
        # Before the cut-off, being insured already changes nothing.
        (date(2024, 3, 1), True, Intake(2024, date(2024, 1, 1), R.ON_OR_BEFORE_CUTOFF)),
    ],
)
def test_august_31_rule(certified, already_insured, expected):
    assert plan_year_for_certification(certified, already_insured_this_year=already_insured, **AUG31) == expected


def test_cutoff_is_policy_data():
    assert plan_year_for_certification(date(2024, 7, 1), cutoff_month=6, cutoff_day=30).plan_year == 2025
    assert plan_year_for_certification(date(2024, 6, 30), cutoff_month=6, cutoff_day=30).plan_year == 2024


def test_cutoff_beyond_month_end_means_its_last_day():
    assert intake_cutoff(2023, cutoff_month=2, cutoff_day=29) == date(2023, 2, 28)
    assert intake_cutoff(2024, cutoff_month=2, cutoff_day=29) == date(2024, 2, 29)
    with pytest.raises(ValueError):
        intake_cutoff(2024, cutoff_month=13, cutoff_day=1)


def test_2330_beijing_time_on_august_31_still_belongs_to_this_year():
    # 2024-08-31 23:30 in Beijing is 15:30 UTC the same day.
    late_evening = datetime(2024, 8, 31, 15, 30, tzinfo=UTC)
    assert late_evening.astimezone(BEIJING) == datetime(2024, 8, 31, 23, 30, tzinfo=BEIJING)
    assert plan_year_for_certification(late_evening, **AUG31).plan_year == 2024
    assert plan_year_for_certification(datetime(2024, 8, 31, 23, 30, tzinfo=BEIJING), **AUG31).plan_year == 2024
    # 16:30 UTC is already 00:30 on 1 September in Beijing, although still 31 August in UTC.
    after_midnight = datetime(2024, 8, 31, 16, 30, tzinfo=UTC)
    assert after_midnight.date() == date(2024, 8, 31)
    assert plan_year_for_certification(after_midnight, **AUG31) == Intake(2025, date(2025, 1, 1), R.AFTER_CUTOFF)


def test_other_offsets_are_converted_too():
    new_york = timezone(timedelta(hours=-4))
    # 2024-08-31 12:00 in New York is 2024-09-01 00:00 in Beijing.
    assert local_date(datetime(2024, 8, 31, 12, 0, tzinfo=new_york)) == date(2024, 9, 1)


def test_naive_datetime_is_refused():
    with pytest.raises(TypeError):
        plan_year_for_certification(datetime(2024, 8, 31, 23, 30), **AUG31)
    with pytest.raises(TypeError):
        local_date("2024-08-31")


class TestGreenChannel:
    """Guangdong 粤医保发〔2021〕33号: mid-year enrolment, covered from registration and identity marking."""

    def test_mid_year_after_cutoff_stays_in_the_same_year(self):
        intake = plan_year_for_certification(
            date(2021, 10, 10), green_channel=True, registered_on=date(2021, 10, 20), **AUG31)
        assert intake == Intake(2021, date(2021, 10, 20), R.GREEN_CHANNEL)

    def test_before_cutoff_also_covered_from_registration_not_january(self):
        intake = plan_year_for_certification(
            date(2021, 3, 5), green_channel=True, registered_on=date(2021, 3, 8), **AUG31)
        assert intake == Intake(2021, date(2021, 3, 8), R.GREEN_CHANNEL)

    def test_registration_before_the_identity_is_marked_counts_from_the_marking(self):
        intake = plan_year_for_certification(
            date(2021, 10, 10), green_channel=True, registered_on=date(2021, 10, 1), **AUG31)
        assert intake.coverage_start == date(2021, 10, 10)

    def test_registration_defaults_to_certification_day(self):
        intake = plan_year_for_certification(datetime(2021, 11, 2, 17, 0, tzinfo=UTC), green_channel=True, **AUG31)
        assert intake == Intake(2021, date(2021, 11, 3), R.GREEN_CHANNEL)

    def test_already_insured_is_not_enrolled_again(self):
        intake = plan_year_for_certification(
            date(2021, 10, 10), green_channel=True, already_insured_this_year=True, **AUG31)
        assert intake == Intake(2021, date(2021, 1, 1), R.ALREADY_INSURED)


class TestNewborn:
    """Jin'an 金医保发〔2022〕18号: a newborn paid within 3 months of birth is covered from birth."""

    @pytest.mark.parametrize(
        ("birth", "registered", "covered_from"),
        [
            (date(2022, 3, 15), date(2022, 3, 15), date(2022, 3, 15)),
            (date(2022, 3, 15), date(2022, 6, 15), date(2022, 3, 15)),  # the last day of the window
            (date(2022, 3, 15), date(2022, 6, 16), None),
            (date(2022, 11, 30), date(2023, 2, 28), date(2022, 11, 30)),  # month-end clamp
            (date(2022, 11, 30), date(2023, 3, 1), None),
            (date(2022, 3, 15), date(2022, 3, 14), None),  # registered before birth
        ],
    )
    def test_window(self, birth, registered, covered_from):
        intake = newborn_intake(birth, registered_on=registered, window_months=3)
        if covered_from is None:
            assert intake is None
        else:
            assert intake == Intake(birth.year, covered_from, R.NEWBORN)

    def test_no_rule_without_a_window(self):
        assert newborn_intake(date(2022, 3, 15), registered_on=date(2022, 3, 20), window_months=0) is None


@pytest.mark.parametrize(
    ("plan_year", "kwargs", "expected"),
    [
        # Yearly enrolment, registered ahead of the plan year or during it.
        (2022, {"registered_on": date(2021, 11, 1)}, Intake(2022, date(2022, 1, 1), R.REGULAR)),
        (2022, {"registered_on": date(2022, 5, 1)}, Intake(2022, date(2022, 1, 1), R.REGULAR)),
        # Green channel: mid-year registration covers from that day; registration ahead covers from 1 January.
        (2022, {"registered_on": date(2022, 5, 1), "green_channel": True},
         Intake(2022, date(2022, 5, 1), R.GREEN_CHANNEL)),
        (2022, {"registered_on": date(2021, 12, 1), "green_channel": True},
         Intake(2022, date(2022, 1, 1), R.REGULAR)),
        # Newborn in the plan year, within the window.
        (2022, {"registered_on": date(2022, 5, 1), "birth_date": date(2022, 3, 15), "newborn_window_months": 3},
         Intake(2022, date(2022, 3, 15), R.NEWBORN)),
        # Outside the window: the yearly rule.
        (2022, {"registered_on": date(2022, 7, 1), "birth_date": date(2022, 3, 15), "newborn_window_months": 3},
         Intake(2022, date(2022, 1, 1), R.REGULAR)),
        # Born in another year: the newborn rule is about the birth year only.
        (2023, {"registered_on": date(2023, 1, 20), "birth_date": date(2022, 12, 1), "newborn_window_months": 3},
         Intake(2023, date(2023, 1, 1), R.REGULAR)),
        # Region without a newborn rule.
        (2022, {"registered_on": date(2022, 5, 1), "birth_date": date(2022, 3, 15)},
         Intake(2022, date(2022, 1, 1), R.REGULAR)),
    ],
)
def test_coverage_for_enrolment(plan_year, kwargs, expected):
    assert coverage_for_enrolment(plan_year, **kwargs) == expected


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "known_on", "green", "counts"),
    [
        (date(2021, 10, 1), None, date(2021, 11, 1), False, True),  # certified ahead of the plan year
        (date(2022, 8, 31), None, date(2022, 9, 10), False, True),  # on the cut-off
        (date(2022, 9, 1), None, date(2022, 9, 10), False, False),  # after the cut-off: next plan year
        (date(2022, 9, 1), None, date(2022, 9, 10), True, True),  # green channel: any day of the year
        (date(2022, 3, 1), None, date(2022, 2, 1), False, False),  # certified after enrolment (参保缴费时)
        (date(2020, 1, 1), date(2021, 12, 31), date(2021, 11, 1), False, False),  # ended before the plan year
        (date(2020, 1, 1), date(2022, 1, 1), date(2021, 11, 1), False, True),  # valid on 1 January
        (date(2020, 1, 1), date(2022, 3, 31), date(2022, 6, 1), False, True),  # ended during the plan year
    ],
)
def test_identity_counts_for_plan_year(valid_from, valid_to, known_on, green, counts):
    assert identity_counts_for_plan_year(
        valid_from, valid_to, plan_year=2022, known_on=known_on, green_channel=green, **AUG31) is counts


dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
cutoffs = st.tuples(st.integers(1, 12), st.integers(1, 31))


@given(dates, cutoffs)
def test_plan_year_is_this_or_next_year_split_exactly_at_the_cutoff(day, cutoff):
    month, dom = cutoff
    intake = plan_year_for_certification(day, cutoff_month=month, cutoff_day=dom)
    on_time = day <= intake_cutoff(day.year, cutoff_month=month, cutoff_day=dom)
    assert intake.plan_year == (day.year if on_time else day.year + 1)
    assert intake.coverage_start == date(intake.plan_year, 1, 1)


@given(dates, dates, cutoffs)
def test_later_certification_never_joins_an_earlier_plan_year(a, b, cutoff):
    first, second = sorted((a, b))
    month, dom = cutoff
    assert (plan_year_for_certification(first, cutoff_month=month, cutoff_day=dom).plan_year
            <= plan_year_for_certification(second, cutoff_month=month, cutoff_day=dom).plan_year)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)))
def test_aware_datetimes_are_judged_by_their_beijing_date(moment):
    assert (plan_year_for_certification(moment, **AUG31)
            == plan_year_for_certification(moment.astimezone(BEIJING).date(), **AUG31))


@given(dates, dates)
def test_green_channel_coverage_never_precedes_certification_or_registration(certified, registered):
    intake = plan_year_for_certification(certified, green_channel=True, registered_on=registered, **AUG31)
    assert intake.coverage_start == max(certified, registered)
    assert intake.plan_year == intake.coverage_start.year


@given(dates, st.integers(0, 36))
def test_add_months_lands_in_the_right_month_and_never_later_in_it(day, months):
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day <= day.day
