"""Benchmark: import a 100 000-person roster with identities (one 民政 file) through run_import.

Target (the enrolment issue): under 30 s wall time and under 1 GiB peak RSS on PostgreSQL.

Besides wall time the script prints the CPU seconds of this process and of its PostgreSQL backend: on a shared
machine wall time mostly measures the neighbours, CPU time measures the import.

    createdb -h 127.0.0.1 -U postgres bench_import
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import .venv/bin/python bench/bench_import.py

The data set is fixed (seeded Faker zh_CN names, IDs from enrollment.idnumbers.make_id_number): 100 000 people
in households of 1–5 members across ten counties, each with one identity. The script empties the people,
household and identity tables of the database it runs on, so it refuses a database whose name does not start
with "bench" unless --any-database is given. It times three runs: the first import (everything created), the
same file again (everything unchanged) and a file where every tenth person changed (updates).

Options: --people N, --format xlsx (the same data as a workbook), --data-dir DIR (keep the generated files and
reuse them; generating 100 000 Faker rows takes a minute), --skip-repeat (time only the first import).
Run it with DEBUG off (the default), as production runs.
"""

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from faker import Faker  # noqa: E402

from enrollment import roles  # noqa: E402
from enrollment.idnumbers import make_id_number  # noqa: E402
from enrollment.imports import run_import  # noqa: E402
from enrollment.imports.base import Progress  # noqa: E402
from enrollment.imports.columns import ROSTER_COLUMNS  # noqa: E402
from enrollment.models import Household, Identity, Person, Region, RegionMembership  # noqa: E402
from enrollment.models.regions import RegionLevel  # noqa: E402

COUNTIES = [f"5227{n:02d}" for n in range(1, 11)]
CATEGORIES = ["低保对象", "特困人员", "dibao_edge", "返贫致贫人口", "脱贫不稳定户", "边缘易致贫户"]
RELATIONS = ["户主", "配偶", "子", "女", "孙子", "孙女", "父亲", "母亲"]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_world():
    from django.contrib.auth.models import Group, User

    province, _ = Region.objects.update_or_create(
        code="520000", defaults={"name": "贵州省", "level": RegionLevel.PROVINCE, "parent": None})
    prefecture, _ = Region.objects.update_or_create(
        code="522700", defaults={"name": "黔南州", "level": RegionLevel.PREFECTURE, "parent": province})
    for code in COUNTIES:
        Region.objects.update_or_create(
            code=code, defaults={"name": f"县{code}", "level": RegionLevel.COUNTY, "parent": prefecture})
    roles.sync_roles()
    user, created = User.objects.get_or_create(username="bench_clerk", defaults={"is_staff": True})
    if created:
        user.groups.add(Group.objects.get(name=roles.CLERK))
        RegionMembership.objects.create(user=user, region=prefecture)
    return user


def empty_tables():
    tables = [model._meta.db_table for model in (Identity, Person, Household)]
    tables += [model.history.model._meta.db_table for model in (Identity, Person, Household)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def roster_rows(people: int, *, changed_every: int = 0):
    """The fixed data set, row by row (never all in memory)."""
    fake = Faker("zh_CN")
    Faker.seed(20240831)
    rng = random.Random(20240831)
    i = 0
    household_no = 0
    while i < people:
        household_no += 1
        size = min(rng.choice([1, 2, 3, 3, 4, 4, 5]), people - i)
        county = COUNTIES[household_no % len(COUNTIES)]
        township, village = fake.city_name() + "镇", fake.street_name() + "村"
        income, assets = rng.randrange(3000, 60000), rng.randrange(0, 300000)
        for member in range(size):
            # (birth day, sequence) pairs never repeat, so every ID number is distinct.
            birth = date(1940, 1, 1) + timedelta(days=(i // 1000) * 219 + member)
            sequence = i % 1000
            name = fake.name()
            if changed_every and i % changed_every == 0:
                name += "改"
            start = date(2020, 1, 1) + timedelta(days=rng.randrange(0, 1500))
            end = "" if rng.random() < 0.8 else (start + timedelta(days=rng.randrange(30, 700))).isoformat()
            yield [
                make_id_number(county, birth, sequence), name, f"H{county}{household_no:07d}", county, township,
                village, RELATIONS[min(member, len(RELATIONS) - 1)], "", f"{income}.00", "2024", "民政核定",
                f"{assets}.00", "2024", "民政核定", "农业银行", f"62284800{i:011d}", f"138{i:08d}",
                CATEGORIES[i % len(CATEGORIES)], start.isoformat(), end, "民政", "民发〔2024〕1号", "2024-01",
            ]
            i += 1


def write_csv(path: Path, people: int, **options) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.header for column in ROSTER_COLUMNS])
        writer.writerows(roster_rows(people, **options))


def write_xlsx(path: Path, people: int, **options) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("花名册")
    sheet.append([column.header for column in ROSTER_COLUMNS])
    for row in roster_rows(people, **options):
        sheet.append(row)
    workbook.save(path)


def server_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine; 0 if unreadable)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class PhaseClock(Progress):
    """Notes when the check pass ends and the write begins."""

    def __init__(self):
        self.writing_at = None

    def start_writing(self, **counts) -> None:
        self.writing_at = (time.perf_counter(), time.process_time(), server_cpu())


def timed_import(path: Path, user, label: str) -> None:
    clock = PhaseClock()
    server_started = server_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_import(job_or_file=path, kind="roster", user=user, progress=clock)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    server = server_cpu() - server_started
    check_wall, check_cpu, check_server = (
        clock.writing_at[0] - started, clock.writing_at[1] - cpu_started, clock.writing_at[2] - server_started,
    ) if clock.writing_at else (elapsed, cpu, server)
    if not result.ok:
        for error in result.errors[:20]:
            print("  ", error)
        raise SystemExit(f"{label}: the import reported {result.error_count} errors")
    counts = ", ".join(f"{name} +{c.create} ~{c.update} ={c.unchanged}" for name, c in result.counts)
    print(f"{label:<28} {result.total_rows:>7} rows  wall {elapsed:5.1f} s  peak RSS {peak_rss_mib():4.0f} MiB  "
          f"CPU: Python {cpu:4.1f} s + PostgreSQL backend {server:4.1f} s  (load average {os.getloadavg()[0]:.1f})\n"
          f"    check and compare: wall {check_wall:4.1f} s, CPU {check_cpu:4.1f} + {check_server:4.1f} s;  "
          f"write: wall {elapsed - check_wall:4.1f} s, CPU {cpu - check_cpu:4.1f} + {server - check_server:4.1f} s\n"
          f"    {counts}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--any-database", action="store_true", help="allow a database not named bench*")
    parser.add_argument("--skip-repeat", action="store_true", help="time only the first import")
    parser.add_argument("--data-dir", help="keep the generated files here and reuse them on the next run")
    args = parser.parse_args()

    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql":
        print(f"warning: {connection.vendor}, not PostgreSQL; the target is for PostgreSQL", file=sys.stderr)
    if not str(name).startswith("bench") and not args.any_database:
        raise SystemExit(f"refusing to empty the people tables of database {name!r}; use a bench* database")

    user = ensure_world()
    empty_tables()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data_dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        write = write_csv if args.format == "csv" else write_xlsx
        first = folder / f"roster-{args.people}.{args.format}"
        changed = folder / f"roster-{args.people}-changed.{args.format}"
        generation = time.perf_counter()
        for path, options in ((first, {}), (changed, {"changed_every": 10})):
            if not path.exists() and (path is first or not args.skip_repeat):
                write(path, args.people, **options)
        print(f"data set: {args.people} people, {first.stat().st_size / 2**20:.1f} MiB {args.format} "
              f"(generated in {time.perf_counter() - generation:.0f} s; not timed)")
        print(f"database: {connection.vendor} {name}; RSS before the import {current_rss_mib():.0f} MiB")
        timed_import(first, user, "first import (create)")
        print(f"  in the database: {Person.objects.count()} people, {Household.objects.count()} households, "
              f"{Identity.objects.count()} identities, {Person.history.count()} person history rows")
        if not args.skip_repeat:
            timed_import(first, user, "same file again (unchanged)")
            timed_import(changed, user, "every 10th name changed")


if __name__ == "__main__":
    main()
