"""The clerk's registration page for manual reimbursements (claims.views_register): permission, region, the
service's refusals on the form, nothing written on any error."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from claims.calendar import work_calendar
from claims.models import CaseEvent, Claim, ReimbursementCase
from claims.models.claims import ClaimSource, ClaimStatus
from claims.models.reimbursement import CaseState
from claims.rules.workdays import add_working_days
from enrollment import roles
from tests.claims.factories import make_hospital, make_patient, spec_example_policy
from tests.factories import make_user

URL = reverse("claims:register_case")


@pytest.fixture
def world(regions):
    today = timezone.localdate()
    spec_example_policy(regions["a"], effective_from=dt.date(today.year - 1, 1, 1))
    return {
        "today": today,
        "patient": make_patient(regions["a"], codes=("dibao",), years=(today.year - 1, today.year)),
        "patient_b": make_patient(regions["b"], codes=("dibao",), years=(today.year,)),
        "hospital": make_hospital(regions["a"], in_region=True, networked=False),
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=(regions["a"],)),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=(regions["a"],)),
    }


def form_data(world, **changes) -> dict:
    today = world["today"]
    data = {
        "person": world["patient"].pk,
        "hospital": world["hospital"].pk,
        "visit_type": "inpatient",
        "referral": "referred",
        "admitted_on": (today - dt.timedelta(days=15)).isoformat(),
        "discharged_on": (today - dt.timedelta(days=5)).isoformat(),
        "diagnosis_code": "K80.1",
        "diagnosis_name": "胆囊结石伴胆囊炎",
        "total_cost": "60000.00",
        "policy_scope_cost": "52000.00",
        "received_on": today.isoformat(),
        "documents": "身份证、发票、出院小结、费用清单、银行卡",
        "payee_name": "张三",
        "payee_bank": "农业银行",
        "payee_account": "6228480000000000001",
        "note": "窗口受理",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_page_needs_staff_and_the_permission(client, world):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

    client.force_login(world["reviewer"])
    assert client.get(URL).status_code == 403
    assert client.post(URL, form_data(world)).status_code == 403
    assert not ReimbursementCase.objects.exists()
    # The queue offers the page only to whoever may use it.
    assert URL not in client.get(reverse("claims:case_queue")).content.decode()

    client.force_login(world["clerk"])
    assert URL in client.get(reverse("claims:case_queue")).content.decode()
    response = client.get(URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert form["received_on"].value() == world["today"]
    # The person and hospital fields are the admin's autocomplete, asking the claim form's search.
    html = response.content.decode()
    assert 'data-model-name="claim"' in html and 'data-field-name="person"' in html
    assert 'data-field-name="hospital"' in html


def test_registering_opens_the_case_with_its_clock(client, world):
    client.force_login(world["clerk"])
    response = client.post(URL, form_data(world))

    case = ReimbursementCase.objects.select_related("claim").get()
    assert response.status_code == 302
    assert response["Location"] == reverse("claims:case_detail", args=[case.pk])
    claim = case.claim
    assert (claim.person, claim.region, claim.hospital, claim.source, claim.status, claim.created_by) == (
        world["patient"], world["patient"].region, world["hospital"], ClaimSource.MANUAL, ClaimStatus.REGISTERED,
        world["clerk"])
    assert (claim.total_cost, claim.policy_scope_cost, claim.referral, claim.diagnosis_code) == (
        Decimal("60000.00"), Decimal("52000.00"), "referred", "K80.1")
    deadline = add_working_days(work_calendar(), world["today"], 25)
    assert (case.state, case.received_on, case.sla_working_days, case.sla_due_on, case.sla_provisional) == (
        CaseState.RECEIVED, world["today"], 25, deadline.due_on, deadline.provisional)
    assert (case.payee_name, case.payee_account, case.registered_by) == (
        "张三", "6228480000000000001", world["clerk"])
    event = CaseEvent.objects.get(case=case)
    assert (event.transition, event.by, event.note) == ("register", world["clerk"], "窗口受理")

    page = client.get(response["Location"])
    assert f"Manual reimbursement {claim.number} registered; it is due on {deadline.due_on}" in (
        page.content.decode())


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        # Another region's person is not among the choices (nor in the autocomplete's answers).
        ({"person": "patient_b"}, "person", "Select a valid choice."),
        ({"policy_scope_cost": "60000.01"}, None, "The policy-scope cost must be between 0 and the total cost."),
        ({"received_on": "tomorrow"}, None, "The receipt date cannot be in the future."),
        ({"admitted_on": "two years ago", "discharged_on": "two years ago"}, None, "No policy version is in force"),
        ({"total_cost": ""}, "total_cost", "This field is required."),
    ],
)
def test_refusals_show_on_the_form_and_write_nothing(client, world, changes, field, message):
    today = world["today"]
    named = {"patient_b": world["patient_b"].pk, "tomorrow": (today + dt.timedelta(days=1)).isoformat(),
             "two years ago": dt.date(today.year - 2, 6, 1).isoformat()}
    client.force_login(world["clerk"])
    response = client.post(URL, form_data(world, **{key: named.get(value, value) for key, value in changes.items()}))

    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field) if field else form.non_field_errors()
    assert errors and any(message in error for error in errors), form.errors
    assert "Please correct the errors below." in response.content.decode()
    assert not Claim.objects.exists() and not ReimbursementCase.objects.exists()


def test_autocomplete_answers_are_region_scoped(client, world):
    client.force_login(world["clerk"])
    autocomplete = reverse("admin:autocomplete")
    params = {"app_label": "claims", "model_name": "claim", "field_name": "person"}
    own = client.get(autocomplete, {**params, "term": world["patient"].id_number}).json()["results"]
    other = client.get(autocomplete, {**params, "term": world["patient_b"].id_number}).json()["results"]
    assert [row["id"] for row in own] == [str(world["patient"].pk)]
    assert other == []
