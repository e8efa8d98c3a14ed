"""Reviewers' queues (SPEC §4.4): waiting for me, due soon (≤ 3 working days), overdue, paused, exempted."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from claims.calendar import invalidate_calendar, work_calendar
from claims.models import HospitalBatch, ReimbursementCase
from claims.models.batches import BatchState
from claims.models.reimbursement import CaseState
from claims.queues import (
    DueStatus,
    batch_queue,
    case_due_conditions,
    case_queue,
    due_soon_until,
    queue_counts,
    with_remaining_working_days,
)
from claims.rules.workdays import add_working_days, status_for
from enrollment import roles
from tests.claims.factories import make_claim, make_hospital
from tests.factories import make_person, make_user

D = dt.date.fromisoformat
# Tuesday. The following working days: Wed 23, Thu 24 (Fri 25 Mid-Autumn, weekend), Mon 28, Tue 29 September.
TODAY = D("2026-09-22")


@pytest.fixture(autouse=True)
def _plain_http_fast_passwords_fresh_calendar(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.LANGUAGE_CODE = "en"  # assertions read the English msgids, whatever the catalogue holds
    invalidate_calendar()
    with translation.override("en"):
        yield
    invalidate_calendar()


@pytest.fixture
def staff(regions):
    a = (regions["a"],)
    return {
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=a),
        "approver_self": make_user("approver_self", roles=(roles.APPROVER,), regions=a),
        "head": make_user("head", roles=(roles.HEAD,), regions=a),
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "reviewer_b": make_user("reviewer_b", roles=(roles.REVIEWER,), regions=(regions["b"],)),
    }


class World:
    def __init__(self, regions):
        self.regions = regions
        self.hospital_a = make_hospital(regions["a"], name="都匀市人民医院")
        self.hospital_a2 = make_hospital(regions["a"], name="都匀市中医院")
        self.hospital_b = make_hospital(regions["b"], name="福泉市人民医院")
        self.person_a = make_person(regions["a"], name="李四")
        self.person_b = make_person(regions["b"], name="王五")

    def case(self, due_on, *, state=CaseState.RECEIVED, region="a", received_on=None, hospital=None,
             **fields) -> ReimbursementCase:
        received_on = received_on or D("2026-08-20")
        person = self.person_a if region == "a" else self.person_b
        hospital = hospital or (self.hospital_a if region == "a" else self.hospital_b)
        claim = make_claim(person, hospital, admitted_on=received_on - dt.timedelta(days=15))
        return ReimbursementCase.objects.create(
            claim=claim, received_on=received_on, sla_working_days=25, sla_due_on=due_on, state=state, **fields)


@pytest.fixture
def world(regions):
    return World(regions)


@pytest.fixture
def cases(world, staff):
    return {
        "overdue": world.case(D("2026-09-21")),
        "due_today": world.case(D("2026-09-22")),
        "due_in_3": world.case(D("2026-09-28"), hospital=world.hospital_a2),
        "due_in_4": world.case(D("2026-09-29"), received_on=D("2026-09-01")),
        "paused": world.case(None, state=CaseState.RETURNED),
        "exempted": world.case(None, exempt=True, exempt_kind="special", exempt_reason="特殊病案",
                               exempt_signed_off_by=staff["head"]),
        "reviewed": world.case(D("2026-09-23"), state=CaseState.REVIEWED, initial_reviewer=staff["reviewer"]),
        "reviewed_by_approver": world.case(D("2026-09-24"), state=CaseState.REVIEWED,
                                           initial_reviewer=staff["approver_self"]),
        "approved": world.case(D("2026-09-30"), state=CaseState.APPROVED, initial_reviewer=staff["reviewer"],
                               re_reviewer=staff["approver"]),
        "paid": world.case(D("2026-09-10"), state=CaseState.PAID),
        "other_region": world.case(D("2026-09-21"), region="b"),
    }


def names(queryset, cases) -> set[str]:
    by_pk = {case.pk: name for name, case in cases.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


# --------------------------------------------------------------------------------------------------------------
# Selectors, with a frozen today
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_due_soon_boundary_is_computed_once_around_the_holiday():
    calendar = work_calendar()
    assert due_soon_until(calendar, TODAY) == D("2026-09-28")
    # Friday 18 Sep: Sun 20 (a make-up working day), Mon 21, Tue 22 are three; Wed 23 would be the fourth.
    assert due_soon_until(calendar, D("2026-09-18")) == D("2026-09-22")
    # Friday 11 Sep: Mon 14, Tue 15, Wed 16 (no make-up day this time).
    assert due_soon_until(calendar, D("2026-09-11")) == D("2026-09-16")
    # Before a weekend the boundary stretches over it: Tue 29 Sep → Wed 30, (1–7 Oct off), Thu 8, Fri 9.
    assert due_soon_until(calendar, D("2026-09-29")) == D("2026-10-09")


@pytest.mark.django_db
def test_buckets_and_what_each_role_is_waiting_for(cases, staff):
    reviewer_queue = case_queue(staff["reviewer"], today=TODAY)
    assert names(reviewer_queue, cases) == {"overdue", "due_today", "due_in_3", "due_in_4", "paused", "exempted"}
    status = {name: row.due_status for name, row in zip(
        [names(reviewer_queue.filter(pk=row.pk), cases).pop() for row in reviewer_queue], reviewer_queue,
        strict=True)}
    assert status == {
        "overdue": DueStatus.OVERDUE, "due_today": DueStatus.DUE_SOON, "due_in_3": DueStatus.DUE_SOON,
        "due_in_4": DueStatus.ON_TRACK, "paused": DueStatus.PAUSED, "exempted": DueStatus.EXEMPTED}
    assert queue_counts(reviewer_queue) == {
        "all": 6, "overdue": 1, "due_soon": 2, "on_track": 1, "paused": 1, "exempted": 1}
    # Ordered by due date; paused and exempted (no due date) last.
    assert [row.pk for row in reviewer_queue][:4] == [
        cases["overdue"].pk, cases["due_today"].pk, cases["due_in_3"].pk, cases["due_in_4"].pk]

    # Re-reviewers and payers: 初审 not reviewed by oneself (four eyes), 待支付.
    assert names(case_queue(staff["approver"], today=TODAY), cases) == {
        "reviewed", "reviewed_by_approver", "approved"}
    assert names(case_queue(staff["approver_self"], today=TODAY), cases) == {"reviewed", "approved"}
    # A head sees every open case of the region, paused and exempted included; never closed ones.
    assert names(case_queue(staff["head"], today=TODAY), cases) == set(cases) - {"paid", "other_region"}
    # A clerk waits for nothing, but sees the region's open cases when asking for all.
    assert names(case_queue(staff["clerk"], today=TODAY), cases) == set()
    assert names(case_queue(staff["clerk"], today=TODAY, mine=False), cases) == set(cases) - {
        "paid", "other_region"}
    # Region scoping.
    assert names(case_queue(staff["reviewer_b"], today=TODAY), cases) == {"other_region"}


@pytest.mark.django_db
def test_tab_conditions_on_plain_columns_agree_with_the_annotation(cases, staff):
    queue = case_queue(staff["head"], today=TODAY)
    conditions = case_due_conditions(TODAY, due_soon_until(work_calendar(), TODAY))
    for status, condition in conditions.items():
        assert set(queue.filter(condition).values_list("pk", flat=True)) == set(
            queue.filter(due_status=status).values_list("pk", flat=True)), status
    assert sum(queue.filter(condition).count() for condition in conditions.values()) == queue.count()


@pytest.mark.django_db
def test_remaining_working_days_for_a_page_agree_with_the_pure_status(cases, staff):
    calendar = work_calendar()
    rows = with_remaining_working_days(case_queue(staff["head"], today=TODAY)[:50], today=TODAY)
    remaining = {row.pk: (row.remaining_working_days, row.overdue_working_days) for row in rows}
    assert remaining[cases["overdue"].pk] == (-1, 1)
    assert remaining[cases["due_today"].pk] == (0, 0)
    assert remaining[cases["due_in_3"].pk] == (3, 0)
    assert remaining[cases["due_in_4"].pk] == (4, 0)
    assert remaining[cases["paused"].pk] == (None, 0)
    for row in rows:
        if row.sla_due_on is not None:
            assert row.due_status == status_for(calendar, row.sla_due_on, TODAY)


@pytest.mark.django_db
def test_batch_queue_shows_advance_audit_and_final_payment_work(world, staff, regions):
    auditor = make_user("auditor_dual", roles=(roles.REVIEWER, roles.APPROVER), regions=(regions["a"],))

    def batch(number, state, **fields):
        values = {"hospital": world.hospital_a, "region": regions["a"], "number": number,
                  "period_start": D("2026-08-01"), "period_end": D("2026-08-31"), "received_on": D("2026-09-10"),
                  "advance_ratio": Decimal("0.70"), "advance_working_days": 10, "advance_due_on": D("2026-09-23"),
                  "final_working_days": 15, "state": state, **fields}
        return HospitalBatch.objects.create(**values)

    received = batch("B1", BatchState.RECEIVED)
    advance_paid = batch("B2", BatchState.ADVANCE_PAID, advance_paid_on=D("2026-09-18"),
                         final_due_on=D("2026-10-20"))
    audited = batch("B3", BatchState.AUDITED, advance_paid_on=D("2026-08-20"), final_due_on=D("2026-09-10"),
                    auditor=auditor, approved_total=Decimal("10.00"), final_amount=Decimal("3.00"))
    batch("B4", BatchState.CLOSED, advance_paid_on=D("2026-08-20"), final_due_on=D("2026-09-10"))

    payer = {row.number: row for row in batch_queue(staff["approver"], today=TODAY)}
    assert set(payer) == {"B1", "B3"}
    assert (payer["B1"].due_on, payer["B1"].due_status) == (D("2026-09-23"), DueStatus.DUE_SOON)
    assert (payer["B3"].due_on, payer["B3"].due_status) == (D("2026-09-10"), DueStatus.OVERDUE)
    assert {row.number for row in batch_queue(staff["reviewer"], today=TODAY)} == {"B2"}
    # The auditor of B3 may pay advances but not B3's final payment (four eyes).
    assert {row.number for row in batch_queue(auditor, today=TODAY)} == {"B1", "B2"}
    head = {row.number: row for row in batch_queue(staff["head"], today=TODAY)}
    assert set(head) == {"B1", "B2", "B3"}
    assert head["B2"].due_status == DueStatus.ON_TRACK
    assert [row.pk for row in batch_queue(staff["head"], today=TODAY)] == [audited.pk, received.pk, advance_paid.pk]
    assert list(batch_queue(staff["reviewer_b"], today=TODAY)) == []


# --------------------------------------------------------------------------------------------------------------
# The queue pages (today = timezone.localdate())
# --------------------------------------------------------------------------------------------------------------


def page_numbers(response) -> set[str]:
    return set(re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', response.content.decode()))


@pytest.mark.django_db
def test_queue_page_tabs_filters_and_pagination(client, world, staff):
    today = timezone.localdate()
    calendar = work_calendar()
    overdue = world.case(today - dt.timedelta(days=7))
    on_track = world.case(add_working_days(calendar, today, 10).due_on, hospital=world.hospital_a2,
                          received_on=today - dt.timedelta(days=2))
    paused = world.case(None, state=CaseState.RETURNED)
    client.force_login(staff["reviewer"])
    url = reverse("claims:case_queue")

    response = client.get(url)
    assert response.status_code == 200
    assert page_numbers(response) == {overdue.claim.number, on_track.claim.number, paused.claim.number}
    content = response.content.decode()
    assert "10 working days left" in content or "10 个工作日" in content
    assert page_numbers(client.get(url, {"due": "overdue"})) == {overdue.claim.number}
    assert page_numbers(client.get(url, {"due": "paused"})) == {paused.claim.number}
    assert page_numbers(client.get(url, {"state": "returned"})) == {paused.claim.number}
    assert page_numbers(client.get(url, {"hospital": world.hospital_a2.pk})) == {on_track.claim.number}
    assert page_numbers(client.get(url, {"region": world.regions["prefecture"].pk})) == {
        overdue.claim.number, on_track.claim.number, paused.claim.number}
    assert page_numbers(client.get(url, {"received_after": (today - dt.timedelta(days=3)).isoformat()})) == {
        on_track.claim.number}
    assert page_numbers(client.get(url, {"number": paused.claim.number})) == {paused.claim.number}
    # A hospital of another region is not even a choice.
    assert client.get(url, {"hospital": world.hospital_b.pk}).context["filter"].errors

    for _ in range(55):
        world.case(today - dt.timedelta(days=1))
    first = client.get(url)
    assert len(page_numbers(first)) == 50 and first.context["paginator"].count == 58
    second = client.get(url, {"p": 2})
    assert len(page_numbers(second)) == 8


def _count_budget_queries() -> int:
    """On PostgreSQL the tab counts run under a time budget (claims.counting): savepoint, SET LOCAL
    statement_timeout, rollback to and release of the savepoint around the one aggregate."""
    from django.db import connection

    return 4 if connection.vendor == "postgresql" else 0


COUNT_BUDGET_QUERIES = _count_budget_queries()


@pytest.mark.django_db
def test_queue_page_query_count_does_not_grow_with_rows(client, world, staff, django_assert_max_num_queries):
    today = timezone.localdate()
    for day in range(3):
        world.case(today + dt.timedelta(days=day))
    client.force_login(staff["head"])
    url = reverse("claims:case_queue")
    client.get(url)  # warm the calendar cache as any running process has it
    # session, user, permissions (2), region paths and ids (up to 3), tab counts, page rows, the admin's group
    # check, filter choices (hospitals, regions): a fixed number, whatever the number of rows.
    with django_assert_max_num_queries(12 + COUNT_BUDGET_QUERIES):
        assert client.get(url, {"due": "on_track"}).status_code == 200
    for day in range(60):
        world.case(today + dt.timedelta(days=day % 20))
    with django_assert_max_num_queries(12 + COUNT_BUDGET_QUERIES):
        response = client.get(url)
    assert len(page_numbers(response)) == 50


@pytest.mark.django_db
def test_batch_queue_page(client, world, staff, regions, django_assert_max_num_queries):
    HospitalBatch.objects.create(
        hospital=world.hospital_a, region=regions["a"], number="B-PAGE", period_start=D("2026-08-01"),
        period_end=D("2026-08-31"), received_on=D("2026-09-10"), advance_ratio=Decimal("0.70"),
        advance_working_days=10, advance_due_on=D("2026-09-24"), final_working_days=15)
    client.force_login(staff["approver"])
    client.get(reverse("claims:batch_queue"))
    with django_assert_max_num_queries(12 + COUNT_BUDGET_QUERIES):
        response = client.get(reverse("claims:batch_queue"))
    assert page_numbers(response) == {"B-PAGE"}
    client.force_login(staff["reviewer_b"])
    assert page_numbers(client.get(reverse("claims:batch_queue"), {"scope": "all"})) == set()


@pytest.mark.django_db
def test_queue_pages_need_staff_and_the_view_permission(client, world, regions):
    url = reverse("claims:case_queue")
    assert client.get(url).status_code == 302  # to the admin login
    hospital_user = make_user("hospital_user", roles=(roles.HOSPITAL,), regions=(regions["a"],))
    client.force_login(hospital_user)
    assert client.get(url).status_code == 403
