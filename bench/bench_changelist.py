"""Benchmark: the person admin changelist on a million people (PostgreSQL).

Times, as real requests through django.test.Client (middleware, admin, templates, SQL):

(a) the first page of the person changelist filtered by region and identity category (valid today);
(b) an exact ID-number search;
(c) for reference, the first page without any filter;

each as a clerk of one county and as a province-level user (not a superuser, so region scoping applies),
and prints median and p95 of N runs after warm-up, the queries of each request, and EXPLAIN ANALYZE of the
slowest query seen. See bench/README.md for how to build the database.

    createdb -h 127.0.0.1 -U postgres bench_people
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_people
    DEBUG=1 .venv/bin/python manage.py migrate
    DEBUG=1 .venv/bin/python manage.py seed_demo --persons 1000000
    .venv/bin/python bench/bench_changelist.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import measure, median_ms, p95_ms, report_slowest_queries, setup_django, table_estimates

TABLES = ["enrollment_person", "enrollment_identity", "enrollment_enrollment", "enrollment_household"]
CHANGELIST = "/admin/enrollment/person/"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--county", default="522701", help="code of the clerk's county (default 都匀市 522701)")
    parser.add_argument("--province", default="520000", help="code of the province user's region")
    parser.add_argument("--category", default="dibao", help="identity category code to filter by")
    parser.add_argument("--target-ms", type=float, default=300)
    parser.add_argument("--min-people", type=int, default=900_000,
                        help="refuse to run on a smaller data set (0 to allow any)")
    parser.add_argument("--with-proposed-fixes", action="store_true",
                        help="patch in, for this run only, the changes bench/README.md proposes, to measure them")
    return parser.parse_args()


def apply_proposed_fixes() -> None:
    """The two changes bench/README.md proposes, monkey-patched for measurement only.

    1. Region conditions as a literal list of region ids instead of a subquery/join on Region.path: the
       planner then knows how many people match and walks the (region_id, id) index in list order, stopping
       after one page, instead of sorting every person of the subtree.
    2. A filtered list is counted exactly only when the planner expects few rows; above the paginator's
       threshold it shows the planner's estimate, as the unfiltered list already does.
    """
    from django.core.paginator import Paginator
    from django.db import connections
    from django.db.models import Q

    from enrollment import scoping
    from enrollment.admin import base
    from enrollment.models import Region

    def region_filter(user, lookup, *, with_ancestors=False):
        if scoping.user_region_paths(user) is None:
            return Q()
        ids = list(scoping.visible_regions(user, with_ancestors=with_ancestors).values_list("pk", flat=True))
        return Q(**{f"{lookup}__in": ids}) if lookup else Q(pk__in=ids)

    def list_filter_queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        path = (scoping.visible_regions(request.user, with_ancestors=self.with_ancestors)
                .filter(pk=int(value)).values_list("path", flat=True).first())
        if path is None:
            return queryset.none()
        ids = list(Region.objects.filter(path__startswith=path).values_list("pk", flat=True))
        return queryset.filter(**{f"{self.region_lookup}__in" if self.region_lookup else "pk__in": ids})

    def count(self):
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql":
            sql, params = queryset.query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
            plan = plan[0]["Plan"] if isinstance(plan, list) else plan
            estimate = int(plan.get("Plan Rows", 0))
            if estimate >= self.estimate_threshold:
                return estimate
        return Paginator.count.func(self)

    scoping.region_filter = region_filter
    base.RegionListFilter.queryset = list_filter_queryset
    base.EstimatedCountPaginator.estimate_threshold = 10_000
    del base.EstimatedCountPaginator.count  # the cached_property; replaced below
    base.EstimatedCountPaginator.count = base.cached_property(count)
    base.EstimatedCountPaginator.count.__set_name__(base.EstimatedCountPaginator, "count")


def bench_users(county, province):
    from django.contrib.auth.models import Group, User

    from enrollment import roles
    from enrollment.models import RegionMembership

    def user(username, region):
        account, _created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        account.groups.add(Group.objects.get(name=roles.CLERK))
        RegionMembership.objects.get_or_create(user=account, region=region)
        return account

    # Own accounts, so the benchmark never depends on (or changes) the demo logins.
    return {"county clerk": user(f"bench_clerk_{county.code}", county),
            "province user": user(f"bench_province_{province.code}", province)}


def main() -> int:
    args = parse_args()
    setup_django()
    if args.with_proposed_fixes:
        apply_proposed_fixes()
        print("Measuring WITH the proposed fixes patched in (see bench/README.md).")
    from django.db import connection
    from django.test import Client

    from enrollment.models import IdentityCategory, Person, Region

    if connection.vendor != "postgresql":
        print("This benchmark needs PostgreSQL: set DATABASE_URL to the benchmark database.")
        return 2
    with connection.cursor() as cursor:
        # Freshly generated tables may not have been analysed yet; the planner needs statistics to be fair.
        cursor.execute("ANALYZE " + ", ".join(TABLES))
    estimates = table_estimates(TABLES)
    if estimates.get("enrollment_person", 0) < args.min_people:
        print(f"Only ~{estimates.get('enrollment_person', 0)} people in the database; run "
              f"`manage.py seed_demo --persons 1000000` first (or pass --min-people 0).")
        return 2

    county = Region.objects.get(code=args.county)
    province = Region.objects.get(code=args.province)
    filter_region = {"county clerk": county, "province user": county.parent or county}
    category = IdentityCategory.objects.get(code=args.category)
    people_in_county = Person.objects.filter(region=county)
    target = people_in_county.order_by("pk").values("id_number", "name")[people_in_county.count() // 2]
    users = bench_users(county, province)

    print(f"PostgreSQL {connection.pg_version // 10000}, rows (estimates): "
          + ", ".join(f"{t.removeprefix('enrollment_')} {n:,}" for t, n in estimates.items()))
    print(f"county {county}, province {province}, category {category.code}, "
          f"ID searched {target['id_number'][:6]}…, {args.runs} runs after {args.warmup} warm-up\n")

    results = []
    for who, user in users.items():
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        scenarios = [
            ("(a) region + category", f"{CHANGELIST}?region={filter_region[who].pk}&identity_now={category.pk}",
             None),
            ("(b) exact ID search", f"{CHANGELIST}?q={target['id_number']}", target["name"]),
            ("(c) first page, no filter", CHANGELIST, None),
        ]
        for label, url, must_contain in scenarios:
            def call(client=client, url=url, must_contain=must_contain):
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
                if must_contain and must_contain not in response.content.decode():
                    raise SystemExit(f"{url} did not find {must_contain}")

            samples = measure(call, runs=args.runs, warmup=args.warmup)
            results.append((label, who, url, samples))

    print(f"{'request':28} {'user':14} {'median ms':>9} {'p95 ms':>8} {'SQL ms':>7} {'CPU ms':>7} {'queries':>7}"
          f"  target {args.target_ms:.0f} ms")
    for label, who, _url, samples in results:
        verdict = "ok" if p95_ms(samples) < args.target_ms else "MISSED"
        print(f"{label:28} {who:14} {median_ms(samples):9.1f} {p95_ms(samples):8.1f} "
              f"{median_ms(samples, 'sql_seconds'):7.1f} {median_ms(samples, 'cpu_seconds'):7.1f} "
              f"{len(samples[0].queries):7d}  {verdict}")
    print("(median and p95 of the wall time of the whole request; SQL = median time in the database calls; "
          "CPU = median CPU time of this Python process: middleware, admin, templates)")

    report_slowest_queries(results, sql_width=160)
    return 0


if __name__ == "__main__":
    sys.exit(main())
