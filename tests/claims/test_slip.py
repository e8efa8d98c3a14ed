"""The printable settlement slip (结算单): the worked example's figures, masking, scoping, reversed settlements."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from claims.models import Settlement
from claims.services import correct_claim, settle_claim
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import make_user

from .factories import make_claim, make_hospital, make_patient, spec_example_policy

D = Decimal


@pytest.fixture
def example(regions, clerk_a):
    """SPEC §4.2: inpatient, county hospital, referred, dibao; total 60 000, policy scope 52 000; settled."""
    spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    hospital = make_hospital(regions["a"], code="H-DY-01", name="都匀市人民医院")
    patient = make_patient(regions["a"], name="王秀英")
    clerk_a.first_name, clerk_a.last_name = "小明", "李"
    clerk_a.save()
    claim = make_claim(patient, hospital, number="ZY2024000123", diagnosis_code="I63.9", diagnosis_name="脑梗死")
    settle_claim(claim=claim, by=clerk_a)
    return claim


def slip_url(claim) -> str:
    return reverse("admin:claims_claim_slip", args=[claim.pk])


def test_slip_shows_every_layer_of_the_worked_example(client, clerk_a, example):
    client.force_login(clerk_a)
    response = client.get(slip_url(example))
    assert response.status_code == 200
    page = response.content.decode()
    for figure in ("60000.00", "52000.00", "8000.00",  # total, policy scope, out of catalog
                   "38625.00", "3818.75", "6689.38", "2000.00", "8866.87"):
        assert figure in page, figure
    # The calculation steps as the engine wrote them.
    assert "(52000.00 − 500.00) × 75% = 38625.00" in page
    assert "(13375.00 − 7500.00) × 65% = 3818.75" in page
    assert "6689.375 → 6689.38" in page
    assert "8000.00 − 10% × 60000.00 = 2000.00" in page
    # The invariant, spelled out and checked.
    assert "38625.00 + 3818.75 + 6689.38 + 2000.00 + 8866.87" in page
    assert "= 60000.00" in page and "✓" in page
    # Patient, hospital, visit, policy, operator.
    for text in ("王秀英", "都匀市人民医院", "ZY2024000123", "I63.9", "脑梗死", "测试政策", "李小明", "低保对象"):
        assert text in page, text
    assert response.context["layers"].patient.amount == D("8866.87")
    assert response.context["layers"].balanced


def test_slip_masks_the_id_number_without_the_permission(client, clerk_a, example):
    client.force_login(clerk_a)
    page = client.get(slip_url(example)).content.decode()
    person = example.person
    assert person.masked_id_number in page
    assert person.id_number not in page


def test_slip_shows_the_whole_id_number_with_the_permission(client, head_a, example):
    client.force_login(head_a)
    assert example.person.id_number in client.get(slip_url(example)).content.decode()


def test_slip_names_the_funding_source_of_each_layer(client, clerk_a, example):
    client.force_login(clerk_a)
    rows = {row.layer: row for row in client.get(slip_url(example)).context["layers"].rows}
    assert [source for source, _amount in rows["basic"].funding] == ["Basic medical insurance fund"]
    assert [source for source, _amount in rows["assistance"].funding] == ["Medical assistance fund"]
    assert [source for source, _amount in rows["hospital"].funding] == ["Borne by hospital"]
    assert rows["patient"].funding == []


def test_slip_is_a_print_page_without_admin_chrome(client, clerk_a, example):
    client.force_login(clerk_a)
    page = client.get(slip_url(example)).content.decode()
    assert "@page" in page and "A4" in page
    assert "@media print" in page and ".no-print" in page
    assert 'id="header"' not in page and "nav-sidebar" not in page  # not the admin's base template


def test_slip_of_another_countys_claim_is_404(client, clerk_b, example):
    client.force_login(clerk_b)
    assert client.get(slip_url(example)).status_code == 404


def test_slip_needs_view_permission_on_claims(client, regions, example):
    nobody = make_user("nobody", regions=(regions["a"],))
    client.force_login(nobody)
    assert client.get(slip_url(example)).status_code == 403


def test_unsettled_claim_has_no_slip(client, clerk_a, example, regions):
    registered = make_claim(make_patient(regions["a"], name="未结算"), example.hospital, number="NOT-SETTLED")
    client.force_login(clerk_a)
    response = client.get(slip_url(registered))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:claims_claim_change", args=[registered.pk])


def test_reversed_settlement_prints_as_it_was_and_is_marked(client, clerk_a, example):
    old = Settlement.objects.get(claim=example)
    correct_claim(claim=example, by=clerk_a, reason="总费用录入错误", total_cost=D("50000.00"),
                  policy_scope_cost=D("45000.00"))
    client.force_login(clerk_a)

    current = client.get(slip_url(example))
    assert current.context["settlement"].reversed_at is None
    assert current.context["claim"].total_cost == D("50000.00")
    assert current.context["layers"].balanced

    earlier = client.get(slip_url(example), {"settlement": old.pk})
    page = earlier.content.decode()
    assert "总费用录入错误" in page  # the reversal banner
    assert earlier.context["claim"].total_cost == D("60000.00")  # the claim as it was settled then
    assert "8866.87" in page and earlier.context["layers"].balanced


def test_another_claims_settlement_cannot_be_printed_through_this_claim(client, clerk_a, example, regions):
    other = make_claim(make_patient(regions["a"], name="别人"), example.hospital, number="OTHER-2")
    other_settlement = settle_claim(claim=other, by=clerk_a)
    client.force_login(clerk_a)
    assert client.get(slip_url(example), {"settlement": other_settlement.pk}).status_code == 404
    assert client.get(slip_url(example), {"settlement": "x"}).status_code == 404


def test_claim_page_links_to_the_slip(client, clerk_a, example):
    client.force_login(clerk_a)
    page = client.get(reverse("admin:claims_claim_change", args=[example.pk])).content.decode()
    assert slip_url(example) in page
