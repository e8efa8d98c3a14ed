"""Policy lock: a policy version that settled claims can no longer be edited — a change is a new version."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from claims.models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from claims.models.choices import HospitalLevel, Layer, VisitType
from claims.services import policy_has_settlements, reverse_settlement, settle_claim
from enrollment.models import PolicyVersion
from enrollment.services.policy import PolicyNotEditable, ensure_policy_editable
from tests.factories import category

from .factories import (
    make_assistance_rule,
    make_basic_rule,
    make_claim,
    make_clerk,
    make_hospital,
    make_patient,
    make_special_disease,
    spec_example_policy,
)

D = Decimal
LOCKED = "already has settlements.*create a new version"


@pytest.fixture
def world(regions):
    """A settled version (prefecture, from 2024) and an unsettled one (province, 2023 only)."""
    settled = spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    make_special_disease(settled)
    unsettled = spec_example_policy(regions["province"], date(2023, 1, 1), date(2023, 12, 31))
    make_special_disease(unsettled)
    person = make_patient(regions["a"])
    clerk = make_clerk("lock")
    claim = make_claim(person, make_hospital(regions["a"]), admitted_on=date(2024, 3, 1))
    settlement = settle_claim(claim=claim, by=clerk)
    return {"settled": settled, "unsettled": unsettled, "settlement": settlement, "clerk": clerk}


def _rows(policy: PolicyVersion):
    return {
        "benefits": BenefitPolicy.objects.get(policy=policy),
        "basic": BasicBenefitRule.objects.get(policy=policy),
        "segment": CriticalSegment.objects.filter(policy=policy).first(),
        "tilt": CategoryTilt.objects.get(policy=policy),
        "assistance": AssistanceBenefitRule.objects.get(policy=policy),
        "disease": SpecialDisease.objects.get(policy=policy),
    }


EDITS = {
    "benefits": ("basic_annual_cap", D("1.00")),
    "basic": ("ratio", D("0.99")),
    "segment": ("ratio", D("0.99")),
    "tilt": ("ratio_plus", D("0.20")),
    "assistance": ("annual_limit", D("1.00")),
    "disease": ("quota", D("1.00")),
}


def test_policy_has_settlements(world):
    assert policy_has_settlements(world["settled"])
    assert policy_has_settlements(world["settled"].pk)
    assert not policy_has_settlements(world["unsettled"])
    assert not policy_has_settlements(PolicyVersion())


@pytest.mark.parametrize("row", sorted(EDITS))
def test_editing_a_rule_of_a_settled_version_is_refused(world, row):
    instance = _rows(world["settled"])[row]
    name, value = EDITS[row]
    original = getattr(instance, name)
    setattr(instance, name, value)
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        instance.save()
    instance.refresh_from_db()
    assert getattr(instance, name) == original


@pytest.mark.parametrize("row", sorted(EDITS))
def test_editing_a_rule_of_an_unsettled_version_works(world, row):
    instance = _rows(world["unsettled"])[row]
    name, value = EDITS[row]
    setattr(instance, name, value)
    instance.save()
    instance.refresh_from_db()
    assert getattr(instance, name) == value


@pytest.mark.parametrize("row", sorted(EDITS))
def test_deleting_a_rule_of_a_settled_version_is_refused(world, row):
    instance = _rows(world["settled"])[row]
    with pytest.raises(PolicyNotEditable, match=LOCKED), transaction.atomic():
        instance.delete()
    assert type(instance).objects.filter(pk=instance.pk).exists()


def test_queryset_delete_is_refused_too(world):
    with pytest.raises(ValidationError, match=LOCKED), transaction.atomic():
        BasicBenefitRule.objects.filter(policy=world["settled"]).delete()
    assert BasicBenefitRule.objects.filter(policy=world["settled"]).exists()


def test_adding_a_rule_to_a_settled_version_is_refused(world):
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        make_basic_rule(world["settled"], visit_type=VisitType.OUTPATIENT, hospital_level=HospitalLevel.TOWNSHIP)
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        make_assistance_rule(world["settled"], "tekun")
    make_assistance_rule(world["unsettled"], "tekun")  # an unsettled version takes new rules


def test_moving_a_rule_into_or_out_of_a_settled_version_is_refused(world):
    into = _rows(world["unsettled"])["disease"]
    into.policy = world["settled"]
    into.code = "moved"
    with pytest.raises(PolicyNotEditable):
        into.save()
    out = _rows(world["settled"])["disease"]
    out.policy = world["unsettled"]
    out.code = "moved"
    with pytest.raises(PolicyNotEditable):
        out.save()


def test_saving_an_unchanged_rule_is_allowed(world):
    rows = _rows(world["settled"])
    for instance in rows.values():
        instance.save()
    tilt = rows["tilt"]
    tilt.ratio_plus = "0.05"  # what a form hands over for the stored Decimal('0.0500')
    tilt.save()


def test_no_deposit_categories_are_locked(world):
    settled = BenefitPolicy.objects.get(policy=world["settled"])
    for change in (
        lambda: settled.no_deposit_categories.add(category("tekun")),
        lambda: settled.no_deposit_categories.set([category("dibao")]),
    ):
        with pytest.raises(PolicyNotEditable), transaction.atomic():
            change()
    assert not settled.no_deposit_categories.exists()
    settled.no_deposit_categories.set([])  # no change: allowed
    unsettled = BenefitPolicy.objects.get(policy=world["unsettled"])
    unsettled.no_deposit_categories.add(category("tekun"))
    assert list(unsettled.no_deposit_categories.values_list("code", flat=True)) == ["tekun"]


def test_reversed_settlements_still_lock(world):
    reverse_settlement(settlement=world["settlement"], by=world["clerk"], reason="撤销")
    assert policy_has_settlements(world["settled"])
    basic = _rows(world["settled"])["basic"]
    basic.ratio = D("0.10")
    with pytest.raises(PolicyNotEditable):
        basic.save()


# ---------------------------------------------------------------------------------------------------------------
# The version's own period
# ---------------------------------------------------------------------------------------------------------------


def test_closing_a_settled_version_is_allowed(world):
    version = world["settled"]
    version.effective_to = date(2024, 12, 31)
    version.save()
    version.refresh_from_db()
    assert version.effective_to == date(2024, 12, 31)


def test_closing_before_a_settled_date_of_service_is_refused(world):
    version = world["settled"]
    version.effective_to = date(2024, 3, 9)  # the settled claim was discharged on 2024-03-10
    with pytest.raises(PolicyNotEditable, match="services up to 2024-03-10"):
        version.save()
    version.effective_to = date(2024, 3, 10)
    version.save()


@pytest.mark.parametrize(
    "change",
    [
        {"effective_from": date(2024, 2, 1)},
        {"effective_from": date(2023, 6, 1)},
    ],
)
def test_moving_the_start_of_a_settled_version_is_refused(world, change):
    version = world["settled"]
    for name, value in change.items():
        setattr(version, name, value)
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        version.save()


def test_a_closed_settled_version_cannot_be_moved_or_reopened(world):
    version = world["settled"]
    version.effective_to = date(2024, 12, 31)
    version.save()
    version.effective_to = date(2025, 6, 30)
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        version.save()
    version.effective_to = None
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        version.save()


def test_settled_version_cannot_move_to_another_region(world, regions):
    version = world["settled"]
    version.region = regions["b"]
    with pytest.raises(PolicyNotEditable):
        version.save()


def test_other_version_fields_stay_editable(world):
    version = world["settled"]
    version.name = "改名"
    version.notes = "说明"
    version.save()
    unsettled = world["unsettled"]
    unsettled.effective_from = date(2022, 1, 1)
    unsettled.save()


def test_enrollment_edit_hook_runs_the_claims_guard(world):
    with pytest.raises(PolicyNotEditable, match=LOCKED):
        ensure_policy_editable(world["settled"])
    ensure_policy_editable(world["unsettled"])


def test_lock_applies_to_any_benefit_layer_tilt(world):
    tilt = CategoryTilt(policy=world["settled"], category=category("tekun"), layer=Layer.BASIC)
    with pytest.raises(PolicyNotEditable):
        tilt.save()
