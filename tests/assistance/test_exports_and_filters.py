"""Exports of applications and special aid cases (admin lists and queue pages) and the queues' django-filter
filters: typed .xlsx cells with a Chinese sheet name, ID numbers masked per role, region isolation, formula guard;
filters by state, due state, region, name or whole ID number, with a message for a partial number."""

import csv
import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone, translation
from import_export.forms import SelectableFieldsExportForm

from assistance.exports import ApplicationExportResource, SpecialAidCaseExportResource
from assistance.filters import ApplicationQueueFilter
from assistance.models import Application
from assistance.services import applications as application_services
from assistance.services import special_aid as case_services
from assistance.services.applications import IncomeItem
from enrollment import roles
from tests.export_helpers import download_export
from tests.factories import make_household, make_identity, make_user

from .factories import assistance_policy, member

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = timezone.localdate()
YEARS = (TODAY.year - 1, TODAY.year)
ID_A = "522701196005170013"
ID_B = "52270219620618002X"


@pytest.fixture
def world(regions):
    assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    a, b = regions["a"], regions["b"]
    household_a = make_household(a, number="H-A-1")
    person_a = member(household_a, a, codes=(), years=YEARS, name="=HYPERLINK(\"x\")", id_number=ID_A)
    household_b = make_household(b, number="H-B-1")
    person_b = member(household_b, b, codes=(), years=YEARS, name="乙县人", id_number=ID_B)
    clerk_a = make_user("clerk_a", roles=(roles.CLERK,), regions=(a,))
    clerk_b = make_user("clerk_b", roles=(roles.CLERK,), regions=(b,))
    for household, person, clerk in ((household_a, person_a, clerk_a), (household_b, person_b, clerk_b)):
        application_services.register_application(
            by=clerk, household=household, applicant=person, patients=[person], applied_on=TODAY,
            incomes=[IncomeItem(person, D("12000.50"), "证明")])
        make_identity(person, "stable_lifted", dt.date(TODAY.year - 1, 1, 1))
        case_services.open_case(by=clerk, person=person, opened_on=TODAY, opening_unit="+某镇")
    return {"a": a, "b": b, "person_a": person_a, "person_b": person_b, "clerk_a": clerk_a, "clerk_b": clerk_b,
            "head_a": make_user("head_a", roles=(roles.HEAD,), regions=(a,))}


def _admin_export(client, model_name, resource_class, file_format):
    index = {"xlsx": "0", "csv": "1"}[file_format]
    data = {"format": index, "resource": "0"}
    for field in resource_class().get_export_order():
        data[SelectableFieldsExportForm.create_boolean_field_name(resource_class, field)] = "on"
    # The admin's exports are background jobs (enrollment.ExportJob): the request redirects to the job's page.
    response = client.post(reverse(f"admin:assistance_{model_name}_export"), data)
    return SimpleNamespace(content=download_export(client, response))


def _csv_rows(response):
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_admin_export_of_applications_has_number_and_date_cells_and_a_chinese_sheet(client, world):
    client.force_login(world["clerk_a"])
    with translation.override("zh-hans"):
        response = _admin_export(client, "application", ApplicationExportResource, "xlsx")
        sheet_name = str(ApplicationExportResource.get_display_name())
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == sheet_name and sheet_name != "Assistance applications"  # Chinese
    assert sheet.freeze_panes == "A2"
    headers = [cell.value for cell in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 1  # county A's application only
    row = dict(zip(headers, rows[0], strict=True))
    applied_on = row[headers[ApplicationExportResource._meta.fields.index("applied_on")]]
    assert applied_on.is_date and applied_on.value.date() == TODAY
    due_on = row[headers[ApplicationExportResource._meta.fields.index("due_on")]]
    assert due_on.is_date
    name = row[headers[ApplicationExportResource._meta.fields.index("applicant_name")]]
    assert name.data_type == "s" and name.value == "'=HYPERLINK(\"x\")"  # the formula never runs
    id_number = row[headers[ApplicationExportResource._meta.fields.index("applicant_id_number")]]
    assert id_number.value == "5227**********0013"
    widths = {letter: dimension.width for letter, dimension in sheet.column_dimensions.items()}
    assert all(width >= 6 for width in widths.values())


def test_granted_assistance_is_a_number_cell(client, world):
    application = Application.objects.get(region=world["a"])
    Application.objects.filter(pk=application.pk).update(
        assistance_granted=D("1234.56"), test_figures={"eligible_cost": "8000.10", "annual_income": "12000.50",
                                                       "threshold": "7200.30"})
    client.force_login(world["clerk_a"])
    response = _admin_export(client, "application", ApplicationExportResource, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    fields = ApplicationExportResource._meta.fields
    row = next(sheet.iter_rows(min_row=2))
    for field, value in (("assistance_granted", 1234.56), ("eligible_cost", 8000.1), ("annual_income", 12000.5),
                         ("threshold", 7200.3)):
        cell = row[fields.index(field)]
        assert (cell.data_type, cell.value) == ("n", value), field


def test_case_export_masks_unless_the_role_may_see_full_numbers_and_keeps_to_the_region(client, world):
    client.force_login(world["clerk_a"])
    rows = _csv_rows(_admin_export(client, "specialaidcase", SpecialAidCaseExportResource, "csv"))
    fields = SpecialAidCaseExportResource._meta.fields
    assert len(rows) == 2
    assert rows[1][fields.index("id_number")] == "5227**********0013"
    assert rows[1][fields.index("opening_unit")] == "'+某镇"  # formula guard in CSV too
    client.force_login(world["head_a"])
    rows = _csv_rows(_admin_export(client, "specialaidcase", SpecialAidCaseExportResource, "csv"))
    assert [row[fields.index("id_number")] for row in rows[1:]] == [ID_A]
    client.force_login(world["clerk_b"])
    rows = _csv_rows(_admin_export(client, "specialaidcase", SpecialAidCaseExportResource, "csv"))
    assert [row[fields.index("id_number")] for row in rows[1:]] == ["5227**********002X"]


def test_resource_reapplies_the_region_scope_to_any_queryset(world):
    rows = ApplicationExportResource(user=world["clerk_b"]).export(queryset=Application.objects.all())
    assert [row[ApplicationExportResource._meta.fields.index("region_code")] for row in rows] == [
        world["b"].code]


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_queue_page_exports_what_the_filters_show(client, world, file_format):
    client.force_login(world["clerk_a"])
    url = reverse("assistance:application_queue")
    response = client.get(url, {"scope": "all", "export": file_format})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'.{file_format}"')
    if file_format == "csv":
        rows = _csv_rows(response)
        assert len(rows) == 2 and rows[1][0].startswith("YSQ")
        response = client.get(url, {"scope": "all", "export": "csv", "q": "张"})
        assert len(_csv_rows(response)) == 1  # the filter applies to the export
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        assert sheet.max_row == 2
        applied_on = sheet.cell(row=2, column=ApplicationExportResource._meta.fields.index("applied_on") + 1)
        assert applied_on.is_date  # typed cells on the queue page's export too, not only the admin's
    cases = client.get(reverse("assistance:case_queue"), {"scope": "all", "export": file_format})
    assert cases.status_code == 200 and cases["Content-Disposition"].endswith(f'.{file_format}"')


def test_queue_filters_by_state_region_name_and_whole_id(client, world, regions, django_assert_max_num_queries):
    province = make_user("prov", roles=(roles.CLERK,), regions=(regions["province"],))
    client.force_login(province)
    url = reverse("assistance:application_queue")

    def numbers(**params):
        # User, permissions, hospital link, regions; the region choice and its subtree (for the tab counts and the
        # rows); the counts under their time budget; the rows (a keyset page that the dated applications do not fill
        # reads the paused ones too: claims.paging); the region list of the form — whatever the rows.
        with django_assert_max_num_queries(18):
            response = client.get(url, {"scope": "all", **params})
        assert response.status_code == 200
        return {row.applicant.id_number for row in response.context["rows"]}

    assert numbers() == {ID_A, ID_B}
    assert numbers(region=world["b"].pk) == {ID_B}
    assert numbers(q=ID_A) == {ID_A}
    assert numbers(q="乙县") == {ID_B}
    assert numbers(state="reviewed") == set()
    assert numbers(state="received", due="on_track") == {ID_A, ID_B}
    assert numbers(due="overdue") == set()
    for _ in range(5):
        case_services.open_case(by=world["clerk_b"], person=world["person_b"], opened_on=TODAY, opening_unit="某镇")
    cases = reverse("assistance:case_queue")
    with django_assert_max_num_queries(12):
        response = client.get(cases, {"scope": "all", "region": world["b"].pk, "q": ID_B})
    assert {row.person.id_number for row in response.context["rows"]} == {ID_B}
    assert len(response.context["rows"]) == 6


@pytest.mark.parametrize(("term", "why"), [("5227011960", "is not a whole ID number"),
                                           ("522701196005170014", "is not a valid ID number")])
def test_a_partial_or_malformed_id_gets_a_message_not_an_empty_list(client, world, term, why):
    client.force_login(world["clerk_a"])
    response = client.get(reverse("assistance:application_queue"), {"scope": "all", "q": term})
    assert response.status_code == 200
    assert why in response.content.decode()
    assert not response.context["filter"].is_valid()
    response = client.get(reverse("assistance:case_queue"), {"scope": "all", "q": term})
    assert why in response.content.decode()


def test_the_id_message_is_chinese(world):
    with translation.override("zh-hans"):
        filterset = ApplicationQueueFilter({"q": "5227011960"}, queryset=Application.objects.all())
        assert not filterset.is_valid()
        message = " ".join(filterset.errors["q"])
    assert "身份证号" in message


def test_a_user_of_another_region_cannot_filter_by_it(client, world):
    client.force_login(world["clerk_a"])
    response = client.get(reverse("assistance:application_queue"), {"scope": "all", "region": world["b"].pk})
    assert not response.context["filter"].is_valid()
    assert {row.applicant.id_number for row in response.context["rows"]} <= {ID_A}
