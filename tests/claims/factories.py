"""Factories for claims tests: hospitals, benefit policies (the SPEC §4.2 worked example), insured patients, claims.

Plain functions with the worked example's values as defaults; every value is overridable.
"""

import itertools
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import User

from claims.models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    Claim,
    CriticalSegment,
    Hospital,
    SpecialDisease,
)
from claims.models.choices import HospitalLevel, Layer, Referral, VisitType
from enrollment.models import Enrollment, Person, PolicyVersion, Region
from enrollment.models.ledger import EnrollmentStatus
from tests.factories import category, make_identity, make_person, make_policy

D = Decimal
_seq = itertools.count(1)


def make_clerk(username: str | None = None) -> User:
    """A staff user without a password: hashing one costs about a second, and settlement tests only need an author."""
    return User.objects.create(username=username or f"clerk{next(_seq)}", is_staff=True)


def make_hospital(region: Region, *, level: str = HospitalLevel.COUNTY, **extra) -> Hospital:
    n = next(_seq)
    return Hospital.objects.create(
        code=extra.pop("code", f"H{n:06d}"), name=extra.pop("name", f"医院{n}"), level=level, region=region, **extra)


def make_benefits(
    policy: PolicyVersion,
    *,
    basic_annual_cap: str = "250000.00",
    critical_deductible: str = "15000.00",
    critical_annual_cap: str | None = "400000.00",
    out_of_catalog_limit: str | None = "0.10",
    **extra,
) -> BenefitPolicy:
    """Benefit settings with the worked example's scalars."""
    return BenefitPolicy.objects.create(
        policy=policy,
        basic_annual_cap=D(basic_annual_cap),
        critical_deductible=D(critical_deductible),
        critical_annual_cap=D(critical_annual_cap) if critical_annual_cap is not None else None,
        out_of_catalog_limit=D(out_of_catalog_limit) if out_of_catalog_limit is not None else None,
        **extra,
    )


def make_basic_rule(policy: PolicyVersion, *, visit_type: str = VisitType.INPATIENT,
                    hospital_level: str = HospitalLevel.COUNTY, deductible: str = "500.00", ratio: str = "0.75",
                    unreferred_ratio: str | None = None, scheme: str = "") -> BasicBenefitRule:
    return BasicBenefitRule.objects.create(
        policy=policy, visit_type=visit_type, hospital_level=hospital_level, deductible=D(deductible), ratio=D(ratio),
        unreferred_ratio=D(unreferred_ratio) if unreferred_ratio is not None else None, scheme=scheme)


def make_segments(policy: PolicyVersion, bands=(("100000.00", "0.60"), (None, "0.70"))) -> list[CriticalSegment]:
    return [
        CriticalSegment.objects.create(policy=policy, upper_bound=D(bound) if bound else None, ratio=D(ratio))
        for bound, ratio in bands
    ]


def make_tilt(policy: PolicyVersion, code: str, *, layer: str = Layer.CRITICAL, deductible_reduction: str = "0",
              ratio_plus: str = "0", ratio_floor: str | None = None, cap_removed: bool = False) -> CategoryTilt:
    return CategoryTilt.objects.create(
        policy=policy, category=category(code), layer=layer, deductible_reduction=D(deductible_reduction),
        ratio_plus=D(ratio_plus), ratio_floor=D(ratio_floor) if ratio_floor is not None else None,
        cap_removed=cap_removed)


def make_assistance_rule(policy: PolicyVersion, code: str, *, ratio: str = "0.70", annual_limit: str = "30000.00",
                         deductible: str = "0.00", **extra) -> AssistanceBenefitRule:
    return AssistanceBenefitRule.objects.create(
        policy=policy, category=category(code), ratio=D(ratio), annual_limit=D(annual_limit),
        deductible=D(deductible), **extra)


def make_special_disease(policy: PolicyVersion, *, code: str = "breast_cancer", name: str = "乳腺癌",
                         icd10_prefixes: str = "C50", quota: str | None = "20000.00") -> SpecialDisease:
    return SpecialDisease.objects.create(
        policy=policy, code=code, name=name, icd10_prefixes=icd10_prefixes, quota=D(quota) if quota else None)


def spec_example_policy(region: Region, effective_from: date = date(2024, 1, 1), effective_to: date | None = None,
                        **benefit_overrides) -> PolicyVersion:
    """A policy version holding exactly the SPEC §4.2 worked example's benefit data.

    Basic: inpatient at a county hospital, deductible 500, ratio 75 %, cap 250 000. Critical illness: deductible
    15 000, 60 % up to 100 000 then 70 %, cap 400 000; dibao tilt −50 % deductible, +5 pp, no cap. Assistance dibao
    70 %, limit 30 000, no deductible. Out-of-catalog limit 10 %.
    """
    policy = make_policy(region, effective_from, effective_to)
    make_benefits(policy, **benefit_overrides)
    make_basic_rule(policy)
    make_segments(policy)
    make_tilt(policy, "dibao", deductible_reduction="0.5", ratio_plus="0.05", cap_removed=True)
    make_assistance_rule(policy, "dibao")
    return policy


def make_enrollment(person: Person, plan_year: int, *, status: str = EnrollmentStatus.INSURED,
                    coverage_start: date | None = None, coverage_end: date | None = None, **extra) -> Enrollment:
    return Enrollment.objects.create(
        person=person, plan_year=plan_year, region=person.region, status=status,
        coverage_start=coverage_start or date(plan_year, 1, 1), coverage_end=coverage_end, **extra)


def make_patient(region: Region, *, codes=("dibao",), years=(2024,), identity_from: date = date(2020, 1, 1),
                 **extra) -> Person:
    """A person holding the given identities (valid from `identity_from`, open-ended), insured in `years`."""
    person = make_person(region, **extra)
    for code in codes:
        make_identity(person, code, identity_from)
    for year in years:
        make_enrollment(person, year)
    return person


def make_claim(person: Person, hospital: Hospital, *, total_cost: str = "60000.00",
               policy_scope_cost: str = "52000.00", visit_type: str = VisitType.INPATIENT,
               admitted_on: date = date(2024, 3, 1), discharged_on=...,
               referral: str = Referral.REFERRED, **extra) -> Claim:
    """A claim; inpatient claims are discharged nine days after admission unless told otherwise."""
    if discharged_on is ...:
        discharged_on = admitted_on + timedelta(days=9) if visit_type == VisitType.INPATIENT else None
    return Claim.objects.create(
        person=person, region=extra.pop("region", person.region), hospital=hospital,
        number=extra.pop("number", f"C{next(_seq):08d}"), visit_type=visit_type, admitted_on=admitted_on,
        discharged_on=discharged_on, total_cost=D(total_cost), policy_scope_cost=D(policy_scope_cost),
        referral=referral, **extra)
