"""What a user who sees ID numbers masked can still learn, and the log of who saw them whole.

A masked number keeps its first and last four characters; with the region (its first six digits) a whole birth
date would rebuild it, so such users see the year of birth only; bank accounts are masked like ID numbers.
"""

from datetime import date

import pytest
from django.utils import translation

from enrollment.exports import PersonExportResource
from enrollment.idnumbers import mask_bank_account, mask_id_number, mask_numbers_in_text, shown_birth_date
from enrollment.imports import run_import
from enrollment.models import IdNumberAccess
from tests.factories import make_user

from . import _admin_world
from ._admin_world import ADMIN, export_rows, management_data

_admin_over_plain_http = _admin_world._admin_over_plain_http
world = _admin_world.world

ACCOUNT = "6222021234567890123"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def person(world):
    person = world["a"].person
    person.bank_name, person.bank_account = "农业银行", ACCOUNT
    person.save()
    return person


def _html(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _rebuild_candidates(masked: str, region_code: str, birth: date) -> int:
    """How many valid numbers fit a mask, a region code and a full birth date (what a clerk would see)."""
    from stdnum.cn import ric

    count = 0
    for sequence in range(1000):
        body = f"{region_code}{birth:%Y%m%d}{sequence:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if mask_id_number(number) == masked:
            count += 1
    return count


def test_a_mask_and_a_whole_birth_date_would_rebuild_the_number(person):
    """Why the year only: the mask, the county code and the whole birth date leave exactly one number."""
    candidates = _rebuild_candidates(person.masked_id_number, person.id_number[:6], person.birth_date)
    assert candidates == 1


def test_units_of_masking():
    assert mask_bank_account(ACCOUNT) == "6222***********0123"
    assert mask_bank_account("12345678") == "******78"
    assert mask_bank_account("") == ""
    assert shown_birth_date(date(1960, 5, 17), full=False) == "1960"
    assert shown_birth_date(date(1960, 5, 17), full=True) == "1960-05-17"
    number = "52270119600517053X"
    assert mask_numbers_in_text(f"“{number}” is not a date; account {ACCOUNT}.") == (
        f"“{mask_id_number(number)}” is not a date; account {mask_bank_account(ACCOUNT)}.")
    assert mask_numbers_in_text("row 12, 2024-01-01, 380.00, H0001234") == "row 12, 2024-01-01, 380.00, H0001234"


def test_person_page_shows_the_year_of_birth_and_a_masked_account(client, person, clerk_a, head_a):
    url = f"{ADMIN}/person/{person.pk}/change/"
    client.force_login(clerk_a)
    html = _html(client, url)
    assert "1960-05-17" not in html and "1960年5月17日" not in html and "May 17, 1960" not in html
    assert ACCOUNT not in html and mask_bank_account(ACCOUNT) in html
    client.force_login(head_a)
    html = _html(client, url)
    assert ACCOUNT in html


def _post_person(client, person, **changes):
    page = client.get(f"{ADMIN}/person/{person.pk}/change/")
    form = page.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    data.update(management_data(page))
    for inline in page.context["inline_admin_formsets"]:
        for i, inline_form in enumerate(inline.formset.forms):
            for name in inline_form.fields:
                value = inline_form.instance.pk if name == "id" else inline_form.initial.get(name)
                data[f"{inline.formset.prefix}-{i}-{name}"] = "" if value is None else value
    data.update(changes)
    response = client.post(f"{ADMIN}/person/{person.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    person.refresh_from_db()


def test_a_clerk_keeps_or_replaces_the_account_without_seeing_it(client, person, clerk_a):
    client.force_login(clerk_a)
    page = client.get(f"{ADMIN}/person/{person.pk}/change/")
    assert page.context["adminform"].form.initial["bank_account"] == ""
    _post_person(client, person, phone="13900000000")
    assert (person.bank_account, person.phone) == (ACCOUNT, "13900000000")
    _post_person(client, person, bank_account="6217009876543210")
    assert person.bank_account == "6217009876543210"


def test_lists_exports_and_household_pages_show_the_year_only(client, person, clerk_a, head_a):
    client.force_login(clerk_a)
    assert "1960-05-17" not in _html(client, f"{ADMIN}/person/")
    assert "1960-05-17" not in _html(client, f"{ADMIN}/household/{person.household_id}/change/")
    # Cells, not positions: the export's columns follow the roster import's order (round trip).
    row = export_rows(client, "person", PersonExportResource, "csv")[1]
    assert "1960" in row and "1960-05-17" not in row
    client.force_login(head_a)
    assert "1960-05-17" in export_rows(client, "person", PersonExportResource, "csv")[1]


def test_history_masks_accounts_and_birth_dates(client, person, clerk_a):
    person.bank_account = "6217000011112222"
    person.save()
    client.force_login(clerk_a)
    pages = [f"{ADMIN}/person/{person.pk}/history/"] + [
        f"{ADMIN}/person/{person.pk}/history/{version.history_id}/" for version in person.history.all()]
    for url in pages:
        html = _html(client, url)
        assert ACCOUNT not in html and "6217000011112222" not in html and person.id_number not in html, url
        assert "1960-05-17" not in html, url
    assert mask_bank_account(ACCOUNT) in _html(client, pages[0])


def test_import_error_messages_never_quote_a_whole_number(tmp_path, clerk_a, regions):
    from .test_imports import IDENTITY_HEADERS, csv_bytes

    number = "52270119600517053X"  # typed into the date column by mistake: the message quotes the cell
    path = tmp_path / "ids.csv"
    path.write_bytes(csv_bytes(IDENTITY_HEADERS, [[number, "tekun", number, "", "", "", ""]]))
    result = run_import(job_or_file=path, kind="identities", user=clerk_a, dry_run=True)
    text = " ".join(error.message for error in result.errors)
    assert number not in text and mask_id_number(number) in text


# --- the access log -----------------------------------------------------------------------------------------------

def test_who_saw_whole_numbers_is_recorded(client, person, clerk_a, head_a):
    client.force_login(clerk_a)
    _html(client, f"{ADMIN}/person/")
    _html(client, f"{ADMIN}/person/{person.pk}/change/")
    export_rows(client, "person", PersonExportResource, "csv")
    assert IdNumberAccess.objects.count() == 0  # masked: nothing to record

    client.force_login(head_a)
    _html(client, f"{ADMIN}/person/?q={person.name}")
    _html(client, f"{ADMIN}/person/{person.pk}/change/")
    _html(client, f"{ADMIN}/person/{person.pk}/history/")
    export_rows(client, "person", PersonExportResource, "xlsx")
    log = {(a.kind, a.model, a.object_id, a.rows) for a in IdNumberAccess.objects.filter(user=head_a)}
    assert ("list", "enrollment_person", "", None) in log
    assert ("detail", "enrollment.person", str(person.pk), None) in log
    assert ("history", "enrollment.person", str(person.pk), None) in log
    assert ("export", "enrollment.person", "", 1) in log
    assert IdNumberAccess.objects.filter(kind="list", path__contains="q=").exists()


def test_the_log_is_read_only_and_scoped(client, world, head_a, regions, django_assert_max_num_queries):
    from enrollment import roles

    head_b = make_user("head_b", roles=(roles.HEAD,), regions=(regions["b"],))
    for user in (head_a, head_b):
        for _i in range(5):
            IdNumberAccess.objects.create(user=user, kind="detail", model="enrollment.person", path="/x/")
    client.force_login(head_a)
    with django_assert_max_num_queries(12):
        response = client.get("/admin/enrollment/idnumberaccess/")
    assert response.status_code == 200
    assert {a.user_id for a in response.context["cl"].result_list} == {head_a.pk}
    foreign = IdNumberAccess.objects.filter(user=head_b).first()
    assert client.get(f"/admin/enrollment/idnumberaccess/{foreign.pk}/change/").status_code == 404
    assert client.get("/admin/enrollment/idnumberaccess/add/").status_code == 403
    own = IdNumberAccess.objects.filter(user=head_a).first()
    assert client.post(f"/admin/enrollment/idnumberaccess/{own.pk}/delete/", {"post": "yes"}).status_code == 403
    assert IdNumberAccess.objects.count() == 10
