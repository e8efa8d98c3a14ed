"""Factories for assistance tests: a prefecture policy with the SPEC §4.2 example benefits and assistance settings,
households with insured members, settled claims, outside items and paid special aid."""

import itertools
from datetime import date
from decimal import Decimal

from assistance.models import AssistancePolicy, OutsideCost, SpecialAidCase
from assistance.models.choices import CaseState
from claims.services.settlement import settle_claim
from tests.claims.factories import make_claim, make_clerk, make_hospital, make_patient, spec_example_policy
from tests.factories import make_household

D = Decimal
_seq = itertools.count(1)

# Patient pays 8 866.87 and assistance pays 6 689.38 on the SPEC §4.2 worked example (dibao, nothing paid before).
EXAMPLE_PATIENT = D("8866.87")
EXAMPLE_ASSISTANCE = D("6689.38")


def assistance_policy(region, effective_from=date(2023, 1, 1), **settings):
    policy = spec_example_policy(region, effective_from)
    defaults = {"income_share": D("0.60"), "asset_cap": D("200000.00"), "look_back": "months",
                "look_back_months": 12, "identity_months": 12,
                "counted_asset_kinds": ["housing", "vehicle", "deposits", "securities", "business", "other"]}
    AssistancePolicy.objects.create(policy=policy, **{**defaults, **settings})
    return policy


def member(household, region, *, codes=("dibao",), years=(2023, 2024), **extra):
    return make_patient(region, codes=codes, years=years, household=household, **extra)


def settled_claim(person, *, admitted_on, by=None, hospital=None, **extra):
    hospital = hospital or make_hospital(person.region)
    claim = make_claim(person, hospital, admitted_on=admitted_on, **extra)
    settle_claim(claim=claim, by=by or make_clerk())
    return claim


def outside_cost(household, person, *, on, total="5000.00", insurance="2000.00", other="0.00", verified=True,
                 by=None):
    return OutsideCost.objects.create(
        household=household, person=person, incurred_on=on, description="外地药店发票", total_cost=D(total),
        insurance_paid=D(insurance), other_paid=D(other), verified=verified,
        verified_by=(by or make_clerk()) if verified else None)


def paid_special_aid(household, person, policy, *, paid_on, amount="1000.00", by=None):
    by = by or make_clerk()
    return SpecialAidCase.objects.create(
        number=f"YSYY{next(_seq):06d}", person=person, household=household, region=household.region,
        policy=policy, opened_on=paid_on, opened_by=by, opening_unit="某镇", state=CaseState.PAID,
        amount=D(amount), funding_source="donation", paid_on=paid_on, paid_by=by)


__all__ = ["make_household"]
