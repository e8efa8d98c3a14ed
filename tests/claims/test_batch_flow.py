"""Hospital advance-payment batches (SPEC §4.4): 70 % advance in 10 working days, audit, final payment in 15."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from claims.calendar import invalidate_calendar
from claims.models import BatchLine, HospitalBatch, Settlement
from claims.models.batches import BatchState
from claims.models.claims import ClaimSource
from claims.services import batches as flow
from claims.services.reimbursement import ConcurrentChange
from claims.services.settlement import settle_claim
from enrollment import roles
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_user

D = dt.date.fromisoformat
WORKED_EXAMPLE_FUND_PAID = Decimal("38625.00") + Decimal("3818.75") + Decimal("6689.38")


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
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "auditor": make_user("auditor", roles=(roles.REVIEWER,), regions=a),
        "payer": make_user("payer", roles=(roles.APPROVER,), regions=a),
        "dual": make_user("dual", roles=(roles.REVIEWER, roles.APPROVER), regions=a),
        "payer_b": make_user("payer_b", roles=(roles.APPROVER,), regions=(regions["b"],)),
    }


@pytest.fixture
def world(regions, staff):
    spec_example_policy(regions["a"], effective_from=D("2026-01-01"))
    hospital = make_hospital(regions["a"])
    claims = []
    for _ in range(3):  # one patient each: every claim settles exactly as the worked example
        patient = make_patient(regions["a"], codes=("dibao",), years=(2026,))
        claim = make_claim(patient, hospital, admitted_on=D("2026-09-01"))
        settle_claim(claim=claim, by=staff["clerk"])
        claims.append(claim)
    return {"hospital": hospital, "claims": claims, "region": regions["a"]}


def receive(world, staff, **extra) -> HospitalBatch:
    values = {"hospital": world["hospital"], "period": (D("2026-09-01"), D("2026-09-15")),
              "received_on": D("2026-09-18"), "claims": world["claims"], "by": staff["clerk"], **extra}
    return flow.receive_batch(**values)


@pytest.mark.django_db
def test_receipt_declares_the_fund_paid_amounts_and_the_70_percent_advance(world, staff):
    batch = receive(world, staff)
    assert batch.state == BatchState.RECEIVED
    current = Settlement.objects.filter(claim__in=world["claims"], reversed_at__isnull=True)
    expected_total = sum(s.basic + s.critical + s.assistance for s in current)
    assert expected_total == 3 * WORKED_EXAMPLE_FUND_PAID == Decimal("147399.39")
    assert batch.declared_total == expected_total
    assert batch.advance_ratio == Decimal("0.70")
    assert batch.advance_amount == (expected_total * Decimal("0.70")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert batch.advance_amount == Decimal("103179.57")
    # 10 working days after Friday 18 Sep 2026 (SPEC §4.4's example): 9 October.
    assert (batch.advance_working_days, batch.advance_due_on, batch.advance_provisional) == (
        10, D("2026-10-09"), False)
    assert batch.final_working_days == 15 and batch.final_due_on is None
    lines = list(batch.lines.order_by("claim_id"))
    assert [line.declared_amount for line in lines] == [WORKED_EXAMPLE_FUND_PAID] * 3
    assert all(line.approved is None for line in lines)
    assert list(batch.events.values_list("transition", "to_state", "by__username")) == [
        ("receive", "received", "clerk")]


@pytest.mark.django_db
def test_advance_audit_with_a_rejection_and_a_negative_remainder_recovered(world, staff):
    batch = receive(world, staff)
    flow.pay_advance(batch=batch, by=staff["payer"], paid_on=D("2026-10-09"), reference="ADV-1")
    assert batch.state == BatchState.ADVANCE_PAID
    # The final payment is due 15 working days after the advance was paid (Sat 10 Oct is a make-up day).
    assert (batch.final_due_on, batch.final_provisional) == (D("2026-10-29"), False)

    rejected = world["claims"][0]
    flow.audit(batch=batch, by=staff["auditor"], rejections={rejected.pk: "重复收费，病历与清单不符"})
    assert batch.state == BatchState.AUDITED and batch.auditor == staff["auditor"]
    line = BatchLine.objects.get(batch=batch, claim=rejected)
    assert (line.approved, line.rejection_reason) == (False, "重复收费，病历与清单不符")
    assert BatchLine.objects.filter(batch=batch, approved=True).count() == 2
    assert batch.approved_total == 2 * WORKED_EXAMPLE_FUND_PAID == Decimal("98266.26")
    # Approved 98 266.26 is less than the 103 179.57 advanced: 4 913.31 is to be recovered.
    assert batch.final_amount == Decimal("-4913.31")
    assert batch.amount_to_recover == Decimal("4913.31")

    flow.pay_final(batch=batch, by=staff["payer"], paid_on=D("2026-10-28"), reference="REC-7")
    batch.refresh_from_db()
    assert batch.state == BatchState.CLOSED
    assert (batch.final_paid_on, batch.final_reference) == (D("2026-10-28"), "REC-7")
    last = batch.events.last()
    assert (last.transition, last.by, last.to_state) == ("pay_final", staff["payer"], "closed")
    assert "Recovered 4913.31" in last.note
    assert list(batch.events.values_list("transition", flat=True)) == [
        "receive", "pay_advance", "audit", "pay_final"]
    assert batch.history.count() == 4


@pytest.mark.django_db
def test_all_approved_pays_the_positive_remainder(world, staff):
    batch = receive(world, staff)
    flow.pay_advance(batch=batch, by=staff["payer"], paid_on=D("2026-09-30"), reference="ADV-2")
    flow.audit(batch=batch, by=staff["auditor"], rejections={})
    assert batch.final_amount == Decimal("147399.39") - Decimal("103179.57") == Decimal("44219.82")
    assert batch.amount_to_recover == 0


@pytest.mark.django_db
def test_four_eyes_the_auditor_cannot_make_the_final_payment(world, staff):
    batch = receive(world, staff)
    flow.pay_advance(batch=batch, by=staff["dual"], paid_on=D("2026-10-09"), reference="ADV-3")
    flow.audit(batch=batch, by=staff["dual"], rejections={})
    assert flow.available_batch_actions(batch, staff["dual"]) == []
    with pytest.raises(PermissionDenied, match="different person"):
        flow.pay_final(batch=batch, by=staff["dual"], paid_on=D("2026-10-20"), reference="FIN")
    batch.refresh_from_db()
    assert batch.state == BatchState.AUDITED
    with pytest.raises(PermissionDenied, match="region"):
        flow.pay_final(batch=batch, by=staff["payer_b"], paid_on=D("2026-10-20"), reference="FIN")
    flow.pay_final(batch=batch, by=staff["payer"], paid_on=D("2026-10-20"), reference="FIN")
    assert batch.state == BatchState.CLOSED


@pytest.mark.django_db
def test_receipt_refuses_claims_that_cannot_be_declared_and_writes_nothing(world, staff, regions):
    other_hospital = make_hospital(regions["a"])
    patient = make_patient(regions["a"], codes=("dibao",), years=(2026,))
    unsettled = make_claim(patient, world["hospital"], admitted_on=D("2026-09-02"))
    elsewhere = make_claim(patient, other_hospital, admitted_on=D("2026-09-03"))
    settle_claim(claim=elsewhere, by=staff["clerk"])
    manual = make_claim(make_patient(regions["a"], codes=("dibao",), years=(2026,)), world["hospital"],
                        admitted_on=D("2026-09-04"), source=ClaimSource.MANUAL)
    settle_claim(claim=manual, by=staff["clerk"])
    with pytest.raises(ValidationError) as error:
        receive(world, staff, claims=[*world["claims"], unsettled, elsewhere, manual, 999999])
    text = " ".join(error.value.messages)
    assert unsettled.number in text and "not settled" in text
    assert elsewhere.number in text and "not treated at this hospital" in text
    assert manual.number in text and "manual reimbursement" in text
    assert "999999" in text
    assert not HospitalBatch.objects.exists() and not BatchLine.objects.exists()

    first = receive(world, staff)
    with pytest.raises(ValidationError, match=f"already declared in batch {first.number}"):
        receive(world, staff, claims=world["claims"][:1])
    with pytest.raises(PermissionDenied):
        receive(world, staff, by=staff["payer"])  # no add permission
    with pytest.raises(ValidationError, match="ends before"):
        receive(world, staff, period=(D("2026-09-15"), D("2026-09-01")))


@pytest.mark.django_db
def test_audit_checks_claims_and_reasons(world, staff, regions):
    batch = receive(world, staff)
    with pytest.raises(ValidationError, match="not possible"):
        flow.audit(batch=batch, by=staff["auditor"], rejections={})  # the advance comes first
    flow.pay_advance(batch=batch, by=staff["payer"], paid_on=D("2026-10-09"), reference="ADV")
    with pytest.raises(ValidationError, match="not in the batch"):
        flow.audit(batch=batch, by=staff["auditor"], rejections={123456: "no"})
    with pytest.raises(ValidationError, match="reason"):
        flow.audit(batch=batch, by=staff["auditor"], rejections={world["claims"][1].pk: "  "})
    with pytest.raises(PermissionDenied):
        flow.audit(batch=batch, by=staff["payer"], rejections={})
    batch.refresh_from_db()
    assert batch.state == BatchState.ADVANCE_PAID
    assert not BatchLine.objects.filter(batch=batch, approved__isnull=False).exists()


@pytest.mark.django_db
def test_two_payers_at_once_only_one_records_the_advance(world, staff):
    batch = receive(world, staff)
    first = HospitalBatch.objects.get(pk=batch.pk)
    second = HospitalBatch.objects.get(pk=batch.pk)
    flow.pay_advance(batch=first, by=staff["payer"], paid_on=D("2026-10-09"), reference="ADV-A")
    with pytest.raises(ConcurrentChange):
        flow.pay_advance(batch=second, by=staff["dual"], paid_on=D("2026-10-08"), reference="ADV-B")
    batch.refresh_from_db()
    assert (batch.advance_reference, batch.events.filter(transition="pay_advance").count()) == ("ADV-A", 1)


@pytest.mark.django_db
def test_batch_pages_run_the_audit_from_a_list_of_claim_numbers(client, world, staff):
    batch = receive(world, staff)
    flow.pay_advance(batch=batch, by=staff["payer"], paid_on=D("2026-10-09"), reference="ADV")
    client.force_login(staff["auditor"])
    page = client.get(reverse("claims:batch_detail", args=[batch.pk]))
    assert page.status_code == 200 and 'id="action-audit"' in page.content.decode()
    url = reverse("claims:batch_action", args=[batch.pk, "audit"])
    response = client.post(url, {"audit-rejections": "NOPE-1 重复", "audit-note": ""})
    assert response.status_code == 400 and "NOPE-1" in response.content.decode()
    rejected = world["claims"][2]
    response = client.post(url, {"audit-rejections": f"{rejected.number} 超出病种限额\n", "audit-note": ""})
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == BatchState.AUDITED
    assert BatchLine.objects.get(batch=batch, approved=False).claim == rejected
    # The auditor is not offered the final payment, and the server refuses it.
    page = client.get(reverse("claims:batch_detail", args=[batch.pk]))
    assert 'id="action-pay_final"' not in page.content.decode()
    response = client.post(reverse("claims:batch_action", args=[batch.pk, "pay_final"]),
                           {"pay_final-paid_on": "2026-10-20", "pay_final-reference": "X"})
    assert response.status_code == 403
