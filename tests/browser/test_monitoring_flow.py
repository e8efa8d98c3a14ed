"""Early warning in Chromium: a clerk opens the dashboard, follows a figure to its list, verifies an item and
exports the list for a department."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from enrollment import roles
from monitoring.models import ItemStatus, ListKind, WarningItem
from monitoring.services import night
from tests.factories import make_identity, make_person, make_user
from tests.monitoring.factories import monitored_policy, settled

PASSWORD = "pw-Secret-123"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def world(regions):
    today = timezone.localdate()
    policy = monitored_policy(regions["prefecture"], effective_from=date(today.year - 1, 1, 1))
    for name in ("王一", "王二"):
        person = make_person(regions["a"], name=name)
        make_identity(person, "unstable_lifted", date(2020, 1, 1))
        settled(person, policy=policy, total="12000.00", scope="12000.00", year=today.year,
                admitted_on=today - timedelta(days=30))
    night.run_night(region=regions["province"], day=today)
    return {"clerk": make_user("clerk", roles=(roles.CLERK,), regions=(regions["a"],)), "today": today}


def log_in_to(page: Page, path: str, username: str) -> None:
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_clerk_follows_a_dashboard_figure_verifies_an_item_and_exports_the_list(world, page):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in_to(page, "/monitoring/", "clerk")
    figure = page.locator('[data-figure="high_cost"]')
    expect(figure).to_have_text("2")
    expect(page.locator("#chart-status canvas")).to_have_count(1)  # ECharts drew from the vendored file
    assert errors == []
    figure.click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    rows.first.locator("th a").click()
    expect(page.locator("#item-status")).to_have_text(str(ItemStatus.PENDING.label))
    page.get_by_label("note").fill("入户核实，情况属实")
    page.locator("#action-verify").click()
    expect(page.locator("#item-status")).to_have_text(str(ItemStatus.VERIFIED.label))
    expect(page.locator("#notes")).to_contain_text("入户核实，情况属实")
    item = WarningItem.objects.get(status=ItemStatus.VERIFIED)
    assert (item.kind, item.handled_by.username) == (ListKind.HIGH_COST, "clerk")

    page.get_by_text("back to the list").click()
    page.locator("#export-link").click()  # the export's page: the file is built by a background task
    with page.expect_download() as download_info:
        page.locator("#export-download").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(open(download.path(), "rb").read()))  # noqa: SIM115
    sheet = book["高额医疗费用预警"]
    names = sorted(row[3] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert names == ["王一", "王二"]
    statuses = {row[3]: row[-3] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert statuses[item.person.name] == str(ItemStatus.VERIFIED.label)
