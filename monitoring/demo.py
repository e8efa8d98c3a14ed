"""Monitoring's part of `manage.py seed_demo`: the nights already run on the demo region, every list non-empty,
and items at each handling status.

Claims, hospitals and batches are normally seeded by the claims demo; where the demo county has none of this
year's, this hook makes the few it needs itself, through the claims services (so they are settled by the real
engine and registered with their working-day clocks).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count

from claims.models import Claim, Hospital, HospitalBatch, ReimbursementCase
from claims.models.choices import HospitalLevel, Referral, VisitType
from claims.services.batches import receive_batch
from claims.services.reimbursement import register_manual_claim
from claims.services.settlement import settle_claim
from enrollment import roles
from enrollment.models import Identity, Person, Region
from enrollment.models.regions import RegionLevel

from .models import ItemStatus, ListKind, WarningItem
from .services import handling, night

D = Decimal


def _clerk(logins, county: Region):
    """The demo clerk who works for `county` (or above it); None if there is none — the services would refuse
    anyone else."""
    User = get_user_model()
    usernames = [login.username for login in logins if login.role == roles.CLERK]
    return (User.objects.filter(username__in=usernames,
                                region_memberships__region__path__in=_ancestor_paths(county))
            .distinct().order_by("username").first())


def _ancestor_paths(region: Region) -> list[str]:
    codes = [code for code in region.path.strip("/").split("/") if code]
    return ["/" + "/".join(codes[:i]) + "/" for i in range(1, len(codes) + 1)]


def _demo_county(region: Region, logins) -> Region | None:
    """The county a demo clerk works for with the most people (the demo's own county when there is one)."""
    if region.level == RegionLevel.COUNTY:
        return region
    counties = (Region.objects.filter(path__startswith=region.path, level=RegionLevel.COUNTY)
                .annotate(n=Count("people")).filter(n__gt=0).order_by("-n", "code"))
    return next((county for county in counties if _clerk(logins, county) is not None), None)


def _holders(county: Region, codes: tuple[str, ...], today: dt.date, limit: int) -> list[Person]:
    ids = (Identity.objects.filter(person__region=county, category__code__in=codes, valid_from__lte=today,
                                   person__enrollments__plan_year=today.year,
                                   person__enrollments__status="insured")
           .values_list("person_id", flat=True).distinct()[:limit])
    return list(Person.objects.filter(pk__in=list(ids)).order_by("pk"))


def _hospital(county: Region) -> Hospital:
    hospital = Hospital.objects.filter(region=county, level=HospitalLevel.COUNTY).first()
    if hospital is None:
        hospital = Hospital.objects.create(code=f"DEMO{county.code}", name=f"{county.name}人民医院",
                                           level=HospitalLevel.COUNTY, region=county)
    return hospital


def _settled_claim(person: Person, hospital: Hospital, *, total: str, scope: str, admitted: dt.date, clerk,
                   number: str) -> Claim | None:
    claim = Claim.objects.create(
        person=person, region=person.region, hospital=hospital, number=number, visit_type=VisitType.INPATIENT,
        admitted_on=admitted, discharged_on=admitted + dt.timedelta(days=8), diagnosis_code="I63.9",
        diagnosis_name="脑梗死", referral=Referral.REFERRED, total_cost=D(total), policy_scope_cost=D(scope),
        created_by=clerk)
    try:
        settle_claim(claim=claim, by=clerk)
    except (ValidationError, PermissionDenied):
        return None
    return claim


def _make_claims(county: Region, clerk, today: dt.date, rng: random.Random) -> int:
    """Settled inpatient claims for people of the county: lifted people and other residents with high costs,
    poverty targets with out-of-catalog overruns, low-income people whose assistance stays below the floor."""
    hospital = _hospital(county)
    start = dt.date(today.year, 1, 5)
    span = max(1, (today - dt.timedelta(days=20) - start).days)
    made = 0
    groups = [
        (("registered_poor", "stable_lifted", "unstable_lifted", "returned_poverty"), 4, ("28000.00", "25000.00")),
        (("dibao", "dibao_edge"), 4, ("60000.00", "52000.00")),
        (("tekun", "registered_poor"), 3, ("20000.00", "15000.00")),  # 25 % out of catalog: an overrun
    ]
    people_with_identity = set()
    # Numbers come from their own counter: a claim that could not be settled keeps its number (it stays registered).
    serial = iter(range(1, 10_000))
    for codes, count, (total, scope) in groups:
        for person in _holders(county, codes, today, count):
            people_with_identity.add(person.pk)
            admitted = start + dt.timedelta(days=rng.randint(0, span))
            if _settled_claim(person, hospital, total=total, scope=scope, admitted=admitted, clerk=clerk,
                              number=f"DEMO-{county.code}-{today.year}-{next(serial):04d}"):
                made += 1
    others = (Person.objects.filter(region=county, enrollments__plan_year=today.year,
                                    enrollments__status="insured")
              .exclude(pk__in=people_with_identity).exclude(identities__isnull=False).order_by("pk")[:3])
    for person in others:
        admitted = start + dt.timedelta(days=rng.randint(0, span))
        if _settled_claim(person, hospital, total="150000.00", scope="140000.00", admitted=admitted, clerk=clerk,
                          number=f"DEMO-{county.code}-{today.year}-{next(serial):04d}"):
            made += 1
    return made


def _make_deadlines(county: Region, clerk, today: dt.date) -> int:
    made = 0
    if not ReimbursementCase.objects.filter(claim__region=county, state="received").exists():
        person = Person.objects.filter(region=county, enrollments__plan_year=today.year,
                                       enrollments__status="insured").order_by("-pk").first()
        if person is not None:
            received = today - dt.timedelta(days=45)
            try:
                register_manual_claim(
                    by=clerk, received_on=received, person=person, hospital=_hospital(county),
                    visit_type=VisitType.INPATIENT, admitted_on=received - dt.timedelta(days=20),
                    discharged_on=received - dt.timedelta(days=12), total_cost=D("8000.00"),
                    policy_scope_cost=D("7200.00"), payee_name=person.name, documents="发票、出院小结、费用清单")
                made += 1
            except (ValidationError, PermissionDenied):
                pass
    if not HospitalBatch.objects.filter(region=county, state="received").exists():
        hospital = _hospital(county)
        claims = list(Claim.objects.filter(hospital=hospital, status="settled", source="direct",
                                           batch_lines__isnull=True).order_by("pk")[:3])
        if claims:
            received = today - dt.timedelta(days=16)
            try:
                receive_batch(hospital=hospital, period=(min(c.admitted_on for c in claims), received),
                              received_on=received, claims=claims, by=clerk)
                made += 1
            except (ValidationError, PermissionDenied):
                pass
    return made


def _handle_some(county: Region, clerk, rng: random.Random) -> None:
    """Items at every status: the demo's clerk verified, excluded, assisted and closed some of them."""
    items = list(WarningItem.objects.filter(region=county, status=ItemStatus.PENDING, person__isnull=False)
                 .order_by("kind", "pk"))
    rng.shuffle(items)
    plan = [
        [ItemStatus.VERIFIED],
        [ItemStatus.VERIFIED, ItemStatus.ASSISTING],
        [ItemStatus.VERIFIED, ItemStatus.ASSISTING, ItemStatus.CLOSED],
        [ItemStatus.EXCLUDED],
        [ItemStatus.VERIFIED],
        [ItemStatus.VERIFIED, ItemStatus.ASSISTING],
    ]
    for item, steps in zip(items, plan, strict=False):
        for status in steps:
            item = handling.move_item(
                item=item, to=status, by=clerk, note="入户核实，情况属实" if status == ItemStatus.VERIFIED else "",
                reason="已由民政部门纳入低保，待下月标识" if status == ItemStatus.EXCLUDED else "")
    handling.assign_items(item_ids=[item.pk for item in items[:10]], assignee=clerk, by=clerk)


def seed_demo(*, region: Region, logins, seed: int, persons: int, today: dt.date, stdout) -> str:
    county = _demo_county(region, logins)
    if county is None:
        return ""
    clerk = _clerk(logins, county)
    if clerk is None:
        return ""
    rng = random.Random(seed)
    made = 0
    if not Claim.objects.filter(region=county, settlements__year=today.year).exists():
        made += _make_claims(county, clerk, today, rng)
    made += _make_deadlines(county, clerk, today)
    # Two nights: yesterday's and today's, so the dashboard shows a trend and items carry evidence.
    night.run_night(region=region, day=today - dt.timedelta(days=1))
    run = night.run_night(region=region, day=today)
    _handle_some(county, clerk, rng)
    counts = dict(WarningItem.objects.filter(region__path__startswith=region.path).values_list("kind")
                  .annotate(n=Count("pk")).values_list("kind", "n"))
    listed = ", ".join(f"{ListKind(kind).label} {counts.get(kind, 0)}" for kind in night.night_kinds())
    return (f"Monitoring: {made} claims and cases made for {county.name}; nights of "
            f"{today - dt.timedelta(days=1)} and {today} run ({run.get_status_display()}): {listed}.")
