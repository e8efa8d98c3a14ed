"""Approval supplements under a rule with an assistance deductible: a claim that stays within the deductible uses
it up, so the next claim of the year pays on what exceeds the rest (the shipped 黔南 illness_poor rule has one)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from assistance.models import AssistanceSupplement
from assistance.services import applications as service
from assistance.services.applications import AssetItem, IncomeItem
from claims.models import PaymentLine
from claims.models.choices import Layer
from enrollment import roles
from tests.claims.factories import make_assistance_rule
from tests.factories import make_household, make_user

from .factories import assistance_policy, member, settled_claim

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = timezone.localdate()


def test_a_claim_within_the_deductible_uses_it_up_for_the_next(regions):
    # Both claims in one calendar year, so they share one year's deductible.
    first_day = max(TODAY - dt.timedelta(days=200), dt.date(TODAY.year, 1, 1))
    policy = assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    make_assistance_rule(policy, "illness_poor", ratio="0.60", annual_limit="30000.00", deductible="2500.00")
    household = make_household(regions["a"])
    patient = member(household, regions["a"], codes=(), years=(TODAY.year - 1, TODAY.year), name="病人")
    # Basic pays (2 000 − 500) × 75 % = 1 125.00: 875.00 of policy-scope cost is borne, below the deductible.
    small = settled_claim(patient, admitted_on=first_day, total_cost="2000.00", policy_scope_cost="2000.00")
    # The SPEC §4.2 claim without a category: 13 375.00 borne after basic, critical illness pays nothing yet.
    large = settled_claim(patient, admitted_on=first_day + dt.timedelta(days=20))
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(regions["a"],))
    reviewer = make_user("reviewer", roles=(roles.REVIEWER,), regions=(regions["a"],))
    approver = make_user("approver", roles=(roles.APPROVER,), regions=(regions["a"],))
    application = service.register_application(
        by=clerk, household=household, applicant=patient, patients=[patient], applied_on=TODAY,
        incomes=[IncomeItem(patient, D("1000.00"), "证明")], assets=[AssetItem("deposits", D("0.00"), "流水")])
    service.initial_review(application=application, by=reviewer)
    service.approve(application=application, by=approver)
    application.refresh_from_db()
    # (13 375.00 − (2 500.00 − 875.00)) × 60 % = 7 050.00 — not (13 375.00 − 2 500.00) × 60 % = 6 525.00.
    supplement = AssistanceSupplement.objects.get(application=application)
    assert (supplement.claim, supplement.amount) == (large, D("7050.00"))
    assert application.assistance_granted == D("7050.00")
    used = PaymentLine.objects.filter(claim=small, layer=Layer.ASSISTANCE_DEDUCTIBLE).values_list("amount", flat=True)
    assert list(used) == [D("875.00")]
    paid_on_small = PaymentLine.objects.filter(claim=small, layer=Layer.ASSISTANCE).values_list("amount", flat=True)
    assert sum(paid_on_small) == 0
