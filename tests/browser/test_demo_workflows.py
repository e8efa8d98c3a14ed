"""On the demo county of `make run`, in Chromium: a clerk's manual reimbursement from registration to payment, and
building a plan year's ledger and resolving one of its problems (对账销号 only once the ledger shows it resolved)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from claims.models import Hospital, ReimbursementCase
from claims.models.reimbursement import CaseState
from enrollment.models import Enrollment, LedgerProblem, LedgerRun, Region
from enrollment.models.ledger import EnrollmentStatus, ProblemKind, ProblemStatus
from enrollment.models.ledger_runs import LedgerRunStatus
from tests.browser.test_manual_claim_flow import PASSWORD, choose_autocomplete, log_in_to, log_out, queue_row

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def demo(settings, tmp_path):
    """The demo county (a small one), with known passwords for its logins."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", "--password-file", str(tmp_path / "logins.txt"), "--persons", "300", "--seed", "11",
                 stdout=io.StringIO())
    for user in User.objects.all():
        user.set_password(PASSWORD)
        user.save()
    return timezone.localdate()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_clerks_manual_reimbursement_on_the_demo_from_registration_to_payment(demo, page: Page):
    today = demo
    row = (Enrollment.objects.filter(region__code="522701", plan_year=today.year, status=EnrollmentStatus.INSURED,
                                     person__relation_to_head="户主", person__death_date__isnull=True)
           .exclude(person__bank_account="").select_related("person").order_by("person_id").first())
    person = row.person
    hospital = Hospital.objects.get(level="province")

    # --- The clerk registers the application at the counter --------------------------------------------------------
    log_in_to(page, "/claims/cases/register/", "clerk_522701")
    expect(page.locator(".field-person .select2-container")).to_be_visible()  # the autocomplete is ready
    choose_autocomplete(page, "person", person.id_number, person.name)
    choose_autocomplete(page, "hospital", hospital.name[:4], hospital.name)
    page.get_by_label("Visit type").select_option(label="Inpatient")
    page.get_by_label("Referral").select_option(label="Referred")
    admitted = max(row.coverage_start, today - timezone.timedelta(days=20))
    page.get_by_label("Admitted / visit date").fill(admitted.isoformat())
    page.get_by_label("Discharged on").fill(min(admitted + timezone.timedelta(days=8), today).isoformat())
    page.get_by_label("Diagnosis (ICD-10)").fill("J18.9")
    page.get_by_label("Diagnosis:", exact=True).fill("肺炎")
    page.get_by_label("Total cost").fill("23000.00")
    page.get_by_label("Policy-scope cost").fill("21000.00")
    page.get_by_label("Documents received").fill("发票、费用清单、出院记录、身份证、银行卡")
    page.get_by_label("Payee:", exact=True).fill(person.name)
    page.get_by_label("Payee bank").fill(person.bank_name)
    page.get_by_label("Payee account").fill(person.bank_account)
    page.get_by_role("button", name="Register a manual reimbursement").click()
    expect(page.locator("#case-state")).to_have_text("Received (受理)")
    case = ReimbursementCase.objects.select_related("claim").get(claim__person=person, claim__total_cost=23000)
    number = case.claim.number
    log_out(page)

    # --- The reviewer finds it on the workbench and in the queue, beside the demo's other cases ---------------------
    log_in_to(page, "/admin/", "reviewer_522701")
    expect(page.locator("#workbench-cases")).to_be_visible()
    page.locator("#workbench-cases").get_by_role("link").first.click()
    row_link = queue_row(page, number)
    expect(row_link).to_have_count(1)
    row_link.get_by_role("link", name=number).click()
    page.get_by_role("button", name="Initial review (初审)").click()
    expect(page.locator(".messagelist")).to_contain_text(f"done for manual reimbursement {number}")
    expect(page.locator("#case-state")).to_have_text("Initially reviewed (初审)")
    log_out(page)

    # --- The approver re-reviews and pays; the paid case shows 已办结 (closed), no clock -----------------------------
    log_in_to(page, f"/claims/cases/{case.pk}/", "approver_522701")
    page.get_by_role("button", name="Re-review (复核)").click()
    expect(page.locator("#case-state")).to_have_text("Re-reviewed, awaiting payment (待支付)")
    page.locator("#action-pay").get_by_label("Payment reference").fill("ZF-BROWSER-1")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator("#case-state")).to_have_text("Paid (已支付)")
    expect(page.locator("#case-clock")).to_have_text("Closed")
    case.refresh_from_db()
    assert case.state == CaseState.PAID and case.paid_by.username == "approver_522701"
    assert case.initial_reviewer.username == "reviewer_522701" and case.payment_reference == "ZF-BROWSER-1"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_building_a_ledger_and_resolving_a_problem(demo, page: Page):
    year = demo.year
    # A subsidised person whose ledger row is missing (say, certified after the collection period): the build adds it.
    missing = (Enrollment.objects.filter(region__code="522701", plan_year=year, status=EnrollmentStatus.INSURED,
                                         subsidy_amount__gt=0).order_by("person_id").first())
    person = missing.person
    LedgerProblem.objects.filter(person=person, plan_year=year).delete()
    missing.delete()
    # --- The clerk builds this year's ledger of the county and follows the run to its end --------------------------
    log_in_to(page, "/admin/enrollment/ledgerrun/build/", "clerk_522701")
    page.get_by_label("Region").select_option(value=str(Region.objects.get(code="522701").pk))
    page.get_by_label("Plan year").fill(str(year))
    page.get_by_role("button", name="Build the ledger").click()
    expect(page.locator("#run-status")).to_have_text("Done")
    run = LedgerRun.objects.get()
    assert run.status == LedgerRunStatus.DONE and run.region.code == "522701"

    # --- A not-insured problem of this year: closing it off is refused until the ledger shows it resolved -----------
    assert run.created_rows >= 1
    assert Enrollment.objects.get(person=person, plan_year=year).status == EnrollmentStatus.SHOULD_ENROL
    problem = LedgerProblem.objects.select_related("person").get(
        person=person, plan_year=year, status=ProblemStatus.OPEN, kind=ProblemKind.NOT_INSURED)
    page.get_by_role("link", name="Open the ledger problems of this plan year").click()
    expect(page.locator("#problem-counts")).to_contain_text("Identity holder not insured")

    def close_off():
        page.goto(f"/admin/enrollment/ledgerproblem/?status__exact=open&plan_year={year}&q={problem.person.id_number}")
        page.locator("#result_list tbody tr").filter(has_text=problem.person.name).first.locator(
            "input.action-select").check()
        page.locator("select[name=action]").select_option("close_off")
        page.get_by_role("button", name="Go").click()
        page.get_by_label("How it was resolved").fill("已核实在职工医保参保")
        page.get_by_role("button", name="Confirm").click()

    close_off()
    expect(page.locator(".messagelist")).to_contain_text(f"{problem.person.name} is still not insured")
    problem.refresh_from_db()
    assert problem.status == ProblemStatus.OPEN

    # --- The clerk records why the person cannot be insured, then closes the problem off ----------------------------
    page.goto(f"/admin/enrollment/enrollment/?plan_year={year}&q={problem.person.id_number}")
    page.locator("#result_list tbody tr").first.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("mark_cannot_enrol")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Reason not insurable").select_option(index=1)
    page.get_by_label("Evidence").fill("职工医保参保证明")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text("marked as not insurable")
    close_off()
    expect(page.locator(".messagelist")).to_contain_text("1 problems closed off")
    problem.refresh_from_db()
    assert problem.status == ProblemStatus.CLOSED and problem.closed_by.username == "clerk_522701"
