"""Property (issue 7 §3): random sequences of money service calls — settle, correct, reverse, the manual
reimbursement's review steps and payment, hospital batch receipt and payment, correction proposals and decisions —
by random users (entitled or not, of this county or another) never change a paid or reviewed claim's money except
through a reversal that a second person approved, and the settlement invariant (SPEC §4.2) holds after every step.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from claims.models import (
    BatchLine,
    Claim,
    CorrectionState,
    HospitalBatch,
    PaymentLine,
    ReimbursementCase,
    Settlement,
    SettlementCorrection,
)
from claims.models.batches import BatchState
from claims.models.claims import ClaimSource, ClaimStatus
from claims.models.reimbursement import CaseState
from claims.services import batches
from claims.services import corrections as corr
from claims.services import reimbursement as flow
from claims.services.settlement import correct_claim, reverse_settlement, settle_claim
from enrollment import roles
from tests.factories import make_user

from .factories import make_claim, make_hospital, make_patient, spec_example_policy

D = dt.date.fromisoformat
MONEY_LAYERS = ("basic", "critical", "assistance", "hospital", "patient")
FIELDS = {"basic": "basic", "critical": "critical", "assistance": "assistance", "hospital": "hospital_borne",
          "patient": "patient_pays"}
#: Users who may never change anything here: no role, another county's staff.
OUTSIDERS = ("nobody", "clerk_b", "approver_b")
USERS = ("clerk", "clerk2", "reviewer", "approver", "head", "dual", *OUTSIDERS)


@pytest.fixture
def world(regions):
    spec_example_policy(regions["a"], effective_from=D("2026-01-01"))
    a, b = (regions["a"],), (regions["b"],)
    users = {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "clerk2": make_user("clerk2", roles=(roles.CLERK,), regions=a),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=a),
        "head": make_user("head", roles=(roles.HEAD,), regions=a),
        "dual": make_user("dual", roles=(roles.CLERK, roles.REVIEWER, roles.APPROVER), regions=a),
        "nobody": make_user("nobody", regions=a),
        "clerk_b": make_user("clerk_b", roles=(roles.CLERK,), regions=b),
        "approver_b": make_user("approver_b", roles=(roles.APPROVER,), regions=b),
    }
    patients = [make_patient(regions["a"], codes=("dibao",), years=(2026,)) for _ in range(3)]
    return {"users": users, "patients": patients, "hospital": make_hospital(regions["a"])}


@pytest.fixture
def started(world):
    """Every example starts from money in each stage: a re-reviewed manual claim and a claim paid in a batch
    (both frozen), a settled claim declared in a batch not yet paid, and one settled only."""
    u, patients, hospital = world["users"], world["patients"], world["hospital"]
    case = flow.register_manual_claim(
        by=u["clerk"], received_on=D("2026-07-01"), person=patients[0], hospital=hospital, visit_type="inpatient",
        admitted_on=D("2026-06-10"), discharged_on=D("2026-06-19"), referral="referred",
        payee_account="6228480000000000001", total_cost=Decimal("60000.00"), policy_scope_cost=Decimal("52000.00"))
    flow.initial_review(case=case, by=u["reviewer"])
    flow.re_review(case=case, by=u["approver"])
    direct = []
    for patient in patients:
        claim = make_claim(patient, hospital, admitted_on=D("2026-05-01"), total_cost="20000.00",
                           policy_scope_cost="18000.00")
        settle_claim(claim=claim, by=u["clerk"])
        direct.append(claim)
    paid = batches.receive_batch(hospital=hospital, period=(D("2026-05-01"), D("2026-05-31")),
                                 received_on=D("2026-06-05"), claims=direct[:1], by=u["clerk"])
    batches.pay_advance(batch=paid, by=u["approver"], paid_on=D("2026-06-08"), reference="ADV0")
    batches.receive_batch(hospital=hospital, period=(D("2026-05-01"), D("2026-05-31")),
                          received_on=D("2026-06-06"), claims=direct[1:2], by=u["clerk"])
    return world


costs = st.tuples(st.integers(min_value=1_000, max_value=9_000_000), st.integers(min_value=0, max_value=500_000)).map(
    lambda fen: (Decimal(fen[0]) / 100, Decimal(fen[1]) / 100))  # (policy-scope cost, out-of-catalog cost)
users = st.sampled_from(USERS)
pick = st.integers(min_value=0, max_value=50)


def by(*entitled):
    """Half the time someone entitled to the step, half the time anyone at all (outsiders included)."""
    return st.one_of(st.sampled_from(entitled), users)


CLERKS, APPROVERS = ("clerk", "clerk2", "dual"), ("approver", "head", "dual")
step = st.one_of(
    st.tuples(st.just("direct"), by(*CLERKS), pick, costs),
    st.tuples(st.just("manual"), by(*CLERKS), pick, costs),
    st.tuples(st.just("initial_review"), by("reviewer", "dual"), pick),
    st.tuples(st.just("re_review"), by("approver", "dual"), pick),
    st.tuples(st.just("pay_case"), by("approver", "dual"), pick),
    st.tuples(st.just("correct"), by(*CLERKS), pick, costs),
    st.tuples(st.just("reverse"), by(*CLERKS), pick),
    st.tuples(st.just("propose"), by(*CLERKS), pick, st.one_of(st.none(), costs)),
    st.tuples(st.just("approve"), by(*APPROVERS), pick),
    st.tuples(st.just("reject"), by(*APPROVERS), pick),
    st.tuples(st.just("batch"), by(*CLERKS)),
    st.tuples(st.just("pay_batch"), by("approver", "dual"), pick),
)

#: Always run once the whole way: a manual claim reviewed, corrected (proposer ≠ approver; the proposer's own
#: approval refused) and paid; direct claims paid in a batch and one reversed by an approved correction — with
#: outsiders and direct changes tried at every stage.
FULL_PATH = [
    ("manual", "clerk", 0, (Decimal("52000.00"), Decimal("8000.00"))),
    ("initial_review", "reviewer", 0), ("re_review", "reviewer", 0), ("re_review", "approver", 0),
    ("correct", "clerk", 0, (Decimal("40000.00"), Decimal("0.00"))), ("reverse", "clerk", 0),
    ("propose", "clerk_b", 0, None), ("propose", "dual", 0, (Decimal("40000.00"), Decimal("1000.00"))),
    ("approve", "dual", 0), ("approve", "approver_b", 0), ("approve", "approver", 0),
    ("pay_case", "approver", 0),
    ("direct", "clerk", 1, (Decimal("30000.00"), Decimal("500.00"))),
    ("direct", "clerk2", 2, (Decimal("9000.00"), Decimal("0.00"))),
    ("batch", "clerk"), ("pay_batch", "clerk_b", 0), ("pay_batch", "approver", 0),
    ("correct", "clerk", 1, (Decimal("1000.00"), Decimal("0.00"))),
    ("propose", "clerk2", 1, None), ("reject", "clerk2", 0), ("approve", "head", 0),
    ("direct", "clerk", 1, (Decimal("100.00"), Decimal("0.00"))),
]


def _nth(queryset, index):
    rows = list(queryset.order_by("pk"))
    return rows[index % len(rows)] if rows else None


def _cost_fields(cost):
    scope, extra = cost
    return {"total_cost": scope + extra, "policy_scope_cost": scope}


def run(world, action):
    """Run one step; returns False when there was nothing to act on."""
    name, who, *args = action
    by = world["users"][who]
    live = Settlement.objects.filter(reversed_at__isnull=True)
    if name == "direct":
        claim = make_claim(world["patients"][args[0] % 3], world["hospital"], admitted_on=D("2026-06-01"),
                           **{k: str(v) for k, v in _cost_fields(args[1]).items()})
        settle_claim(claim=claim, by=by)
    elif name == "manual":
        fields = _cost_fields(args[1])
        flow.register_manual_claim(
            by=by, received_on=D("2026-07-01"), person=world["patients"][args[0] % 3], hospital=world["hospital"],
            visit_type="inpatient", admitted_on=D("2026-06-10"), discharged_on=D("2026-06-19"),
            referral="referred", payee_account="6228480000000000001", **fields)
    elif name in ("initial_review", "re_review", "pay_case"):
        state = {"initial_review": CaseState.RECEIVED, "re_review": CaseState.REVIEWED,
                 "pay_case": CaseState.APPROVED}[name]
        case = _nth(ReimbursementCase.objects.filter(state=state), args[0])
        if case is None:
            return False
        if name == "initial_review":
            flow.initial_review(case=case, by=by)
        elif name == "re_review":
            flow.re_review(case=case, by=by)
        else:
            flow.pay(case=case, by=by, paid_on=D("2026-08-01"), reference="PAY")
    elif name == "correct":
        settlement = _nth(live, args[0])
        if settlement is None:
            return False
        correct_claim(claim=settlement.claim, by=by, reason="更正", **_cost_fields(args[1]))
    elif name == "reverse":
        settlement = _nth(live, args[0])
        if settlement is None:
            return False
        reverse_settlement(settlement=settlement, by=by, reason="撤销")
    elif name == "propose":
        settlement = _nth(live, args[0])
        if settlement is None:
            return False
        if args[1] is None:
            corr.propose_correction(settlement=settlement, by=by, reason="冲正", reverse_only=True)
        else:
            corr.propose_correction(settlement=settlement, by=by, reason="更正", **_cost_fields(args[1]))
    elif name in ("approve", "reject"):
        correction = _nth(SettlementCorrection.objects.filter(state=CorrectionState.PROPOSED), args[0])
        if correction is None:
            return False
        if name == "approve":
            corr.approve_correction(correction=correction, by=by)
        else:
            corr.reject_correction(correction=correction, by=by, note="驳回")
    elif name == "batch":
        claims = list(Claim.objects.filter(source=ClaimSource.DIRECT, status=ClaimStatus.SETTLED,
                                           batch_lines__isnull=True))
        if not claims:
            return False
        batches.receive_batch(hospital=world["hospital"], period=(D("2026-06-01"), D("2026-06-30")),
                              received_on=D("2026-07-05"), claims=claims, by=by)
    elif name == "pay_batch":
        batch = _nth(HospitalBatch.objects.filter(state=BatchState.RECEIVED), args[0])
        if batch is None:
            return False
        batches.pay_advance(batch=batch, by=by, paid_on=D("2026-07-10"), reference="ADV")
    return True


def money_of_settlement(settlement) -> tuple:
    return tuple(getattr(settlement, FIELDS[layer]) for layer in MONEY_LAYERS)


def check_invariants(frozen_before: dict[int, tuple]) -> None:
    """SPEC §4.2 on every settlement and every claim's books; frozen money moved only by approved corrections."""
    for settlement in Settlement.objects.select_related("claim").prefetch_related("lines"):
        parts = money_of_settlement(settlement)
        assert all(part >= 0 for part in parts)
        booked = {line.layer: line.amount for line in settlement.lines.all() if not line.is_reversal}
        assert tuple(booked[layer] for layer in MONEY_LAYERS) == parts
        reversal = {line.layer: line.amount for line in settlement.lines.all() if line.is_reversal}
        if settlement.reversed_at is None:
            assert sum(parts) == settlement.claim.total_cost
            assert not reversal
        else:
            assert reversal == {layer: -amount for layer, amount in booked.items()}
        if settlement.approved_by_id is not None:
            assert settlement.approved_by_id != settlement.created_by_id
        if settlement.pk in frozen_before:
            # Frozen money: the row and its lines never change; a reversal only with a second person's approval,
            # recorded on an approved correction.
            assert parts == frozen_before[settlement.pk]
            if settlement.reversed_at is not None:
                assert settlement.reversal_approved_by_id not in (None, settlement.reversed_by_id)
                assert SettlementCorrection.objects.filter(
                    original=settlement, state=CorrectionState.APPROVED,
                    decided_by_id=settlement.reversal_approved_by_id).exists()
    # Each claim's lines add up to its live settlement, or to nothing.
    for claim in Claim.objects.all():
        current = Settlement.objects.filter(claim=claim, reversed_at__isnull=True).first()
        sums = dict(PaymentLine.objects.filter(claim=claim, layer__in=MONEY_LAYERS).values_list("layer")
                    .annotate(total=Sum("amount")))
        want = dict(zip(MONEY_LAYERS, money_of_settlement(current), strict=True)) if current else {}
        assert {layer: sums.get(layer, 0) for layer in MONEY_LAYERS} == {
            layer: want.get(layer, 0) for layer in MONEY_LAYERS}
        if current is None:
            assert claim.status != ClaimStatus.SETTLED
    # Paid and re-reviewed claims have frozen settlements.
    for case in ReimbursementCase.objects.filter(state__in=(CaseState.APPROVED, CaseState.PAID)):
        current = Settlement.objects.filter(claim=case.claim_id, reversed_at__isnull=True).first()
        assert current is None or current.frozen_at is not None
    paid = BatchLine.objects.exclude(batch__state=BatchState.RECEIVED).values("claim_id")
    assert not Settlement.objects.filter(claim_id__in=paid, reversed_at__isnull=True, frozen_at__isnull=True).exists()


@pytest.mark.django_db
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=16))
@example(steps=FULL_PATH)
def test_random_money_calls_by_random_users(started, steps):
    world = started
    with transaction.atomic():
        for action in steps:
            frozen_before = {s.pk: money_of_settlement(s) for s in Settlement.objects.filter(frozen_at__isnull=False)}
            before = (Settlement.objects.count(), PaymentLine.objects.count(), SettlementCorrection.objects.count())
            try:
                with transaction.atomic():
                    acted = run(world, action)
            except PermissionDenied:
                acted = False
            except ValidationError:
                acted = False
            else:
                # Outsiders never get anything done.
                assert not (acted and action[1] in OUTSIDERS), action
            event(f"{action[0]}: {'done' if acted else 'refused or nothing to do'}")
            if not acted:
                assert (Settlement.objects.count(), PaymentLine.objects.count(),
                        SettlementCorrection.objects.count()) == before
            check_invariants(frozen_before)
        transaction.set_rollback(True)


def _outcome(world, action) -> str:
    try:
        with transaction.atomic():
            return "done" if run(world, action) else "nothing"
    except PermissionDenied:
        return "denied"
    except ValidationError as error:
        return f"refused:{error.code or error.messages[0]}"


@pytest.mark.django_db
def test_the_full_path_does_what_each_step_should(world):
    """The property's fixed example, step by step: what is done, and what is denied or refused and why."""
    outcomes = []
    for action in FULL_PATH:
        outcomes.append((action[0], action[1], _outcome(world, action)))
        check_invariants({s.pk: money_of_settlement(s) for s in Settlement.objects.filter(frozen_at__isnull=False)})
    assert outcomes == [
        ("manual", "clerk", "done"),
        ("initial_review", "reviewer", "done"),
        ("re_review", "reviewer", "denied"),
        ("re_review", "approver", "done"),
        ("correct", "clerk", "refused:frozen"),
        ("reverse", "clerk", "refused:frozen"),
        ("propose", "clerk_b", "denied"),
        ("propose", "dual", "done"),
        ("approve", "dual", "denied"),
        ("approve", "approver_b", "denied"),
        ("approve", "approver", "done"),
        ("pay_case", "approver", "done"),
        ("direct", "clerk", "done"),
        ("direct", "clerk2", "done"),
        ("batch", "clerk", "done"),
        ("pay_batch", "clerk_b", "denied"),
        ("pay_batch", "approver", "done"),
        ("correct", "clerk", "refused:frozen"),
        ("propose", "clerk2", "done"),
        ("reject", "clerk2", "denied"),
        ("approve", "head", "done"),
        ("direct", "clerk", "done"),
    ]
