"""No ID-number oracle in the admin: no partial match through the query string or the search box, and every
lookup the changelist does not offer is refused."""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db.models import ForeignKey, OneToOneField
from django.utils import translation

from enrollment.admin.base import StrictLookupsMixin

from . import _admin_world
from ._admin_world import ADMIN

_admin_over_plain_http = _admin_world._admin_over_plain_http
world = _admin_world.world

SENSITIVE_FIELDS = {"id_number", "id_converted_from", "bank_account", "birth_date"}
PARTIAL_LOOKUPS = ("startswith", "istartswith", "contains", "icontains", "endswith", "regex", "iregex", "gt", "lt",
                   "range", "iexact")
PROJECT_APPS = {"enrollment", "claims", "assistance", "monitoring"}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _paths_to_sensitive_fields(model, prefix="", depth=0, seen=()):
    """Every lookup path from `model` to an ID-number or bank field, through foreign keys (two hops deep)."""
    for field in model._meta.get_fields():
        if field.name in SENSITIVE_FIELDS and not field.is_relation:
            yield prefix + field.name
        elif isinstance(field, ForeignKey | OneToOneField) and depth < 3 and field.related_model not in seen:
            yield from _paths_to_sensitive_fields(field.related_model, f"{prefix}{field.name}__", depth + 1,
                                                  (*seen, model))


def _project_admins():
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in PROJECT_APPS or model._meta.label == "auth.User"]


def test_every_project_admin_refuses_lookups_it_does_not_offer():
    missing = [type(ma).__name__ for _m, ma in _project_admins() if not isinstance(ma, StrictLookupsMixin)]
    assert missing == []


def test_no_admin_allows_a_partial_lookup_on_an_id_or_bank_field(rf, head_a):
    request = rf.get("/")
    request.user = head_a
    checked = 0
    for model, model_admin in admin.site._registry.items():
        for path in _paths_to_sensitive_fields(model):
            for lookup in PARTIAL_LOOKUPS:
                assert not model_admin.lookup_allowed(f"{path}__{lookup}", "5227", request), (model, path, lookup)
                checked += 1
            assert not model_admin.lookup_allowed(path, "522701196005170531", request), (model, path)
    assert checked > 100  # people, identities, the ledger, problems, claims, payment lines … through relations


@pytest.mark.parametrize("query", [
    "id_number__startswith=5227", "id_number__regex=^5227", "id_number__contains=0517", "id_number=x",
    "bank_account__startswith=6222", "birth_date__year=1960", "name__contains=县", "household__number__startswith=H",
    "region__path__startswith=/52", "sex__regex=M",
])
def test_query_string_lookups_on_people_are_refused(client, world, head_a, query):
    client.force_login(head_a)
    response = client.get(f"{ADMIN}/person/?{query}")
    assert response.status_code == 400


@pytest.mark.parametrize(("model_name", "query"), [
    ("identity", "person__id_number__startswith=5227"),
    ("enrollment", "person__id_number__startswith=5227"),
    ("enrollment", "person__bank_account__contains=1"),
    ("ledgerproblem", "person__id_number__regex=0"),
    ("household", "members__id_number__startswith=5"),
])
def test_lookups_through_relations_are_refused(client, world, head_a, model_name, query):
    client.force_login(head_a)
    assert client.get(f"{ADMIN}/{model_name}/?{query}").status_code == 400


def test_the_filters_the_list_offers_still_work(client, world, head_a):
    client.force_login(head_a)
    region = world["a"].person.region_id
    for query in (f"region={region}", "sex__exact=M", "plan_year=2024&ledger_status=should", "identity_now=1"):
        assert client.get(f"{ADMIN}/person/?{query}").status_code == 200, query
    assert client.get(f"{ADMIN}/enrollment/?status__exact=should&scheme__exact=resident_tier1").status_code == 200
    assert client.get(f"{ADMIN}/ledgerproblem/?deadline__gte=2024-01-01&deadline__lt=2025-01-01").status_code == 200
    assert client.get(f"{ADMIN}/identity/?category__id__exact=1").status_code == 200
    assert client.get("/admin/enrollment/importjob/?created_at__year=2024").status_code == 200


def _search(client, model_name, term):
    response = client.get(f"{ADMIN}/{model_name}/", {"q": term})
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    return rows, [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("model_name", ["person", "identity", "enrollment", "ledgerproblem"])
def test_a_partial_id_number_gets_a_message_not_a_silent_empty_list(client, world, clerk_a, model_name):
    client.force_login(clerk_a)
    number = world["a"].person.id_number
    for partial in (number[:6], number[:17], number[-4:], number[4:12]):
        rows, messages = _search(client, model_name, partial)
        assert rows == []
        assert messages == [f"“{partial}” is not a whole ID number: search with all 18 characters (or the 15 digits "
                            "of an old card); a part of a number matches nothing."]


def test_a_malformed_id_number_gets_the_reason(client, world, clerk_a):
    client.force_login(clerk_a)
    number = world["a"].person.id_number
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    rows, messages = _search(client, "person", wrong)
    assert rows == []
    assert len(messages) == 1 and messages[0].startswith(f"“{wrong}” is not a valid ID number: The check digit")


def test_a_whole_number_and_a_name_search_as_before(client, world, clerk_a):
    client.force_login(clerk_a)
    person = world["a"].person
    assert _search(client, "person", person.id_number) == ([person], [])
    assert _search(client, "person", person.name[:2]) == ([person], [])
    # Another county's person is not found by their full number either, and no message tells them apart.
    other = world["b"].person
    assert _search(client, "person", other.id_number) == ([], [])
