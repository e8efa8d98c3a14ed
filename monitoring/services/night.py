"""A night of warning lists: the run record, one part per county and list, and the items each part keeps.

A night is `start_night` (the run and its parts), then `compute_part` once per part — in Celery tasks fanned out
over the parts, or one after the other by `run_night` — and the last part to finish closes the run
(`finish_run_if_complete`: the join lives in the database, so it needs no result backend and survives a worker
restart).

Idempotent by construction:
- a part runs in one transaction that starts by locking its row; a part already done is skipped, and a worker
  killed half-way leaves nothing behind, so the redelivered task starts over;
- items are unique per (list, reason, subject, period) in the database, evidence per (item, night);
- a night never touches the handling (status, assignee, notes); where a cause has gone it sets `cause_gone_on`,
  and sets it back to empty if the cause returns.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from claims.calendar import deadline_after
from enrollment.models import Region
from enrollment.models.regions import RegionLevel

from ..lists import LISTS, Candidate, MissingPolicyData
from ..models import ListKind, MonitoringPolicy, NightRun, PartStatus, RunPart, RunStatus, WarningEvidence, WarningItem

logger = logging.getLogger(__name__)

CHUNK = 2000


def night_kinds() -> list[str]:
    return [kind for kind in ListKind.values if kind in LISTS]


def counties_of(region: Region) -> list[Region]:
    if region.level == RegionLevel.COUNTY:
        return [region]
    return list(Region.objects.filter(path__startswith=region.path, level=RegionLevel.COUNTY).order_by("code"))


def start_night(*, region: Region, day: dt.date, by=None, kinds: list[str] | None = None) -> NightRun:
    """The run record of a night for `region` and everything under it, with one pending part per county and list."""
    with transaction.atomic():
        run = NightRun.objects.create(region=region, data_date=day, triggered_by=by)
        RunPart.objects.bulk_create([
            RunPart(run=run, region=county, kind=kind)
            for county in counties_of(region) for kind in (kinds or night_kinds())])
        if not run.parts.exists():
            run.status, run.finished_at = RunStatus.FINISHED, timezone.now()
            run.save(update_fields=["status", "finished_at"])
    return run


def run_night(*, region: Region, day: dt.date, by=None, kinds: list[str] | None = None) -> NightRun:
    """The same night synchronously (the `run_warnings` command, the demo, tests)."""
    run = start_night(region=region, day=day, by=by, kinds=kinds)
    for part_id in run.parts.values_list("pk", flat=True):
        try:
            compute_part(part_id=part_id)
        except Exception as exc:
            logger.exception("warning part %s failed", part_id)
            fail_part(part_id=part_id, error=repr(exc))
    run.refresh_from_db()
    return run


def compute_part(*, part_id: int) -> RunPart:
    """Compute one county's list for the night and keep its items; a part already finished is left alone."""
    with transaction.atomic():
        part = RunPart.objects.select_for_update().get(pk=part_id)
        if part.status != PartStatus.PENDING:
            return part
        run = NightRun.objects.get(pk=part.run_id)
        county = Region.objects.get(pk=part.region_id)
        part.attempts += 1
        try:
            with transaction.atomic():
                result = LISTS[part.kind](county, run.data_date)
                counts = keep_items(kind=part.kind, county=county, day=run.data_date, run=run,
                                    candidates=result.candidates)
        except MissingPolicyData as exc:
            part.status, part.error = PartStatus.FAILED, str(exc)
        else:
            part.status = PartStatus.DONE
            part.policy = result.policy
            part.new_count, part.unchanged_count, part.closed_count = counts
            part.error = "\n".join(result.notes)
        part.finished_at = timezone.now()
        part.save()
    finish_run_if_complete(run_id=part.run_id)
    return part


def fail_part(*, part_id: int, error: str) -> None:
    """Record a part that could not be computed (after its retries), so the night still closes."""
    RunPart.objects.filter(pk=part_id, status=PartStatus.PENDING).update(
        status=PartStatus.FAILED, error=error[:2000], finished_at=timezone.now())
    run_id = RunPart.objects.filter(pk=part_id).values_list("run_id", flat=True).first()
    if run_id:
        finish_run_if_complete(run_id=run_id)


def finish_run_if_complete(*, run_id: int) -> bool:
    """The join: the part that finds no pending sibling closes the run (the run row is locked, so only one does)."""
    with transaction.atomic():
        run = NightRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING or run.parts.filter(status=PartStatus.PENDING).exists():
            return False
        failed = run.parts.filter(status=PartStatus.FAILED).exists()
        run.status = RunStatus.FAILED if failed else RunStatus.FINISHED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
    return True


def _verify_days(county: Region, day: dt.date) -> int | None:
    from enrollment.selectors import policy_in_force

    policy = policy_in_force(county, day)
    if policy is None:
        return None
    return MonitoringPolicy.objects.filter(policy=policy).values_list("verify_working_days", flat=True).first()


def keep_items(*, kind: str, county: Region, day: dt.date, run: NightRun | None,
               candidates: list[Candidate]) -> tuple[int, int, int]:
    """Turn the night's candidates into items: (new, still present, cause gone) counts."""
    by_key = {c.key: c for c in candidates}
    periods = {c.period for c in candidates}
    existing = {
        (item.reason, item.subject_key, item.period): item
        for item in WarningItem.objects.filter(kind=kind, region=county).filter(
            Q(cause_gone_on__isnull=True) | Q(period__in=periods))
    }
    new = [key for key in by_key if key not in existing]
    days = _verify_days(county, day) if new else None
    due = deadline_after(day, days) if days else None

    created = [
        WarningItem(
            kind=kind, reason=c.reason, subject_key=c.subject_key, period=c.period, region=county,
            person_id=c.person_id, household_id=c.household_id, hospital_id=c.hospital_id, case_id=c.case_id,
            batch_id=c.batch_id, claim_id=c.claim_id, figures=c.figures, amount=c.amount, first_seen_on=day,
            last_seen_on=day, verify_due_on=due.due_on if due else None,
            verify_due_provisional=due.provisional if due else False)
        for c in (by_key[key] for key in new)]
    for start in range(0, len(created), CHUNK):
        bulk_create_with_history(created[start:start + CHUNK], WarningItem, batch_size=CHUNK,
                                 default_change_reason="warning run")
    if created:
        # bulk_create_with_history does not return ids on every backend; read them back by the unique key.
        ids = {(i.reason, i.subject_key, i.period): i for i in WarningItem.objects.filter(
            kind=kind, region=county, first_seen_on=day, period__in=periods)}
        created = [ids[key] for key in new]

    evidence: list[WarningEvidence] = [
        WarningEvidence(item=item, run=run, data_date=day, figures=item.figures) for item in created]
    still, returned, changed, gone = [], [], [], []
    for key, item in existing.items():
        candidate = by_key.get(key)
        if candidate is None:
            if item.cause_gone_on is None:
                item.cause_gone_on = day
                gone.append(item)
                evidence.append(WarningEvidence(item=item, run=run, data_date=day, figures=item.figures,
                                                cause_gone=True))
            continue
        still.append(item.pk)
        came_back = item.cause_gone_on is not None
        if came_back:
            item.cause_gone_on = None
            returned.append(item)
        if came_back or item.figures != candidate.figures:
            item.figures, item.amount = candidate.figures, candidate.amount
            changed.append(item)
            evidence.append(WarningEvidence(item=item, run=run, data_date=day, figures=candidate.figures))

    if gone or returned:
        bulk_update_with_history(gone + returned, WarningItem, ["cause_gone_on"], batch_size=CHUNK,
                                 default_change_reason="warning run")
    if changed:
        WarningItem.objects.bulk_update(changed, ["figures", "amount"], batch_size=CHUNK)
    for start in range(0, len(still), CHUNK):
        WarningItem.objects.filter(pk__in=still[start:start + CHUNK]).update(last_seen_on=day)
    if evidence:
        WarningEvidence.objects.bulk_create(
            evidence, batch_size=CHUNK, update_conflicts=True, unique_fields=["item", "data_date"],
            update_fields=["figures", "cause_gone", "run"])
    return len(created), len(still), len(gone)
