"""Batch settlement (批量结算): the same books as settling one by one, caps across a person's claims, refusals per
claim, a fixed number of queries, history, the admin action and the management command."""

import random
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from claims.models import BenefitPolicy, Claim, PaymentLine, Settlement
from claims.models.choices import HospitalLevel, Layer, Referral, VisitType
from claims.models.claims import ClaimStatus
from claims.selectors import (
    eligibilities,
    eligibility,
    policies_for_service,
    policy_for_service,
    year_to_date,
    years_to_date_by_person_year,
)
from claims.services import batch_settlement, settle_claim
from claims.services.batch_settlement import settle_claims, settlement_order
from enrollment import roles
from enrollment.models import SubsidyRule
from enrollment.models.choices import Scheme
from enrollment.models.ledger import EnrollmentStatus
from enrollment.models.policy import SubsidyKind
from tests.conftest import require
from tests.factories import category, make_identity, make_person, make_policy, make_region, make_user, region_tree

from .factories import (
    make_assistance_rule,
    make_basic_rule,
    make_benefits,
    make_claim,
    make_clerk,
    make_enrollment,
    make_hospital,
    make_patient,
    make_segments,
    make_special_disease,
    make_tilt,
    spec_example_policy,
)

D = Decimal
ZERO = D("0.00")
MONEY_LAYERS = (Layer.BASIC, Layer.CRITICAL, Layer.ASSISTANCE, Layer.HOSPITAL, Layer.PATIENT)


@pytest.fixture
def clerk(db):
    return make_clerk("batch_clerk")


def assert_balanced(settlement: Settlement) -> None:
    """The invariant on the settlement row and on its money lines, to the fen."""
    parts = (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
             settlement.patient_pays)
    assert all(part >= 0 for part in parts)
    assert sum(parts) == settlement.claim.total_cost
    lines = {line.layer: line.amount for line in settlement.lines.all() if not line.is_reversal}
    assert tuple(lines[layer] for layer in MONEY_LAYERS) == parts


# ---------------------------------------------------------------------------------------------------------------
# A randomized world where caps, limits and deductibles bind
# ---------------------------------------------------------------------------------------------------------------

SEED = 20241123
CATEGORY_CODES = ("dibao", "tekun", "orphan", "returned_poverty")


def build_world(regions, *, people: int, claims: int, seed: int = SEED) -> dict:
    """Two policy versions (the prefecture's from 2024-01-01, county B's own from 2024-07-01), four categories with
    tilts, assistance and a subsidy, low caps so they bind; `people` people with random identities and enrolments;
    `claims` claims of every visit type, some special-disease, unreferred, rejected or dated before any policy."""
    rng = random.Random(seed)
    policy = make_policy(regions["prefecture"], date(2024, 1, 1))
    make_benefits(policy, basic_annual_cap="60000.00", critical_annual_cap="30000.00")
    make_basic_rule(policy)
    make_basic_rule(policy, hospital_level=HospitalLevel.CITY, deductible="800.00", ratio="0.65",
                    unreferred_ratio="0.55")
    make_basic_rule(policy, visit_type=VisitType.OUTPATIENT, hospital_level=HospitalLevel.TOWNSHIP,
                    deductible="0.00", ratio="0.50")
    make_basic_rule(policy, visit_type=VisitType.CHRONIC, hospital_level=HospitalLevel.COUNTY, deductible="0.00",
                    ratio="0.70")
    make_segments(policy)
    make_tilt(policy, "dibao", deductible_reduction="0.5", ratio_plus="0.05")  # the cap stays, so it binds
    make_tilt(policy, "tekun", deductible_reduction="0.5", ratio_plus="0.05", cap_removed=True)
    orphan = make_tilt(policy, "orphan", layer=Layer.BASIC, deductible_reduction="0.5", ratio_plus="0.05")
    # The seeds' dimensions (issue 7 §6): a tilt limited to county inpatient care, an employee-scheme rule, and
    # the continuous inpatient deductible for dibao — drawn from a second generator so the rest stays as it was.
    orphan.hospital_levels, orphan.visit_types = [HospitalLevel.COUNTY], [VisitType.INPATIENT]
    orphan.save()
    make_basic_rule(policy, ratio="0.85", scheme=Scheme.EMPLOYEE)
    BenefitPolicy.objects.get(policy=policy).continuous_deductible_categories.set([category("dibao")])
    rng2 = random.Random(seed + 1)
    make_assistance_rule(policy, "dibao", annual_limit="12000.00", deductible="1000.00")
    make_assistance_rule(policy, "tekun", ratio="1.00", annual_limit="20000.00", covers_outpatient=True)
    make_special_disease(policy, icd10_prefixes="C50", quota="30000.00")
    SubsidyRule.objects.create(policy=policy, category=category("returned_poverty"), kind=SubsidyKind.PERCENT,
                               value=D("70"))
    # County B's own version from July: its claims change version mid-year, the year's sums carry on.
    county_b = make_policy(regions["b"], date(2024, 7, 1))
    make_benefits(county_b, basic_annual_cap="50000.00", critical_annual_cap="25000.00")
    make_basic_rule(county_b, ratio="0.80")
    make_basic_rule(county_b, hospital_level=HospitalLevel.CITY, deductible="600.00", ratio="0.70")
    make_segments(county_b, bands=(("50000.00", "0.60"), (None, "0.75")))
    make_assistance_rule(county_b, "dibao", ratio="0.80", annual_limit="10000.00")

    hospitals = [make_hospital(regions["a"], level=level) for level in
                 (HospitalLevel.TOWNSHIP, HospitalLevel.COUNTY, HospitalLevel.CITY)]
    elsewhere = make_hospital(make_region("440000", "广东省"), level=HospitalLevel.CITY)
    persons = []
    for index in range(people):
        person = make_person(regions[rng.choice("ab")], name=f"病人{index}")
        for code in rng.sample(CATEGORY_CODES, rng.choice((0, 1, 1, 2))):
            start = date(2024, 1, 1) + timedelta(days=rng.choice((-400, -10, 40, 150)))
            end = start + timedelta(days=rng.choice((90, 200))) if rng.random() < 0.25 else None
            make_identity(person, code, start, end)
        roll = rng.random()
        if roll < 0.8:
            start = date(2024, 1, 1) if rng.random() < 0.8 else date(2024, 1, 1) + timedelta(days=rng.randrange(300))
            make_enrollment(person, 2024, coverage_start=start,
                            scheme=Scheme.EMPLOYEE if rng2.random() < 0.15 else Scheme.RESIDENT_TIER1)
        elif roll < 0.9:
            make_enrollment(person, 2024, status=EnrollmentStatus.NOT_INSURED)
        persons.append(person)

    made = []
    for index in range(claims):
        person = rng.choice(persons)
        hospital = rng.choice(hospitals)
        if hospital.level == HospitalLevel.CITY and rng2.random() < 0.2:
            hospital = elsewhere  # referred out of the province: no continuous deductible
        visit = {HospitalLevel.TOWNSHIP: VisitType.OUTPATIENT, HospitalLevel.COUNTY: rng.choice(
            [VisitType.INPATIENT, VisitType.CHRONIC]), HospitalLevel.CITY: VisitType.INPATIENT}[hospital.level]
        admitted = date(2024, 1, 1) + timedelta(days=rng.randrange(350))
        if index % 40 == 7:
            admitted = date(2023, 6, 1) + timedelta(days=rng.randrange(100))  # before any version: refused
        big = visit == VisitType.INPATIENT
        scope = D(rng.randrange(2_000_00 if big else 5_000, 90_000_00 if big else 300_000)) / 100
        extra = D(rng.randrange(0, 15_000_00 if big else 50_000)) / 100
        special = big and rng.random() < 0.15
        made.append(make_claim(
            person, hospital, visit_type=visit, admitted_on=admitted, total_cost=str(scope + extra),
            policy_scope_cost=str(scope), referral=Referral.MISSING if rng.random() < 0.1 else (
                Referral.NOT_REQUIRED if rng2.random() < 0.3 else Referral.REFERRED),
            is_special_disease=special, diagnosis_code="C50.9" if special else "K35",
            status=ClaimStatus.REJECTED if index % 50 == 3 else ClaimStatus.REGISTERED,
            number=f"R{seed % 1000:03d}-{index:05d}"))
    return {"policy": policy, "county_b_policy": county_b, "persons": persons, "claims": made}


def books(claim_ids) -> dict:
    """Everything settling wrote about these claims, in terms that survive a rollback (no settlement ids)."""
    settlements = {}
    for s in Settlement.objects.filter(claim_id__in=claim_ids).prefetch_related("lines"):
        lines = sorted((line.layer, line.amount, line.funding_source, line.person_id, line.year, line.is_reversal)
                       for line in s.lines.all())
        settlements[s.claim_id] = (
            s.policy_id, s.year, s.basic, s.critical, s.assistance, s.hospital_borne, s.patient_pays,
            s.basic_category_id, s.critical_category_id, s.assistance_category_id, s.identity_id, s.steps,
            s.created_by_id, s.reversed_at, lines)
    history = {}
    for row in Claim.history.filter(id__in=claim_ids).order_by("id", "history_id"):
        history.setdefault(row.id, []).append(
            (row.history_type, row.status, row.history_user_id, row.history_change_reason, row.total_cost))
    statuses = dict(Claim.objects.filter(pk__in=claim_ids).values_list("pk", "status"))
    return {"settlements": settlements, "history": history, "statuses": statuses}


@pytest.mark.parametrize("chunk_size", [2000, 17])
def test_batch_books_exactly_what_one_by_one_settlement_books(regions, clerk, chunk_size):
    world = build_world(regions, people=60, claims=200)
    claims = world["claims"]
    ids = [claim.pk for claim in claims]
    # A few settled beforehand, one of them reversed again: the batch must refuse or count them like settle_claim.
    for claim in claims[10:13]:
        if claim.status == ClaimStatus.REGISTERED and claim.admitted_on.year == 2024:
            settle_claim(claim=claim, by=clerk)

    with transaction.atomic():
        result = settle_claims(claims=Claim.objects.filter(pk__in=ids), by=clerk, chunk_size=chunk_size)
        batch_books = books(ids)
        batch_refusals = {refusal.claim_id: refusal.code for refusal in result.refusals}
        batch_ytd = years_to_date_by_person_year((person.pk, 2024) for person in world["persons"])
        settlements = list(Settlement.objects.filter(pk__in=result.settlement_ids).select_related("claim")
                           .prefetch_related("lines"))
        transaction.set_rollback(True)

    assert not Settlement.objects.filter(pk__in=result.settlement_ids).exists()  # really rolled back
    one_by_one_refusals = {}
    for claim in sorted(Claim.objects.filter(pk__in=ids).select_related("hospital"), key=settlement_order):
        try:
            settle_claim(claim=claim, by=clerk)
        except ValidationError as error:
            one_by_one_refusals[claim.pk] = error.code

    assert batch_refusals == one_by_one_refusals
    assert batch_books == books(ids)
    assert batch_ytd == {(person.pk, 2024): year_to_date(person.pk, 2024) for person in world["persons"]}

    # The world is not trivial: every kind of refusal, both versions, uninsured claims and binding caps occur.
    assert set(batch_refusals.values()) == {"no_policy", "rejected", "already_settled"}
    assert result.settled == len(settlements) == len(ids) - len(batch_refusals) > 150
    assert result.chunks == 1 if chunk_size == 2000 else result.chunks >= len(ids) // chunk_size // 2
    policies = {s.policy_id for s in settlements}
    assert policies == {world["policy"].pk, world["county_b_policy"].pk}
    steps = [" ".join(f"{layer} {text}" for layer, text in s.steps) for s in settlements]
    assert sum("年度封顶" in text for text in steps) >= 5
    assert sum("年度救助限额" in text for text in steps) >= 3
    assert sum("无有效参保记录" in text for text in steps) >= 5
    assert sum("按病种定额" in text for text in steps) >= 1
    for marker in ("起付线连续计算：", "起付线连续计算不适用：省外就医", "起付线连续计算不适用：未按规定转诊",
                   "本次不适用：", "本次适用）", "未按规定转诊，不享受倾斜", "[职工医保"):
        assert any(marker in text for text in steps), marker
    for settlement in settlements:
        assert_balanced(settlement)


# ---------------------------------------------------------------------------------------------------------------
# Caps across one person's claims, order, refusals
# ---------------------------------------------------------------------------------------------------------------


def test_caps_hold_across_a_persons_claims_in_one_batch(regions, clerk):
    policy = spec_example_policy(regions["prefecture"], basic_annual_cap="50000.00")
    policy.assistance_rules.update(annual_limit=D("10000.00"))
    person = make_patient(regions["a"])
    hospital = make_hospital(regions["a"])
    # Registered in the opposite order of their dates: the batch settles by date of service.
    later = make_claim(person, hospital, admitted_on=date(2024, 9, 1))
    middle = make_claim(person, hospital, admitted_on=date(2024, 5, 1))
    first = make_claim(person, hospital, admitted_on=date(2024, 3, 1))

    result = settle_claims(claims=[later, middle, first], by=clerk)

    assert result.settled == 3 and result.refusals == []
    by_claim = {s.claim_id: s for s in Settlement.objects.filter(pk__in=result.settlement_ids)}
    one, two, three = by_claim[first.pk], by_claim[middle.pk], by_claim[later.pk]
    # The figures of test_settlement_service.test_second_claim_uses_the_remaining_caps, then nothing left.
    assert (one.basic, one.critical, one.assistance) == (D("38625.00"), D("3818.75"), D("6689.38"))
    assert (two.basic, two.critical, two.assistance, two.hospital_borne, two.patient_pays) == (
        D("11375.00"), D("26406.25"), D("3310.62"), D("2000.00"), D("16908.13"))
    assert (three.basic, three.assistance) == (ZERO, ZERO)
    ytd = year_to_date(person.pk, 2024)
    assert ytd.basic_paid == D("50000.00") and ytd.assistance_paid == D("10000.00")
    for settlement in (one, two, three):
        assert_balanced(settlement)
    assert {claim.status for claim in (later, middle, first)} == {ClaimStatus.SETTLED}  # given objects updated


def test_batch_continues_from_what_the_year_already_holds(regions, clerk):
    policy = spec_example_policy(regions["prefecture"], basic_annual_cap="50000.00")
    policy.assistance_rules.update(annual_limit=D("10000.00"))
    person = make_patient(regions["a"])
    hospital = make_hospital(regions["a"])
    settle_claim(claim=make_claim(person, hospital, admitted_on=date(2024, 2, 1)), by=clerk)

    result = settle_claims(claims=[make_claim(person, hospital, admitted_on=date(2024, 4, 1))], by=clerk)

    second = Settlement.objects.get(pk=result.settlement_ids[0])
    assert (second.basic, second.assistance) == (D("11375.00"), D("3310.62"))


def test_refused_claims_are_reported_and_the_rest_settle(regions, clerk):
    spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    person = make_patient(regions["a"])
    hospital = make_hospital(regions["a"])
    too_early = make_claim(person, hospital, admitted_on=date(2023, 5, 1), number="EARLY")
    rejected = make_claim(person, hospital, admitted_on=date(2024, 2, 1), status=ClaimStatus.REJECTED,
                          number="REJ")
    done = make_claim(person, hospital, admitted_on=date(2024, 2, 10), number="DONE")
    settle_claim(claim=done, by=clerk)
    fine = make_claim(person, hospital, admitted_on=date(2024, 3, 1), number="FINE")
    missing_id = fine.pk + 1000

    result = settle_claims(claims=[too_early.pk, rejected.pk, done.pk, fine.pk, missing_id], by=clerk)

    refusals = {refusal.claim_number or refusal.claim_id: refusal for refusal in result.refusals}
    assert {key: refusal.code for key, refusal in refusals.items()} == {
        "EARLY": "no_policy", "REJ": "rejected", "DONE": "already_settled", missing_id: "not_found"}
    for claim in (too_early, rejected, done):  # the very message settle_claim gives
        with pytest.raises(ValidationError) as raised:
            settle_claim(claim=claim, by=clerk)
        assert refusals[claim.number].message == " ".join(raised.value.messages)
    assert result.settled_claim_ids == [fine.pk]
    assert Settlement.objects.get(claim=fine).basic == D("38625.00")  # the year before it held DONE only
    too_early.refresh_from_db()
    assert too_early.status == ClaimStatus.REGISTERED


def test_rules_that_cannot_be_applied_refuse_only_their_claims(regions, clerk):
    broken = spec_example_policy(regions["b"], date(2024, 1, 1))
    broken.critical_segments.filter(upper_bound__isnull=True).update(upper_bound=D("900000.00"))
    spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    in_b = make_claim(make_patient(regions["b"]), make_hospital(regions["b"]))
    in_a = make_claim(make_patient(regions["a"]), make_hospital(regions["a"]))

    result = settle_claims(claims=Claim.objects.all(), by=clerk)

    assert [(r.claim_id, r.code) for r in result.refusals] == [(in_b.pk, "benefit_rules_invalid")]
    assert result.settled_claim_ids == [in_a.pk]


def test_an_unexpected_error_rolls_back_its_chunk_only(regions, clerk, monkeypatch):
    spec_example_policy(regions["prefecture"])
    hospital = make_hospital(regions["a"])
    claims = [make_claim(make_patient(regions["a"], name=f"人{n}"), hospital) for n in range(4)]
    real_record_history = batch_settlement._record_history
    calls = []

    def failing_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # after the second chunk's settlements, lines and claim update were written
            raise RuntimeError("disk full")
        return real_record_history(*args, **kwargs)

    monkeypatch.setattr(batch_settlement, "_record_history", failing_second_chunk)

    with pytest.raises(RuntimeError, match="disk full"):
        settle_claims(claims=claims, by=clerk, chunk_size=2)

    # The first chunk (two people) stays settled, the second wrote nothing at all.
    assert set(Settlement.objects.values_list("claim_id", flat=True)) == {claims[0].pk, claims[1].pk}
    assert set(Claim.objects.filter(status=ClaimStatus.SETTLED).values_list("pk", flat=True)) == {
        claims[0].pk, claims[1].pk}
    assert not PaymentLine.objects.filter(claim__in=claims[2:]).exists()


def test_settled_claims_get_their_history_row_by_the_clerk(regions, clerk):
    spec_example_policy(regions["prefecture"])
    claim = make_claim(make_patient(regions["a"]), make_hospital(regions["a"]))

    before = timezone.now()
    settle_claims(claims=[claim], by=clerk)

    record = Claim.history.filter(id=claim.pk).latest("history_id")
    assert (record.history_type, record.status, record.history_user) == ("~", ClaimStatus.SETTLED, clerk)
    assert record.history_change_reason is None
    assert before <= record.history_date <= timezone.now()
    assert (record.number, record.total_cost, record.person_id) == (claim.number, claim.total_cost, claim.person_id)
    assert Claim.history.filter(id=claim.pk).count() == 2  # "created", then "settled"


# ---------------------------------------------------------------------------------------------------------------
# Queries: a fixed number per chunk, whatever the number of claims
# ---------------------------------------------------------------------------------------------------------------


def _claims_of(regions, *, people: int, claims_each: int, tag: str):
    hospital = make_hospital(regions["a"])
    for n in range(people):
        person = make_patient(regions["a" if n % 2 else "b"], codes=("dibao", "tekun") if n % 3 else ("dibao",),
                              name=f"{tag}{n}")
        for k in range(claims_each):
            make_claim(person, hospital, admitted_on=date(2024, 1 + k, 1 + n % 20), number=f"{tag}-{n}-{k}")
    return Claim.objects.filter(number__startswith=f"{tag}-")


#: Measured: 23 statements on PostgreSQL for 10 and for 100 claims (the claims' keys; per chunk a savepoint, the
#: lock, claims, hospitals, regions, live settlements, versions, 7 for the version's benefit rules, enrolments,
#: identities, year-to-date, two id reservations for the COPYs, which are not counted, the UPDATE and the
#: history INSERT … SELECT); SQLite has INSERTs instead of COPYs and splits those of 100 claims: 23 and 29.
#: Plus 6 for the service's own authorisation, once per user instance: permissions (user, groups), hospital link,
#: the user's regions (paths, ids) and the claims' regions.
BATCH_QUERY_BOUND = 35


def test_query_count_does_not_grow_with_the_number_of_claims(regions, clerk, django_assert_max_num_queries):
    policy = spec_example_policy(regions["prefecture"])
    make_tilt(policy, "tekun")
    make_assistance_rule(policy, "tekun", ratio="0.90")
    small_claims = _claims_of(regions, people=5, claims_each=2, tag="S")
    large_claims = _claims_of(regions, people=50, claims_each=2, tag="L")
    assert (small_claims.count(), large_claims.count()) == (10, 100)

    # A fresh instance per run, as a request or a task gets: both runs read the clerk's permissions and regions.
    first, second = User.objects.get(pk=clerk.pk), User.objects.get(pk=clerk.pk)
    with django_assert_max_num_queries(BATCH_QUERY_BOUND) as small:
        assert settle_claims(claims=small_claims, by=first).settled == 10
    with django_assert_max_num_queries(BATCH_QUERY_BOUND) as large:
        assert settle_claims(claims=large_claims, by=second).settled == 100

    def reads_and_updates(captured):
        return [query["sql"].split()[0] for query in captured.captured_queries
                if not query["sql"].lstrip().upper().startswith("INSERT")]

    # Reads, locks and updates are the same statements; only SQLite splits an INSERT into 999-parameter pieces.
    assert reads_and_updates(small) == reads_and_updates(large)
    if connection.vendor == "postgresql":
        assert len(small.captured_queries) == len(large.captured_queries)


# ---------------------------------------------------------------------------------------------------------------
# The bulk selectors agree with the one-claim ones
# ---------------------------------------------------------------------------------------------------------------


def test_policies_for_service_choose_as_policy_for_service(regions):
    prefecture_old = make_policy(regions["prefecture"], date(2023, 1, 1), date(2023, 12, 31))
    make_policy(regions["prefecture"], date(2024, 1, 1))
    make_policy(regions["province"], date(2020, 1, 1))
    make_policy(regions["b"], date(2024, 7, 1), date(2024, 9, 30))
    make_policy(regions["b"], date(2024, 8, 1))  # overlaps: the later start wins
    days = [date(2019, 12, 31), date(2020, 1, 1), date(2023, 6, 1), date(2023, 12, 31), date(2024, 1, 1),
            date(2024, 6, 30), date(2024, 7, 1), date(2024, 7, 31), date(2024, 8, 1), date(2025, 3, 3)]
    pairs = [(region, day) for region in regions.values() for day in days]

    bulk = policies_for_service(pairs)

    assert {key: (policy.pk if policy else None) for key, policy in bulk.items()} == {
        (region.pk, day): getattr(policy_for_service(region, day), "pk", None) for region, day in pairs}
    assert bulk[(regions["a"].pk, date(2023, 6, 1))] == prefecture_old


def test_eligibilities_match_eligibility(regions):
    person = make_person(regions["a"])
    make_identity(person, "dibao", date(2024, 1, 1), date(2024, 3, 31))
    make_identity(person, "dibao", date(2024, 4, 1))
    make_identity(person, "tekun", date(2024, 2, 1), date(2024, 2, 29))
    make_enrollment(person, 2024, coverage_start=date(2024, 2, 15), coverage_end=date(2024, 11, 30))
    other = make_person(regions["b"], name="李四")
    make_enrollment(other, 2024, status=EnrollmentStatus.SHOULD_ENROL)
    keys = [(p.pk, day) for p in (person, other) for day in
            (date(2023, 12, 31), date(2024, 2, 14), date(2024, 2, 15), date(2024, 2, 20), date(2024, 3, 31),
             date(2024, 4, 1), date(2024, 11, 30), date(2024, 12, 1))]

    bulk = eligibilities(keys)

    assert bulk == {key: eligibility(*key) for key in keys}
    assert [i.category.code for i in bulk[(person.pk, date(2024, 2, 20))].identities] == ["tekun", "dibao"]


# ---------------------------------------------------------------------------------------------------------------
# Admin action and management command
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def county_claims(regions):
    spec_example_policy(regions["prefecture"])
    made = {}
    for key in ("a", "b"):
        hospital = make_hospital(regions[key], code=f"H-{key.upper()}")
        for month in (3, 6):
            made[f"{key}{month}"] = make_claim(make_patient(regions[key], name=f"{key}{month}"), hospital,
                                               admitted_on=date(2024, month, 1), number=f"{key.upper()}-{month}")
    return made


def test_admin_action_settles_through_the_batch(client, regions, county_claims, monkeypatch):
    clerk_a = make_user("batch_admin_a", roles=(roles.CLERK,), regions=(regions["a"],))
    calls = []
    real = batch_settlement.settle_claims

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr("claims.admin.claims.settle_claims", spy)
    client.force_login(clerk_a)
    selected = [county_claims[key].pk for key in ("a3", "a6", "b3")]
    response = client.post("/admin/claims/claim/", {"action": "settle_selected", "_selected_action": selected},
                           follow=True)

    assert response.status_code == 200
    assert len(calls) == 1
    assert set(Settlement.objects.values_list("claim__number", flat=True)) == {"A-3", "A-6"}  # B is not theirs
    assert any("2 claims settled" in str(message) for message in response.context["messages"])


def test_command_settles_registered_claims_by_region_hospital_and_date(regions, county_claims, capsys):
    make_user("night_clerk", roles=(roles.CLERK,), regions=(regions["prefecture"],))

    call_command("settle_claims", "--user", "night_clerk", "--region", "522701", "--until", "2024-04-01")

    assert set(Settlement.objects.values_list("claim__number", flat=True)) == {"A-3"}
    assert "1 claims settled, 0 refused" in capsys.readouterr().out
    call_command("settle_claims", "--user", "night_clerk", "--hospital", "H-B")
    assert set(Settlement.objects.values_list("claim__number", flat=True)) == {"A-3", "B-3", "B-6"}
    call_command("settle_claims", "--user", "night_clerk")
    assert Settlement.objects.count() == 4


def test_command_reports_refusals_and_honours_the_users_regions(regions, county_claims, capsys):
    make_user("clerk_b_only", roles=(roles.CLERK,), regions=(regions["b"],))
    Claim.objects.filter(number="B-3").update(admitted_on=date(2023, 3, 1), discharged_on=date(2023, 3, 10))

    call_command("settle_claims", "--user", "clerk_b_only")

    out = capsys.readouterr()
    assert set(Settlement.objects.values_list("claim__number", flat=True)) == {"B-6"}
    assert "B-3: No policy version is in force" in out.err
    assert "1 claims settled, 1 refused" in out.out


@pytest.mark.parametrize(("args", "message"), [
    (["--user", "nobody"], "No active user"),
    (["--user", "reviewer_x"], "may not settle"),
    (["--user", "clerk_x", "--region", "522702"], "No region '522702'"),
    (["--user", "clerk_x", "--hospital", "NOPE"], "No hospital"),
    (["--user", "clerk_x", "--until", "2024-13-01"], "not a date"),
])
def test_command_refuses_bad_arguments(regions, county_claims, args, message):
    make_user("reviewer_x", roles=(roles.REVIEWER,), regions=(regions["a"],))
    make_user("clerk_x", roles=(roles.CLERK,), regions=(regions["a"],))
    with pytest.raises(CommandError, match=message):
        call_command("settle_claims", *args)
    assert not Settlement.objects.exists()


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL: a batch and a hospital's real-time settlement of the same person at the same moment
# ---------------------------------------------------------------------------------------------------------------

READ_WINDOW_SECONDS = 0.5


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_batch_and_single_settlement_of_one_person_never_exceed_the_caps(monkeypatch):
    require(connection.vendor == "postgresql", "needs PostgreSQL")
    regions = region_tree()
    policy = spec_example_policy(regions["prefecture"], basic_annual_cap="50000.00")
    policy.assistance_rules.update(annual_limit=D("8000.00"))
    person = make_patient(regions["a"])
    hospital = make_hospital(regions["a"])
    clerk = make_clerk()
    batch_claims = [make_claim(person, hospital, admitted_on=date(2024, 3, day)) for day in (1, 2)]
    single_claim = make_claim(person, hospital, admitted_on=date(2024, 2, 1))

    original = batch_settlement.years_to_date_by_person_year

    def slow_read(keys):
        sums = original(keys)
        time.sleep(READ_WINDOW_SECONDS)  # the single settlement tries to get in here
        return sums

    monkeypatch.setattr(batch_settlement, "years_to_date_by_person_year", slow_read)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(work):
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(lambda: settle_claims(claims=batch_claims, by=clerk),)),
        threading.Thread(target=run, args=(lambda: (time.sleep(0.1), settle_claim(claim=single_claim, by=clerk)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Settlement.objects.count() == 3
    sums = PaymentLine.objects.filter(person=person, year=2024).aggregate(
        basic=Sum("amount", filter=Q(layer=Layer.BASIC)), assistance=Sum("amount", filter=Q(layer=Layer.ASSISTANCE)))
    assert sums == {"basic": D("50000.00"), "assistance": D("8000.00")}
    # Every settlement balances, checked in one aggregate over the money lines.
    unbalanced = (Settlement.objects.annotate(
        lines_total=Sum("lines__amount", filter=Q(lines__layer__in=MONEY_LAYERS)))
        .exclude(lines_total=F("claim__total_cost")))
    assert not unbalanced.exists()
    assert Settlement.objects.aggregate(n=Count("pk"))["n"] == 3
