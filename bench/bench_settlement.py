"""Benchmark: settle a batch of 10 000 claims of 5 000 people with ``settle_claims`` (PostgreSQL).

Target (the claims issue): under 10 s on this 2-core machine.

    .venv/bin/python bench/bench_settlement.py                 # database bench_claims, created if missing
    .venv/bin/python bench/bench_settlement.py --profile prof.out   # the same under cProfile

The script works in a database of its own (``--database``, default ``bench_claims``, which must start with
"bench"): it creates it when missing, migrates it and loads the shipped policy files (``load_policy --all``) once,
then on every run empties the people, hospital and claim tables and generates the fixed data set again
(``random.Random(SEED)``), set-based (``bulk_create``, no history rows for generated data):

- 5 000 people in the twelve counties of 黔南州, insured for 2019 (92 %; 3 % not insured, 5 % without a ledger
  row, some covered only from a date in the year), 55 % holding 建档立卡贫困人口 (registered_poor), 10 % 特困人员
  (tekun; some both, some identities ended during the year), the rest none — Qiannan 2019, whose file has
  ``benefits:`` (critical-illness tilts, assistance 70 % / 100 %, out-of-catalog control, 21 diseases);
- 38 hospitals: two township health centres and a county hospital per county, city hospitals in 都匀, one
  provincial hospital;
- the first half of 2019 already settled: ``--prior`` (default 5 000) claims dated January–June, settled by an
  untimed ``settle_claims`` before the measurement, so the year-to-date read and the caps have something to work on;
- the measured batch: 10 000 registered claims dated July–December, every person at least one, about 1 % heavy
  patients with several large inpatient stays (annual caps and limits bind), inpatient / outpatient / chronic
  care at every level, 5 % unreferred, 3 % flagged special-treatment diseases.

Then it times ``settle_claims`` over the 10 000 (wall, CPU of this process, queries and their time, peak RSS of
the settlement alone — the high-water mark is reset first), and verifies with one SQL aggregate that every
settlement balances to the fen (row and lines), no amount is negative and no claim was left registered.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import random
import resource
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Query, capture_queries, setup_django

SEED = 20190624  # the day 黔南医保发〔2019〕36号 was issued
COUNTIES = ["522701", "522702", "522722", "522723", "522725", "522726", "522727", "522728", "522729", "522730",
            "522731", "522732"]
D = Decimal


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_claims")
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--prior", type=int, default=5_000, help="claims of January–June settled before timing")
    parser.add_argument("--chunk-size", type=int, default=None, help="claims per transaction (service default)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed batch to FILE")
    return parser.parse_args()


def ensure_database(name: str) -> None:
    """createdb, when the database does not exist yet."""
    import psycopg

    if not name.startswith("bench"):
        raise SystemExit(f"refusing database {name!r}: benchmark databases are named bench*")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the high-water mark (VmHWM), so the peak is the batch's own."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def prepare_schema() -> None:
    from django.core.management import call_command

    from enrollment.models import PolicyVersion

    call_command("migrate", verbosity=0)
    if not PolicyVersion.objects.filter(code="qiannan-2019").exists():
        call_command("load_policy", "--all", verbosity=0)


def empty_tables() -> None:
    from django.db import connection

    from claims.models import Claim, Hospital, PaymentLine, Settlement
    from enrollment.models import Enrollment, Household, Identity, Person

    models = [PaymentLine, Settlement, Claim, Hospital, Enrollment, Identity, Person, Household]
    tables = [model._meta.db_table for model in models]
    tables += [model.history.model._meta.db_table for model in models if hasattr(model, "history")]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def clerk():
    from django.contrib.auth.models import Group, User

    from enrollment import roles
    from enrollment.models import Region, RegionMembership

    roles.sync_roles()
    user, created = User.objects.get_or_create(username="bench_settler", defaults={"is_staff": True})
    if created:
        user.groups.add(Group.objects.get(name=roles.CLERK))
        RegionMembership.objects.create(user=user, region=Region.objects.get(code="522700"))
    return user


def generate(rng: random.Random, *, people: int, claims: int, prior: int) -> tuple[list[int], list[int]]:
    """The fixed data set; returns the ids of the prior (January–June) and of the measured claims."""
    from django.db import transaction

    from claims.models import Claim, Hospital
    from claims.models.choices import HospitalLevel, Referral, VisitType
    from enrollment.idnumbers import make_id_number, parse_id_number
    from enrollment.models import Enrollment, Identity, IdentityCategory, Person, Region
    from enrollment.models.ledger import EnrollmentStatus

    regions = {region.code: region for region in Region.objects.filter(code__in=[*COUNTIES, "522700", "520000"])}
    categories = {c.code: c for c in IdentityCategory.objects.filter(code__in=["registered_poor", "tekun"])}
    with transaction.atomic():
        hospitals = []
        for county in COUNTIES:
            hospitals += [
                Hospital(code=f"{county}-T{n}", name=f"{regions[county].name}乡镇卫生院{n}",
                         level=HospitalLevel.TOWNSHIP, region=regions[county]) for n in (1, 2)]
            hospitals.append(Hospital(code=f"{county}-C", name=f"{regions[county].name}人民医院",
                                      level=HospitalLevel.COUNTY, region=regions[county]))
        hospitals += [Hospital(code=f"522701-M{n}", name=f"黔南州医院{n}", level=HospitalLevel.CITY,
                               region=regions["522701"], in_county=False) for n in (1, 2)]
        hospitals.append(Hospital(code="520000-P", name="贵州省人民医院", level=HospitalLevel.PROVINCE,
                                  region=regions["520000"], in_region=False, in_county=False))
        Hospital.objects.bulk_create(hospitals)
        by_level: dict[str, list[Hospital]] = {}
        for hospital in hospitals:
            by_level.setdefault(hospital.level, []).append(hospital)

        persons = []
        for index in range(people):
            county = COUNTIES[index % len(COUNTIES)]
            birth = date(1940, 1, 1) + timedelta(days=(index // 500) * 97 + index % 500)
            parsed = parse_id_number(make_id_number(county, birth, index % 1000))
            persons.append(Person(id_number=parsed.number, sex=parsed.sex, birth_date=parsed.birth_date,
                                  name=f"病人{index:05d}", region=regions[county]))
        Person.objects.bulk_create(persons, batch_size=2000)

        identities, enrolments = [], []
        for person in persons:
            roll = rng.random()
            held = ["registered_poor"] if roll < 0.55 else (["tekun"] if roll < 0.62 else [])
            if 0.55 <= roll < 0.58:
                held = ["registered_poor", "tekun"]
            for code in held:
                start = date(2016, 1, 1) + timedelta(days=rng.randrange(1400))
                end = max(start, date(2019, 1, 1)) + timedelta(days=rng.randrange(200)) if rng.random() < 0.1 \
                    else None
                identities.append(Identity(person=person, category=categories[code], valid_from=start, valid_to=end,
                                           certified_by=categories[code].certified_by, source_batch="bench"))
            roll = rng.random()
            if roll < 0.92:
                start = date(2019, 1, 1) if rng.random() < 0.9 else date(2019, 1, 1) + timedelta(
                    days=rng.randrange(300))
                enrolments.append(Enrollment(person=person, plan_year=2019, region=person.region,
                                             status=EnrollmentStatus.INSURED, coverage_start=start,
                                             contribution_due=D("250.00")))
            elif roll < 0.95:
                enrolments.append(Enrollment(person=person, plan_year=2019, region=person.region,
                                             status=EnrollmentStatus.NOT_INSURED, contribution_due=D("250.00")))
        Identity.objects.bulk_create(identities, batch_size=2000)
        Enrollment.objects.bulk_create(enrolments, batch_size=2000)

        heavy = set(rng.sample(range(people), max(1, people // 100)))
        special_codes = ["C50.9", "C34.1", "N18.5", "I21.0", "C16.2"]

        def claim(number: str, person: Person, first_day: date, *, is_heavy: bool) -> Claim:
            roll = rng.random()
            if is_heavy or roll < 0.5:
                visit = VisitType.INPATIENT
                level = rng.choices([HospitalLevel.TOWNSHIP, HospitalLevel.COUNTY, HospitalLevel.CITY,
                                     HospitalLevel.PROVINCE], weights=[2, 5, 3, 1])[0]
                scope = rng.randrange(80_000_00, 200_000_00) if is_heavy else int(rng.lognormvariate(9.3, 0.8) * 100)
                extra = int(scope * rng.uniform(0.02, 0.25))
            elif roll < 0.8:
                visit, level = VisitType.OUTPATIENT, rng.choice([HospitalLevel.TOWNSHIP, HospitalLevel.COUNTY])
                scope, extra = rng.randrange(2_000, 80_000), rng.randrange(0, 5_000)
            else:
                visit, level = VisitType.CHRONIC, rng.choice([HospitalLevel.TOWNSHIP, HospitalLevel.COUNTY])
                scope, extra = rng.randrange(20_000, 400_000), rng.randrange(0, 20_000)
            admitted = first_day + timedelta(days=rng.randrange(170))
            special = visit == VisitType.INPATIENT and rng.random() < 0.03
            return Claim(
                person=person, region=person.region, hospital=rng.choice(by_level[level]), number=number,
                visit_type=visit, admitted_on=admitted,
                discharged_on=admitted + timedelta(days=rng.randrange(2, 15)) if visit == VisitType.INPATIENT
                else None,
                diagnosis_code=rng.choice(special_codes) if special else "J18.9", is_special_disease=special,
                referral=Referral.MISSING if visit == VisitType.INPATIENT and rng.random() < 0.05 else (
                    Referral.REFERRED if level in (HospitalLevel.CITY, HospitalLevel.PROVINCE)
                    else Referral.NOT_REQUIRED),
                total_cost=D(scope + extra) / 100, policy_scope_cost=D(scope) / 100)

        def who(index: int) -> Person:
            # Everyone once, then the rest at random; heavy patients come back several times.
            if index < people:
                return persons[index]
            if rng.random() < 0.1:
                return persons[rng.choice(sorted(heavy))]
            return rng.choice(persons)

        heavy_ids = {persons[index].pk for index in heavy}
        prior_claims, measured = [], []
        for n in range(prior):
            person = who(n + people)
            prior_claims.append(claim(f"H1-{n:06d}", person, date(2019, 1, 2), is_heavy=person.pk in heavy_ids))
        for n in range(claims):
            person = who(n)
            measured.append(claim(f"H2-{n:06d}", person, date(2019, 7, 1), is_heavy=person.pk in heavy_ids))
        Claim.objects.bulk_create(prior_claims + measured, batch_size=2000)
    return [c.pk for c in prior_claims], [c.pk for c in measured]


def vacuum() -> None:
    from django.db import connection

    from claims.models import Claim, Hospital, PaymentLine, Settlement
    from enrollment.models import Enrollment, Identity, Person

    with connection.cursor() as cursor:
        for model in (Person, Identity, Enrollment, Hospital, Claim, Settlement, PaymentLine):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")


INVARIANT_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE s.basic + s.critical + s.assistance + s.hospital_borne + s.patient_pays
                              <> c.total_cost),
       count(*) FILTER (WHERE l.money IS DISTINCT FROM c.total_cost OR l.lines_match IS NOT TRUE),
       count(*) FILTER (WHERE LEAST(s.basic, s.critical, s.assistance, s.hospital_borne, s.patient_pays) < 0),
       count(*) FILTER (WHERE c.status <> 'settled')
FROM claims_settlement s
JOIN claims_claim c ON c.id = s.claim_id
LEFT JOIN (
    SELECT pl.settlement_id,
           sum(pl.amount) FILTER (WHERE pl.layer IN ('basic', 'critical', 'assistance', 'hospital', 'patient')) money,
           bool_and(CASE pl.layer WHEN 'basic' THEN pl.amount = st.basic WHEN 'critical' THEN pl.amount = st.critical
                    WHEN 'assistance' THEN pl.amount = st.assistance WHEN 'hospital' THEN pl.amount = st.hospital_borne
                    WHEN 'patient' THEN pl.amount = st.patient_pays ELSE true END) lines_match
    FROM claims_paymentline pl JOIN claims_settlement st ON st.id = pl.settlement_id
    WHERE NOT pl.is_reversal
    GROUP BY pl.settlement_id
) l ON l.settlement_id = s.id
WHERE s.id = ANY(%s)
"""

CAPS_SQL = """
SELECT max(basic), max(assistance), count(*) FILTER (WHERE basic >= 250000),
       count(*) FILTER (WHERE assistance >= 100000)
FROM (SELECT person_id, sum(amount) FILTER (WHERE layer = 'basic') basic,
             sum(amount) FILTER (WHERE layer = 'assistance') assistance
      FROM claims_paymentline WHERE year = 2019 GROUP BY person_id) per_person
"""


def main() -> None:
    args = parse_args()
    ensure_database(args.database)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django()

    from django.db import connection

    from claims.models import Claim, Settlement
    from claims.models.claims import ClaimStatus
    from claims.services.batch_settlement import DEFAULT_CHUNK_SIZE, settle_claims

    prepare_schema()
    user = clerk()
    empty_tables()
    started = time.perf_counter()
    prior_ids, measured_ids = generate(random.Random(SEED), people=args.people, claims=args.claims,
                                       prior=args.prior)
    vacuum()
    generated = time.perf_counter() - started
    started = time.perf_counter()
    before = settle_claims(claims=Claim.objects.filter(pk__in=prior_ids), by=user)
    vacuum()
    print(f"data set: {args.people} people, {len(prior_ids) + len(measured_ids)} claims generated in "
          f"{generated:.1f} s; {before.settled} January–June claims settled beforehand in "
          f"{time.perf_counter() - started:.1f} s ({before.refused} refused)")

    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    claims = Claim.objects.filter(pk__in=measured_ids)
    assert claims.filter(status=ClaimStatus.REGISTERED).count() == len(measured_ids)
    queries: list[Query] = []
    profiler = cProfile.Profile() if args.profile else None
    load_before = os.getloadavg()
    reset_peak_rss()
    rss_before = peak_rss_mib()
    with capture_queries(queries):
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = settle_claims(claims=claims, by=user, chunk_size=chunk_size)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = peak_rss_mib()
    load_after = os.getloadavg()
    if profiler:
        profiler.dump_stats(args.profile)

    refusals: dict[str, int] = {}
    for refusal in result.refusals:
        refusals[refusal.code] = refusals.get(refusal.code, 0) + 1
    slowest = sorted(queries, key=lambda q: q.seconds, reverse=True)[:3]
    print(f"settle_claims: {len(measured_ids)} claims of {claims.values('person_id').distinct().count()} people "
          f"→ {result.settled} settled, {result.refused} refused {refusals or ''}, {result.chunks} transactions "
          f"of ≤ {chunk_size} claims")
    print(f"  wall {elapsed:.2f} s   (target < 10 s: {'met' if elapsed < 10 else 'MISSED'})")
    print(f"  CPU of this process {cpu:.2f} s; {len(queries)} queries, {sum(q.seconds for q in queries):.2f} s in "
          f"SQL (slowest: {', '.join(f'{q.seconds * 1000:.0f} ms {q.sql.split()[0]}' for q in slowest)})")
    print(f"  peak RSS {peak:.0f} MiB (at the start of the batch {rss_before:.0f} MiB)")
    print(f"  load average before {load_before[0]:.2f} / after {load_after[0]:.2f} "
          f"(1 min; 5 min {load_after[1]:.2f}, 15 min {load_after[2]:.2f})")

    with connection.cursor() as cursor:
        cursor.execute(INVARIANT_SQL, [result.settlement_ids])
        total, rows_off, lines_off, negative, not_settled = cursor.fetchone()
        cursor.execute(CAPS_SQL)
        max_basic, max_assistance, at_basic_cap, at_assistance_limit = cursor.fetchone()
    ok = total == result.settled and not (rows_off or lines_off or negative or not_settled)
    print(f"invariant (one aggregate over {total} settlements): {rows_off} rows and {lines_off} line sets not "
          f"adding up to the total, {negative} negative amounts, {not_settled} claims not marked settled → "
          f"{'OK' if ok else 'FAILED'}")
    print(f"caps: largest yearly basic {max_basic} (cap 250 000, {at_basic_cap} people at it), largest yearly "
          f"assistance {max_assistance} (limit 100 000, {at_assistance_limit} people at it); "
          f"{Settlement.objects.count()} settlements in the database")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
