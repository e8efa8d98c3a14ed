"""Department exchange: the .xlsx export and the answer file's round trip through the import engine."""

import io
from datetime import date, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from enrollment import roles
from enrollment.imports.service import run_import
from enrollment.models import Identity
from monitoring import exchange
from monitoring.models import AnswerMark, ListKind, WarningItem
from monitoring.services import night
from tests.export_helpers import download_export
from tests.factories import category, make_identity, make_person, make_user

from .factories import monitored_policy, settled

NIGHT = date(2024, 6, 28)


@pytest.fixture
def world(regions):
    policy = monitored_policy(regions["prefecture"])
    lifted = make_person(regions["a"], name="脱贫户")
    make_identity(lifted, "unstable_lifted", date(2020, 1, 1))
    settled(lifted, policy=policy, total="12000.00", scope="12000.00")
    other = make_person(regions["a"], name="农村居民")
    settled(other, policy=policy, total="30000.00", scope="30000.00")
    foreign = make_person(regions["b"], name="外县")
    settled(foreign, policy=policy, total="30000.00", scope="30000.00")
    night.run_night(region=regions["prefecture"], day=NIGHT)
    return {"lifted": lifted, "other": other, "foreign": foreign, **regions}


def export(client, user, query="") -> bytes:
    client.force_login(user)
    return download_export(client, client.get(reverse("monitoring:export") + query))


@pytest.mark.django_db
def test_export_has_a_sheet_per_list_with_real_numbers_dates_and_a_frozen_header(client, world):
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(world["a"],))
    book = load_workbook(io.BytesIO(export(client, clerk)))
    assert book.sheetnames[0] == exchange.ANSWER_SHEET
    assert "高额医疗费用预警" in book.sheetnames and "应保尽保" in book.sheetnames
    sheet = book["高额医疗费用预警"]
    assert sheet.freeze_panes == "A2"
    headers = [cell.value for cell in sheet[1]]
    rows = [dict(zip(headers, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert sorted(r["姓名"] for r in rows) == ["农村居民", "脱贫户"]  # county B's person is not the clerk's
    row = next(r for r in rows if r["姓名"] == "脱贫户")
    assert row["个人自付"] == 12000 and isinstance(row["首次发现"], datetime)
    assert "*" in row["身份证号"]  # a clerk sees masked numbers
    assert sheet.column_dimensions["E"].width == 21


@pytest.mark.django_db
def test_full_id_numbers_only_for_roles_that_may_see_them(client, world):
    head = make_user("head", roles=(roles.HEAD,), regions=(world["a"],))
    book = load_workbook(io.BytesIO(export(client, head, "?kind=high_cost")))
    numbers = {row[3] for row in book[exchange.ANSWER_SHEET].iter_rows(min_row=2, values_only=True)}
    assert world["lifted"].id_number in numbers


def fill_answers(content: bytes, answers: dict[str, tuple]) -> bytes:
    """A department fills in the answer sheet: name → (mark, category, start, end)."""
    book = load_workbook(io.BytesIO(content))
    sheet = book[exchange.ANSWER_SHEET]
    for row in sheet.iter_rows(min_row=2):
        if row[2].value in answers:
            mark, code, start, end = answers[row[2].value]
            row[4].value, row[5].value, row[6].value, row[7].value = mark, code, start, end
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(content: bytes, name="answers.xlsx"):
    return SimpleUploadedFile(name, content)


@pytest.mark.django_db
def test_round_trip_the_exported_file_filled_in_imports_back(client, world):
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(world["a"],))
    content = fill_answers(export(client, clerk, "?kind=high_cost"), {
        "农村居民": ("新增", "illness_poor", date(2024, 7, 1), None),
        "脱贫户": ("终止", "unstable_lifted", date(2020, 1, 1), date(2024, 6, 30)),
    })
    dry = run_import(job_or_file=upload(content), kind=exchange.KIND, user=clerk, dry_run=True)
    assert dry.ok, dry.errors
    assert not Identity.objects.filter(category=category("illness_poor")).exists()
    result = run_import(job_or_file=upload(content), kind=exchange.KIND, user=clerk)
    assert result.ok and result.written
    new = Identity.objects.get(person=world["other"], category=category("illness_poor"))
    assert (new.valid_from, new.valid_to, new.history.first().history_user) == (date(2024, 7, 1), None, clerk)
    ended = Identity.objects.get(person=world["lifted"], category=category("unstable_lifted"))
    assert ended.valid_to == date(2024, 6, 30)
    item = WarningItem.objects.get(person=world["other"], kind=ListKind.HIGH_COST)
    assert (item.answer, item.answered_on is not None) == (AnswerMark.NEW, True)
    assert item.history.count() >= 2
    # Importing the same answers again changes nothing.
    again = run_import(job_or_file=upload(content), kind=exchange.KIND, user=clerk, dry_run=True)
    assert dict(again.counts)[str(Identity._meta.verbose_name_plural)].create == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("answer", "column", "message"), [
    (("作废", "illness_poor", date(2024, 7, 1), None), "标识", "Unknown mark"),
    (("新增", "no_such", date(2024, 7, 1), None), "身份类别", "Unknown identity category"),
    (("新增", "illness_poor", None, None), "开始日期", "must not be empty"),
    (("终止", "unstable_lifted", date(2020, 1, 1), date(2019, 1, 1)), "结束日期", "ends (2019-01-01) before"),
    (("终止", "dibao", date(2020, 1, 1), date(2024, 6, 30)), "开始日期", "holds no such identity"),
    (("终止", "unstable_lifted", date(2020, 1, 1), None), "结束日期", "must not be empty"),
])
def test_bad_answers_name_row_and_column_and_write_nothing(client, world, answer, column, message):
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(world["a"],))
    good = ("新增", "illness_poor", date(2024, 7, 1), None)
    content = fill_answers(export(client, clerk, "?kind=high_cost"), {"农村居民": good, "脱贫户": answer})
    identities = Identity.objects.count()
    result = run_import(job_or_file=upload(content), kind=exchange.KIND, user=clerk)
    assert not result.ok and not result.written
    error = result.errors[0]
    assert error.column == column and message in error.message and error.row >= 2
    assert Identity.objects.count() == identities
    assert not WarningItem.objects.exclude(answer="").exists()


@pytest.mark.django_db
def test_answers_for_items_outside_the_region_or_with_another_id_are_refused(client, world):
    clerk_b = make_user("clerk_b", roles=(roles.CLERK,), regions=(world["b"],))
    head_a = make_user("head", roles=(roles.HEAD, roles.CLERK), regions=(world["a"],))
    content = fill_answers(export(client, head_a, "?kind=high_cost"),
                           {"脱贫户": ("确认", "unstable_lifted", date(2020, 1, 1), None)})
    result = run_import(job_or_file=upload(content), kind=exchange.KIND, user=clerk_b)
    assert "outside your regions" in result.errors[0].message
    book = load_workbook(io.BytesIO(content))
    sheet = book[exchange.ANSWER_SHEET]
    for row in sheet.iter_rows(min_row=2):
        if row[2].value == "脱贫户":
            row[3].value = world["foreign"].id_number
    out = io.BytesIO()
    book.save(out)
    result = run_import(job_or_file=upload(out.getvalue()), kind=exchange.KIND, user=head_a)
    assert result.errors[0].column == "身份证号" and "not the item's person" in result.errors[0].message


@pytest.mark.django_db
def test_answer_upload_page_shows_the_dry_run(client, world):
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(world["a"],))
    content = fill_answers(export(client, clerk, "?kind=high_cost"),
                           {"农村居民": ("新增", "illness_poor", date(2024, 7, 1), None)})
    response = client.post(reverse("monitoring:answers"), {"file": upload(content)}, follow=True)
    assert response.status_code == 200
    assert response.context["awaiting_confirmation"]
    assert not Identity.objects.filter(category=category("illness_poor")).exists()
