"""The world the permission walk runs in: one of every admin-registered model in each of two sibling counties (A and
B under one prefecture), the shared reference rows, and a user of every role in each county and at province level.

`OBJECTS` says how to find each model's rows in the built world. A model that is region-scoped (or scoped through
its accounts) returns `{"a": …, "b": …}` (and `"province": …` where a row above the counties exists); shared reference
data returns `{"*": …}`. A model registered in the admin without an entry here fails the walk with a message naming
this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from assistance.models import Application, AssistancePolicy, OutsideCost, SpecialAidCase, SpecialAidMeeting
from claims.models import CalendarDay, CalendarYear, EligibilityLookup, HospitalStaff, SettlementCorrection
from claims.models.calendar import DayKind
from claims.models.claims import ClaimSource
from claims.models.lookups import LookupOutcome
from claims.services import batches as batch_flow
from claims.services import reimbursement as case_flow
from claims.services.settlement import settle_claim
from enrollment import roles
from enrollment.models import IdentityCategory, IdNumberAccess, ImportJob, LedgerProblem, LedgerRun, RegionYear
from enrollment.models.ledger import ProblemKind
from monitoring.models import ListKind, NightRun, Reason, WarningItem
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_user, region_tree
from tests.monitoring.factories import make_monitoring

D = Decimal
SIDES = ("a", "b")


@dataclass
class Walker:
    key: str  # e.g. "clerk@a"
    role: str
    side: str  # "a", "b" or "province"
    user: User

    @property
    def at_province(self) -> bool:
        return self.side == "province"

    def sees(self, side: str) -> bool:
        """Whether a row of `side` ("a", "b", "province" or "*" for shared rows) lies within this user's scope."""
        return side == "*" or self.at_province or side == self.side

    def sees_row(self, side: str, row) -> bool:
        """`sees`, and for a hospital user only rows of models scoped to a hospital (the rest is out of its scope)."""
        if roles.ROLE_SCOPES[self.role] == roles.SCOPE_HOSPITAL and not hasattr(type(row), "hospital_scope"):
            return False
        return self.sees(side)


@dataclass
class World:
    regions: dict
    rows: dict = field(default_factory=dict)  # model label -> {side: row}
    walkers: list[Walker] = field(default_factory=list)


def _side(world: World, side: str, regions) -> None:
    region = regions[side]
    clerk = make_user(f"walk_staff_{side}", roles=(roles.CLERK,), regions=(region,))
    policy = spec_example_policy(region, date(2026, 1, 1))
    hospital = make_hospital(region, code=f"WALK-{side.upper()}", name=f"{side}县人民医院")
    patient = make_patient(region, name=f"{side}县病人", years=(2026,))
    direct = make_claim(patient, hospital, number=f"WALK-D-{side.upper()}", admitted_on=date(2026, 9, 1))
    settle_claim(claim=direct, by=clerk)
    batch = batch_flow.receive_batch(hospital=hospital, period=(date(2026, 9, 1), date(2026, 9, 15)),
                                     received_on=date(2026, 9, 18), claims=[direct], by=clerk)
    manual = make_claim(patient, hospital, number=f"WALK-M-{side.upper()}", admitted_on=date(2026, 9, 1),
                        source=ClaimSource.MANUAL)
    case = case_flow.register_manual_claim(
        claim=manual, received_on=date(2026, 9, 18), by=clerk, payee_name=patient.name, payee_bank="农业银行",
        payee_account="6228480000000000001", documents="身份证、发票")
    problem = LedgerProblem.objects.create(
        person=patient, plan_year=2026, region=region, kind=ProblemKind.NOT_INSURED, description="walk",
        responsible_unit="民政")
    stats = RegionYear.objects.create(region=region, year=2026, income_urban=D("40000"), income_rural=D("15000"),
                                      income_all=D("25000"), contribution_tier1=D("380"), contribution_tier2=D("380"))
    job = ImportJob.objects.create(kind="roster", original_name=f"{side}.xlsx", created_by=clerk, file=f"{side}.xlsx")
    now = timezone.now()
    household = patient.household or _household(patient)
    later = date(2026, 9, 20)
    rows = {
        "enrollment.region": region,
        "enrollment.regionyear": stats,
        "enrollment.policyversion": policy,
        "enrollment.household": household,
        "enrollment.person": patient,
        "enrollment.identity": patient.identities.first(),
        "enrollment.enrollment": patient.enrollments.first(),
        "enrollment.ledgerproblem": problem,
        "enrollment.importjob": job,
        "claims.hospital": hospital,
        "claims.claim": direct,
        "claims.paymentline": direct.payment_lines.first(),
        "claims.reimbursementcase": case,
        "claims.hospitalbatch": batch,
        "auth.user": clerk,
        "axes.accessattempt": AccessAttempt.objects.create(
            username=clerk.username, ip_address="10.0.0.1", user_agent="walk", path_info="/admin/login/",
            get_data="", post_data="", http_accept="*/*", failures_since_start=5, attempt_time=now),
        "axes.accesslog": AccessLog.objects.create(
            username=clerk.username, ip_address="10.0.0.1", user_agent="walk", path_info="/admin/login/",
            http_accept="*/*", attempt_time=now),
        "axes.accessfailurelog": AccessFailureLog.objects.create(
            username=clerk.username, ip_address="10.0.0.1", user_agent="walk", path_info="/admin/login/",
            http_accept="*/*", attempt_time=now, locked_out=True),
        "enrollment.idnumberaccess": IdNumberAccess.objects.create(user=clerk, kind="list", path="/walk/"),
        "enrollment.ledgerrun": LedgerRun.objects.create(region=region, plan_year=2026),
        "claims.eligibilitylookup": EligibilityLookup.objects.create(
            user=clerk, region=region, hospital=hospital, id_number=patient.id_number,
            outcome=LookupOutcome.INSURED),
        "claims.settlementcorrection": SettlementCorrection.objects.create(
            claim=direct, original=direct.settlements.first(), reason="walk", proposed_by=clerk),
        "assistance.assistancepolicy": AssistancePolicy.objects.get_or_create(policy=policy)[0],
        "assistance.application": Application.objects.create(
            number=f"WALK-APP-{side.upper()}", household=household, region=region, applicant=patient,
            applied_on=later, policy=policy, step_started_on=later, step_working_days=10, registered_by=clerk),
        "assistance.outsidecost": OutsideCost.objects.create(
            household=household, person=patient, incurred_on=date(2026, 8, 1), description="walk",
            total_cost=D("100.00"), attachment=ContentFile(b"%PDF-1.4 walk\n", name=f"walk-{side}.pdf")),
        "assistance.specialaidcase": SpecialAidCase.objects.create(
            number=f"WALK-SA-{side.upper()}", person=patient, region=region, policy=policy, opened_on=later,
            opened_by=clerk, opening_unit="乡镇"),
        "monitoring.monitoringpolicy": make_monitoring(policy),
        "monitoring.nightrun": NightRun.objects.create(region=region, data_date=later),
        "monitoring.warningitem": WarningItem.objects.create(
            kind=ListKind.HIGH_COST, reason=Reason.RELAPSE_PERSON, subject_key=f"walk-{side}", period=2026,
            region=region, first_seen_on=later, last_seen_on=later, person=patient),
    }
    rows["assistance.specialaidmeeting"] = SpecialAidMeeting.objects.create(
        case=rows["assistance.specialaidcase"], held_on=later, participants="walk", minutes="walk", recorded_by=clerk,
        attachment=ContentFile(b"%PDF-1.4 walk\n", name=f"walk-meeting-{side}.pdf"))
    for label, row in rows.items():
        world.rows.setdefault(label, {})[side] = row


def _household(person):
    from tests.factories import make_household

    household = make_household(person.region, number=f"WALK-H-{person.region.code}")
    person.household = household
    person.save(update_fields=["household"])
    return household


def build_world() -> World:
    # Built once per module, outside the function-scoped settings fixture: a fast hasher for the users made here.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        return _build_world()


def _build_world() -> World:
    regions = region_tree()
    world = World(regions=regions)
    for side in SIDES:
        _side(world, side, regions)
    for side in (*SIDES, "province"):
        for role in roles.ROLE_PERMISSIONS:
            if roles.ROLE_SCOPES.get(role) == roles.SCOPE_HOSPITAL and side not in SIDES:
                continue  # a hospital user always works for one hospital, in a county
            user = make_user(f"walk_{_slug(role)}_{side}", roles=(role,), regions=(regions[side],))
            if role == roles.HOSPITAL and side in SIDES:
                HospitalStaff.objects.create(user=user, hospital=world.rows["claims.hospital"][side])
            world.walkers.append(Walker(f"{_slug(role)}@{side}", role, side, user))
    # Rows above the counties: the province's own staff account (out of a county administrator's reach).
    world.rows["auth.user"]["province"] = make_user("walk_province_staff", roles=(roles.CLERK,),
                                                    regions=(regions["province"],))
    year = CalendarYear.objects.create(year=2031, source="walk")
    world.rows["claims.calendaryear"] = {"*": year}
    world.rows["claims.calendarday"] = {"*": CalendarDay.objects.create(day=date(2031, 10, 1),
                                                                        kind=DayKind.HOLIDAY, name="国庆节")}
    world.rows["enrollment.identitycategory"] = {"*": IdentityCategory.objects.get(code="dibao")}
    world.rows["auth.group"] = {"*": Group.objects.get(name=roles.CLERK)}
    crontab = CrontabSchedule.objects.create(minute="30", hour="1")
    world.rows["django_celery_beat.crontabschedule"] = {"*": crontab}
    world.rows["django_celery_beat.intervalschedule"] = {"*": IntervalSchedule.objects.create(every=1, period="days")}
    world.rows["django_celery_beat.solarschedule"] = {"*": SolarSchedule.objects.create(
        event="sunrise", latitude=D("26.25"), longitude=D("107.52"))}
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now())
    world.rows["django_celery_beat.clockedschedule"] = {"*": clocked}
    world.rows["django_celery_beat.periodictask"] = {"*": PeriodicTask.objects.create(
        name="walk", task="monitoring.tasks.run_night", crontab=crontab)}
    return world


_SLUGS = {roles.CLERK: "clerk", roles.REVIEWER: "reviewer", roles.APPROVER: "approver", roles.HEAD: "head",
          roles.LIAISON: "liaison", roles.ADMIN: "admin", roles.HOSPITAL: "hospital", roles.RURAL_DEPT: "rural",
          roles.HEALTH_DEPT: "health"}


def _slug(role: str) -> str:
    return _SLUGS.get(role, f"role{list(roles.ROLE_PERMISSIONS).index(role)}")
