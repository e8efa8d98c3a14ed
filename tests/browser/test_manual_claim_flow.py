"""A manual reimbursement (零星报销, SPEC §4.4) the whole way through the real pages in Chromium.

A clerk registers the SPEC §4.2 worked example, one reviewer does the initial review (初审, which settles the
claim), a second one the re-review (复核), and the queue, the case page and the printed slip show the figures.
Everybody logs in through the real login form (django-axes included) and logs out through the header's button.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from claims.calendar import work_calendar
from claims.models import ReimbursementCase, Settlement
from claims.models.choices import HospitalLevel
from claims.models.reimbursement import CaseState
from claims.rules.workdays import add_working_days
from enrollment import roles
from tests.claims.factories import make_hospital, make_patient, spec_example_policy
from tests.factories import make_user

PASSWORD = "pw-Secret-123"  # tests.factories.make_user's default
ALLOWANCE = 25  # BenefitPolicy.manual_working_days' default (SPEC §4.4), which the factory policy keeps

# The worked example as the pages print money: two decimals, no thousands separator.
FIGURES = {
    "basic": "38625.00",
    "critical": "3818.75",
    "assistance": "6689.38",
    "hospital": "2000.00",
    "patient": "8866.87",
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(regions):
    """County A's policy (the worked example's benefit data), a dibao patient insured this year and last, a county
    hospital that does not settle directly (hence the manual reimbursement), and the three members of staff."""
    county = regions["a"]
    today = timezone.localdate()
    spec_example_policy(county, effective_from=dt.date(today.year - 1, 1, 1))
    patient = make_patient(county, name="张三", codes=("dibao",), years=(today.year - 1, today.year))
    hospital = make_hospital(county, level=HospitalLevel.COUNTY, code="522701001", name="都匀市人民医院",
                             in_region=True, networked=False)
    staff = {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=(county,)),
        # Holds both review roles, so the missing re-review button below is the four-eyes rule at work, not a
        # missing permission.
        "reviewer1": make_user("reviewer1", roles=(roles.REVIEWER, roles.APPROVER), regions=(county,)),
        "reviewer2": make_user("reviewer2", roles=(roles.APPROVER,), regions=(county,)),
    }
    return {"patient": patient, "hospital": hospital, "staff": staff, "today": today}


def log_in_to(page: Page, path: str, username: str) -> None:
    """Open a page as a bookmark would: the site sends us through the admin's login form and back."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Logged out")).to_be_visible()


def choose_autocomplete(page: Page, field: str, term: str, option: str) -> None:
    """Pick a value in one of the admin's autocomplete (select2) fields: open it, type, click the answer."""
    page.locator(f".field-{field}").get_by_role("combobox").click()
    page.get_by_role("searchbox").fill(term)
    page.get_by_role("option", name=re.compile(re.escape(option))).click()
    expect(page.locator(f".field-{field}").get_by_role("combobox")).to_contain_text(option)


def queue_row(page: Page, claim_number: str):
    return page.locator("#result_list tbody tr").filter(has=page.get_by_role("link", name=claim_number))


def expect_case_figures(page: Page) -> None:
    settlement = page.locator("#settlement")
    for label, figure in [("basic insurance", FIGURES["basic"]), ("critical illness insurance", FIGURES["critical"]),
                          ("medical assistance", FIGURES["assistance"]), ("borne by hospital", FIGURES["hospital"]),
                          ("paid by patient", FIGURES["patient"])]:
        expect(settlement.get_by_role("row").filter(has_text=label).locator("td")).to_have_text(figure)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_clerk_registers_two_reviewers_review_and_the_slip_shows_every_layer(world, page, tmp_path):
    patient, today = world["patient"], world["today"]
    deadline = add_working_days(work_calendar(), today, ALLOWANCE)
    due_text = deadline.due_on.isoformat() + (" (provisional)" if deadline.provisional else "")
    # Received today: every one of the allowed working days is still ahead.
    remaining_text = f"{ALLOWANCE} working days left"

    # --- The clerk registers the application (受理) from the queue's navigation ------------------------------------
    log_in_to(page, "/claims/cases/", "clerk")
    page.get_by_role("link", name="Register a manual reimbursement").click()
    expect(page.get_by_role("heading", name="Register a manual reimbursement")).to_be_visible()
    choose_autocomplete(page, "person", patient.id_number, "张三")
    choose_autocomplete(page, "hospital", "都匀市人民", "都匀市人民医院")
    page.get_by_label("Visit type").select_option(label="Inpatient")
    page.get_by_label("Referral").select_option(label="Referred")
    page.get_by_label("Admitted / visit date").fill((today - dt.timedelta(days=15)).isoformat())
    page.get_by_label("Discharged on").fill((today - dt.timedelta(days=5)).isoformat())
    page.get_by_label("Diagnosis (ICD-10)").fill("K80.1")
    page.get_by_label("Diagnosis:", exact=True).fill("胆囊结石伴胆囊炎")
    page.get_by_label("Total cost").fill("60000.00")
    page.get_by_label("Policy-scope cost").fill("52000.00")
    expect(page.get_by_label("Received on")).to_have_value(today.isoformat())
    page.get_by_label("Documents received").fill("身份证、发票、出院小结、费用清单、银行卡")
    page.get_by_label("Payee:", exact=True).fill("张三")
    page.get_by_label("Payee bank").fill("农业银行都匀支行")
    page.get_by_label("Payee account").fill("6228480000000000001")
    page.screenshot(path=tmp_path / "register.png", full_page=True)
    page.get_by_role("button", name="Register a manual reimbursement").click()

    expect(page.locator(".messagelist")).to_contain_text("registered; it is due on " + deadline.due_on.isoformat())
    expect(page.locator("#case-state")).to_have_text("Received (受理)")
    case = ReimbursementCase.objects.select_related("claim").get()
    claim_number = case.claim.number
    assert (case.claim.person_id, case.claim.hospital_id, case.claim.total_cost, case.claim.policy_scope_cost) == (
        patient.pk, world["hospital"].pk, 60000, 52000)
    assert (case.sla_due_on, case.registered_by.username) == (deadline.due_on, "clerk")
    expect(page.get_by_role("heading", name=f"Manual reimbursement {claim_number}")).to_be_visible()
    expect(page.get_by_text("Not settled yet: the initial review settles the claim.")).to_be_visible()
    expect(page.get_by_role("button", name="Initial review (初审)")).to_have_count(0)  # a clerk does not review
    log_out(page)

    # --- Reviewer 1 finds it in their queue and does the initial review (初审), which settles the claim ------------
    log_in_to(page, "/claims/cases/", "reviewer1")
    row = queue_row(page, claim_number)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Received (受理)")
    expect(row).to_contain_text(due_text)
    expect(row).to_contain_text(remaining_text)
    row.get_by_role("link", name=claim_number).click()
    page.locator("#action-initial_review").get_by_label("Note").fill("材料齐全")
    page.get_by_role("button", name="Initial review (初审)").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Initial review (初审): done for manual reimbursement {claim_number}.")
    expect(page.locator("#case-state")).to_have_text("Initially reviewed (初审)")
    expect_case_figures(page)
    # Four eyes: reviewer 1 holds the re-review permission too, but not for a case they reviewed themselves.
    expect(page.get_by_role("button", name="Re-review (复核)")).to_have_count(0)
    page.get_by_role("link", name="Manual reimbursements").first.click()
    expect(queue_row(page, claim_number)).to_have_count(0)
    expect(page.get_by_text("Nothing is waiting here.")).to_be_visible()
    log_out(page)

    # --- Reviewer 2 re-reviews (复核): the case waits for payment (待支付) -------------------------------------------
    log_in_to(page, "/claims/cases/", "reviewer2")
    row = queue_row(page, claim_number)
    expect(row).to_contain_text("Initially reviewed (初审)")
    expect(row).to_contain_text(due_text)
    expect(row).to_contain_text(remaining_text)
    row.get_by_role("link", name=claim_number).click()
    expect_case_figures(page)  # what the re-reviewer approves
    page.get_by_role("button", name="Re-review (复核)").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Re-review (复核): done for manual reimbursement {claim_number}.")
    expect(page.locator("#case-state")).to_have_text("Re-reviewed, awaiting payment (待支付)")
    expect_case_figures(page)
    expect(page.get_by_role("button", name="Record payment")).to_be_visible()  # the next step is theirs

    page.get_by_role("link", name="Manual reimbursements").first.click()
    row = queue_row(page, claim_number)
    expect(row).to_contain_text("Re-reviewed, awaiting payment (待支付)")
    expect(row).to_contain_text(due_text)
    expect(row).to_contain_text(remaining_text)
    page.screenshot(path=tmp_path / "queue.png", full_page=True)

    # --- The printed slip (结算单) shows every layer and what the patient pays ----------------------------------------
    row.get_by_role("link", name=claim_number).click()
    with page.context.expect_page() as new_tab:
        page.get_by_role("link", name="Print settlement slip").click()
    slip = new_tab.value
    expect(slip.get_by_role("heading", name="Medical expense settlement slip")).to_be_visible()
    layers = slip.locator("table.settlement-layers")
    for label, figure in [("Basic medical insurance", FIGURES["basic"]),
                          ("Critical illness insurance", FIGURES["critical"]),
                          ("Medical assistance", FIGURES["assistance"]),
                          ("Borne by hospital", FIGURES["hospital"]),
                          ("Paid by patient", FIGURES["patient"])]:
        expect(layers.locator("tbody tr").filter(has_text=label).locator("td.money")).to_have_text(figure)
    expect(layers.locator("tfoot")).to_contain_text("= total cost 60000.00 ✓")  # the invariant holds
    expect(slip.locator(".patient-pays")).to_contain_text(f"¥ {FIGURES['patient']}")
    expect(slip.get_by_text(claim_number)).to_be_visible()
    slip.screenshot(path=tmp_path / "slip.png", full_page=True)
    slip.close()

    case.refresh_from_db()
    settlement = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    assert case.state == CaseState.APPROVED
    assert (case.initial_reviewer.username, case.re_reviewer.username) == ("reviewer1", "reviewer2")
    assert [str(amount) for amount in (settlement.basic, settlement.critical, settlement.assistance,
                                       settlement.hospital_borne, settlement.patient_pays)] == list(FIGURES.values())
