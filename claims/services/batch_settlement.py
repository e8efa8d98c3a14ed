"""Settling many claims at once (批量结算): the nightly run, the admin's bulk action — SPEC §4.2, set-based.

``settle_claims`` books exactly what ``settle_claim`` would book for each claim, settled one by one in the order
below: it uses the same rule resolution and the same pure engine (``claims.services.settlement._resolve_checked``,
``claims.rules.settlement``) and the same refusals; only the reads and writes are done in bulk.

Order. A person's claims are settled by date of service, then claim id, and each result is added to that person's
year-to-date in memory before the next claim of the same year is resolved — what the payment lines written by the
earlier claim would give ``settle_claim``. People are independent of one another, so their order does not matter.

Chunks and transactions. The claims are split into chunks of about ``chunk_size`` claims (2 000 by default); all
claims of one person fall in the same chunk. Each chunk is one transaction that

1. locks the chunk's people at once (PostgreSQL: ``SELECT … ORDER BY id FOR NO KEY UPDATE``; the fixed order keeps
   two batches from deadlocking, and a single ``settle_claim`` locks one person only, so it simply waits);
2. reads, in a fixed number of queries: the claims, their hospitals and regions, their live settlements, the
   policy versions in force per (region, date of service), the benefit rules of each distinct version, the
   people's enrolments and identities on the dates, and the year-to-date sums of every (person, year) in one
   aggregate;
3. settles in memory and writes: one COPY (or INSERT) per table for settlements and payment lines, one UPDATE of
   the claims' status and one INSERT … SELECT of their history rows (SQLite splits INSERTs into pieces of at most
   999 parameters).

Called inside a transaction of the caller's, each chunk is a savepoint, and the people stay locked until the
caller commits.

Why chunks rather than one transaction: hospitals settle in real time (一站式结算) through ``settle_claim``, which
waits on the person lock. One transaction over 10 000 claims would hold 5 000 people locked for the whole run; a
chunk holds its people for about a second.

What a failure does. A claim that cannot be settled (no policy version in force, no benefit settings, rules that
cannot be applied, a missing income statistic, already settled, rejected, unknown id) is reported in
``BatchSettlementResult.refusals`` with the reason, exactly as ``settle_claim`` would refuse it, and the other claims
— including the same person's later claims — still settle: one claim without a policy must not hold up a night's
10 000, and the person's year-to-date is the same as if the refused claim had not been there, as one by one.
Anything else (a database error, a bug) rolls back the chunk being written and is raised; chunks committed before
stay settled, each complete and consistent, and running the batch again settles what is still registered.

Writes. PostgreSQL gets COPY for settlements and payment lines, with ids reserved from the sequences (``_insert``);
other databases get ``bulk_create``. The claims' status is one UPDATE.

History. Settlements and payment lines have no history (immutable rows with their author and time). Claims do:
every settled claim gets the "changed" history row that ``settle_claim``'s save writes — the row as stored, the
clerk as author, no reason — in one ``INSERT … SELECT`` from the updated claims, next to the UPDATE. (That is what
simple-history's ``bulk_update_with_history`` would record, without building 10 000 historical instances or a
10 000-branch CASE for a column that gets one value.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, IntegerField, Model, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.models import Person, Region

from ..models import Claim, Hospital, PaymentLine, Settlement
from ..models.claims import ClaimStatus
from ..selectors import (
    BenefitRules,
    benefit_rules,
    eligibilities,
    income_statistic,
    policies_for_service,
    years_to_date_by_person_year,
)
from .settlement import (
    _booking,
    _refuse_unsettleable,
    _require_benefit_settings,
    _require_policy,
    _resolve_checked,
)

__all__ = ["DEFAULT_CHUNK_SIZE", "BatchSettlementResult", "ClaimRefusal", "settle_claims", "settlement_order"]

DEFAULT_CHUNK_SIZE = 2000


def settlement_order(claim: Claim) -> tuple[int, date, int]:
    """The order in which a batch settles claims: person, then date of service, then claim id."""
    return claim.person_id, claim.service_date, claim.pk


@dataclass(frozen=True)
class ClaimRefusal:
    """A claim the batch did not settle, and why (the ValidationError ``settle_claim`` would raise)."""

    claim_id: int
    claim_number: str
    code: str
    message: str


@dataclass
class BatchSettlementResult:
    """What a batch did. Ids rather than rows, so that a night's run does not keep every settlement in memory."""

    settlement_ids: list[int] = field(default_factory=list)
    settled_claim_ids: list[int] = field(default_factory=list)
    refusals: list[ClaimRefusal] = field(default_factory=list)
    chunks: int = 0

    @property
    def settled(self) -> int:
        return len(self.settlement_ids)

    @property
    def refused(self) -> int:
        return len(self.refusals)


def _claim_keys(claims) -> tuple[list[tuple[int, int]], list[int]]:
    """(claim id, person id) of every claim that exists, and the ids given that match no claim."""
    if isinstance(claims, QuerySet):
        unordered = claims if claims.query.is_sliced else claims.order_by()
        return list(unordered.values_list("pk", "person_id")), []
    ids = list(dict.fromkeys(claim if isinstance(claim, int) else claim.pk for claim in claims))
    found = list(Claim.objects.filter(pk__in=ids).order_by().values_list("pk", "person_id"))
    known = {claim_id for claim_id, _person_id in found}
    return found, [claim_id for claim_id in ids if claim_id not in known]


def _chunks(keys: list[tuple[int, int]], size: int) -> list[tuple[list[int], list[int]]]:
    """(person ids, claim ids) per chunk: whole people, in id order, about `size` claims each."""
    by_person: dict[int, list[int]] = defaultdict(list)
    for claim_id, person_id in keys:
        by_person[person_id].append(claim_id)
    chunks: list[tuple[list[int], list[int]]] = []
    people: list[int] = []
    claim_ids: list[int] = []
    for person_id in sorted(by_person):
        people.append(person_id)
        claim_ids.extend(by_person[person_id])
        if len(claim_ids) >= size:
            chunks.append((people, claim_ids))
            people, claim_ids = [], []
    if claim_ids:
        chunks.append((people, claim_ids))
    return chunks


def _lock_people(person_ids: list[int]) -> None:
    """Lock the people of a chunk in one statement, in id order (see the module docstring)."""
    no_key = connection.features.has_select_for_no_key_update
    list(Person.objects.select_for_update(no_key=no_key).filter(pk__in=person_ids).order_by("pk")
         .values_list("pk", flat=True))


def _refusal(claim: Claim, error: ValidationError) -> ClaimRefusal:
    return ClaimRefusal(claim_id=claim.pk, claim_number=claim.number, code=error.code or "invalid",
                        message=" ".join(error.messages))


def _not_found(claim_id: int) -> ClaimRefusal:
    return ClaimRefusal(claim_id=claim_id, claim_number="", code="not_found",
                        message=_("Claim %(claim)s does not exist.") % {"claim": claim_id})


def _insert(model: type[Model], rows: list[dict], *, now: datetime) -> list[int]:
    """Insert rows given as {attname: value} and return their new ids, in order.

    PostgreSQL: ids reserved from the table's sequence, then one COPY. Building 70 000 model instances and binding
    their values for bulk_create took half of a 10 000-claim batch (26.5 s before, 13 s after; bench/README.md).
    Elsewhere (SQLite in tests): bulk_create. ``auto_now_add`` columns get `now`, as a save would give them.
    """
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    stamped = [f.attname for f in fields if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)]
    for row in rows:
        for name in stamped:
            row.setdefault(name, now)
    if connection.vendor != "postgresql":
        return [obj.pk for obj in model.objects.bulk_create([model(**row) for row in rows])]

    from psycopg import sql
    from psycopg.types.json import Jsonb

    defaults = {f.attname: f.get_default() for f in fields}
    attnames = [f.attname for f in fields]
    json_columns = [index for index, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
    choice_columns = [index for index, f in enumerate(fields) if f.choices]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(rows)])
        ids = [pk for (pk,) in cursor.fetchall()]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table),
            sql.SQL(", ").join(sql.Identifier(c) for c in [meta.pk.column, *(f.column for f in fields)]))
        with cursor.cursor.copy(statement) as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = [row[name] if name in row else defaults[name] for name in attnames]
                for index in json_columns:
                    values[index] = Jsonb(values[index])
                for index in choice_columns:
                    if isinstance(values[index], Enum):  # psycopg would write a str enum by its name
                        values[index] = values[index].value
                copy.write_row([pk, *values])
    return ids


def _record_history(claim_ids: list[int], *, by, now: datetime) -> None:
    """The "changed" history row of each settled claim, as its save in ``settle_claim`` writes it (the row as
    stored, the clerk as author, no reason), in one INSERT … SELECT from the claims just updated."""
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    history = Claim.history.model
    tracked = [f.attname for f in history.tracked_fields]
    columns = [history._meta.get_field(name).column for name in tracked]
    columns += ["history_date", "history_type", "history_user_id", "history_change_reason"]
    source = (
        Claim.objects.filter(pk__in=claim_ids).order_by()
        .annotate(history_date_=Value(now, output_field=DateTimeField()), history_type_=Value("~"),
                  history_user_=Value(by.pk if by is not None else None, output_field=IntegerField()),
                  history_reason_=Value(None, output_field=CharField()))
        .values_list(*tracked, "history_date_", "history_type_", "history_user_", "history_reason_")
    )
    select, params = source.query.sql_with_params()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, columns))}) {select}", params)


class _RunCache:
    """Reads worth keeping for a whole run: figures that the settlement of a claim never changes."""

    def __init__(self):
        self._income: dict[tuple[int, int, str], Decimal | None] = {}

    def income(self, region: Region, year: int, basis: str) -> Decimal | None:
        key = (region.pk, year, basis)
        if key not in self._income:
            self._income[key] = income_statistic(region, year, basis)
        return self._income[key]


def _settle_chunk(person_ids: list[int], claim_ids: list[int], *, by, cache: _RunCache,
                  result: BatchSettlementResult) -> list[Claim]:
    """Settle one chunk in its own transaction; returns the claims it settled."""
    with transaction.atomic():
        _lock_people(person_ids)
        # Read after the lock, as settle_claim does: what the database holds now is what gets settled.
        claims = list(Claim.objects.filter(pk__in=claim_ids).order_by())
        # The few hospitals and regions once each, rather than joined (and built) again for every claim; the
        # hospital's region decides whether a referral stayed in the province (起付线连续计算).
        hospitals = Hospital.objects.select_related("region").in_bulk({claim.hospital_id for claim in claims})
        regions = Region.objects.in_bulk({claim.region_id for claim in claims})
        for claim in claims:
            claim.hospital, claim.region = hospitals[claim.hospital_id], regions[claim.region_id]
        live = set(Settlement.objects.filter(claim_id__in=claim_ids, reversed_at__isnull=True)
                   .values_list("claim_id", flat=True))
        found = {claim.pk for claim in claims}
        result.refusals.extend(_not_found(claim_id) for claim_id in claim_ids if claim_id not in found)  # deleted
        claims.sort(key=settlement_order)
        candidates = []
        for claim in claims:
            try:
                _refuse_unsettleable(claim, has_live_settlement=claim.pk in live)
            except ValidationError as error:
                result.refusals.append(_refusal(claim, error))
            else:
                candidates.append(claim)

        dated = [(claim, claim.service_date) for claim in candidates]
        policies = policies_for_service({(claim.region, day) for claim, day in dated})
        standings = eligibilities({(claim.person_id, day) for claim, day in dated})
        ytds = years_to_date_by_person_year({(claim.person_id, day.year) for claim, day in dated})
        rules_by_policy: dict[int, BenefitRules] = {}

        settled: list[Claim] = []
        settlements: list[dict] = []
        lines: list[list[dict]] = []
        for claim, day in dated:
            ytd_key = (claim.person_id, day.year)
            try:
                policy = _require_policy(claim, day, policies[(claim.region_id, day)])
                if policy.pk not in rules_by_policy:
                    rules_by_policy[policy.pk] = benefit_rules(policy)
                rules = _require_benefit_settings(claim, rules_by_policy[policy.pk])
                preview = _resolve_checked(
                    claim, policy=policy, rules=rules, standing=standings[(claim.person_id, day)],
                    ytd=ytds[ytd_key], income_lookup=cache.income)
            except ValidationError as error:
                result.refusals.append(_refusal(claim, error))
                continue
            # What the lines just booked add to the person's year, as settle_claim would read them back.
            ytds[ytd_key] = ytds[ytd_key].plus(preview.result)
            settlement, claim_lines = _booking(claim, preview, by=by)
            settlements.append(settlement)
            lines.append(claim_lines)
            settled.append(claim)

        if settled:
            now = timezone.now()
            settlement_ids = _insert(Settlement, settlements, now=now)
            _insert(PaymentLine, [{**line, "settlement_id": settlement_id}
                                  for settlement_id, claim_lines in zip(settlement_ids, lines, strict=True)
                                  for line in claim_lines], now=now)
            claim_ids = [claim.pk for claim in settled]
            Claim.objects.filter(pk__in=claim_ids).update(status=ClaimStatus.SETTLED)
            _record_history(claim_ids, by=by, now=now)
            for claim in settled:
                claim.status = ClaimStatus.SETTLED
            result.settlement_ids.extend(settlement_ids)
            result.settled_claim_ids.extend(claim_ids)
        return settled


def settle_claims(*, claims: QuerySet | Iterable[Claim | int], by,
                  chunk_size: int = DEFAULT_CHUNK_SIZE) -> BatchSettlementResult:
    """Settle many registered claims, each exactly as ``settle_claim`` would, chunk by chunk (module docstring).

    `claims`: a Claim queryset, or Claim instances or ids. Claims that cannot be settled are reported in
    ``refusals`` and do not stop the others. Given Claim instances get their new status, as with ``settle_claim``.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    given = [] if isinstance(claims, QuerySet) else list(claims)
    keys, unknown = _claim_keys(claims if isinstance(claims, QuerySet) else given)
    result = BatchSettlementResult()
    result.refusals.extend(_not_found(claim_id) for claim_id in unknown)
    cache = _RunCache()
    for person_ids, claim_ids in _chunks(keys, chunk_size):
        _settle_chunk(person_ids, claim_ids, by=by, cache=cache, result=result)
        result.chunks += 1
    settled = set(result.settled_claim_ids)
    for claim in given:
        if isinstance(claim, Claim) and claim.pk in settled:
            claim.status = ClaimStatus.SETTLED
    return result
