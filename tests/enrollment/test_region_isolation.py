"""Region isolation in the admin: a county clerk reaches nothing of another county by any door."""

import json

import pytest

from enrollment.admin.base import scoped_form_class
from enrollment.admin.people import PersonForm
from enrollment.exports import EnrollmentExportResource, IdentityExportResource, PersonExportResource
from enrollment.models import Enrollment, Household, Identity, IdentityCategory, LedgerProblem, Person
from tests.factories import make_user

from . import _admin_world
from ._admin_world import ADMIN, export_rows, management_data

# Fixtures shared by the admin tests (the HTTP settings one is autouse).
_admin_over_plain_http = _admin_world._admin_over_plain_http
world = _admin_world.world

OBJECTS = [  # (admin model name, attribute of the world's side)
    ("person", "person"),
    ("household", "household"),
    ("identity", "identity"),
    ("enrollment", "enrollment"),
    ("ledgerproblem", "problem"),
]


@pytest.fixture
def as_clerk_a(client, clerk_a):
    client.force_login(clerk_a)
    return client


@pytest.fixture
def admin_a(regions):
    """A user of county A given every enrollment permission by hand (no role grants deleting people): every
    permission, still only county A's rows."""
    from django.contrib.auth.models import Permission

    user = make_user("admin_a", regions=(regions["a"],))
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="enrollment"))
    return user


@pytest.mark.parametrize(("model_name", "attr"), OBJECTS)
@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_other_countys_object_is_404_by_url(client, admin_a, clerk_a, world, model_name, attr, page):
    own = getattr(world["a"], attr)
    other = getattr(world["b"], attr)
    for user in (clerk_a, admin_a) if page != "delete" else (admin_a,):  # clerks may not delete at all
        client.force_login(user)
        assert client.get(f"{ADMIN}/{model_name}/{own.pk}/{page}/").status_code == 200
        assert client.get(f"{ADMIN}/{model_name}/{other.pk}/{page}/").status_code == 404


@pytest.mark.parametrize(("model_name", "attr"), OBJECTS)
def test_history_record_page_of_other_county_is_404(as_clerk_a, world, model_name, attr):
    own = getattr(world["a"], attr)
    other = getattr(world["b"], attr)
    own_version = own.history.latest().history_id
    other_version = other.history.latest().history_id
    assert as_clerk_a.get(f"{ADMIN}/{model_name}/{own.pk}/history/{own_version}/").status_code == 200
    assert as_clerk_a.get(f"{ADMIN}/{model_name}/{other.pk}/history/{other_version}/").status_code == 404


def test_delete_post_of_other_countys_row_changes_nothing(client, admin_a, world):
    client.force_login(admin_a)
    response = client.post(f"{ADMIN}/household/{world['b'].household.pk}/delete/", {"post": "yes"})
    assert response.status_code == 404
    assert Household.objects.filter(pk=world["b"].household.pk).exists()
    # The bulk delete action works on the scoped changelist: B's row is not even a valid choice.
    response = client.post(f"{ADMIN}/household/", {
        "action": "delete_selected", "_selected_action": [world["b"].household.pk], "post": "yes"})
    assert Household.objects.filter(pk=world["b"].household.pk).exists()


def test_history_of_deleted_rows_only_for_their_county(client, admin_a, world):
    household_a, household_b = world["a"].household, world["b"].household
    pk_a, pk_b = household_a.pk, household_b.pk
    household_a.delete()  # a model delete writes a "deleted" history row; the history page falls back to it
    household_b.delete()
    client.force_login(admin_a)
    assert client.get(f"{ADMIN}/household/{pk_a}/history/").status_code == 200
    assert client.get(f"{ADMIN}/household/{pk_b}/history/").status_code == 404


@pytest.mark.parametrize(("model_name", "attr", "marker"), [
    ("person", "person", lambda side: side.person.name),
    ("household", "household", lambda side: side.household.number),
    ("identity", "identity", lambda side: side.person.name),
    ("enrollment", "enrollment", lambda side: side.person.name),
    ("ledgerproblem", "problem", lambda side: side.problem.description),
])
def test_changelists_show_only_own_county(client, world, clerk_a, province_user, model_name, attr, marker):
    client.force_login(clerk_a)
    response = client.get(f"{ADMIN}/{model_name}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert marker(world["a"]) in html
    assert marker(world["b"]) not in html
    assert list(response.context["cl"].result_list) == [getattr(world["a"], attr)]

    client.force_login(province_user)
    response = client.get(f"{ADMIN}/{model_name}/")
    assert {obj.pk for obj in response.context["cl"].result_list} == {
        getattr(world["a"], attr).pk, getattr(world["b"], attr).pk}


def test_region_filter_offers_only_the_users_regions(as_clerk_a, world, regions):
    response = as_clerk_a.get(f"{ADMIN}/person/")
    region_filter = next(spec for spec in response.context["cl"].filter_specs if spec.parameter_name == "region")
    offered = {value for value, _label in region_filter.lookup_choices}
    assert offered == {str(regions["a"].pk)}
    # Asking for another county's region by hand yields nothing, not that county's people.
    response = as_clerk_a.get(f"{ADMIN}/person/?region={regions['b'].pk}")
    assert list(response.context["cl"].result_list) == []


def test_region_filter_keeps_the_subtree_for_a_province_user(client, province_user, world, regions):
    client.force_login(province_user)
    response = client.get(f"{ADMIN}/person/?region={regions['prefecture'].pk}")
    assert {p.pk for p in response.context["cl"].result_list} == {world["a"].person.pk, world["b"].person.pk}
    response = client.get(f"{ADMIN}/person/?region={regions['b'].pk}")
    assert [p.pk for p in response.context["cl"].result_list] == [world["b"].person.pk]


def _autocomplete(client, model_name, field_name, term=""):
    response = client.get("/admin/autocomplete/", {
        "app_label": "enrollment", "model_name": model_name, "field_name": field_name, "term": term})
    assert response.status_code == 200, response.content[:300]
    return [item["id"] for item in json.loads(response.content)["results"]]


@pytest.mark.parametrize(("model_name", "field_name", "attr"), [
    ("identity", "person", "person"),
    ("enrollment", "person", "person"),
    ("ledgerproblem", "person", "person"),
    ("person", "household", "household"),
])
def test_autocomplete_offers_only_own_county(client, world, clerk_a, province_user, model_name, field_name, attr):
    client.force_login(clerk_a)
    assert _autocomplete(client, model_name, field_name) == [str(getattr(world["a"], attr).pk)]
    # Searching for B's row by its exact key finds nothing either.
    other = getattr(world["b"], attr)
    term = other.id_number if attr == "person" else other.number
    assert _autocomplete(client, model_name, field_name, term) == []

    client.force_login(province_user)
    assert set(_autocomplete(client, model_name, field_name)) == {
        str(getattr(world["a"], attr).pk), str(getattr(world["b"], attr).pk)}


@pytest.mark.parametrize(("model_name", "resource", "name_column"), [
    ("person", PersonExportResource, 1),
    ("identity", IdentityExportResource, 1),
    ("enrollment", EnrollmentExportResource, 1),
])
@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_exports_hold_only_own_county(client, world, clerk_a, province_user, model_name, resource, name_column,
                                      file_format):
    client.force_login(clerk_a)
    rows = export_rows(client, model_name, resource, file_format)
    assert [row[name_column] for row in rows[1:]] == [world["a"].person.name]
    # A filter naming the other county cannot widen the export.
    rows = export_rows(client, model_name, resource, file_format, query=f"?region={world['b'].person.region_id}")
    assert rows[1:] == []

    client.force_login(province_user)
    rows = export_rows(client, model_name, resource, file_format)
    assert sorted(row[name_column] for row in rows[1:]) == sorted([world["a"].person.name, world["b"].person.name])


def test_export_resource_rescopes_a_queryset_it_is_handed(world, clerk_a):
    dataset = PersonExportResource(user=clerk_a).export(queryset=Person.objects.all())
    assert [row[1] for row in dataset] == [world["a"].person.name]


# --- Saving into another county -----------------------------------------------------------------------------------

def _person_post(response, **fields):
    data = {"id_number": "", "name": "新人", "region": "", "household": "", "relation_to_head": "", "township": "",
            "village": "", "phone": "", "bank_name": "", "bank_account": "", "death_date": ""}
    data.update(management_data(response))
    data.update(fields)
    return data


def test_cannot_add_a_person_in_another_county(as_clerk_a, world, regions):
    from tests.factories import new_id_number

    page = as_clerk_a.get(f"{ADMIN}/person/add/")
    number = new_id_number("522702")
    response = as_clerk_a.post(f"{ADMIN}/person/add/", _person_post(page, id_number=number, region=regions["b"].pk))
    assert response.status_code == 200  # the form again, with the error
    assert "region" in response.context["adminform"].form.errors
    assert not Person.objects.filter(id_number=number).exists()

    response = as_clerk_a.post(f"{ADMIN}/person/add/", _person_post(page, id_number=number, region=regions["a"].pk))
    assert response.status_code == 302
    assert Person.objects.get(id_number=number).region == regions["a"]


def test_cannot_move_a_person_into_another_county_or_household(as_clerk_a, world, regions):
    person = world["a"].person
    page = as_clerk_a.get(f"{ADMIN}/person/{person.pk}/change/")
    base = _person_post(page, name=person.name, region=regions["a"].pk, household=world["a"].household.pk)
    base.update({k: v for k, v in page.context["adminform"].form.initial.items() if k not in base and v is not None})
    for change in ({"region": regions["b"].pk}, {"household": world["b"].household.pk}):
        response = as_clerk_a.post(f"{ADMIN}/person/{person.pk}/change/", {**base, **change})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    person.refresh_from_db()
    assert person.region == regions["a"] and person.household == world["a"].household


def test_cannot_add_identity_household_or_ledger_row_in_another_county(as_clerk_a, world, regions):
    dibao = IdentityCategory.objects.get(code="dibao")
    identity_count = Identity.objects.count()
    page = as_clerk_a.get(f"{ADMIN}/identity/add/")
    response = as_clerk_a.post(f"{ADMIN}/identity/add/", {
        **management_data(page), "person": world["b"].person.pk, "category": dibao.pk, "valid_from": "2024-01-01",
        "certified_by": dibao.certified_by})
    assert response.status_code == 200 and "person" in response.context["adminform"].form.errors
    assert Identity.objects.count() == identity_count

    page = as_clerk_a.get(f"{ADMIN}/household/add/")
    response = as_clerk_a.post(f"{ADMIN}/household/add/", {**management_data(page), "number": "H-NEW",
                                                            "region": regions["b"].pk})
    assert response.status_code == 200 and "region" in response.context["adminform"].form.errors
    assert not Household.objects.filter(number="H-NEW").exists()

    page = as_clerk_a.get(f"{ADMIN}/enrollment/add/")
    response = as_clerk_a.post(f"{ADMIN}/enrollment/add/", {
        **management_data(page), "person": world["b"].person.pk, "plan_year": "2025", "scheme": "resident_tier1"})
    assert response.status_code == 200 and "person" in response.context["adminform"].form.errors
    assert not Enrollment.objects.filter(plan_year=2025).exists()

    page = as_clerk_a.get(f"{ADMIN}/ledgerproblem/add/")
    response = as_clerk_a.post(f"{ADMIN}/ledgerproblem/add/", {
        **management_data(page), "person": world["b"].person.pk, "plan_year": "2024", "kind": "other",
        "description": "x"})
    assert response.status_code == 200 and "person" in response.context["adminform"].form.errors
    assert LedgerProblem.objects.count() == 2


def test_server_side_check_refuses_a_region_the_choices_would_have_let_through(world, clerk_a, regions):
    """The save check does not rely on the limited choices: a form whose choices were not limited (a bug, a
    custom form) still cannot save into county B."""
    from tests.factories import new_id_number

    form_class = scoped_form_class(PersonForm, clerk_a)
    form = form_class(data={"id_number": new_id_number("522702"), "name": "外县人", "region": regions["b"].pk})
    assert not form.is_valid()
    assert "region_out_of_scope" in [e.code for e in form.non_field_errors().as_data()]

    form = form_class(data={"id_number": new_id_number("522701"), "name": "本县人", "region": regions["a"].pk})
    assert form.is_valid(), form.errors


def test_reference_data_is_read_from_above_but_changed_only_at_home(client, head_a, regions):
    from datetime import date

    from tests.factories import make_policy

    province_policy = make_policy(regions["province"], date(2024, 1, 1), code="gz-2024")
    county_policy = make_policy(regions["a"], date(2024, 1, 1), code="dy-2024")
    other_policy = make_policy(regions["b"], date(2024, 1, 1), code="fq-2024")
    client.force_login(head_a)
    response = client.get(f"{ADMIN}/policyversion/")
    assert {p.pk for p in response.context["cl"].result_list} == {province_policy.pk, county_policy.pk}
    assert client.get(f"{ADMIN}/policyversion/{other_policy.pk}/change/").status_code == 404

    # The province's version is shown read-only; a POST to it is refused.
    response = client.get(f"{ADMIN}/policyversion/{province_policy.pk}/change/")
    assert response.status_code == 200 and not response.context["has_change_permission"]
    response = client.post(f"{ADMIN}/policyversion/{province_policy.pk}/change/", {"name": "改"})
    assert response.status_code == 403
    response = client.get(f"{ADMIN}/policyversion/{county_policy.pk}/change/")
    assert response.context["has_change_permission"]
