"""The assistance part of the demo county (``manage.py seed_demo``; hook listed in settings.DEMO_SEEDERS).

Applications at every stage — one overdue, one refused, one returned for documents — and special aid cases from
opened to closed, all made through the services (so deadlines, identities, supplements and history are real).
Settled claims are taken from the claims demo when it has made some; otherwise the few needed are created and
settled here through claims' services.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth.models import User
from django.db.models import Q

from claims.models import Claim, Hospital
from claims.models.choices import HospitalLevel, VisitType
from claims.models.claims import ClaimStatus
from claims.services.settlement import settle_claim
from enrollment import roles
from enrollment.models import Household, Identity, Person
from enrollment.models.identities import valid_on

from .services import applications as application_services
from .services import special_aid as case_services
from .services.applications import AssetItem, IncomeItem, OutsideItem
from .services.special_aid import LIFTED_CATEGORIES

D = Decimal
APPLICATION_STAGES = ("overdue", "received", "reviewed", "approved", "paid", "refused", "returned")
CASE_STAGES = ("opened", "decided", "approved", "paid", "closed", "rejected")


def _user(logins, role) -> User | None:
    login = next((login for login in logins if login.role == role), None)
    return User.objects.filter(username=login.username).first() if login else None


def _settled_claim(person: Person, *, hospital: Hospital, day: dt.date, clerk, rng: random.Random) -> Claim:
    total = D(rng.randrange(30_000, 90_000))
    claim = Claim.objects.create(
        person=person, region=person.region, hospital=hospital, number=f"ZYDEMO{person.pk:08d}{day:%m%d}",
        visit_type=VisitType.INPATIENT, admitted_on=day, discharged_on=day + dt.timedelta(days=10),
        diagnosis_code="I63.9", diagnosis_name="脑梗死", total_cost=total,
        policy_scope_cost=(total * D("0.85")).quantize(D("0.01")), created_by=clerk)
    settle_claim(claim=claim, by=clerk)
    return claim


def seed_demo(*, region, logins, seed, persons, today, stdout) -> str:
    clerk, reviewer, approver = (_user(logins, role) for role in (roles.CLERK, roles.REVIEWER, roles.APPROVER))
    rural, health = _user(logins, roles.RURAL_DEPT), _user(logins, roles.HEALTH_DEPT)
    if not all((clerk, reviewer, approver, rural, health)):
        return "assistance: demo users missing, nothing made"
    county = clerk.region_memberships.select_related("region").first().region
    rng = random.Random(seed)
    households = list(Household.objects.filter(region=county, members__isnull=False).distinct()
                      .order_by("pk")[: len(APPLICATION_STAGES) + 4])
    if len(households) < len(APPLICATION_STAGES):
        return "assistance: too few households in the demo county, nothing made"
    hospital = Hospital.objects.filter(region=county).first() or Hospital.objects.create(
        code=f"DEMO{county.code}", name=f"{county.name}人民医院", level=HospitalLevel.COUNTY, region=county)
    # Two settled claims per household in the last months, unless the claims demo made some already.
    for household in households:
        member = household.members.order_by("pk").first()
        if not Claim.objects.filter(person__household=household, status=ClaimStatus.SETTLED).exists():
            for days_ago in (150, 60):
                _settled_claim(member, hospital=hospital, day=today - dt.timedelta(days=days_ago + rng.randrange(9)),
                               clerk=clerk, rng=rng)

    made = {}
    for stage, household in zip(APPLICATION_STAGES, households, strict=False):
        members = list(household.members.order_by("pk"))
        applied_on = today - dt.timedelta(days=40 if stage == "overdue" else 3)
        application = application_services.register_application(
            by=clerk, household=household, applicant=members[-1], patients=[members[0]], applied_on=applied_on,
            incomes=[IncomeItem(m, D(rng.randrange(0, 3)) * 1000, "村委会收入证明") for m in members],
            assets=[AssetItem("deposits", D(rng.randrange(0, 20)) * 500, "银行流水")],
            outside_costs=[OutsideItem(members[0], applied_on - dt.timedelta(days=20), "院外购药发票",
                                       D("3200.00"), D("800.00"))],
            note="演示数据")
        if stage == "returned":
            application_services.return_for_documents(application=application, by=reviewer,
                                                      documents_requested="请补充家庭成员收入证明原件")
        if stage in ("reviewed", "approved", "paid", "refused"):
            application_services.initial_review(application=application, by=reviewer, note="材料齐全，测试达标")
        if stage in ("approved", "paid"):
            application_services.approve(application=application, by=approver)
        if stage == "paid":
            application_services.pay(application=application, by=approver, paid_on=today, reference="DEMO-ZF-001")
        if stage == "refused":
            application_services.refuse(application=application, by=approver, reason="家庭资产超过规定上限")
        made[stage] = application.number

    eligible = list(Person.objects.filter(
        region=county, household__isnull=False,
        identities__in=Identity.objects.filter(
            valid_on(today), Q(category__code__in=LIFTED_CATEGORIES) | Q(category__is_monitored=True)),
    ).distinct().order_by("pk")[: len(CASE_STAGES)])
    cases = 0
    for stage, person in zip(CASE_STAGES, eligible, strict=False):
        claims = list(Claim.objects.filter(person=person, status=ClaimStatus.SETTLED))
        if not claims:
            claims = [_settled_claim(person, hospital=hospital, day=today - dt.timedelta(days=90), clerk=clerk,
                                     rng=rng)]
        case = case_services.open_case(by=clerk, person=person, opened_on=today - dt.timedelta(days=14),
                                       opening_unit=f"{county.name}某镇人民政府", claims=claims,
                                       situation="大额自付医疗费用影响基本生活")
        cases += 1
        if stage == "opened":
            continue
        case_services.record_meeting(case=case, by=clerk, held_on=today - dt.timedelta(days=7),
                                     participants="乡村振兴局 王某；卫健委 李某；镇政府 张某",
                                     minutes="一致同意给予特殊救助")
        if stage == "rejected":
            case_services.reject_case(case=case, by=rural, reason="已享受其他救助，不再重复救助")
            continue
        amount = min(D("2000.00"), case.named_out_of_pocket)
        if amount <= 0:
            continue
        case_services.decide(case=case, by=clerk, amount=amount, funding_source="donation", payer="县慈善总会")
        if stage == "decided":
            continue
        case_services.approve_rural(case=case, by=rural)
        case_services.approve_health(case=case, by=health)
        if stage == "approved":
            continue
        case_services.pay_case(case=case, by=approver, paid_on=today, reference="DEMO-CS-001")
        if stage == "closed":
            case_services.follow_up(case=case, by=clerk, note="回访：已出院，生活基本恢复")
            case_services.close_case(case=case, by=clerk)
    return (f"assistance: {len(made)} applications ({', '.join(made)}), {cases} special aid cases")
