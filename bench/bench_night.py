"""A full night of warning lists for one prefecture on PostgreSQL, beside a hand-written SQL aggregate of the same
figures, and the dashboard page.

    createdb -h 127.0.0.1 -U postgres bench_night   # or let the script create it
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_night .venv/bin/python bench/bench_night.py \\
        --people 1000000 --lines 3000000

Data: people, households, identities and two plan years of ledger rows from the project's generator
(`enrollment.demo.generate`, COPY above 20 000 people), then this script's own generator writes settled inpatient
claims with their settlements and five payment lines each (basic, critical illness, assistance, hospital, patient;
the parts add up to the total) with COPY: `--lines / 5` claims of this year, spread over the prefecture's
people, some heavy. The data is kept between runs (a second run only measures).

Measured: `run_night(region=黔南州, day=today)` (every list computed once for the prefecture, its counties merged in
one transaction, the dashboard's figures stored at the close; synchronously, as `run_warnings`) with the seconds of
each list and of the merges and close, then one hand-written SQL statement computing the same figures (per-person
and per-household out-of-pocket sums over the threshold, identity holders not insured, per-hospital out-of-catalog
overruns, per-person assistance share), then the dashboard page of the prefecture through the test client (cold:
cache cleared — the figures come from the night's snapshot; and warm). The load average is printed beside each
figure (the machine is shared).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import setup_django

D = Decimal
FEN = D("0.01")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_night")
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--generate-only", action="store_true", help="fill the database and stop (no measuring)")
    parser.add_argument("--keep-items", action="store_true",
                        help="measure a later night over the items kept (default: a first night, items removed)")
    return parser.parse_args()


def ensure_database(name: str) -> None:
    import psycopg

    if not name.startswith("bench"):
        raise SystemExit(f"refusing database {name!r}: benchmark databases are named bench*")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def fen(value: D) -> D:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def copy_rows(model, rows: list[dict]) -> None:
    """COPY dicts into the model's table; missing columns take the field's default."""
    from django.db import connection
    from django.utils import timezone

    fields = model._meta.concrete_fields
    names = [f.column for f in fields]
    now = timezone.now()
    defaults = {}
    for f in fields:
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            defaults[f.attname] = now
        else:
            defaults[f.attname] = f.get_default()  # "" for a text column without a default, else None
    statement = f'COPY "{model._meta.db_table}" ({", ".join(chr(34) + n + chr(34) for n in names)}) FROM STDIN'
    import json

    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            values = []
            for f in fields:
                value = row.get(f.attname, defaults[f.attname])
                if isinstance(value, (list, dict)):
                    value = json.dumps(value)
                values.append(value)
            copy.write_row(values)


def generate(args, rng: random.Random, today: date) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from claims.models import Claim, Hospital, PaymentLine, Settlement
    from claims.models.choices import HospitalLevel, Layer
    from enrollment import demo
    from enrollment.models import Identity, Person, PolicyVersion, Region

    call_command("migrate", verbosity=0)
    if not Person.objects.exists():
        started = time.monotonic()
        with transaction.atomic():
            demo.load_seed_policies()
            demo.generate(persons=args.people, seed=1, region=Region.objects.get(code="522700"), today=today)
        print(f"people generated: {Person.objects.count()} in {time.monotonic() - started:.0f} s")
    if PaymentLine.objects.exists():
        return
    started = time.monotonic()
    policy = PolicyVersion.objects.get(code="qiannan-2019")
    counties = list(Region.objects.filter(path__startswith="/520000/522700/", level="county"))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Hospital.objects.bulk_create([
            Hospital(code=f"B{c.code}", name=f"{c.name}人民医院", level=HospitalLevel.COUNTY, region=c)
            for c in counties])
        hospitals = {h.region_id: h.pk for h in Hospital.objects.filter(code__startswith="B")}
        people = list(Person.objects.values_list("pk", "region_id"))
        identity_of = dict(Identity.objects.values_list("person_id", "pk"))
        claims_wanted = args.lines // 5
        heavy = rng.sample(people, max(1, len(people) // 50))
        claim_id = (Claim.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        settlement_id = (Settlement.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        line_id = (PaymentLine.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        start_day = date(today.year, 1, 2)
        span = max(1, (today - start_day).days - 15)
        chunk = 50_000
        made = 0
        while made < claims_wanted:
            claims, settlements, lines = [], [], []
            for _ in range(min(chunk, claims_wanted - made)):
                person_id, region_id = rng.choice(heavy) if rng.random() < 0.1 else rng.choice(people)
                scope_cents = int(rng.lognormvariate(8.6, 1.0) * 100) + 10_000
                total = D(scope_cents + int(scope_cents * rng.uniform(0.0, 0.2))) / 100
                scope = D(scope_cents) / 100
                admitted = start_day + timedelta(days=rng.randrange(span))
                basic = fen(max(D(0), scope - 500) * D("0.75"))
                critical = fen(max(D(0), scope - basic - 7000) * D("0.6")) if scope > 20_000 else D("0.00")
                identity = identity_of.get(person_id)
                assistance = fen((scope - basic - critical) * D("0.6")) if identity else D("0.00")
                hospital_borne = fen(max(D(0), (total - scope) - total * D("0.10"))) if identity else D("0.00")
                patient = total - basic - critical - assistance - hospital_borne
                claims.append({"id": claim_id, "person_id": person_id, "region_id": region_id,
                               "hospital_id": hospitals[region_id], "number": f"B{claim_id:09d}",
                               "visit_type": "inpatient", "admitted_on": admitted,
                               "discharged_on": admitted + timedelta(days=7), "referral": "referred",
                               "total_cost": total, "policy_scope_cost": scope, "status": "settled",
                               "source": "direct"})
                settlements.append({"id": settlement_id, "claim_id": claim_id, "policy_id": policy.pk,
                                    "year": today.year, "basic": basic, "critical": critical,
                                    "assistance": assistance, "hospital_borne": hospital_borne,
                                    "patient_pays": patient, "identity_id": identity, "steps": []})
                for layer, amount in ((Layer.BASIC, basic), (Layer.CRITICAL, critical),
                                      (Layer.ASSISTANCE, assistance), (Layer.HOSPITAL, hospital_borne),
                                      (Layer.PATIENT, patient)):
                    lines.append({"id": line_id, "settlement_id": settlement_id, "claim_id": claim_id,
                                  "person_id": person_id, "year": today.year, "layer": layer.value,
                                  "amount": amount, "funding_source": "", "is_reversal": False})
                    line_id += 1
                claim_id += 1
                settlement_id += 1
            copy_rows(Claim, claims)
            copy_rows(Settlement, settlements)
            copy_rows(PaymentLine, lines)
            made += len(claims)
        with connection.cursor() as cursor:
            for model, last in ((Claim, claim_id), (Settlement, settlement_id), (PaymentLine, line_id)):
                cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [model._meta.db_table, last])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) claims_claim, claims_settlement, claims_paymentline, enrollment_identity, "
                       "enrollment_enrollment, enrollment_person, enrollment_household")
    print(f"claims generated: {made} claims, {made * 5} payment lines in {time.monotonic() - started:.0f} s")


HAND_WRITTEN = """
WITH people AS (
  SELECT p.id, p.household_id, SUM(l.amount) AS oop,
         EXISTS (SELECT 1 FROM enrollment_identity i JOIN enrollment_identitycategory k ON k.id = i.category_id
                 WHERE i.person_id = p.id AND k.code = ANY(%(relapse)s) AND i.valid_from <= %(year_end)s
                   AND (i.valid_to IS NULL OR i.valid_to >= %(year_start)s)) AS relapse
  FROM claims_paymentline l JOIN enrollment_person p ON p.id = l.person_id
  JOIN enrollment_region r ON r.id = p.region_id
  WHERE l.year = %(year)s AND l.layer = 'patient' AND r.path LIKE %(path)s
  GROUP BY p.id, p.household_id
),
person_hits AS (
  SELECT count(*) AS n FROM people WHERE oop > CASE WHEN relapse THEN %(relapse_at)s ELSE %(poverty_at)s END
),
household_hits AS (
  SELECT count(*) AS n FROM (SELECT household_id, SUM(oop) AS oop, bool_or(relapse) AS relapse FROM people
                             WHERE household_id IS NOT NULL GROUP BY household_id) h
  WHERE oop > CASE WHEN relapse THEN %(relapse_at)s ELSE %(poverty_at)s END
),
not_insured AS (
  SELECT count(DISTINCT i.person_id) AS n FROM enrollment_identity i JOIN enrollment_person p ON p.id = i.person_id
  JOIN enrollment_region r ON r.id = p.region_id
  WHERE r.path LIKE %(path)s AND i.valid_from <= %(day)s AND (i.valid_to IS NULL OR i.valid_to >= %(day)s)
    AND NOT EXISTS (SELECT 1 FROM enrollment_enrollment e WHERE e.person_id = i.person_id
                    AND e.plan_year = %(year)s AND e.status IN ('insured', 'cannot'))
),
catalog AS (
  SELECT count(DISTINCT c.hospital_id) AS n FROM claims_settlement s JOIN claims_claim c ON c.id = s.claim_id
  JOIN enrollment_region r ON r.id = c.region_id
  WHERE s.year = %(year)s AND s.reversed_at IS NULL AND s.identity_id IS NOT NULL AND r.path LIKE %(path)s
    AND c.total_cost - c.policy_scope_cost - 0.10 * c.total_cost > 0.005
),
floor AS (
  SELECT count(*) AS n FROM (
    SELECT c.person_id, SUM(c.policy_scope_cost) - SUM(s.basic) - SUM(s.critical) AS base, SUM(s.assistance) AS a
    FROM claims_settlement s JOIN claims_claim c ON c.id = s.claim_id JOIN enrollment_region r ON r.id = c.region_id
    WHERE s.year = %(year)s AND s.reversed_at IS NULL AND r.path LIKE %(path)s
      AND EXISTS (SELECT 1 FROM enrollment_identity i WHERE i.person_id = c.person_id)
    GROUP BY c.person_id) x WHERE base > 0 AND a < base * 0.7
)
SELECT (SELECT n FROM person_hits), (SELECT n FROM household_hits), (SELECT n FROM not_insured),
       (SELECT n FROM catalog), (SELECT n FROM floor)
"""


def main() -> None:
    args = parse_args()
    ensure_database(args.database)
    import os

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django()
    from django.core.cache import cache
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from enrollment import roles
    from enrollment.models import Region
    from monitoring.models import ListKind, WarningItem
    from monitoring.services.night import run_night
    from tests.factories import make_user

    today = timezone.localdate()
    generate(args, random.Random(7), today)
    if args.generate_only:
        return
    prefecture = Region.objects.get(code="522700")
    if not args.keep_items:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE monitoring_warningevidence, monitoring_historicalwarningitem, "
                           "monitoring_warningitem, monitoring_nightcandidate, monitoring_dashboardsnapshot, "
                           "monitoring_runlist, monitoring_runpart, monitoring_nightrun")

    from common import capture_queries

    queries = []
    started = time.monotonic()
    with capture_queries(queries):
        run = run_night(region=prefecture, day=today)
    night_seconds = time.monotonic() - started
    parts = list(run.parts.values_list("kind", "new_count", "unchanged_count", "error"))
    items = dict(WarningItem.objects.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    print(f"night for 黔南州 on {today}: {night_seconds:.1f} s, status {run.status}, {len(parts)} parts "
          f"(load average {load()})")
    list_seconds = dict(run.lists.values_list("kind", "seconds"))
    for kind in ListKind.values:
        print(f"  {kind:18s} computed once in {list_seconds.get(kind) or 0:>6} s, items {items.get(kind, 0)}")
    print(f"  merges and the close (dashboard figures): "
          f"{night_seconds - float(sum(v or 0 for v in list_seconds.values())):.1f} s")
    by_statement: dict[str, list[float]] = {}
    for query in queries:
        by_statement.setdefault(" ".join(query.sql.split())[:90], []).append(query.seconds)
    print(f"  {len(queries)} statements, {sum(q.seconds for q in queries):.1f} s in the database; the slowest kinds:")
    for sql, times in sorted(by_statement.items(), key=lambda kv: -sum(kv[1]))[:12]:
        print(f"    {sum(times):6.1f} s  ×{len(times):<4d} {sql}")
    errors = [p for p in parts if p[3]]
    if errors:
        print("  errors:", errors[:3])

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(HAND_WRITTEN, {
            "year": today.year, "day": today, "path": prefecture.path + "%", "relapse": ["registered_poor"],
            "year_start": date(today.year, 1, 1), "year_end": date(today.year, 12, 31),
            "relapse_at": D("10000"), "poverty_at": D("26000")})
        figures = cursor.fetchone()
    sql_seconds = time.monotonic() - started
    print(f"hand-written SQL aggregate: {sql_seconds:.1f} s  figures {figures}  "
          f"ratio {night_seconds / sql_seconds:.2f} (load average {load()})")

    user = make_user(f"bench_dash_{int(time.time())}", roles=(roles.CLERK,), regions=(prefecture,))
    client = Client()
    client.force_login(user)
    cold = []
    for _ in range(3):
        cache.clear()
        started = time.perf_counter()
        response = client.get("/monitoring/")
        cold.append(time.perf_counter() - started)
        assert response.status_code == 200
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        client.get("/monitoring/")
        warm.append(time.perf_counter() - started)
    print(f"dashboard 黔南州: cold (cache cleared) median {sorted(cold)[1] * 1000:.0f} ms, "
          f"warm median {sorted(warm)[2] * 1000:.0f} ms (load average {load()})")
    page_queries = []
    with capture_queries(page_queries):
        client.get("/monitoring/")
    print(f"  {len(page_queries)} queries, {sum(q.seconds for q in page_queries) * 1000:.0f} ms in the database:")
    for query in sorted(page_queries, key=lambda q: -q.seconds)[:4]:
        print(f"    {query.seconds * 1000:6.1f} ms  {' '.join(query.sql.split())[:110]}")


if __name__ == "__main__":
    main()
