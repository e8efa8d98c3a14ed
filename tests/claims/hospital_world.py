"""Two hospitals of county A and one of county B, each with settled one-stop claims, and their users.

Shared by the portal tests and the browser tests; each test builds its own (no demo data is assumed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from claims.models import Claim, Hospital, HospitalStaff
from claims.services.settlement import settle_claim
from enrollment import roles
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_user

D = dt.date.fromisoformat
PASSWORD = "pw-Secret-123"


@dataclass
class HospitalWorld:
    own: Hospital
    neighbour: Hospital  # same county, another hospital
    far: Hospital  # county B
    hospital_user: object
    neighbour_user: object
    clerk: object
    claims: dict[str, list[Claim]] = field(default_factory=dict)


def build(regions, *, claims_per_hospital: int = 3, year: int = 2026) -> HospitalWorld:
    spec_example_policy(regions["prefecture"], effective_from=D(f"{year}-01-01"))
    own = make_hospital(regions["a"], code="H-OWN", name="都匀市人民医院")
    neighbour = make_hospital(regions["a"], code="H-NEXT", name="都匀市中医院")
    far = make_hospital(regions["b"], code="H-FAR", name="福泉市人民医院")
    clerk = make_user("clerk_world", roles=(roles.CLERK,), regions=(regions["prefecture"],))
    world = HospitalWorld(
        own=own, neighbour=neighbour, far=far, clerk=clerk,
        hospital_user=hospital_user("his_own", own), neighbour_user=hospital_user("his_next", neighbour))
    for hospital in (own, neighbour, far):
        region = hospital.region
        world.claims[hospital.code] = []
        for n in range(claims_per_hospital):
            patient = make_patient(region, codes=("dibao",), years=(year,), name=f"病人{hospital.code[-3:]}{n}")
            claim = make_claim(patient, hospital, number=f"{hospital.code}-{n + 1:03d}",
                               admitted_on=D(f"{year}-09-01") + dt.timedelta(days=n))
            settle_claim(claim=claim, by=clerk)
            claim.refresh_from_db()
            world.claims[hospital.code].append(claim)
    return world


def hospital_user(username: str, hospital: Hospital, *, staff: bool = False):
    """A hospital user as the portal expects: not bureau staff, linked to one hospital."""
    user = make_user(username, roles=(roles.HOSPITAL,), password=PASSWORD)
    if not staff:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    HospitalStaff.objects.create(user=user, hospital=hospital)
    return user
