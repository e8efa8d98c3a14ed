"""The hospital look-up's two statements (issue 10 §5): a person's standing on a date, and the look-up's record.

The ORM path (``selectors.eligibility`` + ``selectors.year_to_date``) takes four statements, and compiling them
costs more CPU than PostgreSQL spends answering; hospitals ask hundreds of times a second. This statement reads
the same rows under the same rules — the insured ledger row whose coverage holds the date (one per person and plan
year), the identities valid on the date in the order ``Eligibility.identities`` promises, the year's payment lines
by layer — and tests/claims/test_eligibility_fast_path.py pins it to the ORM path on varied people.

On PostgreSQL both statements are prepared once per database connection (server-side binding): planning the
read cost PostgreSQL 2.7 ms of every 3.7 ms it spent on it (bench/README.md), on the same two cores as the web
workers. Django leaves psycopg's automatic preparation off (``prepare_threshold``: poolers in transaction mode
lose prepared statements), so only these two statements are prepared, through Django's own cursor wrapper (query
capture, execute wrappers and error translation still apply). Behind PgBouncer in transaction mode set
``ELIGIBILITY_PREPARED_STATEMENTS=0``.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DEFERRED
from django.utils import timezone

from enrollment.models import Enrollment, Identity, IdentityCategory, Person
from enrollment.models.ledger import EnrollmentStatus

from .models import EligibilityLookup, PaymentLine
from .models.choices import Layer

_ZERO = Decimal("0.00")


def _sql() -> str:
    person, enrollment = Person._meta.db_table, Enrollment._meta.db_table
    identity, category, line = Identity._meta.db_table, IdentityCategory._meta.db_table, PaymentLine._meta.db_table

    def paid(layer: str) -> str:
        # Table names and layer codes come from the models, never from input; the values are parameters.
        return (f"(SELECT COALESCE(SUM(pl.amount), 0) FROM {line} pl "  # noqa: S608
                f"WHERE pl.person_id = p.id AND pl.year = %(year)s AND pl.layer = '{layer}')")

    return f"""
SELECT p.id, p.id_number, p.name, p.region_id,
       e.id, e.plan_year, e.coverage_start, e.coverage_end, e.scheme,
       {paid(Layer.BASIC)}, {paid(Layer.CRITICAL)}, {paid(Layer.ASSISTANCE)},
       i.category_id
FROM {person} p
LEFT JOIN {enrollment} e ON e.person_id = p.id AND e.plan_year = %(year)s AND e.status = '{EnrollmentStatus.INSURED}'
     AND (e.coverage_start IS NULL OR e.coverage_start <= %(day)s)
     AND (e.coverage_end IS NULL OR e.coverage_end >= %(day)s)
LEFT JOIN {identity} i ON i.person_id = p.id AND i.valid_from <= %(day)s
     AND (i.valid_to IS NULL OR i.valid_to >= %(day)s)
LEFT JOIN {category} c ON c.id = i.category_id
WHERE p.id_number = %(number)s
ORDER BY c.sort_order, c.code, i.valid_from DESC, i.id DESC
"""  # noqa: S608 - as above


_STATEMENT: str | None = None
_INSERT: str | None = None
_RECORD_FIELDS = ("at", "user", "hospital", "region", "id_number", "on_date", "outcome", "categories", "no_deposit")


def _insert_sql() -> str:
    meta = EligibilityLookup._meta
    columns = ", ".join(meta.get_field(name).column for name in _RECORD_FIELDS)
    values = ", ".join(f"%({name})s" for name in _RECORD_FIELDS)
    return f"INSERT INTO {meta.db_table} ({columns}) VALUES ({values})"  # noqa: S608 - names from the model


def _cursor():
    """A cursor whose statements PostgreSQL prepares once per connection; Django's plain cursor elsewhere."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute read through django.db.connection is a proxy lookup
    if db.vendor != "postgresql" or not settings.ELIGIBILITY_PREPARED_STATEMENTS:
        return db.cursor()
    # What connection.cursor() does (health check, connect, wrap), with a server-side-binding cursor.
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        # Django's None turns preparing off on the connection, even when asked for. A threshold never reached
        # prepares only what asks for it: these statements. Django's own cursors bind client-side and never
        # prepare (psycopg's ClientCursor), so nothing else changes.
        raw.prepare_threshold = sys.maxsize
    with db.wrap_database_errors:
        return db._prepare_cursor(_PreparedCursor(raw))


try:
    import psycopg

    class _PreparedCursor(psycopg.Cursor):
        """Django's wrapper calls execute(sql, params); prepared whatever the connection's threshold says."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)
except ImportError:  # SQLite-only installs: _cursor() never reaches it
    _PreparedCursor = None


@dataclass(frozen=True)
class Standing:
    person: Person  # id, id_number, name and region_id only
    enrollment: Enrollment | None  # id, plan year, coverage and scheme only
    category_ids: tuple[int, ...]  # held on the date, most favourable first, each once
    basic_paid: Decimal
    critical_paid: Decimal
    assistance_paid: Decimal


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(_ZERO)


def _date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _instance(model, **values):
    """A model instance as a queryset builds one from a row: positionally (a third of the cost of keyword
    arguments), every field the statement did not read deferred, so reading one later queries instead of showing
    a default."""
    return model.from_db(DEFAULT_DB_ALIAS, values, [values.get(field.attname, DEFERRED)
                                                    for field in model._meta.concrete_fields])


def standing(number: str, on_date: dt.date) -> Standing | None:
    """The standing of the person with this (normalised) ID number on `on_date`, or None when not on file."""
    global _STATEMENT
    if _STATEMENT is None:
        _STATEMENT = _sql()
    with _cursor() as cursor:
        cursor.execute(_STATEMENT, {"number": number, "day": on_date, "year": on_date.year})
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    person = _instance(Person, id=first[0], id_number=first[1], name=first[2], region_id=first[3])
    enrollment = None
    if first[4] is not None:
        enrollment = _instance(Enrollment, id=first[4], person_id=first[0], region_id=first[3], plan_year=first[5],
                               coverage_start=_date(first[6]), coverage_end=_date(first[7]), scheme=first[8],
                               status=EnrollmentStatus.INSURED)
    categories = tuple(dict.fromkeys(row[12] for row in rows if row[12] is not None))
    return Standing(person=person, enrollment=enrollment, category_ids=categories, basic_paid=_money(first[9]),
                    critical_paid=_money(first[10]), assistance_paid=_money(first[11]))


def record_lookup(*, user_id: int, hospital_id: int | None, region_id: int | None, id_number: str,
                  on_date: dt.date | None, outcome: str, categories: str = "", no_deposit: bool | None = None) -> None:
    """Write one EligibilityLookup row as one prepared INSERT (the model's save() builds and compiles the same
    INSERT in Python on every look-up). Append-only: this module never updates or deletes the table."""
    global _INSERT
    if _INSERT is None:
        _INSERT = _insert_sql()
    row = {"at": timezone.now(), "user": user_id, "hospital": hospital_id, "region": region_id,
           "id_number": id_number, "on_date": on_date, "outcome": outcome, "categories": categories,
           "no_deposit": no_deposit}
    with _cursor() as cursor:
        cursor.execute(_INSERT, row)
