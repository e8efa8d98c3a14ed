"""Celery tasks of the warning night: thin calls of monitoring.services.night.

`run_night_task` (scheduled by django-celery-beat, editable in the admin) writes the run record and fans out one
`compute_list_task` per list: the list's query over the run's whole region, its candidates staged with their
county. Each list's task then fans out one `compute_part_task` per county of that list, a short transaction that
merges the county's candidates into items; the last part to finish closes the run in the database. Safe under
acks_late: a list or part already done is skipped (a redelivered list task still fans out its pending parts, in
case the worker died between its commit and the fan-out), one interrupted half-way rolled back and is simply
computed again, and a part whose list is not computed yet computes it first.
"""

import datetime as dt

from celery import group, shared_task
from django.db import DatabaseError
from django.utils import timezone

from enrollment.models import Region

from .models import PartStatus, RunList, RunPart
from .services import night

MAX_RETRIES = 3
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name="monitoring.run_night", **TASK_OPTIONS)
def run_night_task(region_code: str | None = None, day: str | None = None) -> list[int]:
    """Start a night for `region_code` (default: every top-level region) on `day` (default: today, local)."""
    data_date = dt.date.fromisoformat(day) if day else timezone.localdate()
    regions = (Region.objects.filter(code=region_code) if region_code
               else Region.objects.filter(parent__isnull=True))
    run_ids = []
    for region in regions:
        run = night.start_night(region=region, day=data_date)
        run_ids.append(run.pk)
        group(compute_list_task.s(list_id) for list_id in run.lists.values_list("pk", flat=True)).apply_async()
    return run_ids


@shared_task(name="monitoring.compute_list", bind=True, max_retries=MAX_RETRIES, **TASK_OPTIONS)
def compute_list_task(self, list_id: int) -> None:
    try:
        night.compute_list(list_id=list_id)
    except DatabaseError as exc:
        if self.request.retries >= MAX_RETRIES:
            night.fail_list(list_id=list_id, error=repr(exc))
            return
        raise self.retry(exc=exc, countdown=10 * (self.request.retries + 1)) from exc
    run_list = RunList.objects.get(pk=list_id)
    parts = RunPart.objects.filter(run_id=run_list.run_id, kind=run_list.kind, status=PartStatus.PENDING)
    group(compute_part_task.s(part_id) for part_id in parts.values_list("pk", flat=True)).apply_async()


@shared_task(name="monitoring.compute_part", bind=True, max_retries=MAX_RETRIES, **TASK_OPTIONS)
def compute_part_task(self, part_id: int) -> None:
    try:
        night.compute_part(part_id=part_id)
    except DatabaseError as exc:
        if self.request.retries >= MAX_RETRIES:
            night.fail_part(part_id=part_id, error=repr(exc))
            return
        raise self.retry(exc=exc, countdown=10 * (self.request.retries + 1)) from exc
