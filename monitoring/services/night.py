"""A night of warning lists: the run record, each list computed once for the run's region, and one part per county
and list that keeps that county's items.

A night is `start_night` (the run, one `RunList` per list, one `RunPart` per county and list), then
`compute_list` once per list — the list's query over the whole region (one scan of the year's payment lines for a
prefecture, not one per county), its candidates written to the staging table `NightCandidate` with their county —
then `merge_list` once per list, which merges the candidates of all its counties into items with a few
set-based statements (INSERT … SELECT … ON CONFLICT, UPDATE … FROM) in one short transaction and records each
county's counts on its part (`RunPart`). A statement per step for the whole region, not one per county: on a
prefecture of 12 counties the per-county merges ran 1 800 statements a night. In Celery each list's computation
and its merge is a task (the list's task queues its merge); `run_night` runs them one after the other. The last part to
finish closes the run (`finish_run_if_complete`: the join lives in the database, so it needs no result backend and
survives a worker restart), drops the run's staging rows and stores the dashboard's figures for the run's regions.

Idempotent by construction:
- a list's computation and its merge each run in one transaction that starts by locking their rows; what is
  already done is skipped, and a worker killed half-way leaves nothing behind, so the redelivered task starts over;
  a merge whose list is not computed yet computes it first;
- items are unique per (list, reason, subject, period) in the database (the INSERT does nothing on a conflict),
  candidates per (run, list, reason, subject, period), evidence per (item, night);
- a night never touches the handling (status, assignee, notes); where a cause has gone it sets `cause_gone_on`,
  and sets it back to empty if the cause returns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from claims.calendar import deadline_after
from enrollment.models import Region

from ..lists import LISTS, Candidate, MissingPolicyData, counties_of
from ..models import (
    ListKind,
    MonitoringPolicy,
    NightCandidate,
    NightRun,
    PartStatus,
    RunList,
    RunPart,
    RunStatus,
    WarningEvidence,
    WarningItem,
)

logger = logging.getLogger(__name__)

CHUNK = 5000
CHANGE_REASON = "warning run"

__all__ = ["compute_list", "compute_part", "counties_of", "fail_list", "fail_part", "finish_run_if_complete",
           "merge_list", "night_kinds", "run_night", "start_night"]


def night_kinds() -> list[str]:
    return [kind for kind in ListKind.values if kind in LISTS]


def start_night(*, region: Region, day: dt.date, by=None, kinds: list[str] | None = None) -> NightRun:
    """The run record of a night for `region` and everything under it: one pending list per kind, one pending part
    per county and kind."""
    kinds = kinds or night_kinds()
    with transaction.atomic():
        run = NightRun.objects.create(region=region, data_date=day, triggered_by=by)
        counties = counties_of(region)
        RunList.objects.bulk_create([RunList(run=run, kind=kind) for kind in kinds] if counties else [])
        RunPart.objects.bulk_create([RunPart(run=run, region=county, kind=kind)
                                     for county in counties for kind in kinds])
        if not counties:
            run.status, run.finished_at = RunStatus.FINISHED, timezone.now()
            run.save(update_fields=["status", "finished_at"])
    return run


def run_night(*, region: Region, day: dt.date, by=None, kinds: list[str] | None = None) -> NightRun:
    """The same night synchronously (the `run_warnings` command, the demo, tests, the benchmark)."""
    run = start_night(region=region, day=day, by=by, kinds=kinds)
    list_ids = list(run.lists.values_list("pk", flat=True))
    for step in (compute_list, merge_list):  # every list computed, then every list merged, as the tasks do
        for list_id in list_ids:
            try:
                step(list_id=list_id)
            except Exception as exc:
                logger.exception("warning list %s: %s failed", list_id, step.__name__)
                fail_list(list_id=list_id, error=repr(exc))
    run.refresh_from_db()
    return run


# ------------------------------------------------------------------------------------------------ the list, once

def compute_list(*, list_id: int) -> RunList:
    """Compute one list for the run's whole region and stage its candidates; a list already done is left alone.

    Counties the list cannot be computed for (a policy figure missing) fail their parts here, with the reason."""
    started = time.monotonic()
    with transaction.atomic():
        run_list = RunList.objects.select_for_update().get(pk=list_id)
        if run_list.status != PartStatus.PENDING:
            return run_list
        run = NightRun.objects.select_related("region").get(pk=run_list.run_id)
        parts = RunPart.objects.filter(run=run, kind=run_list.kind, status=PartStatus.PENDING)
        county_ids = set(parts.values_list("region_id", flat=True))
        run_list.attempts += 1
        now = timezone.now()
        try:
            with transaction.atomic():
                result = LISTS[run_list.kind](run.region, run.data_date)
                staged = _stage(run, run_list.kind, [c for c in result.candidates if c.region_id in county_ids])
        except MissingPolicyData as exc:  # a county night: its only part cannot be computed
            run_list.status, run_list.error = PartStatus.FAILED, str(exc)
            parts.update(status=PartStatus.FAILED, error=str(exc), finished_at=now)
        else:
            for county_id, error in result.errors.items():
                parts.filter(region_id=county_id).update(status=PartStatus.FAILED, error=error, finished_at=now)
            for county_id, policy in result.policies.items():
                if policy is not None:
                    parts.filter(region_id=county_id).update(policy=policy)
            run_list.status, run_list.candidates = PartStatus.DONE, staged
            run_list.error = "\n".join(result.notes)
        run_list.finished_at = now
        run_list.seconds = Decimal(f"{time.monotonic() - started:.2f}")
        run_list.save()
    finish_run_if_complete(run_id=run_list.run_id)
    return run_list


STAGED_COLUMNS = ("run_id", "kind", "reason", "subject_key", "period", "region_id", "person_id", "household_id",
                  "hospital_id", "case_id", "batch_id", "claim_id", "figures", "amount", "is_new")


def _stage(run: NightRun, kind: str, candidates: list[Candidate]) -> int:
    if connection.vendor == "postgresql":
        return _copy_stage(run, kind, candidates)
    rows = [NightCandidate(
        run=run, kind=kind, reason=c.reason, subject_key=c.subject_key, period=c.period, region_id=c.region_id,
        person_id=c.person_id, household_id=c.household_id, hospital_id=c.hospital_id, case_id=c.case_id,
        batch_id=c.batch_id, claim_id=c.claim_id, figures=c.figures, amount=c.amount) for c in candidates]
    NightCandidate.objects.bulk_create(rows, batch_size=CHUNK)
    return len(rows)


def _copy_stage(run: NightRun, kind: str, candidates: list[Candidate]) -> int:
    """PostgreSQL: the candidates go in with one COPY (no model instances: at a million people a list has tens
    of thousands of rows)."""
    table = NightCandidate._meta.db_table
    statement = f"COPY {table} ({', '.join(STAGED_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(statement) as copy:
            for c in candidates:
                copy.write_row((run.pk, kind, c.reason, c.subject_key, c.period, c.region_id, c.person_id,
                                c.household_id, c.hospital_id, c.case_id, c.batch_id, c.claim_id,
                                json.dumps(c.figures, cls=DjangoJSONEncoder), c.amount, False))
        # The staging table changes wholesale every night, faster than autovacuum notices: without fresh
        # statistics the planner takes it for empty and the merges' anti-joins go quadratic.
        cursor.execute(f"ANALYZE {table}")
    return len(candidates)


def fail_list(*, list_id: int, error: str) -> None:
    """Record a list that could not be computed (after its retries): its pending parts fail, the night closes."""
    run_list = RunList.objects.filter(pk=list_id).first()
    if run_list is None:
        return
    now = timezone.now()
    RunList.objects.filter(pk=list_id, status=PartStatus.PENDING).update(
        status=PartStatus.FAILED, error=error[:2000], finished_at=now)
    RunPart.objects.filter(run_id=run_list.run_id, kind=run_list.kind, status=PartStatus.PENDING).update(
        status=PartStatus.FAILED, error=error[:2000], finished_at=now)
    finish_run_if_complete(run_id=run_list.run_id)


# ------------------------------------------------------------------------------------------------ a county's part

def compute_part(*, part_id: int) -> RunPart:
    """Keep one county's items of one list for the night; a part already finished is left alone.

    The merge takes every pending county of the part's list at once (`merge_list`): one statement per step for the
    whole region instead of one per county, each county's counts still recorded on its own part."""
    state = RunPart.objects.filter(pk=part_id).values("run_id", "kind", "status").first()
    if state is None or state["status"] != PartStatus.PENDING:
        return RunPart.objects.get(pk=part_id)
    merge_list(list_id=RunList.objects.values_list("pk", flat=True).get(run_id=state["run_id"], kind=state["kind"]))
    return RunPart.objects.get(pk=part_id)


def merge_list(*, list_id: int) -> int:
    """Merge the staged candidates of every pending county of one list into their items, in one transaction that
    locks the list and its pending parts; a list not computed yet is computed first. Returns the parts merged."""
    run_list = RunList.objects.get(pk=list_id)
    if run_list.status == PartStatus.PENDING:
        compute_list(list_id=list_id)
    with transaction.atomic():
        RunList.objects.select_for_update().get(pk=list_id)
        parts = list(RunPart.objects.select_for_update().filter(
            run_id=run_list.run_id, kind=run_list.kind, status=PartStatus.PENDING).order_by("pk"))
        if not parts:
            return 0
        run = NightRun.objects.get(pk=run_list.run_id)
        counts = merge_items(run=run, kind=run_list.kind, region_ids=[part.region_id for part in parts])
        now = timezone.now()
        for part in parts:
            part.attempts += 1
            part.new_count, part.unchanged_count, part.closed_count = counts.get(part.region_id, (0, 0, 0))
            part.status, part.finished_at = PartStatus.DONE, now
        RunPart.objects.bulk_update(parts, ["attempts", "new_count", "unchanged_count", "closed_count", "status",
                                            "finished_at"])
    finish_run_if_complete(run_id=run_list.run_id)
    return len(parts)


def fail_part(*, part_id: int, error: str) -> None:
    """Record a part that could not be computed (after its retries), so the night still closes."""
    RunPart.objects.filter(pk=part_id, status=PartStatus.PENDING).update(
        status=PartStatus.FAILED, error=error[:2000], finished_at=timezone.now())
    run_id = RunPart.objects.filter(pk=part_id).values_list("run_id", flat=True).first()
    if run_id:
        finish_run_if_complete(run_id=run_id)


def finish_run_if_complete(*, run_id: int) -> bool:
    """The join: the part that finds no pending sibling closes the run (the run row is locked, so only one does),
    drops the run's staging rows and stores the dashboard's figures of the night."""
    with transaction.atomic():
        run = NightRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING or run.parts.filter(status=PartStatus.PENDING).exists():
            return False
        failed = run.parts.filter(status=PartStatus.FAILED).exists()
        run.status = RunStatus.FAILED if failed else RunStatus.FINISHED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        NightCandidate.objects.filter(run=run).delete()
    from .snapshots import store_snapshots

    try:
        store_snapshots(run=run)
    except Exception:  # the dashboard then computes its figures on the first view
        logger.exception("dashboard figures of warning run %s failed", run_id)
    return True


def _verify_days(county: Region, day: dt.date) -> int | None:
    from enrollment.selectors import policy_in_force

    policy = policy_in_force(county, day)
    if policy is None:
        return None
    return MonitoringPolicy.objects.filter(policy=policy).values_list("verify_working_days", flat=True).first()


# ------------------------------------------------------------------------------------------------ the merge

def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _history_insert(*, select_from: str, overrides: dict[str, str]) -> str:
    """INSERT … SELECT of history rows shaped as django-simple-history writes them, from the items `w` of
    `select_from`; `overrides` gives a column's value as SQL (the value after the night's change)."""
    history = WarningItem.history.model
    columns, values = [], []
    for f in history._meta.concrete_fields:
        if f.attname == "history_id":
            continue
        columns.append(_q(f.column))
        if f.attname == "history_date":
            values.append("%(now)s")
        elif f.attname == "history_change_reason":
            values.append("%(reason)s")
        elif f.attname == "history_type":
            values.append("%(history_type)s")
        elif f.attname == "history_user_id":
            values.append("NULL")
        elif f.attname in overrides:
            values.append(overrides[f.attname])
        else:
            values.append(f"w.{_q(f.column)}")
    return (f"INSERT INTO {_q(history._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - identifiers from the models, values are parameters
            f"SELECT {', '.join(values)} FROM {select_from}")


def _in_list(prefix: str, values: list) -> tuple[dict, str]:
    """Named parameters for ``IN (…)`` and the SQL that names them (the merge's statements take a dict of
    parameters; SQLite has no ``= ANY(array)``)."""
    named = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return named, "(" + ", ".join(f"%({name})s" for name in named) + ")"


def merge_items(*, run: NightRun, kind: str, region_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Merge the staged candidates of `region_ids` (counties of one list) into their items, set-based, one
    statement per step for all of them: per county (new, still present, cause gone)."""
    item, staged = WarningItem._meta.db_table, NightCandidate._meta.db_table
    evidence = WarningEvidence._meta.db_table
    day = run.data_date
    regions, in_regions = _in_list("r", region_ids)
    params = {"run": run.pk, "kind": kind, "day": day, "now": timezone.now(),
              "reason": CHANGE_REASON, "true": True, "false": False, **regions}
    mine = f"s.run_id = %(run)s AND s.kind = %(kind)s AND s.region_id IN {in_regions}"
    key = ("w.kind = s.kind AND w.reason = s.reason AND w.subject_key = s.subject_key "
           "AND w.period = s.period")
    upsert_evidence = ("ON CONFLICT (item_id, data_date) DO UPDATE SET figures = excluded.figures, "
                       "cause_gone = excluded.cause_gone, run_id = excluded.run_id")
    counts = {region_id: [0, 0, 0] for region_id in region_ids}
    with connection.cursor() as cursor:
        def run_sql(sql: str, **extra) -> int:
            cursor.execute(sql, {**params, **extra})
            return cursor.rowcount

        def count_by_region(sql: str, slot: int) -> None:
            cursor.execute(sql, params)
            for region_id, count in cursor.fetchall():
                counts[region_id][slot] = count

        # 1. Which candidates are items already (of any night, of these counties or — a person who moved —
        # another).
        run_sql(f"UPDATE {staged} SET item_id = (SELECT w.id FROM {item} w WHERE {key.replace('s.', staged + '.')}) "  # noqa: S608 - identifiers from the models, values are parameters
                f"WHERE {mine.replace('s.', staged + '.')}")

        # 2. The new ones become items, due for verification after the policy's working days: one INSERT per
        # distinct due date (one for a prefecture on one policy).
        new_regions = list(NightCandidate.objects.filter(run=run, kind=kind, region_id__in=region_ids,
                                                         item_id__isnull=True)
                           .values_list("region_id", flat=True).distinct().order_by())
        if new_regions:
            by_due: dict[tuple, list[int]] = {}
            for county in Region.objects.filter(pk__in=new_regions).order_by("pk"):
                days = _verify_days(county, day)
                due = deadline_after(day, days) if days else None
                by_due.setdefault((due.due_on, due.provisional) if due else (None, False), []).append(county.pk)
            copied = ("kind", "reason", "subject_key", "period", "region_id", "person_id", "household_id",
                      "hospital_id", "case_id", "batch_id", "claim_id", "figures", "amount")
            constants = {"first_seen_on": "%(day)s", "last_seen_on": "%(day)s", "verify_due_on": "%(due_on)s",
                         "verify_due_provisional": "%(provisional)s"}
            columns, values, defaults = [], [], {}
            for f in WarningItem._meta.concrete_fields:
                if f.primary_key:
                    continue
                columns.append(_q(f.column))
                if f.attname in copied:
                    values.append(f"s.{_q(f.attname)}")
                elif f.attname in constants:
                    values.append(constants[f.attname])
                else:
                    defaults[f"d_{f.attname}"] = f.get_default()
                    values.append(f"%(d_{f.attname})s")
            for (due_on, provisional), counties in by_due.items():
                group, in_group = _in_list("g", counties)
                run_sql(f"INSERT INTO {item} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {staged} s "  # noqa: S608 - identifiers from the models, values are parameters
                        f"WHERE s.run_id = %(run)s AND s.kind = %(kind)s AND s.region_id IN {in_group} "
                        f"AND s.item_id IS NULL ORDER BY s.id "
                        f"ON CONFLICT (kind, reason, subject_key, period) DO NOTHING",
                        due_on=due_on, provisional=provisional, **defaults, **group)
            run_sql(f"UPDATE {staged} SET is_new = %(true)s, item_id = (SELECT w.id FROM {item} w "  # noqa: S608 - identifiers from the models, values are parameters
                    f"WHERE {key.replace('s.', staged + '.')}) WHERE {mine.replace('s.', staged + '.')} "
                    f"AND item_id IS NULL")
            count_by_region(f"SELECT s.region_id, COUNT(*) FROM {staged} s WHERE {mine} "  # noqa: S608 - identifiers from the models, values are parameters
                            f"AND s.is_new = %(true)s GROUP BY s.region_id", 0)
            run_sql(_history_insert(
                select_from=f"{item} w JOIN {staged} s ON s.item_id = w.id WHERE {mine} AND s.is_new = %(true)s",
                overrides={}), history_type="+")
            run_sql(f"INSERT INTO {evidence} (item_id, run_id, data_date, figures, cause_gone) "  # noqa: S608 - identifiers from the models, values are parameters
                    f"SELECT s.item_id, %(run)s, %(day)s, s.figures, %(false)s FROM {staged} s "
                    f"WHERE {mine} AND s.is_new = %(true)s {upsert_evidence}")

        # 3. Items still present: evidence where the figures changed or the cause came back, history where it
        # came back, then the night's figures and date on every one of them.
        changed = (f"{staged} s JOIN {item} w ON w.id = s.item_id WHERE {mine} AND s.is_new = %(false)s "
                   f"AND (w.cause_gone_on IS NOT NULL OR w.figures <> s.figures)")
        run_sql(f"INSERT INTO {evidence} (item_id, run_id, data_date, figures, cause_gone) "  # noqa: S608 - identifiers from the models, values are parameters
                f"SELECT s.item_id, %(run)s, %(day)s, s.figures, %(false)s FROM {changed} {upsert_evidence}")
        run_sql(_history_insert(
            select_from=f"{item} w JOIN {staged} s ON s.item_id = w.id WHERE {mine} AND s.is_new = %(false)s "
                        f"AND w.cause_gone_on IS NOT NULL",
            overrides={"cause_gone_on": "NULL"}), history_type="~")
        if run_sql(f"UPDATE {item} SET figures = s.figures, amount = s.amount, cause_gone_on = NULL, "  # noqa: S608 - identifiers from the models, values are parameters
                   f"last_seen_on = %(day)s FROM {staged} s WHERE s.item_id = {item}.id AND {mine} "
                   f"AND s.is_new = %(false)s"):
            count_by_region(f"SELECT s.region_id, COUNT(*) FROM {staged} s WHERE {mine} "  # noqa: S608 - identifiers from the models, values are parameters
                            f"AND s.is_new = %(false)s AND s.item_id IS NOT NULL GROUP BY s.region_id", 1)

        # 4. The counties' items of this list that tonight did not find: cause gone (kept, not deleted).
        gone = (f"{item} w WHERE w.kind = %(kind)s AND w.region_id IN {in_regions} AND w.cause_gone_on IS NULL "  # noqa: S608 - identifiers from the models, values are parameters
                f"AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE s.run_id = %(run)s AND s.kind = %(kind)s "
                f"AND s.item_id = w.id)")
        count_by_region(f"SELECT w.region_id, COUNT(*) FROM {gone} GROUP BY w.region_id", 2)  # noqa: S608 - identifiers from the models, values are parameters
        if any(count[2] for count in counts.values()):
            run_sql(f"INSERT INTO {evidence} (item_id, run_id, data_date, figures, cause_gone) "  # noqa: S608 - identifiers from the models, values are parameters
                    f"SELECT w.id, %(run)s, %(day)s, w.figures, %(true)s FROM {gone} {upsert_evidence}")
            run_sql(_history_insert(select_from=gone, overrides={"cause_gone_on": "%(day)s"}), history_type="~")
            run_sql(f"UPDATE {item} SET cause_gone_on = %(day)s WHERE id IN (SELECT w.id FROM {gone})")  # noqa: S608 - identifiers from the models, values are parameters
    return {region_id: tuple(count) for region_id, count in counts.items()}
