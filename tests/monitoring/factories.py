"""Factories for monitoring tests: monitoring thresholds and settlements written directly with chosen figures
(the lists read settlement results; the settlement engine has its own tests)."""

import itertools
from datetime import date
from decimal import Decimal

from claims.models import PaymentLine, ReimbursementCase, Settlement
from claims.models.choices import Layer
from enrollment.models import Identity, PolicyVersion, Region
from monitoring.models import MonitoringPolicy
from tests.claims.factories import make_claim, make_hospital, spec_example_policy
from tests.factories import category

D = Decimal
_seq = itertools.count(1)


def make_monitoring(policy: PolicyVersion, *, relapse=("amount", "10000"), poverty=("amount", "26000"),
                    relapse_codes=("stable_lifted", "unstable_lifted", "returned_poverty"),
                    key_codes=("tekun", "dibao", "returned_poverty"), other_codes=("dibao_edge",),
                    key_floor="0.70", other_floor="0.60", verify_working_days=10) -> MonitoringPolicy:
    config = MonitoringPolicy.objects.create(
        policy=policy, relapse_basis=relapse[0], relapse_value=D(relapse[1]), poverty_basis=poverty[0],
        poverty_value=D(poverty[1]), key_floor=D(key_floor), other_floor=D(other_floor),
        verify_working_days=verify_working_days)
    config.relapse_categories.set([category(c) for c in relapse_codes])
    config.key_categories.set([category(c) for c in key_codes])
    config.other_categories.set([category(c) for c in other_codes])
    return config


def monitored_policy(region: Region, effective_from: date = date(2024, 1, 1), **monitoring) -> PolicyVersion:
    policy = spec_example_policy(region, effective_from)
    make_monitoring(policy, **monitoring)
    return policy



def settled(person, *, policy, hospital=None, year=2024, total="1000.00", scope="1000.00", basic="0.00",
            critical="0.00", assistance="0.00", hospital_borne="0.00", patient=None, identity: Identity | None = None,
            admitted_on=None):
    """A claim with a live settlement and its payment lines; `patient` defaults to what the others leave."""
    hospital = hospital or make_hospital(person.region)
    claim = make_claim(person, hospital, total_cost=total, policy_scope_cost=scope,
                       admitted_on=admitted_on or date(year, 3, 1), status="settled")
    parts = {Layer.BASIC: D(basic), Layer.CRITICAL: D(critical), Layer.ASSISTANCE: D(assistance),
             Layer.HOSPITAL: D(hospital_borne)}
    parts[Layer.PATIENT] = D(patient) if patient is not None else D(total) - sum(parts.values())
    settlement = Settlement.objects.create(
        claim=claim, policy=policy, year=year, basic=parts[Layer.BASIC], critical=parts[Layer.CRITICAL],
        assistance=parts[Layer.ASSISTANCE], hospital_borne=parts[Layer.HOSPITAL], patient_pays=parts[Layer.PATIENT],
        identity=identity)
    for layer, amount in parts.items():
        PaymentLine.objects.create(settlement=settlement, claim=claim, person=person, year=year, layer=layer,
                                   amount=amount)
    return claim


def manual_case(person, *, received_on: date, due_on: date, state="received"):
    claim = make_claim(person, make_hospital(person.region), admitted_on=received_on, source="manual")
    case = ReimbursementCase(claim=claim, received_on=received_on, sla_working_days=25, sla_due_on=due_on)
    case.save()
    if state != "received":
        ReimbursementCase.objects.filter(pk=case.pk).update(state=state)
    return case


def reverse(claim) -> None:
    """Reverse a claim's live settlement as the settlement service does: marked reversed, negative lines added."""
    from django.utils import timezone

    settlement = claim.settlements.get(reversed_at__isnull=True)
    Settlement.objects.filter(pk=settlement.pk).update(reversed_at=timezone.now())
    for line in settlement.lines.all():
        PaymentLine.objects.create(settlement=settlement, claim=claim, person=line.person, year=line.year,
                                   layer=line.layer, amount=-line.amount, is_reversal=True)
