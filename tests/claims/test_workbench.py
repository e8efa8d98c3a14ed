"""The workbench (工作台) on the admin home page: per role, what is due today and this week, with links."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from claims.models import ReimbursementCase
from claims.workbench import BoundedCount, bounded_count, end_of_week, workbench
from enrollment import roles
from tests.claims import test_reimbursement_flow as flow_tests
from tests.claims.test_reimbursement_flow import register
from tests.factories import make_user

_fast_passwords_and_fresh_calendar = flow_tests._fast_passwords_and_fresh_calendar
world = flow_tests.world
staff = flow_tests.staff


@pytest.fixture
def cases(world, staff):
    """Four received cases of county A, due three days ago, today, tomorrow and in three weeks."""
    today = timezone.localdate()
    out = []
    for offset in (-3, 0, 1, 21):
        case = register(world, staff, received_on="2026-09-18")
        ReimbursementCase.objects.filter(pk=case.pk).update(sla_due_on=today + dt.timedelta(days=offset))
        out.append(case)
    return out


def _row(rows, key):
    return next(row for row in rows if row.key == key)


@pytest.mark.django_db
def test_the_reviewer_sees_overdue_due_today_and_this_week(cases, staff):
    today = timezone.localdate()
    row = _row(workbench(staff["reviewer"], today=today), "cases")
    tomorrow_this_week = today + dt.timedelta(days=1) <= end_of_week(today)
    assert (row.overdue.value, row.due_today.value, row.due_this_week.value, row.waiting.value) == (
        1, 1, 1 if tomorrow_this_week else 0, 4)
    cells = {key: link for key, _count, link in row.cells}
    assert cells["overdue"] == "/claims/cases/?due=overdue"
    # Another county's reviewer sees none of them.
    assert _row(workbench(staff["reviewer_b"], today=today), "cases").waiting.value == 0


@pytest.mark.django_db
def test_each_role_sees_its_own_queues(cases, staff, regions):
    today = timezone.localdate()
    assert {row.key for row in workbench(staff["reviewer"], today=today)} == {"cases", "batches"}
    assert {row.key for row in workbench(staff["clerk"], today=today)} == {"cases", "batches", "claims", "problems"}
    # The clerk registers; nothing waits for them in the review queue.
    assert _row(workbench(staff["clerk"], today=today), "cases").waiting.value == 0
    liaison = make_user("liaison", roles=(roles.LIAISON,), regions=(regions["a"],))
    assert workbench(liaison, today=today) == []


@pytest.mark.django_db
def test_home_page_shows_the_workbench_with_a_pinned_query_count(client, cases, staff,
                                                                  django_assert_max_num_queries):
    client.force_login(staff["clerk"])
    with django_assert_max_num_queries(14):
        html = client.get("/admin/").content.decode()
    assert 'id="workbench"' in html and 'id="workbench-problems"' in html
    client.force_login(staff["reviewer"])
    with django_assert_max_num_queries(16):
        html = client.get("/admin/").content.decode()
    assert 'href="/claims/cases/?due=overdue"' in html


@pytest.mark.django_db
def test_counts_are_exact_up_to_the_cap_and_bounded_beyond(cases):
    queryset = ReimbursementCase.objects.all()
    assert bounded_count(queryset, cap=10) == BoundedCount(4, 10)
    bounded = bounded_count(queryset, cap=2)
    assert bounded.exceeded and bounded.value == 3 and str(bounded) == "over 2"
    assert str(BoundedCount(2, 2)) == "2"
