"""Benchmark: ``assistance.selectors.household_burden`` for a whole county and for one household (PostgreSQL).

Targets (the assistance issue): 300 000 households, 1 000 000 people, 3 000 000 payment lines — the whole county's
figures in under 20 s, one household in under 50 ms — printed beside one hand-written SQL aggregate of the same
figures on the same data (ratio ≤ 2).

    .venv/bin/python bench/bench_household_burden.py                   # database bench_assistance
    .venv/bin/python bench/bench_household_burden.py --keep            # reuse the data of the last run

The script works in a database of its own (``--database``, default ``bench_assistance``; the name must start with
"bench"): it creates it when missing, migrates it and loads the shipped policy files once, then (unless ``--keep``)
empties the tables it fills and generates the fixed data set with ``random.Random(SEED)``, written with COPY:

- 300 000 households in 都匀市 (522701, Qiannan 2019 with its ``assistance:`` section: 12 months, 60 %, assets
  below 150 000); income unknown for 8 %, zero for 3 %, otherwise 5 000–80 000; assets unknown for 4 %;
- 1 000 000 people, 3–4 per household; 5 % insured in the neighbouring county 福泉市 (522702) — their claims count;
- 600 000 settled claims over 18 months before the test date (inpatient 40 %, discharged 3–15 days later), one
  settlement each and five payment lines each (basic, critical illness, assistance, hospital, patient):
  3 000 000 payment lines;
- 20 000 verified outside costs and 5 000 paid special aid cases (bulk_create), so all three sums have rows.

Then it times, on the test date 2024-06-30: ``household_burden(region=都匀市)`` (3 runs, median), the hand-written
SQL aggregate returning the same figures (3 runs, median, rows fetched into Python, under the selector's statement
settings ``assistance.selectors.STATEMENT_SETTINGS``), prints the load average after each run, checks that both
give the same figures for every household, and ``household_burden(households=[one])`` for 200 random households
(median, p95).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from array import array
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import setup_django

SEED = 20210713  # the day 粤医保发〔2021〕33号 was issued
ON = date(2024, 6, 30)
HOUSEHOLDS = 300_000
PEOPLE = 1_000_000
CLAIMS = 600_000
D = Decimal


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_assistance")
    parser.add_argument("--keep", action="store_true", help="reuse the data set already in the database")
    return parser.parse_args()


def ensure_database(name: str) -> None:
    import psycopg

    if not name.startswith("bench"):
        raise SystemExit(f"refusing database {name!r}: benchmark databases are named bench*")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def prepare_schema() -> None:
    from django.core.management import call_command

    from enrollment.models import PolicyVersion

    call_command("migrate", verbosity=0)
    if not PolicyVersion.objects.filter(code="qiannan-2019").exists():
        call_command("load_policy", "--all", verbosity=0)


def _copy(cursor, table: str, columns: str, rows) -> None:
    """COPY rows (tuples of text) into table, 100 000 at a time."""
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for count, row in enumerate(rows, start=1):
            buffer.write("\t".join(row))
            buffer.write("\n")
            if count % 100_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def generate(rng: random.Random) -> None:
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from assistance.models import OutsideCost, SpecialAidCase
    from claims.models import Claim, Hospital, PaymentLine, Settlement
    from enrollment.models import Household, Person, PolicyVersion, Region

    county, neighbour = Region.objects.get(code="522701"), Region.objects.get(code="522702")
    policy = PolicyVersion.objects.get(code="qiannan-2019")
    user, _created = User.objects.get_or_create(username="bench_assistance", defaults={"is_staff": True})
    tables = [m._meta.db_table for m in (PaymentLine, Settlement, Claim, Hospital, OutsideCost, SpecialAidCase,
                                         Person, Household)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        hospital = Hospital.objects.create(code="BENCH1", name="都匀市人民医院", level="county", region=county)

        def households():
            for pk in range(1, HOUSEHOLDS + 1):
                roll = rng.random()
                income = r"\N" if roll < 0.08 else ("0.00" if roll < 0.11 else f"{rng.randrange(5000, 80000)}.00")
                assets = r"\N" if rng.random() < 0.04 else f"{rng.randrange(0, 300000)}.00"
                yield (str(pk), f"BH{pk:08d}", str(county.pk), "", "", "", income, "2023", "", assets, "2023", "")

        _copy(cursor.cursor, "enrollment_household", "id, number, region_id, township, village, address, "
              "annual_income, income_year, income_source, assets_value, assets_year, assets_source", households())

        def people():
            for pk in range(1, PEOPLE + 1):
                household = pk if pk <= HOUSEHOLDS else (pk - 1) % HOUSEHOLDS + 1
                region = neighbour.pk if rng.random() < 0.05 else county.pk
                yield (str(pk), f"5227011970{pk:08d}", "", "张三", "M", "1970-01-01", str(household), "",
                       str(region), "", "", "", "", "", r"\N")

        _copy(cursor.cursor, "enrollment_person", "id, id_number, id_converted_from, name, sex, birth_date, "
              "household_id, relation_to_head, region_id, township, village, phone, bank_name, bank_account, "
              "death_date", people())
        first_day = ON - timedelta(days=540)
        now = "2024-07-01 00:00:00+08"
        # Compact columns first (a few MB), rows are composed while copying: 3 000 000 tuples would not fit.
        persons = array("i", (rng.randrange(1, PEOPLE + 1) for _ in range(CLAIMS)))
        admitted_days = array("i", (rng.randrange(0, 540) for _ in range(CLAIMS)))
        stay_days = array("i", (rng.randrange(3, 16) if rng.random() < 0.4 else -1 for _ in range(CLAIMS)))
        totals = array("q", (rng.randrange(200_00, 6_000_000) if stay >= 0 else rng.randrange(50_00, 300_00)
                             for stay in stay_days))

        def claim(index):
            admitted = first_day + timedelta(days=admitted_days[index])
            stay = stay_days[index]
            discharged = admitted + timedelta(days=stay) if stay >= 0 else None
            total = totals[index]
            basic, critical = total * 55 // 100, total * 8 // 100
            assistance, hospital = total * 6 // 100, total // 100
            parts = (basic, critical, assistance, hospital, total - basic - critical - assistance - hospital)
            year = str((discharged or admitted).year)
            return admitted, discharged, total, parts, year

        def claim_rows():
            for index in range(CLAIMS):
                admitted, discharged, total, _parts, _year = claim(index)
                yield (str(index + 1), str(persons[index]), str(county.pk), str(hospital.pk), f"BC{index + 1:09d}",
                       "inpatient" if discharged else "outpatient", admitted.isoformat(),
                       discharged.isoformat() if discharged else r"\N", "", "", "f", "not_required",
                       f"{total / 100:.2f}", f"{total * 85 // 100 / 100:.2f}", "direct", "settled", r"\N", now)

        def settlement_rows():
            for index in range(CLAIMS):
                _admitted, _discharged, _total, parts, year = claim(index)
                yield (str(index + 1), str(index + 1), str(policy.pk), year, *(f"{v / 100:.2f}" for v in parts),
                       r"\N", r"\N", r"\N", r"\N", "[]", r"\N", now, r"\N", r"\N", "", "")

        def line_rows():
            for index in range(CLAIMS):
                _admitted, _discharged, _total, parts, year = claim(index)
                for layer, amount in zip(("basic", "critical", "assistance", "hospital", "patient"), parts,
                                         strict=True):
                    yield (str(index + 1), str(index + 1), str(persons[index]), year, layer, f"{amount / 100:.2f}",
                           "", "f", now)

        _copy(cursor.cursor, "claims_claim", "id, person_id, region_id, hospital_id, number, visit_type, "
              "admitted_on, discharged_on, diagnosis_code, diagnosis_name, is_special_disease, referral, total_cost, "
              "policy_scope_cost, source, status, created_by_id, created_at", claim_rows())
        _copy(cursor.cursor, "claims_settlement", "id, claim_id, policy_id, year, basic, critical, assistance, "
              "hospital_borne, patient_pays, basic_category_id, critical_category_id, assistance_category_id, "
              "identity_id, steps, created_by_id, created_at, reversed_at, reversed_by_id, reversal_reason, "
              "frozen_reason",
              settlement_rows())
        _copy(cursor.cursor, "claims_paymentline", "settlement_id, claim_id, person_id, year, layer, amount, "
              "funding_source, is_reversal, created_at", line_rows())
        for table in ("enrollment_household", "enrollment_person", "claims_claim", "claims_settlement"):
            cursor.execute(  # table names are the literals above
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        OutsideCost.objects.bulk_create([
            OutsideCost(household_id=h, person_id=h, incurred_on=ON - timedelta(days=rng.randrange(0, 500)),
                        description="院外购药", total_cost=D(rng.randrange(100, 5000)), insurance_paid=D(50),
                        verified=True, verified_by=user)
            for h in rng.sample(range(1, HOUSEHOLDS + 1), 20_000)], batch_size=5000)
        SpecialAidCase.objects.bulk_create([
            SpecialAidCase(number=f"BS{h:08d}", person_id=h, household_id=h, region=county, policy=policy,
                           opened_on=ON - timedelta(days=200), opened_by=user, opening_unit="某镇", state="paid",
                           amount=D(rng.randrange(500, 3000)), funding_source="donation", payer="慈善总会",
                           paid_on=ON - timedelta(days=rng.randrange(0, 500)), paid_by=user)
            for h in rng.sample(range(1, HOUSEHOLDS + 1), 5_000)], batch_size=5000)
    with connection.cursor() as cursor:
        for table in (*tables, "enrollment_region"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


HAND_SQL = """
WITH hh AS (
    SELECT h.id, h.annual_income, h.assets_value FROM enrollment_household h
    JOIN enrollment_region r ON r.id = h.region_id WHERE r.path LIKE %(path)s
), claim_sums AS (
    SELECT p.household_id, sum(pl.amount) AS total
    FROM claims_paymentline pl
    JOIN claims_claim c ON c.id = pl.claim_id
    JOIN enrollment_person p ON p.id = pl.person_id
    WHERE pl.layer IN ('patient', 'assistance')
      AND CASE WHEN c.visit_type = 'inpatient' AND c.discharged_on IS NOT NULL THEN c.discharged_on
               ELSE c.admitted_on END BETWEEN %(start)s AND %(end)s
      AND p.household_id IN (SELECT id FROM hh)
    GROUP BY p.household_id
), outside AS (
    SELECT household_id, sum(total_cost - insurance_paid) AS total FROM assistance_outsidecost
    WHERE verified AND incurred_on BETWEEN %(start)s AND %(end)s AND household_id IN (SELECT id FROM hh)
    GROUP BY household_id
), aid AS (
    SELECT household_id, sum(amount) AS total FROM assistance_specialaidcase
    WHERE state IN ('paid', 'closed') AND paid_on BETWEEN %(start)s AND %(end)s
      AND household_id IN (SELECT id FROM hh)
    GROUP BY household_id
), figures AS (
    SELECT hh.id, hh.annual_income, hh.assets_value, coalesce(cs.total, 0) AS claims_cost,
           coalesce(o.total, 0) AS outside_cost, coalesce(a.total, 0) AS aid,
           greatest(0, coalesce(cs.total, 0) + coalesce(o.total, 0) - coalesce(a.total, 0)) AS eligible
    FROM hh LEFT JOIN claim_sums cs ON cs.household_id = hh.id LEFT JOIN outside o ON o.household_id = hh.id
    LEFT JOIN aid a ON a.household_id = hh.id
)
SELECT id, claims_cost, outside_cost, aid, eligible, annual_income, round(annual_income * %(share)s, 2) AS threshold,
       assets_value,
       CASE WHEN annual_income IS NOT NULL AND (CASE WHEN annual_income = 0 THEN eligible <= 0
                                                    ELSE eligible < round(annual_income * %(share)s, 2) END)
              OR (assets_value IS NOT NULL AND assets_value >= %(cap)s) THEN 'fails'
            WHEN annual_income IS NULL OR assets_value IS NULL THEN 'undecided'
            ELSE 'passes' END AS outcome
FROM figures ORDER BY id
"""


def main() -> None:
    args = parse_args()
    ensure_database(args.database)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django()
    from django.db import connection, transaction

    from assistance.rules import look_back_period
    from assistance.selectors import STATEMENT_SETTINGS, household_burden
    from enrollment.models import PolicyVersion, Region

    prepare_schema()
    if not args.keep:
        started = time.perf_counter()
        generate(random.Random(SEED))
        print(f"generated in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM enrollment_household), (SELECT count(*) FROM enrollment_person),"
                       " (SELECT count(*) FROM claims_paymentline)")
        counts = cursor.fetchone()
    print(f"data set: {counts[0]:,} households, {counts[1]:,} people, {counts[2]:,} payment lines; on {ON}")
    county = Region.objects.get(code="522701")
    settings = PolicyVersion.objects.get(code="qiannan-2019").assistance_settings
    start, end = look_back_period(ON, look_back=settings.look_back, months=settings.look_back_months)

    def orm():
        return household_burden(on=ON, region=county)

    def hand():
        # Under the selector's own statement settings (jit, work_mem), so that the ratio compares statements.
        with transaction.atomic(), connection.cursor() as cursor:
            for name, value in STATEMENT_SETTINGS.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
            cursor.execute(HAND_SQL, {"path": county.path + "%", "start": start, "end": end,
                                      "share": settings.income_share, "cap": settings.asset_cap})
            return cursor.fetchall()

    timings = {"orm": [], "sql": []}
    cpu = {"orm": [], "sql": []}  # this process's CPU (Python, converting rows): what load does not inflate
    loads = []
    results = {}
    for _run in range(3):
        for name, call in (("orm", orm), ("sql", hand)):
            began, cpu_began = time.perf_counter(), time.process_time()
            results[name] = call()
            timings[name].append(time.perf_counter() - began)
            cpu[name].append(time.process_time() - cpu_began)
            loads.append(os.getloadavg()[0])
    orm_rows, sql_rows = results["orm"], results["sql"]
    mismatches = sum(
        1 for burden, row in zip(orm_rows, sql_rows, strict=True)
        if (burden.household_id, burden.claims_cost, burden.outside_cost, burden.special_aid_paid,
            burden.eligible_cost, burden.outcome) != (row[0], row[1], row[2], row[3], row[4], row[8])
        or (burden.threshold != row[6]))
    orm_s, sql_s = statistics.median(timings["orm"]), statistics.median(timings["sql"])
    outcomes = {o: sum(1 for b in orm_rows if b.outcome == o) for o in ("passes", "fails", "undecided")}
    print(f"whole county, household_burden(region=都匀市): {orm_s:.2f} s median of 3 "
          f"({', '.join(f'{t:.2f}' for t in timings['orm'])}); {len(orm_rows):,} households; outcomes {outcomes}")
    print(f"whole county, hand-written SQL aggregate:      {sql_s:.2f} s median of 3 "
          f"({', '.join(f'{t:.2f}' for t in timings['sql'])}); ratio {orm_s / sql_s:.2f}; "
          f"households whose figures differ: {mismatches}")
    print(f"load average (1 min) after each run: {', '.join(f'{load:.1f}' for load in loads)}")
    print(f"CPU of this process, median: selector {statistics.median(cpu['orm']):.2f} s, "
          f"hand-written SQL {statistics.median(cpu['sql']):.2f} s (the rest of the wall time is PostgreSQL's)")
    ids = random.Random(SEED).sample([b.household_id for b in orm_rows], 200)
    single = []
    for pk in ids:
        began = time.perf_counter()
        household_burden(on=ON, households=[pk])
        single.append(time.perf_counter() - began)
    single.sort()
    print(f"one household, household_burden(households=[id]) × 200: median {statistics.median(single) * 1000:.1f} ms,"
          f" p95 {single[int(len(single) * 0.95) - 1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
