"""Queue tab counts: exact within the time budget, else a bounded "over N" per tab; never a planner's guess."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from claims import counting
from claims.counting import budgeted_counts
from claims.models import ReimbursementCase
from claims.queues import DueStatus, case_queue
from tests.claims import test_reimbursement_flow as flow_tests
from tests.claims.test_workbench import cases  # noqa: F401 - fixture: four received cases, one overdue

_fast_passwords_and_fresh_calendar = flow_tests._fast_passwords_and_fresh_calendar
world = flow_tests.world
staff = flow_tests.staff


def _queue(staff):
    return case_queue(staff["reviewer"], today=timezone.localdate())


@pytest.mark.django_db
def test_counts_are_exact_within_the_budget(cases, staff):  # noqa: F811
    counts = budgeted_counts(_queue(staff), None, budget_ms=5_000)
    assert counts["all"].value == 4 and not counts["all"].exceeded
    assert counts[DueStatus.OVERDUE].value == 1


@pytest.mark.django_db
def test_when_the_budget_runs_out_each_tab_is_counted_up_to_the_cap(cases, staff, monkeypatch):  # noqa: F811
    def too_slow(*args, **kwargs):
        raise counting.CountBudgetExceeded

    monkeypatch.setattr(counting, "_exact_within_budget", too_slow)
    counts = budgeted_counts(_queue(staff), None, cap=2)
    assert str(counts["all"]) == "over 2" and counts["all"].exceeded
    assert counts[DueStatus.OVERDUE].value == 1 and str(counts[DueStatus.OVERDUE]) == "1"
    assert ReimbursementCase.objects.count() == 4  # the connection is still usable


@pytest.mark.django_db
def test_postgresql_cancels_a_slow_count_and_falls_back(cases, staff):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    slow = _queue(staff).extra(where=["pg_sleep(0.05) IS NOT NULL"])
    counts = budgeted_counts(slow, None, budget_ms=20, cap=3)
    assert str(counts["all"]) == "over 3"
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"  # the budget did not leak into the rest of the request


@pytest.mark.django_db
def test_the_queue_page_shows_bounded_tab_counts(client, cases, staff, monkeypatch):  # noqa: F811
    def too_slow(*args, **kwargs):
        raise counting.CountBudgetExceeded

    monkeypatch.setattr(counting, "_exact_within_budget", too_slow)
    monkeypatch.setattr(counting, "COUNT_CAP", 2)
    client.force_login(staff["reviewer"])
    html = client.get("/claims/cases/").content.decode()
    assert "(over 2)" in html
