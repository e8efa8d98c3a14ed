"""Benchmark: the reviewer's queue page (待办) over 100 000 open manual reimbursement cases (PostgreSQL).

Target (the claims issue): a reviewer's queue page with 100 000 open claims answers in under 300 ms.

    .venv/bin/python bench/bench_queue.py              # database bench_queue, created and filled if needed
    .venv/bin/python bench/bench_queue.py --regenerate # build the data set again

The script works in a database of its own (``--database``, default ``bench_queue``, named bench*): it creates,
migrates and loads the shipped policy files (``load_policy --all``) when needed, and generates the fixed data set
(``random.Random(SEED)``) set-based — COPY with keys reserved from the sequences, no history rows for generated
data — unless it is already there:

- 60 000 people in the twelve counties of 黔南州 (都匀市 holds 30 %), 38 hospitals;
- 120 000 manual claims, each with its reimbursement case (零星报销): 100 000 open — 45 % received (受理),
  25 % initially reviewed (初审), 15 % re-reviewed and awaiting payment, 15 % returned for documents (paused) —
  and 20 000 closed (paid, refused, withdrawn); received in the last 45 days, due 25 working days later
  (the real working-day calendar), so the queue holds overdue, due-soon and on-track cases; 2 % exempted.

Then it times real requests through ``django.test.Client`` (middleware, view, filters, template, SQL) as two users
with the initial-review role (初审员): one of 都匀市 (a county) and one of 黔南州 (the prefecture, which sees every
case): (a) my queue, first page; (b) my queue, the "overdue" tab; (c) all open cases of my regions, first page;
(d) my queue, page 40 (by number); (e) the middle and (f) the last page of my queue (issue 10: any depth); (g) the
page the "next" link of the middle page leads to (keyset: after its last row); (h) the first page with its tab
counts taken afresh (the counts of one view are cached while paging, ``QUEUE_COUNT_CACHE_SECONDS``). It prints
median and p95 of N runs after warm-up, SQL time, CPU time of this process,
the query count, the slowest query of each request and the EXPLAIN (ANALYZE, BUFFERS) of the slowest of all, with
the load average, and beside each request its page query run alone through a bare cursor (raw SQL baseline).
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import measure, median_ms, p95_ms, report_slowest_queries, setup_django, table_estimates

SEED = 20260918
COUNTIES = ["522701", "522702", "522722", "522723", "522725", "522726", "522727", "522728", "522729", "522730",
            "522731", "522732"]
TABLES = ["claims_reimbursementcase", "claims_claim", "enrollment_person", "claims_hospital"]
QUEUE = "/claims/cases/"
D = Decimal


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_queue")
    parser.add_argument("--open", type=int, default=100_000, help="open cases to generate")
    parser.add_argument("--closed", type=int, default=20_000, help="closed cases to generate")
    parser.add_argument("--people", type=int, default=60_000)
    parser.add_argument("--regenerate", action="store_true", help="empty the tables and generate again")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--target-ms", type=float, default=300)
    return parser.parse_args()


def ensure_database(name: str) -> None:
    import psycopg

    if not name.startswith("bench"):
        raise SystemExit(f"refusing database {name!r}: benchmark databases are named bench*")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def copy_rows(model, rows: list[dict]) -> None:
    """COPY rows ({attname: value}, model defaults for the rest) with ids reserved from the sequence; sets row["id"]."""
    from django.db import connection
    from django.utils import timezone
    from psycopg import sql

    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    now = timezone.now()
    for f in fields:
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            defaults[f.attname] = now
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(rows)])
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row["id"] = pk
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table),
            sql.SQL(", ").join(sql.Identifier(c) for c in [meta.pk.column, *(f.column for f in fields)]))
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                values = [row["id"]]
                for f in fields:
                    value = row.get(f.attname, defaults[f.attname])
                    values.append(value.value if isinstance(value, Enum) else value)
                copy.write_row(values)


def users():
    """Reviewers (初审员) of a county and of the prefecture, plus the staff the generated cases refer to."""
    from django.contrib.auth.models import Group, User

    from enrollment import roles
    from enrollment.models import Region, RegionMembership

    roles.sync_roles()

    def user(username, role, region_code):
        account, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            account.groups.add(Group.objects.get(name=role))
            RegionMembership.objects.create(user=account, region=Region.objects.get(code=region_code))
        return account

    return {
        "county reviewer": user("bench_reviewer_522701", roles.REVIEWER, "522701"),
        "prefecture reviewer": user("bench_reviewer_522700", roles.REVIEWER, "522700"),
        "other reviewer": user("bench_other_reviewer", roles.REVIEWER, "522700"),
        "approver": user("bench_approver", roles.APPROVER, "522700"),
        "head": user("bench_head", roles.HEAD, "522700"),
    }


def generate(args, staff) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from claims.calendar import work_calendar
    from claims.models import Claim, Hospital, ReimbursementCase
    from claims.models.choices import HospitalLevel, VisitType
    from claims.models.claims import ClaimSource, ClaimStatus
    from claims.models.reimbursement import CaseState
    from claims.rules.workdays import add_working_days
    from enrollment.idnumbers import make_id_number
    from enrollment.models import Person, Region

    rng = random.Random(SEED)
    today = timezone.localdate()
    calendar = work_calendar()
    regions = {r.code: r for r in Region.objects.filter(code__in=[*COUNTIES, "520000"])}
    weights = [30 if code == "522701" else 70 / 11 for code in COUNTIES]
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            tables = [m._meta.db_table for m in (ReimbursementCase, Claim, Hospital, Person)]
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check each COPY's keys at its end, not at commit
        hospitals = []
        for county in COUNTIES:
            hospitals += [{"code": f"{county}-T{n}", "name": f"{regions[county].name}乡镇卫生院{n}",
                           "level": HospitalLevel.TOWNSHIP, "region_id": regions[county].pk} for n in (1, 2)]
            hospitals.append({"code": f"{county}-C", "name": f"{regions[county].name}人民医院",
                              "level": HospitalLevel.COUNTY, "region_id": regions[county].pk})
        hospitals.append({"code": "520000-P", "name": "贵州省人民医院", "level": HospitalLevel.PROVINCE,
                          "region_id": regions["520000"].pk, "in_region": False, "in_county": False})
        copy_rows(Hospital, hospitals)

        people = []
        for index in range(args.people):
            county = rng.choices(COUNTIES, weights)[0]
            # (birth date, sequence) never repeats within a county, so every ID number is distinct.
            birth = date(1940, 1, 1) + timedelta(days=(index // 1000) * 11 + index % 37)
            sequence = index % 1000
            people.append({"id_number": make_id_number(county, birth, sequence), "name": f"申请人{index:05d}",
                           "sex": "M" if sequence % 2 else "F", "birth_date": birth,
                           "region_id": regions[county].pk})
        copy_rows(Person, people)

        total = args.open + args.closed
        open_states = [(CaseState.RECEIVED, 45), (CaseState.REVIEWED, 25), (CaseState.APPROVED, 15),
                       (CaseState.RETURNED, 15)]
        closed_states = [(CaseState.PAID, 75), (CaseState.REFUSED, 15), (CaseState.WITHDRAWN, 10)]
        due_cache: dict = {}
        claims, cases = [], []
        for n in range(total):
            person = rng.choice(people)
            hospital = rng.choice(hospitals)
            admitted = today - timedelta(days=rng.randrange(60, 200))
            scope = rng.randrange(50_000, 8_000_000)
            is_open = n < args.open
            states = open_states if is_open else closed_states
            state = rng.choices([s for s, _w in states], [w for _s, w in states])[0]
            claims.append({
                "person_id": person["id"], "region_id": person["region_id"], "hospital_id": hospital["id"],
                "number": f"MQ{n:08d}", "visit_type": VisitType.INPATIENT, "admitted_on": admitted,
                "discharged_on": admitted + timedelta(days=rng.randrange(2, 15)),
                "total_cost": D(scope + rng.randrange(0, scope // 5)) / 100, "policy_scope_cost": D(scope) / 100,
                "source": ClaimSource.MANUAL,
                "status": ClaimStatus.SETTLED if state == CaseState.PAID else ClaimStatus.REGISTERED})
            received = today - timedelta(days=rng.randrange(0, 45) if is_open else rng.randrange(45, 200))
            if received not in due_cache:
                due_cache[received] = add_working_days(calendar, received, 25)
            deadline = due_cache[received]
            case = {"state": state, "received_on": received, "documents": "身份证、发票、出院小结、费用清单、银行卡",
                    "payee_name": person["name"], "payee_bank": "农业银行", "payee_account": f"6228{n:015d}",
                    "sla_working_days": 25, "sla_due_on": deadline.due_on, "sla_provisional": deadline.provisional}
            if state == CaseState.RETURNED:
                case["sla_due_on"] = None  # paused while the applicant's documents are awaited
            elif is_open and rng.random() < 0.02:
                case.update(exempt=True, exempt_kind="special", exempt_reason="特殊病案，需专家论证", sla_due_on=None,
                            exempt_signed_off_by_id=staff["head"].pk)
            if state in (CaseState.REVIEWED, CaseState.APPROVED, CaseState.PAID):
                case.update(initial_reviewer_id=staff["other reviewer"].pk, initial_reviewed_at=timezone.now())
            if state in (CaseState.APPROVED, CaseState.PAID):
                case.update(re_reviewer_id=staff["approver"].pk, re_reviewed_at=timezone.now())
            if state == CaseState.PAID:
                case.update(paid_on=received + timedelta(days=20), payment_reference=f"PAY{n:08d}",
                            paid_by_id=staff["approver"].pk)
            if state == CaseState.REFUSED:
                case["refusal_reason"] = "不属于报销范围"
            cases.append(case)
        copy_rows(Claim, claims)
        for case, claim in zip(cases, claims, strict=True):
            case["claim_id"] = claim["id"]
        copy_rows(ReimbursementCase, cases)
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"generated {args.people} people, {total} claims and cases ({args.open} open) in "
          f"{time.perf_counter() - started:.1f} s")


def print_counts(staff) -> None:
    """The tab counts of each user's queues (what the page shows), to describe the data each request works on."""
    from django.utils import timezone

    from claims.calendar import work_calendar
    from claims.queues import case_due_conditions, case_queue, due_soon_until, queue_counts

    today, calendar = timezone.localdate(), work_calendar()
    conditions = case_due_conditions(today, due_soon_until(calendar, today))
    print("tab counts:")
    for who in ("county reviewer", "prefecture reviewer"):
        for mine in (True, False):
            counts = queue_counts(case_queue(staff[who], today=today, calendar=calendar, mine=mine), conditions)
            print(f"  {who}, {'my queue' if mine else 'all open'}: "
                  + ", ".join(f"{key} {value:,}" for key, value in counts.items()))
    print()


def main() -> int:
    args = parse_args()
    ensure_database(args.database)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django()

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from claims.models import ReimbursementCase
    from claims.models.reimbursement import OPEN_CASE_STATES
    from enrollment.models import PolicyVersion

    call_command("migrate", verbosity=0)
    if not PolicyVersion.objects.filter(code="qiannan-2019").exists():
        call_command("load_policy", "--all", verbosity=0)
    staff = users()
    open_cases = ReimbursementCase.objects.filter(state__in=OPEN_CASE_STATES).count()
    if args.regenerate or open_cases != args.open:
        generate(args, staff)
        open_cases = ReimbursementCase.objects.filter(state__in=OPEN_CASE_STATES).count()

    estimates = table_estimates(TABLES)
    load = os.getloadavg()
    print(f"PostgreSQL {connection.pg_version // 10000}; {open_cases:,} open cases; rows (estimates): "
          + ", ".join(f"{t.split('_', 1)[1]} {n:,}" for t, n in estimates.items()))
    print(f"{args.runs} runs after {args.warmup} warm-up; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")

    print_counts(staff)

    from claims.counting import forget_queue_counts

    scenarios = [
        ("(a) my queue, first page", QUEUE, False),
        ("(b) my queue, overdue tab", f"{QUEUE}?due=overdue", False),
        ("(c) all open, first page", f"{QUEUE}?scope=all", False),
        ("(d) my queue, page 40", f"{QUEUE}?p=40", False),
    ]
    results = []
    for who in ("county reviewer", "prefecture reviewer"):
        client = Client()
        client.force_login(staff[who], backend="django.contrib.auth.backends.ModelBackend")
        # Issue 10 §5: "p95 < 300 ms at any depth" — the middle and the last page of this user's whole queue, and
        # the page a "next" link leads to from the middle (keyset: after the last row's key).
        last = last_page(staff[who])
        middle = max(last // 2, 1)
        response = client.get(f"{QUEUE}?p={middle}")
        next_link = re.search(r'<a href="([^"]+)" class="page-next">', response.content.decode())
        after_middle = QUEUE + html.unescape(next_link.group(1))
        for label, url, cold in [
                *scenarios, ("(e) my queue, middle page", f"{QUEUE}?p={middle}", False),
                ("(f) my queue, last page", f"{QUEUE}?p=last", False),
                ("(g) next link from middle", after_middle, False),
                ("(h) first page, counts cold", QUEUE, True)]:
            def call(client=client, url=url, cold=cold):
                if cold:  # as after a save: the tab counts are taken again (within their time budget)
                    forget_queue_counts()
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
                if b'id="result_list"' not in response.content or b"MQ0" not in response.content:
                    raise SystemExit(f"{url} shows no case")

            samples = measure(call, runs=args.runs, warmup=args.warmup)
            results.append((label, who, url, samples))

    print(f"{'request':28} {'user':20} {'median ms':>9} {'p95 ms':>8} {'SQL ms':>7} {'CPU ms':>7} {'queries':>7}"
          f"  target {args.target_ms:.0f} ms")
    for label, who, _url, samples in results:
        verdict = "ok" if p95_ms(samples) < args.target_ms else "MISSED"
        print(f"{label:28} {who:20} {median_ms(samples):9.1f} {p95_ms(samples):8.1f} "
              f"{median_ms(samples, 'sql_seconds'):7.1f} {median_ms(samples, 'cpu_seconds'):7.1f} "
              f"{len(samples[0].queries):7d}  {verdict}")
    load = os.getloadavg()
    print(f"(median and p95 of the whole request's wall time; SQL = median time in database calls; CPU = median CPU "
          f"time of this process; load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")

    print_raw_baseline(results, runs=args.runs)
    report_slowest_queries(results, sql_width=200)
    return 0


def last_page(user) -> int:
    """The last page of the user's own queue: its count over the page size (the page links only pages nearby)."""
    from django.utils import timezone

    from claims.calendar import work_calendar
    from claims.queues import case_queue
    from claims.views import PAGE_SIZE

    waiting = case_queue(user, today=timezone.localdate(), calendar=work_calendar(), mine=True).count()
    return max(1, -(-waiting // PAGE_SIZE))


def print_raw_baseline(results, *, runs: int) -> None:
    """Beside each request, its slowest query with LIMIT (the page's rows, or the slim key query of a page by
    number, which still uses OFFSET) run alone through a bare cursor, the same SQL and parameters: what the
    database needs at that depth, without Django, the counts or the template."""
    from django.db import connection

    print(f"\nraw SQL baseline: each request's slowest LIMIT query (its rows, or the key of a page by number) "
          f"alone, {runs} runs")
    print(f"{'request':28} {'user':20} {'median ms':>9} {'p95 ms':>8}  OFFSET")
    for label, who, _url, samples in results:
        paged = [q for q in samples[0].queries if " LIMIT " in q.sql and "COUNT(" not in q.sql.upper()]
        if not paged:
            print(f"{label:28} {who:20} (no paged query)")
            continue
        query = max(paged, key=lambda q: q.seconds)
        timings = []
        with connection.cursor() as cursor:
            for _ in range(runs):
                started = time.perf_counter()
                cursor.execute(query.sql, query.params)
                cursor.fetchall()
                timings.append(time.perf_counter() - started)
        timings.sort()
        offset = query.sql.rsplit(" OFFSET ", 1)[1].split()[0] if " OFFSET " in query.sql else "0"
        p95 = timings[max(0, -(-95 * len(timings) // 100) - 1)]
        print(f"{label:28} {who:20} {timings[len(timings) // 2] * 1000:9.1f} {p95 * 1000:8.1f}  {offset}")


if __name__ == "__main__":
    sys.exit(main())
