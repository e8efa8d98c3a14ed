"""The claims part of seed_demo: hospitals, settled claims, manual reimbursements and batches at every step."""

import io
from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from claims.models import CaseEvent, Claim, Hospital, HospitalBatch, HospitalStaff, ReimbursementCase, Settlement
from claims.models.batches import BatchState
from claims.models.choices import HospitalLevel
from claims.models.claims import ClaimSource, ClaimStatus
from claims.models.reimbursement import CaseState
from claims.queues import DueStatus, batch_queue, case_queue
from enrollment import demo as enrollment_demo
from enrollment import roles

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(tmp_path):
    out = io.StringIO()
    call_command("seed_demo", "--password-file", str(tmp_path / "logins.txt"), "--persons", "600", "--seed", "3",
                 stdout=out)
    return out.getvalue()


def _statuses(queryset):
    return Counter(row.due_status for row in queryset)


def test_hospitals_of_every_level_and_the_hospital_login_works_for_one(seeded):
    levels = set(Hospital.objects.values_list("level", flat=True))
    assert levels == {HospitalLevel.TOWNSHIP, HospitalLevel.COUNTY, HospitalLevel.CITY, HospitalLevel.PROVINCE}
    link = HospitalStaff.objects.select_related("user", "hospital").get()
    assert link.user.groups.filter(name=roles.HOSPITAL).exists()
    assert link.hospital.level == HospitalLevel.COUNTY
    assert link.hospital.claims.filter(status=ClaimStatus.SETTLED).count() >= 50
    assert "hospital" in seeded or "医院" in seeded  # the hook says what it made


def test_hundreds_of_direct_claims_settled_through_the_service_and_a_few_left_to_settle(seeded):
    direct = Claim.objects.filter(source=ClaimSource.DIRECT)
    settled = direct.filter(status=ClaimStatus.SETTLED)
    assert settled.count() >= 300
    # Settled by the settlement service: every settled claim has exactly one current settlement whose parts add up.
    current = Settlement.objects.filter(claim__in=settled, reversed_at__isnull=True)
    assert current.count() == settled.count()
    for settlement in current.select_related("claim")[:50]:
        parts = (settlement.basic + settlement.critical + settlement.assistance + settlement.hospital_borne
                 + settlement.patient_pays)
        assert parts == settlement.claim.total_cost
    assert 1 <= direct.filter(status=ClaimStatus.REGISTERED).count() <= 10
    # Only people insured on the date of service were billed.
    assert not settled.exclude(person__enrollments__status="insured").exists()


def test_manual_reimbursements_at_every_step_moved_by_the_demo_users(seeded):
    cases = ReimbursementCase.objects.select_related("claim", "initial_reviewer", "re_reviewer")
    states = Counter(cases.values_list("state", flat=True))
    assert set(states) == set(CaseState.values)
    paused = cases.get(state=CaseState.RETURNED)
    assert paused.sla_due_on is None and paused.pauses.filter(resumed_on__isnull=True).count() == 1
    resubmitted = cases.filter(state=CaseState.RECEIVED, pauses__resumed_on__isnull=False).distinct()
    assert resubmitted.count() == 1
    exempted = cases.get(exempt=True)
    assert exempted.exempt_signed_off_by.groups.filter(name=roles.HEAD).exists() and exempted.exempt_reason
    for case in cases.filter(re_reviewer__isnull=False):
        assert case.re_reviewer_id != case.initial_reviewer_id  # four eyes held
    reviewer = User.objects.get(groups__name=roles.REVIEWER)
    assert CaseEvent.objects.filter(case__isnull=False, transition="initial_review", by=reviewer).exists()
    # Every case event and claim of a case was written by a demo user, not anonymously.
    assert not CaseEvent.objects.filter(by__isnull=True).exists()


def test_the_reviewers_queue_has_work_in_every_clock_state(seeded):
    today = timezone.localdate()
    reviewer = User.objects.get(groups__name=roles.REVIEWER)
    mine = _statuses(case_queue(reviewer, today=today))
    assert mine[DueStatus.OVERDUE] >= 1 and mine[DueStatus.DUE_SOON] >= 1 and mine[DueStatus.ON_TRACK] >= 1
    assert mine[DueStatus.PAUSED] == 1
    head = User.objects.get(groups__name=roles.HEAD, username="head_522700")  # the prefecture's, not the province's
    assert _statuses(case_queue(head, today=today))[DueStatus.EXEMPTED] == 1
    approver = User.objects.get(groups__name=roles.APPROVER)
    waiting = case_queue(approver, today=today)
    assert {c.state for c in waiting} == {CaseState.REVIEWED, CaseState.APPROVED}


def test_batches_at_every_step_one_overdue_one_recovered(seeded):
    batches = HospitalBatch.objects.all()
    assert set(batches.values_list("state", flat=True)) == set(BatchState.values)
    assert batches.filter(final_amount__lt=0, state=BatchState.CLOSED).exists()  # an amount recovered
    assert batches.filter(Q(lines__approved=False), ~Q(lines__rejection_reason="")).exists()
    today = timezone.localdate()
    approver = User.objects.get(groups__name=roles.APPROVER)
    statuses = _statuses(batch_queue(approver, today=today))
    assert statuses[DueStatus.OVERDUE] >= 1
    reviewer = User.objects.get(groups__name=roles.REVIEWER)
    assert {b.state for b in batch_queue(reviewer, today=today)} == {BatchState.ADVANCE_PAID}
    for batch in batches.filter(state=BatchState.CLOSED):
        assert batch.auditor_id != batch.events.get(transition="pay_final").by_id  # four eyes


def test_the_login_table_says_what_each_role_can_try(seeded):
    for role in roles.ROLE_PERMISSIONS:
        assert str(enrollment_demo.ROLE_TRIES[role]) in seeded


def test_other_counties_see_none_of_the_main_countys_claims(seeded):
    from enrollment.scoping import scope_queryset

    other_clerk = User.objects.get(username="clerk_522725")
    visible = scope_queryset(Claim.objects.all(), other_clerk)
    assert not visible.filter(region__code="522701").exists()
