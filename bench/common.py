"""Shared set-up of the benchmark scripts: Django on the benchmark database, timing and query capture.

Benchmarks are scripts, not tests (ARCHITECTURE.md): they run against a database filled by
`manage.py seed_demo --persons N` and print their figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    """Configure Django for in-process requests through django.test.Client against DATABASE_URL."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG serves the admin's static files without a collectstatic manifest and turns the HTTPS redirect off;
    # the request path is otherwise the production one (same middleware, same admin, same queries).
    os.environ.setdefault("DEBUG", "1")
    hosts = os.environ.get("ALLOWED_HOSTS", "")
    if "testserver" not in hosts:
        os.environ["ALLOWED_HOSTS"] = ",".join(filter(None, [hosts, "testserver", "127.0.0.1", "localhost"]))
    import django

    django.setup()


@dataclass
class Query:
    sql: str
    params: object
    seconds: float


@dataclass
class Sample:
    seconds: float  # wall time of the request
    cpu_seconds: float  # this process's CPU time: Python, templates (not PostgreSQL's work), immune to load
    queries: list[Query] = field(default_factory=list)

    @property
    def sql_seconds(self) -> float:
        return sum(q.seconds for q in self.queries)


@contextmanager
def capture_queries(into: list[Query]):
    """Record every SQL statement with its parameters and its own duration (the EXPLAIN needs both)."""
    from django.db import connection

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            into.append(Query(sql, params, time.perf_counter() - started))

    with connection.execute_wrapper(wrapper):
        yield


def measure(call, *, runs: int, warmup: int) -> list[Sample]:
    """Call `call()` warmup times unmeasured, then `runs` times, each timed with its queries."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        queries: list[Query] = []
        with capture_queries(queries):
            started, cpu_started = time.perf_counter(), time.process_time()
            call()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        samples.append(Sample(elapsed, cpu, queries))
    return samples


def median_ms(samples: list[Sample], attribute: str = "seconds") -> float:
    return statistics.median(getattr(s, attribute) for s in samples) * 1000


def percentile_ms(seconds: list[float], p: int) -> float:
    """Nearest-rank p-th percentile of durations in seconds, in milliseconds (0 for none)."""
    ordered = sorted(seconds)
    if not ordered:
        return 0.0
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1] * 1000


def p95_ms(samples: list[Sample]) -> float:
    """Nearest-rank 95th percentile (of 20 runs: the 19th fastest)."""
    return percentile_ms([s.seconds for s in samples], 95)


def explain_analyze(query: Query) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.sql, query.params)
        return "\n".join(row[0] for row in cursor.fetchall())


def table_estimates(tables: list[str]) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)", [tables])
        return dict(cursor.fetchall())


def report_slowest_queries(results, *, sql_width: int = 160) -> None:
    """Print each request's slowest query and EXPLAIN ANALYZE the slowest of all.

    `results` holds (label, who, url, samples) tuples as the request benchmarks collect them.
    """
    print("\nSlowest query of each request (its slowest run):")
    slowest_overall = None
    for label, who, _url, samples in results:
        worst = max(samples, key=lambda s: s.seconds)
        query = max(worst.queries, key=lambda q: q.seconds)
        print(f"- {label} / {who}: {query.seconds * 1000:.1f} ms of {worst.seconds * 1000:.1f} ms: "
              f"{' '.join(query.sql.split())[:sql_width]}…")
        if slowest_overall is None or query.seconds > slowest_overall[2].seconds:
            slowest_overall = (label, who, query)

    label, who, query = slowest_overall
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the slowest query ({label} / {who}):\n")
    print(" ".join(query.sql.split()))
    print("params:", query.params)
    print(explain_analyze(query))
