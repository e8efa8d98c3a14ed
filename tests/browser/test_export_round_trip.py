"""An export edited and imported back, in Chromium (issue 10 §4): a head of section who also does the clerk's work
exports the people list, follows the export's page to the download, changes a phone number in the workbook and
imports the file back through the import pages (dry run, then the import)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from enrollment import roles
from enrollment.models import ExportJob, Person
from enrollment.models.exports import ExportStatus
from tests.factories import make_person, make_user

PASSWORD = "pw-Secret-123"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def log_in_to(page: Page, path: str, username: str) -> None:
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_people_exported_edited_and_imported_back(regions, page, tmp_path):
    make_user("head_clerk", roles=(roles.HEAD, roles.CLERK), regions=(regions["a"],))
    person = make_person(regions["a"], name="吴九", phone="13800000000")
    make_person(regions["b"], name="乙县人")  # another county: never in the file

    log_in_to(page, "/admin/enrollment/person/", "head_clerk")
    page.locator("a.export_link").click()
    page.locator("select[name=format]").select_option(label="xlsx")
    page.locator("input.default[type=submit]").click()
    # The request returned at once with the export's page; on the embedded default the task ran in-process.
    expect(page.locator("#export-status")).to_have_text(str(ExportStatus.DONE.label))
    with page.expect_download() as download_info:
        page.locator("#export-download").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    assert ExportJob.objects.get().created_by.username == "head_clerk"

    book = load_workbook(io.BytesIO(open(download.path(), "rb").read()))  # noqa: SIM115
    sheet = book.active
    headers = [cell.value for cell in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[headers.index("姓名")] for row in rows] == ["吴九"]
    sheet.cell(row=2, column=headers.index("联系电话") + 1, value="13911112222")
    edited = tmp_path / "花名册.xlsx"
    book.save(edited)

    page.goto("/enrollment/imports/?kind=roster")
    page.locator("input[type=file]").set_input_files(str(edited))
    page.get_by_role("button", name="Check the file").click()
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-outcome")).to_be_visible()
    person.refresh_from_db()
    assert person.phone == "13911112222"
    assert Person.objects.get(name="乙县人").phone == ""
