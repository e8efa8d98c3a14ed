"""Queue tab counts on plain columns, and the open-cases index the queues walk (bench/bench_queue.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from claims.calendar import invalidate_calendar, work_calendar
from claims.models import ReimbursementCase
from claims.models.reimbursement import CaseState
from claims.queues import case_due_conditions, case_queue, due_soon_until, queue_counts
from enrollment import roles
from tests.claims.factories import make_claim, make_hospital
from tests.conftest import require
from tests.factories import make_person, make_user

TODAY = dt.date(2026, 9, 22)  # Tuesday; due soon up to Monday 28 (Mid-Autumn Friday 25)


@pytest.fixture(autouse=True)
def _fresh_calendar():
    invalidate_calendar()
    yield
    invalidate_calendar()


@pytest.fixture
def people(regions):
    a = (regions["a"],)
    return {
        "reviewer": make_user("q_reviewer", roles=(roles.REVIEWER,), regions=a),
        "approver": make_user("q_approver", roles=(roles.APPROVER,), regions=a),
        "head": make_user("q_head", roles=(roles.HEAD,), regions=a),
        "patient": make_person(regions["a"], name="赵六"),
        "hospital": make_hospital(regions["a"]),
    }


def make_case(people, due_on, *, state=CaseState.RECEIVED, received_on=dt.date(2026, 8, 20), **fields):
    claim = make_claim(people["patient"], people["hospital"], admitted_on=received_on - dt.timedelta(days=10))
    return ReimbursementCase.objects.create(
        claim=claim, received_on=received_on, sla_working_days=25, sla_due_on=due_on, state=state, **fields)


@pytest.fixture
def every_status(people):
    """Cases in every due status and open state, and closed ones that keep their (early) due dates."""
    day = dt.date.fromisoformat
    for due in ("2026-09-01", "2026-09-21", "2026-09-22", "2026-09-28", "2026-09-29", "2026-10-30"):
        make_case(people, day(due))
        make_case(people, day(due), state=CaseState.REVIEWED, initial_reviewer=people["reviewer"])
        make_case(people, day(due), state=CaseState.APPROVED, initial_reviewer=people["reviewer"],
                  re_reviewer=people["approver"])
    make_case(people, None, state=CaseState.RETURNED)
    make_case(people, None, exempt=True, exempt_kind="special", exempt_reason="特殊病案",
              exempt_signed_off_by=people["head"])
    make_case(people, None)  # no due date yet: paused like a returned case
    for state in (CaseState.PAID, CaseState.REFUSED, CaseState.WITHDRAWN):
        make_case(people, day("2026-08-01"), state=state)


@pytest.mark.parametrize("who", ["reviewer", "approver", "head"])
@pytest.mark.parametrize("mine", [True, False])
def test_counts_on_plain_columns_equal_the_case_expression(people, every_status, who, mine):
    calendar = work_calendar()
    conditions = case_due_conditions(TODAY, due_soon_until(calendar, TODAY))
    queue = case_queue(people[who], today=TODAY, calendar=calendar, mine=mine)

    counts = queue_counts(queue, conditions)

    assert counts == queue_counts(queue)  # the due_status CASE, status by status
    assert counts["all"] == sum(counts[status] for status in conditions) > 0


@pytest.mark.services
def test_the_open_cases_index_serves_the_queue_order(people, every_status):
    """The partial index holds open cases only; the queue's own filter must imply its condition, or PostgreSQL
    could not walk it and would sort every open case again."""
    require(connection.vendor == "postgresql", "needs PostgreSQL")
    calendar = work_calendar()
    for who, mine in (("reviewer", True), ("head", False)):
        page = case_queue(people[who], today=TODAY, calendar=calendar, mine=mine)[:50]
        sql, params = page.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "case_open_due_order" in plan, plan
