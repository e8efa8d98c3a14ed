"""ID numbers in the admin: whole only for users with `enrollment.view_full_id_number`, masked everywhere else."""

import json

import pytest

from enrollment.exports import EnrollmentExportResource, IdentityExportResource, PersonExportResource
from enrollment.idnumbers import mask_id_number
from tests.factories import new_id_number

from . import _admin_world
from ._admin_world import ADMIN, export_rows

# Fixtures shared by the admin tests (the HTTP settings one is autouse).
_admin_over_plain_http = _admin_world._admin_over_plain_http
world = _admin_world.world


def _html(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def person(world):
    return world["a"].person


@pytest.mark.parametrize("model_name", ["person", "identity", "enrollment", "ledgerproblem"])
def test_changelists_mask_ids_without_the_permission(client, world, person, clerk_a, head_a, model_name):
    assert not clerk_a.has_perm("enrollment.view_full_id_number")
    assert head_a.has_perm("enrollment.view_full_id_number")

    client.force_login(clerk_a)
    html = _html(client, f"{ADMIN}/{model_name}/")
    assert person.id_number not in html
    assert person.masked_id_number in html

    client.force_login(head_a)
    html = _html(client, f"{ADMIN}/{model_name}/")
    assert person.id_number in html


def test_person_change_page_full_id_only_with_the_permission(client, person, clerk_a, head_a):
    url = f"{ADMIN}/person/{person.pk}/change/"
    client.force_login(clerk_a)
    response = client.get(url)
    html = response.content.decode()
    assert person.id_number not in html
    assert person.masked_id_number in html
    assert "id_number" not in response.context["adminform"].form.fields  # not editable, not even hidden

    client.force_login(head_a)
    assert person.id_number in _html(client, url)


def test_converted_15_digit_number_is_masked_too(client, regions, clerk_a):
    from tests.factories import make_person

    old = "522701580101123"
    converted = make_person(regions["a"], name="老证人", id_number=old)
    assert converted.id_converted_from == old
    client.force_login(clerk_a)
    html = _html(client, f"{ADMIN}/person/{converted.pk}/change/")
    assert old not in html and converted.id_number not in html
    assert mask_id_number(old) in html


def test_clerk_posting_an_id_number_cannot_change_it(client, person, clerk_a):
    client.force_login(clerk_a)
    page = client.get(f"{ADMIN}/person/{person.pk}/change/")
    form = page.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    from ._admin_world import management_data

    data.update(management_data(page))
    for inline in page.context["inline_admin_formsets"]:
        for i, inline_form in enumerate(inline.formset.forms):
            for name in inline_form.fields:
                value = inline_form.initial.get(name)
                if name == "id":
                    value = inline_form.instance.pk
                data[f"{inline.formset.prefix}-{i}-{name}"] = "" if value is None else value
    data["id_number"] = new_id_number("522701")
    response = client.post(f"{ADMIN}/person/{person.pk}/change/", data)
    assert response.status_code == 302, getattr(response.context.get("adminform"), "form", None) and \
        response.context["adminform"].form.errors
    old = person.id_number
    person.refresh_from_db()
    assert person.id_number == old


def test_history_pages_mask_ids_even_in_the_changes(client, person, clerk_a, head_a):
    old_number = person.id_number
    person.id_number = new_id_number("522701")
    person.save()  # history now holds a change of the ID number: old → new
    versions = list(person.history.all())
    client.force_login(clerk_a)
    pages = [f"{ADMIN}/person/{person.pk}/history/"] + [
        f"{ADMIN}/person/{person.pk}/history/{v.history_id}/" for v in versions]
    for url in pages:
        html = _html(client, url)
        assert old_number not in html and person.id_number not in html, url
    assert mask_id_number(old_number) in _html(client, pages[0])

    client.force_login(head_a)
    html = _html(client, pages[0])
    assert old_number in html and person.id_number in html


def test_identity_and_ledger_history_pages_mask_the_person(client, world, person, clerk_a):
    identity = world["a"].identity
    identity.person = world["a"].person
    identity.source_batch = "changed"
    identity.save()
    client.force_login(clerk_a)
    for url in (f"{ADMIN}/identity/{identity.pk}/history/", f"{ADMIN}/enrollment/{world['a'].enrollment.pk}/history/",
                f"{ADMIN}/identity/{identity.pk}/change/", f"{ADMIN}/enrollment/{world['a'].enrollment.pk}/change/"):
        assert person.id_number not in _html(client, url), url


def test_delete_confirmation_masks_ids(client, person, regions):
    from django.contrib.auth.models import Permission

    from enrollment import roles
    from tests.factories import make_user

    deleter = make_user("deleter", roles=(roles.CLERK,), regions=(regions["a"],))
    deleter.user_permissions.add(Permission.objects.get(codename="delete_person"))
    client.force_login(deleter)
    html = _html(client, f"{ADMIN}/person/{person.pk}/delete/")
    assert person.masked_id_number in html
    assert person.id_number not in html


def test_autocomplete_results_are_masked(client, person, clerk_a, head_a):
    for user in (clerk_a, head_a):
        client.force_login(user)
        response = client.get("/admin/autocomplete/", {
            "app_label": "enrollment", "model_name": "identity", "field_name": "person", "term": person.id_number})
        text = response.content.decode()
        assert [r["id"] for r in json.loads(text)["results"]] == [str(person.pk)]
        assert person.id_number not in text


@pytest.mark.parametrize(("model_name", "resource"), [
    ("person", PersonExportResource), ("identity", IdentityExportResource), ("enrollment", EnrollmentExportResource)])
@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_exports_mask_ids_without_the_permission(client, person, clerk_a, head_a, model_name, resource, file_format):
    client.force_login(clerk_a)
    rows = export_rows(client, model_name, resource, file_format)
    assert rows[1][0] == person.masked_id_number
    assert all(person.id_number not in cell for row in rows for cell in row)

    client.force_login(head_a)
    rows = export_rows(client, model_name, resource, file_format)
    assert rows[1][0] == person.id_number


def test_resource_without_a_user_masks(person):
    dataset = PersonExportResource().export(queryset=type(person).objects.filter(pk=person.pk))
    assert dataset[0][0] == person.masked_id_number
