"""Closing a settled policy version with an end date and opening its successor as a copy; the admin explains
why a settled version is read-only."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from claims.models import BasicBenefitRule, BenefitPolicy, CriticalSegment, Settlement, SpecialDisease
from claims.services import settle_claim
from enrollment import roles
from enrollment.models import PolicyVersion, SubsidyRule
from enrollment.models.policy import SubsidyKind
from enrollment.services.policy import PolicyNotEditable
from enrollment.services.policy_versions import close_version
from tests.factories import category, make_user

from .factories import make_claim, make_clerk, make_hospital, make_patient, make_special_disease, spec_example_policy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def world(regions):
    version = spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    make_special_disease(version)
    SubsidyRule.objects.create(policy=version, category=category("dibao"), kind=SubsidyKind.FULL)
    patient = make_patient(regions["a"])
    claim = make_claim(patient, make_hospital(regions["a"]), admitted_on=date(2024, 3, 1))  # discharged 3-10
    settlement = settle_claim(claim=claim, by=make_clerk("close"))
    head = make_user("close_head", roles=(roles.HEAD,), regions=(regions["prefecture"],))
    return {"version": version, "settlement": settlement, "head": head}


def test_closing_keeps_the_settled_version_frozen_and_copies_every_rule_to_the_successor(world):
    version, head = world["version"], world["head"]
    with pytest.raises(PolicyNotEditable):
        close_version(version=version, end_on=date(2024, 3, 5), by=head)  # before the last date of service
    successor = close_version(version=version, end_on=date(2024, 6, 30), by=head, successor_code="qn-2024h2",
                              successor_name="黔南 2024 下半年")
    version.refresh_from_db()
    assert version.effective_to == date(2024, 6, 30)
    assert (successor.effective_from, successor.effective_to, successor.code) == (date(2024, 7, 1), None,
                                                                                  "qn-2024h2")
    for model in (SubsidyRule, BasicBenefitRule, CriticalSegment, SpecialDisease):
        assert model.objects.filter(policy=successor).count() == model.objects.filter(policy=version).count() > 0
    assert BenefitPolicy.objects.get(policy=successor).basic_annual_cap == BenefitPolicy.objects.get(
        policy=version).basic_annual_cap
    assert Settlement.objects.get(pk=world["settlement"].pk).policy_id == version.pk
    # The original stays frozen; the successor is free to change.
    rule = BasicBenefitRule.objects.get(policy=version)
    rule.ratio = "0.99"
    with pytest.raises(ValidationError):
        rule.save()
    copied = BasicBenefitRule.objects.get(policy=successor)
    copied.ratio = "0.80"
    copied.save()
    with pytest.raises(ValidationError, match="already ends"):
        close_version(version=version, end_on=date(2024, 12, 31), by=head)


def test_only_a_head_of_the_region_may_close(world, regions):
    clerk = make_user("close_clerk", roles=(roles.CLERK,), regions=(regions["prefecture"],))
    with pytest.raises(PermissionDenied):
        close_version(version=world["version"], end_on=date(2024, 6, 30), by=clerk)
    other_head = make_user("other_head", roles=(roles.HEAD,), regions=(regions["b"],))
    with pytest.raises(PermissionDenied):
        close_version(version=world["version"], end_on=date(2024, 6, 30), by=other_head)
    assert PolicyVersion.objects.get(pk=world["version"].pk).effective_to is None


def test_the_admin_says_why_the_version_is_read_only_and_closes_it(client, world, django_assert_max_num_queries):
    version = world["version"]
    client.force_login(world["head"])
    page = client.get(reverse("admin:enrollment_policyversion_change", args=[version.pk])).content.decode()
    assert 'id="locked-reason"' in page and "settlements" in page and 'id="close-version"' in page
    url = reverse("admin:enrollment_policyversion_close", args=[version.pk])
    with django_assert_max_num_queries(10):
        assert client.get(url).status_code == 200
    response = client.post(url, {"end_on": "2024-06-30", "successor_code": "qn-next", "successor_name": "下一版"})
    assert response.status_code == 200  # not confirmed
    response = client.post(url, {"end_on": "2024-06-30", "successor_code": "qn-next", "successor_name": "下一版",
                                 "confirm": "on"})
    successor = PolicyVersion.objects.get(code="qn-next")
    assert response.status_code == 302 and response.url == reverse("admin:enrollment_policyversion_change",
                                                                   args=[successor.pk])
    page = client.get(response.url).content.decode()
    assert 'id="locked-reason"' not in page
