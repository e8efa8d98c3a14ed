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
from django.test import override_settings
from django.utils import timezone

from claims.models import CalendarDay, CalendarYear, HospitalStaff
from claims.models.calendar import DayKind
from claims.models.claims import ClaimSource
from claims.services import batches as batch_flow
from claims.services import reimbursement as case_flow
from claims.services.settlement import settle_claim
from enrollment import roles
from enrollment.models import IdentityCategory, ImportJob, LedgerProblem, RegionYear
from enrollment.models.ledger import ProblemKind
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_user, region_tree

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
    rows = {
        "enrollment.region": region,
        "enrollment.regionyear": stats,
        "enrollment.policyversion": policy,
        "enrollment.household": patient.household or _household(patient),
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
    }
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
    return world


_SLUGS = {roles.CLERK: "clerk", roles.REVIEWER: "reviewer", roles.APPROVER: "approver", roles.HEAD: "head",
          roles.LIAISON: "liaison", roles.ADMIN: "admin", roles.HOSPITAL: "hospital"}


def _slug(role: str) -> str:
    return _SLUGS.get(role, f"role{list(roles.ROLE_PERMISSIONS).index(role)}")
