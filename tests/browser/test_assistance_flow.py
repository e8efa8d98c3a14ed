"""Medical assistance in Chromium: one application from registration to payment, one special aid case to payment.

Every user logs in through the real login form; the pages, buttons and services are the real ones.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from assistance.models import Application, SpecialAidCase
from enrollment import roles
from enrollment.models import Identity
from tests.assistance.factories import assistance_policy, member, settled_claim
from tests.claims.factories import make_assistance_rule
from tests.factories import make_household, make_identity, make_user

PASSWORD = "pw-Secret-123"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(regions):
    today = timezone.localdate()
    county = regions["a"]
    policy = assistance_policy(regions["prefecture"], effective_from=dt.date(today.year - 1, 1, 1))
    make_assistance_rule(policy, "illness_poor", ratio="0.60", annual_limit="30000.00")
    household = make_household(county, number="H-BROWSER")
    years = (today.year - 1, today.year)
    patient = member(household, county, codes=(), years=years, name="王病人", id_number="522701196005170013")
    spouse = member(household, county, codes=(), years=years, name="李配偶", id_number="522701196206180023")
    make_identity(patient, "stable_lifted", dt.date(today.year - 1, 1, 1))
    # Without an assisted identity: basic pays 38 625.00 of the example bill, the patient bears 21 375.00.
    settled_claim(patient, admitted_on=today - dt.timedelta(days=60), number="ZY-BROWSER-1")
    users = {name: make_user(name, roles=(role,), regions=(county,)) for name, role in (
        ("clerk", roles.CLERK), ("reviewer", roles.REVIEWER), ("approver", roles.APPROVER),
        ("rural", roles.RURAL_DEPT), ("health", roles.HEALTH_DEPT))}
    return {"today": today, "patient": patient, "spouse": spouse, **users}


def log_in_to(page: Page, path: str, username: str) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Logged out")).to_be_visible()


def an_application_from_registration_to_payment(world, page):
    today = world["today"].isoformat()
    log_in_to(page, "/assistance/applications/register/", "clerk")
    page.get_by_label("household number").fill("H-BROWSER")
    page.get_by_label("applicant's ID number").fill("522701196206180023")
    page.get_by_label("patients' ID numbers").fill("522701196005170013")
    page.get_by_label("application date").fill(today)
    page.get_by_label("declared incomes").fill(
        "522701196005170013, 0, 无收入证明\n522701196206180023, 30000, 务工收入证明")
    page.get_by_label("declared assets").fill("deposits, 5000, 银行流水")
    page.get_by_label("costs from outside the system").fill(f"522701196005170013, {today}, 院外购药, 2000, 500, 0")
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator("#state")).to_have_text("Received (受理)")
    expect(page.locator("#eligible-cost")).to_have_text("22875.00")  # 21 375.00 + 1 500.00
    expect(page.locator("#threshold")).to_have_text("18000.00")  # 60 % of 30 000.00
    expect(page.locator("#outcome")).to_contain_text("Passes the test")
    number = Application.objects.get().number
    log_out(page)

    log_in_to(page, "/assistance/applications/", "reviewer")
    page.get_by_role("link", name=number).click()
    page.locator("#action-initial_review").get_by_label("note").fill("材料齐全")
    page.get_by_role("button", name="Initial review (初审)").click()
    expect(page.locator("#state")).to_have_text("Initially reviewed (初审)")
    log_out(page)

    log_in_to(page, "/assistance/applications/", "approver")
    page.get_by_role("link", name=number).click()
    page.get_by_role("button", name="Approve (审批)").click()
    expect(page.locator("#state")).to_have_text("Approved, awaiting payment (审批)")
    expect(page.locator("#assistance-granted")).to_have_text("8025.00")  # 13 375.00 × 60 %
    page.locator("#action-pay").get_by_label("payment reference").fill("ZF-2026-001")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator("#state")).to_have_text("Paid (已支付)")
    assert Identity.objects.filter(person=world["patient"], category__code="illness_poor").exists()
    slip = page.get_by_role("link", name="Print the test sheet").get_attribute("href")
    page.goto(slip)
    expect(page.locator("#threshold")).to_have_text("18000.00")
    expect(page.locator("#assistance-granted")).to_have_text("8025.00")


def a_special_aid_case_from_opening_to_payment(world, page):
    log_in_to(page, "/assistance/cases/open/", "clerk")
    page.get_by_label("ID number").fill("522701196005170013")
    page.get_by_label("opening township or department").fill("某某镇人民政府")
    page.get_by_label("claims the aid is for").fill("ZY-BROWSER-1")
    page.get_by_role("button", name="Open the case").click()
    expect(page.locator("#state")).to_have_text("Opened (立案)")
    expect(page.locator("#named-out-of-pocket")).to_have_text("13350.00")  # 21 375.00 less the 8 025.00 granted
    meeting = page.locator("#action-record_meeting")
    meeting.get_by_label("participants and their departments").fill("乡村振兴局 王某；卫健委 李某")
    meeting.get_by_label("minutes").fill("同意给予特殊救助")
    page.get_by_role("button", name="Record a meeting").click()
    decision = page.locator("#action-decide")
    decision.get_by_label("aid amount").fill("3000.00")
    decision.get_by_label("funding source").select_option("donation")
    decision.get_by_label("payer").fill("县慈善总会")
    page.get_by_role("button", name="Record the decision (议定)").click()
    expect(page.locator("#state")).to_have_text("Decided, awaiting approval (议定)")
    number = SpecialAidCase.objects.get().number
    log_out(page)

    approvals = (("rural", "Approve for rural revitalization (乡村振兴)"), ("health", "Approve for health (卫健)"))
    for user, button in approvals:
        log_in_to(page, "/assistance/cases/", user)
        page.get_by_role("link", name=number).click()
        page.get_by_role("button", name=button).click()
        log_out(page)

    log_in_to(page, "/assistance/cases/", "approver")
    page.get_by_role("link", name=number).click()
    expect(page.locator("#state")).to_have_text("Approved by both departments (审批)")
    page.locator("#action-pay_case").get_by_label("payment reference").fill("CS-2026-001")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator("#state")).to_have_text("Paid (已支付)")
    expect(page.locator("#amount")).to_contain_text("3000.00")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_application_and_a_special_aid_case_to_payment(world, page):
    # One test for both flows: the live server's database is flushed after each test, taking the identity
    # categories of the data migration with it.
    an_application_from_registration_to_payment(world, page)
    page.goto("/admin/")  # from the printable sheet, which has no header
    log_out(page)
    a_special_aid_case_from_opening_to_payment(world, page)
