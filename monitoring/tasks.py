"""Celery tasks of the warning night: thin calls of monitoring.services.night.

`run_night_task` (scheduled by django-celery-beat, editable in the admin) writes the run record and fans out one
`compute_part_task` per county and list; the last part to finish closes the run in the database. Parts are short
(one county, one list) so they finish well inside Redis's visibility timeout, and safe under acks_late: a part
already done is skipped, a part interrupted half-way rolled back and is simply computed again.
"""

import datetime as dt

from celery import group, shared_task
from django.db import DatabaseError
from django.utils import timezone

from enrollment.models import Region

from .services import night

MAX_RETRIES = 3


@shared_task(name="monitoring.run_night", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_night_task(region_code: str | None = None, day: str | None = None) -> list[int]:
    """Start a night for `region_code` (default: every top-level region) on `day` (default: today, local)."""
    data_date = dt.date.fromisoformat(day) if day else timezone.localdate()
    regions = (Region.objects.filter(code=region_code) if region_code
               else Region.objects.filter(parent__isnull=True))
    run_ids = []
    for region in regions:
        run = night.start_night(region=region, day=data_date)
        run_ids.append(run.pk)
        group(compute_part_task.s(part_id) for part_id in run.parts.values_list("pk", flat=True)).apply_async()
    return run_ids


@shared_task(name="monitoring.compute_part", bind=True, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True, max_retries=MAX_RETRIES)
def compute_part_task(self, part_id: int) -> None:
    try:
        night.compute_part(part_id=part_id)
    except DatabaseError as exc:
        if self.request.retries >= MAX_RETRIES:
            night.fail_part(part_id=part_id, error=repr(exc))
            return
        raise self.retry(exc=exc, countdown=10 * (self.request.retries + 1)) from exc
