"""The hospital side in Chromium: a hospital user logs in to the portal, looks a patient up and submits a batch of
its settled claims; the bureau pays the 70 % advance, audits with a rejection and a deduction, a second person pays
the rest; the hospital sees each step and the deductions."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from claims.models import EligibilityLookup, HospitalBatch
from claims.models.batches import BatchState
from enrollment import roles
from tests.claims.hospital_world import PASSWORD, build
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(regions):
    world = build(regions)
    county = (regions["a"],)
    world.payer = make_user("payer", roles=(roles.APPROVER,), regions=county, password=PASSWORD)
    world.auditor = make_user("auditor", roles=(roles.REVIEWER,), regions=county, password=PASSWORD)
    return world


def portal_log_in(page: Page, username: str) -> None:
    page.goto("/hospital/claims/")
    expect(page).to_have_url(re.compile(r"/hospital/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/hospital/claims/$"))


def admin_log_in(page: Page, path: str, username: str) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()


def submit_september(page: Page) -> HospitalBatch:
    page.get_by_role("link", name="New batch").click()
    page.get_by_label("Period from").fill("2026-09-01")
    page.get_by_label("Period to").fill("2026-09-30")
    page.get_by_role("button", name="Show claims").click()
    rows = page.locator("#declarable tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#declarable")).not_to_contain_text("H-NEXT")
    page.get_by_role("button", name="Submit the batch").click()
    expect(page.locator("#batch-state")).to_have_text("Received")
    return HospitalBatch.objects.get()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_hospital_user_looks_up_a_patient_and_submits_a_batch(page: Page, world):
    portal_log_in(page, "his_own")
    claims = page.locator("#claims tbody")
    expect(claims).to_contain_text("H-OWN-001")
    expect(claims).not_to_contain_text("H-NEXT-001")

    patient = world.claims["H-OWN"][0].person
    page.get_by_role("link", name="Eligibility look-up").click()
    page.get_by_label("ID number").fill(patient.id_number)
    page.get_by_label("Date of admission").fill("2026-09-03")
    page.get_by_role("button", name="Look up").click()
    answer = page.locator("#eligibility-answer")
    expect(answer).to_contain_text("Insured (plan year 2026)")
    expect(answer).to_contain_text(patient.masked_id_number)
    assert patient.id_number not in page.url
    assert EligibilityLookup.objects.filter(user=world.hospital_user, id_number=patient.id_number).count() == 1

    batch = submit_september(page)
    assert batch.hospital == world.own and batch.lines.count() == 3
    expect(page.locator("#advance")).to_contain_text(batch.advance_due_on.isoformat())
    page.get_by_role("link", name="Advance-payment batches").first.click()
    expect(page.locator("#batches")).to_contain_text(batch.number)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_bureau_takes_a_batch_to_final_payment_and_the_hospital_sees_the_deductions(page: Page, world):
    portal_log_in(page, "his_own")
    batch = submit_september(page)
    log_out(page)
    own = world.claims["H-OWN"]
    today = timezone.localdate().isoformat()
    detail = f"/claims/batches/{batch.pk}/"

    admin_log_in(page, detail, "payer")
    advance = page.locator("#action-pay_advance")
    advance.get_by_label("Paid on").fill(today)
    advance.get_by_label("Payment reference").fill("ADV-2026-001")
    advance.get_by_role("button", name="Record the advance payment").click()
    expect(page.locator("#batch-state")).to_have_text("Advance paid (70 %)")
    log_out(page)

    admin_log_in(page, detail, "auditor")
    audit = page.locator("#action-audit")
    audit.get_by_label("Rejected or reduced claims").fill(
        f"{own[0].number} 无转诊手续\n{own[1].number} 120.00 超限价药品")
    audit.get_by_role("button", name="Record the audit").click()
    expect(page.locator("#batch-state")).to_have_text("Audited")
    expect(page.locator("#batch-lines")).to_contain_text("120.00 deducted")
    expect(page.locator("#action-pay_final")).to_have_count(0)  # four eyes: the auditor cannot pay
    log_out(page)

    admin_log_in(page, detail, "payer")
    final = page.locator("#action-pay_final")
    final.get_by_label("Paid on").fill(today)
    final.get_by_label("Payment reference").fill("FIN-2026-001")
    final.get_by_role("button", name="Record the final payment").click()
    expect(page.locator("#batch-state")).to_have_text("Closed")
    log_out(page)
    batch.refresh_from_db()
    assert batch.state == BatchState.CLOSED and batch.auditor == world.auditor

    portal_log_in(page, "his_own")
    page.goto(f"/hospital/batches/{batch.pk}/")
    expect(page.locator("#batch-state")).to_have_text("Closed")
    lines = page.locator("#batch-lines")
    expect(lines).to_contain_text("无转诊手续")
    expect(lines).to_contain_text("120.00 deducted")
    expect(page.locator("#approved-total")).to_have_text(f"{batch.approved_total:.2f}")
    expect(page.locator("body")).to_contain_text("FIN-2026-001")
