"""The claims part of the demo (演示数据): hospitals, settled claims, manual reimbursements and hospital batches.

Called by ``manage.py seed_demo`` through ``settings.DEMO_SEEDERS`` after enrollment has made the people, their
ledger and the logins. Everything after the hospitals goes through the real services with the demo users as
``by=`` — settlement, the manual reimbursement workflow, the batch workflow — so the demo shows what the services
would have written, with their events and history, and every queue has work in every state: on track, due soon,
overdue, paused (退回补件), resubmitted, exempted, refused, withdrawn and paid.

Dates are working days counted back from today on the loaded calendar, so the same seed gives a county whose
queues look the same whatever day ``make run`` is run on.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from claims.calendar import work_calendar
from claims.models import Claim, Hospital, HospitalStaff
from claims.models.choices import HospitalLevel, Referral, VisitType
from claims.models.claims import ClaimSource
from claims.rules.workdays import WorkCalendar
from claims.services import batches as batch_services
from claims.services import reimbursement as case_services
from claims.services.batch_settlement import settle_claims
from enrollment import roles
from enrollment.demo import demo_counties
from enrollment.models import Enrollment, Person, Region
from enrollment.models.ledger import EnrollmentStatus
from enrollment.models.regions import RegionLevel

#: How many direct (one-stop) claims the demo settles; enough for every hospital to declare batches.
DIRECT_CLAIMS = 360
#: Direct claims left registered (not settled) for the clerk to settle in the browser.
UNSETTLED_CLAIMS = 6
#: How far back the claims go: the last year, so batches of several months exist whatever today's date.
CLAIM_SPAN_DAYS = 330

# (code suffix, name pattern, level, in the pooling region, inside the county, networked)
MAIN_HOSPITALS = [
    ("01", "{county}人民医院", HospitalLevel.COUNTY, True, True, True),
    ("02", "{county}中医医院", HospitalLevel.COUNTY, True, True, True),
    ("03", "墨冲镇卫生院", HospitalLevel.TOWNSHIP, True, True, True),
    ("04", "平浪镇卫生院", HospitalLevel.TOWNSHIP, True, True, True),
]
PREFECTURE_HOSPITAL = ("黔南州人民医院", HospitalLevel.CITY)
# The provincial hospital is outside the prefecture's pool and not networked for direct settlement: its bills
# come back as manual reimbursements (零星报销), as they do in practice.
PROVINCE_HOSPITAL = ("贵州医科大学附属医院", HospitalLevel.PROVINCE)

DIAGNOSES = {
    VisitType.INPATIENT: [
        ("J18.9", "肺炎"), ("I63.9", "脑梗死"), ("K80.2", "胆囊结石"), ("J44.1", "慢性阻塞性肺病急性加重"),
        ("I10", "原发性高血压"), ("K35.8", "急性阑尾炎"), ("S72.0", "股骨颈骨折"), ("O80.0", "顺产"),
        ("E11.9", "2型糖尿病"), ("C34.9", "肺恶性肿瘤"), ("C50.9", "乳腺恶性肿瘤"), ("N18.5", "慢性肾脏病5期"),
        ("H25.9", "老年性白内障"), ("I21.9", "急性心肌梗死"),
    ],
    VisitType.OUTPATIENT: [("J06.9", "急性上呼吸道感染"), ("K29.7", "胃炎"), ("M54.5", "腰痛"), ("L30.9", "皮炎")],
    VisitType.CHRONIC: [("I10", "原发性高血压"), ("E11.9", "2型糖尿病"), ("N18.5", "慢性肾脏病5期（透析）"),
                        ("F20.9", "精神分裂症")],
}
# Total cost ranges (yuan) by visit type and hospital level: a township bed costs little, a provincial one a lot.
COST_RANGES = {
    (VisitType.INPATIENT, HospitalLevel.TOWNSHIP): (900, 5_000),
    (VisitType.INPATIENT, HospitalLevel.COUNTY): (2_500, 22_000),
    (VisitType.INPATIENT, HospitalLevel.CITY): (6_000, 60_000),
    (VisitType.INPATIENT, HospitalLevel.PROVINCE): (18_000, 150_000),
    (VisitType.OUTPATIENT, HospitalLevel.TOWNSHIP): (40, 300),
    (VisitType.OUTPATIENT, HospitalLevel.COUNTY): (80, 600),
    (VisitType.CHRONIC, HospitalLevel.TOWNSHIP): (150, 1_200),
    (VisitType.CHRONIC, HospitalLevel.COUNTY): (200, 3_000),
    (VisitType.CHRONIC, HospitalLevel.CITY): (300, 6_000),
}
DOCUMENTS = "住院发票原件、费用明细清单、出院记录、身份证复印件、银行卡复印件"
REJECTION_REASONS = ["超出医保目录范围的自费药品未剔除", "住院指征不足，应门诊治疗", "重复收费：同日两次计收诊查费"]


@dataclass
class DemoCounts:
    hospitals: int = 0
    settled: int = 0
    unsettled: int = 0
    refused_settlements: int = 0
    cases: int = 0
    batches: int = 0


@dataclass(frozen=True)
class _Staff:
    clerk: User
    reviewer: User
    approver: User
    head: User
    admin: User
    hospital_user: User | None


def working_days_back(calendar: WorkCalendar, today: dt.date, n: int) -> dt.date:
    """The working day ``n`` working days before ``today`` (0: the last working day up to today)."""
    day = today
    while not calendar.is_working_day(day):
        day -= dt.timedelta(days=1)
    while n > 0:
        day -= dt.timedelta(days=1)
        if calendar.is_working_day(day):
            n -= 1
    return day


def _staff(logins) -> _Staff | None:
    """The demo users by role, in the main county (the first clerk's); None when a role has no login."""
    by_role: dict[str, str] = {}
    for login in logins:
        by_role.setdefault(login.role, login.username)
    wanted = [roles.CLERK, roles.REVIEWER, roles.APPROVER, roles.HEAD, roles.ADMIN]
    if any(role not in by_role for role in wanted):
        return None
    users = User.objects.in_bulk([*by_role.values()], field_name="username")
    hospital = users.get(by_role.get(roles.HOSPITAL, ""))
    return _Staff(*(users[by_role[role]] for role in wanted), hospital_user=hospital)


def _hospitals(main: Region, counties: list[Region], by: User) -> tuple[list[Hospital], Hospital, int]:
    """Hospitals of every level: the main county's, one per other county, the prefecture's and the province's.

    Returns (networked hospitals of the main county and prefecture, the provincial hospital, how many)."""
    chain = {r.level: r for r in Region.objects.filter(code__in=[c for c in main.path.strip("/").split("/") if c])}
    prefecture = chain.get(RegionLevel.PREFECTURE, main)
    province = chain.get(RegionLevel.PROVINCE, prefecture)
    rows = [Hospital(code=f"H{main.code}{suffix}", name=name.format(county=main.name), level=level, region=main,
                     in_region=in_region, in_county=in_county, networked=networked)
            for suffix, name, level, in_region, in_county, networked in MAIN_HOSPITALS]
    rows.append(Hospital(code=f"H{prefecture.code}01", name=PREFECTURE_HOSPITAL[0], level=PREFECTURE_HOSPITAL[1],
                         region=main, in_region=True, in_county=False, networked=True))
    rows += [Hospital(code=f"H{county.code}01", name=f"{county.name}人民医院", level=HospitalLevel.COUNTY,
                      region=county) for county in counties if county.pk != main.pk]
    rows.append(Hospital(code=f"H{province.code}01", name=PROVINCE_HOSPITAL[0], level=PROVINCE_HOSPITAL[1],
                         region=province, in_region=False, in_county=False, networked=False))
    existing = set(Hospital.objects.filter(code__in=[h.code for h in rows]).values_list("code", flat=True))
    bulk_create_with_history([h for h in rows if h.code not in existing], Hospital, default_user=by)
    by_code = Hospital.objects.in_bulk([h.code for h in rows], field_name="code")
    main_codes = [h.code for h in rows[: len(MAIN_HOSPITALS) + 1]]
    return [by_code[code] for code in main_codes], by_code[rows[-1].code], len(rows)


def _insured_people(counties: list[Region], years: list[int]) -> dict[int, list[tuple[int, int, dt.date]]]:
    """plan year → [(person id, region id, coverage start)] of living people insured that year, by person id."""
    rows = (Enrollment.objects
            .filter(region__in=counties, plan_year__in=years, status=EnrollmentStatus.INSURED,
                    person__death_date__isnull=True, coverage_start__isnull=False)
            .order_by("plan_year", "person_id")
            .values_list("plan_year", "person_id", "region_id", "coverage_start"))
    out: dict[int, list[tuple[int, int, dt.date]]] = defaultdict(list)
    for year, person_id, region_id, start in rows:
        out[year].append((person_id, region_id, start))
    return out


def _visit(rng: random.Random, hospital: Hospital) -> str:
    if hospital.level in (HospitalLevel.CITY, HospitalLevel.PROVINCE):
        return VisitType.INPATIENT if rng.random() < 0.8 else VisitType.CHRONIC
    draw = rng.random()
    return VisitType.INPATIENT if draw < 0.55 else VisitType.OUTPATIENT if draw < 0.8 else VisitType.CHRONIC


def _claim(rng: random.Random, *, person_id: int, region_id: int, hospital: Hospital, admitted: dt.date,
           today: dt.date, number: str, by: User, source: str = ClaimSource.DIRECT) -> Claim:
    visit = _visit(rng, hospital)
    if (visit, hospital.level) not in COST_RANGES:
        visit = VisitType.INPATIENT
    low, high = COST_RANGES[(visit, hospital.level)]
    total = Decimal(rng.randint(low * 100, high * 100)) / 100
    # Out-of-catalog items are 3–15 % of a bill; above the policy's 10 % limit the hospital bears the excess.
    scope = (total * Decimal(rng.randint(85, 97)) / 100).quantize(Decimal("0.01"))
    code, name = rng.choice(DIAGNOSES[visit])
    discharged = None
    if visit == VisitType.INPATIENT:
        discharged = min(admitted + dt.timedelta(days=rng.randint(3, 16)), today)
    referral = Referral.NOT_REQUIRED
    if visit == VisitType.INPATIENT and hospital.level != HospitalLevel.TOWNSHIP:
        referral = Referral.REFERRED if rng.random() < 0.9 else Referral.MISSING
    return Claim(person_id=person_id, region_id=region_id, hospital=hospital, number=number, visit_type=visit,
                 admitted_on=admitted, discharged_on=discharged, diagnosis_code=code, diagnosis_name=name,
                 referral=referral, total_cost=total, policy_scope_cost=scope, source=source, created_by=by)


def _direct_claims(rng, hospitals, insured, today, staff, counts) -> dict[int, list[Claim]]:
    """Direct (one-stop) claims at the county's hospitals, settled in one batch settlement run but for the last
    few, which the clerk can settle in the browser. Returns hospital id → its settled claims."""
    claims = []
    for n in range(DIRECT_CLAIMS + UNSETTLED_CLAIMS):
        hospital = hospitals[0] if rng.random() < 0.4 else rng.choice(hospitals)
        if n >= DIRECT_CLAIMS:
            admitted = today - dt.timedelta(days=rng.randint(2, 6))
        else:
            admitted = today - dt.timedelta(days=rng.randint(20, CLAIM_SPAN_DAYS))
        people = insured.get(admitted.year) or []
        people = [p for p in people if p[2] <= admitted]
        if not people:
            continue
        person_id, region_id, _start = rng.choice(people)
        claims.append(_claim(rng, person_id=person_id, region_id=region_id, hospital=hospital, admitted=admitted,
                             today=today, number=f"ZY{admitted:%Y%m%d}{n + 1:05d}", by=staff.clerk))
    claims.sort(key=lambda c: (c.admitted_on, c.number))
    bulk_create_with_history(claims, Claim, default_user=staff.clerk)
    recent = {c.number for c in claims if c.admitted_on > today - dt.timedelta(days=7)}
    created = Claim.objects.filter(number__in=[c.number for c in claims])
    to_settle = list(created.exclude(number__in=recent).values_list("pk", flat=True))
    result = settle_claims(claims=to_settle, by=staff.clerk)
    counts.settled += len(result.settled_claim_ids)
    counts.refused_settlements += len(result.refusals)
    counts.unsettled += len(recent)
    settled: dict[int, list[Claim]] = defaultdict(list)
    for claim in Claim.objects.filter(pk__in=result.settled_claim_ids).order_by("discharged_on", "admitted_on", "pk"):
        settled[claim.hospital_id].append(claim)
    return settled


def _month_start(day: dt.date, back: int) -> dt.date:
    month = day.year * 12 + day.month - 1 - back
    return dt.date(month // 12, month % 12 + 1, 1)


# (hospital index, months back, fate, received n working days ago, advance paid n working days ago); None: the
# step happened on time after the month ended. Open batches are dated from today so their clocks show on track,
# due soon and overdue whatever the day.
BATCH_PLANS = [
    (0, 6, "closed", None, None),
    (0, 5, "closed", None, None),
    (0, 4, "closed_rejected", None, None),
    (0, 3, "audited", 20, 13),          # final payment due soon
    (0, 2, "advance_paid", 12, 5),      # waits for the audit
    (0, 1, "received", 3, None),        # advance due in 7 working days
    (-1, 4, "closed", None, None),
    (-1, 2, "overdue", 14, None),       # advance 4 working days late
    (2, 5, "closed_recovered", None, None),
    (2, 1, "received", 6, None),
]


def _batches(rng, hospitals, settled, today, calendar, staff, counts) -> None:
    """Monthly advance-payment batches at every step (BATCH_PLANS), moved by the services with the demo users:
    the clerk receives, the approver pays, the reviewer audits (so the final payment passes the four-eyes rule)."""
    for index, back, fate, received_back, advance_back in BATCH_PLANS:
        hospital = hospitals[index]
        start, end = _month_start(today, back), _month_start(today, back - 1) - dt.timedelta(days=1)
        claims = [c for c in settled.get(hospital.pk, []) if start <= c.service_date <= end]
        if not claims:
            continue
        if received_back is None:
            received = min(working_days_back(calendar, end + dt.timedelta(days=12), 0), today)
        else:
            received = max(working_days_back(calendar, today, received_back), start)
        batch = batch_services.receive_batch(
            hospital=hospital, period=(start, end), received_on=received, claims=claims, by=staff.clerk,
            number=f"SB{start:%Y%m}-{hospital.code}")
        counts.batches += 1
        if fate in ("received", "overdue"):
            continue
        if advance_back is None:
            advance_on = min(working_days_back(calendar, received + dt.timedelta(days=10), 0), today)
        else:
            advance_on = working_days_back(calendar, today, advance_back)
        batch = batch_services.pay_advance(batch=batch, by=staff.approver, paid_on=max(advance_on, received),
                                           reference=f"YF{advance_on:%Y%m%d}{hospital.pk:03d}")
        if fate == "advance_paid":
            continue
        rejections = {}
        if fate == "closed_recovered":
            # The largest claims fail the audit until the approved total is below the advance: the difference
            # is recovered from the hospital.
            declared = sorted(batch.lines.values_list("declared_amount", "claim_id"), reverse=True)
            approved = batch.declared_total
            for amount, claim_id in declared:
                if approved < batch.advance_amount:
                    break
                rejections[claim_id] = rng.choice(REJECTION_REASONS)
                approved -= amount
        elif fate != "closed":
            rejected = [c for c in claims if rng.random() < 0.08] or claims[:1]
            rejections = {c.pk: rng.choice(REJECTION_REASONS) for c in rejected}
        batch = batch_services.audit(batch=batch, by=staff.reviewer, rejections=rejections)
        if fate == "audited":
            continue
        final_on = min(working_days_back(calendar, batch.advance_paid_on + dt.timedelta(days=18), 0), today)
        batch_services.pay_final(batch=batch, by=staff.approver, paid_on=max(final_on, batch.advance_paid_on),
                                 reference=f"JS{final_on:%Y%m%d}{hospital.pk:03d}")


def _payee(person: Person) -> tuple[str, str, str]:
    return person.name, person.bank_name or "贵州农村信用社", person.bank_account or "6217000000000000000"


# (label, working days before today it was received, the steps done): the reviewer, approver and head of the
# main county each find work, with one case overdue, one paused, one resubmitted and one of every closed state.
CASE_PLANS = [
    ("received_new", 1, []),
    ("received_new", 2, []),
    ("received_due_soon", 23, []),
    ("overdue", 31, []),
    ("reviewed", 8, ["initial_review"]),
    ("reviewed", 12, ["initial_review"]),
    ("approved", 14, ["initial_review", "re_review"]),
    ("paused", 10, ["return_for_documents"]),
    ("resubmitted", 18, ["initial_review", "return_for_documents", "resubmit"]),
    ("exempted", 20, ["exempt"]),
    ("refused", 16, ["initial_review", "refuse"]),
    ("withdrawn", 9, ["withdraw"]),
    ("paid", 24, ["initial_review", "re_review", "pay"]),
    ("paid", 30, ["initial_review", "re_review", "pay"]),
]


def _cases(rng, hospital: Hospital, main: Region, insured, today, calendar, staff, counts) -> None:
    """Manual reimbursements of bills from the provincial hospital, one per plan, moved by the services."""
    heads = list(Person.objects.filter(region=main, relation_to_head="户主", death_date__isnull=True)
                 .exclude(bank_account="").order_by("pk").values_list("pk", flat=True)[:400])
    insured_ids = {year: {p for p, region_id, _s in rows if region_id == main.pk} for year, rows in insured.items()}
    people = Person.objects.in_bulk(heads)
    for n, (_label, days_back, steps) in enumerate(CASE_PLANS, start=1):
        received = working_days_back(calendar, today, days_back)
        admitted = received - dt.timedelta(days=rng.randint(20, 40))
        candidates = [pk for pk in heads if pk in insured_ids.get(admitted.year, set())]
        if not candidates:
            continue
        person = people[rng.choice(candidates)]
        template = _claim(rng, person_id=person.pk, region_id=person.region_id, hospital=hospital,
                          admitted=admitted, today=received, number="", by=staff.clerk, source=ClaimSource.MANUAL)
        payee_name, payee_bank, payee_account = _payee(person)
        case = case_services.register_manual_claim(
            by=staff.clerk, received_on=received, person=person, hospital=hospital,
            number=f"LX{received:%Y%m%d}{n:04d}", visit_type=template.visit_type, admitted_on=template.admitted_on,
            discharged_on=template.discharged_on, diagnosis_code=template.diagnosis_code,
            diagnosis_name=template.diagnosis_name, referral=Referral.REFERRED, total_cost=template.total_cost,
            policy_scope_cost=template.policy_scope_cost, payee_name=payee_name, payee_bank=payee_bank,
            payee_account=payee_account, documents=DOCUMENTS)
        step_day = received
        for step in steps:
            step_day = min(working_days_back(calendar, step_day + dt.timedelta(days=4), 0), today)
            if step == "initial_review":
                case = case_services.initial_review(case=case, by=staff.reviewer, note="材料齐全，费用核实无误")
            elif step == "re_review":
                case = case_services.re_review(case=case, by=staff.approver, note="同意支付")
            elif step == "pay":
                case = case_services.pay(case=case, by=staff.approver, paid_on=step_day,
                                         reference=f"ZF{step_day:%Y%m%d}{n:04d}")
            elif step == "return_for_documents":
                case = case_services.return_for_documents(
                    case=case, by=staff.reviewer, on=step_day, documents_requested="缺少出院记录和费用明细清单")
            elif step == "resubmit":
                case = case_services.resubmit(case=case, by=staff.clerk, on=step_day,
                                              documents="出院记录、费用明细清单（补交）")
            elif step == "exempt":
                case = case_services.exempt(case=case, by=staff.head, kind="doubtful",
                                            reason="费用明细与病历记载不符，需函询医院核实")
            elif step == "refuse":
                case = case_services.refuse(case=case, by=staff.approver, reason="就诊期间未参保，不属于报销范围")
            elif step == "withdraw":
                case = case_services.withdraw(case=case, by=staff.clerk, note="申请人已在医院直接结算，申请撤回")
        counts.cases += 1


def seed_demo(*, region, logins, seed, persons, today, stdout) -> str:
    """Seed hospitals, claims, manual reimbursements and batches for the demo county (settings.DEMO_SEEDERS)."""
    staff = _staff(logins)
    if staff is None or persons == 0:
        return ""
    rng = random.Random(f"claims-{seed}")
    calendar = work_calendar()
    counties = demo_counties(region)
    main = Region.objects.get(code=next(x.region_code for x in logins if x.role == roles.CLERK))
    hospitals, provincial, created = _hospitals(main, counties, staff.admin)
    counts = DemoCounts(hospitals=created)
    if staff.hospital_user is not None:
        HospitalStaff.objects.get_or_create(user=staff.hospital_user, defaults={"hospital": hospitals[0]})
    insured = _insured_people([main], [today.year - 1, today.year])
    settled = _direct_claims(rng, hospitals, insured, today, staff, counts)
    _batches(rng, hospitals, settled, today, calendar, staff, counts)
    _cases(rng, provincial, main, insured, today, calendar, staff, counts)
    return _("Claims: %(hospitals)d hospitals, %(settled)d settled claims (%(unsettled)d left to settle), "
             "%(cases)d manual reimbursements and %(batches)d hospital batches at every step.") % {
        "hospitals": counts.hospitals, "settled": counts.settled, "unsettled": counts.unsettled,
        "cases": counts.cases, "batches": counts.batches}
