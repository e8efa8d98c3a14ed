"""Celery tasks of the warning night: thin calls of monitoring.services.night.

`run_night_task` (scheduled by django-celery-beat, editable in the admin) writes the run record and fans out one
`compute_list_task` per list: the list's query over the run's whole region, its candidates staged with their
county. Each list's task then queues one `merge_list_task`, a short transaction that merges the candidates of all
the list's counties into items and records each county's counts on its part; the last merge to finish closes the
run in the database. Safe under acks_late: a list or merge already done is skipped (a redelivered list task still
queues its merge, in case the worker died between its commit and the queueing), one interrupted half-way rolled
back and is simply computed again, and a merge whose list is not computed yet computes it first.
`compute_part_task` merges the list of one part (the same merge); it stays for messages queued by the
per-county version.
"""

import datetime as dt

from celery import group, shared_task
from django.db import DatabaseError
from django.utils import timezone

from enrollment.models import Region

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


def _with_retries(task, step, give_up) -> bool:
    """Run `step()`; on a database error retry the task (bounded, backing off), and after the last retry record
    the failure with `give_up(error)` so the night still closes. True when the step ran."""
    try:
        step()
    except DatabaseError as exc:
        if task.request.retries >= MAX_RETRIES:
            give_up(repr(exc))
            return False
        raise task.retry(exc=exc, countdown=10 * (task.request.retries + 1)) from exc
    return True


@shared_task(name="monitoring.compute_list", bind=True, max_retries=MAX_RETRIES, **TASK_OPTIONS)
def compute_list_task(self, list_id: int) -> None:
    if _with_retries(self, lambda: night.compute_list(list_id=list_id),
                     lambda error: night.fail_list(list_id=list_id, error=error)):
        merge_list_task.delay(list_id)


@shared_task(name="monitoring.merge_list", bind=True, max_retries=MAX_RETRIES, **TASK_OPTIONS)
def merge_list_task(self, list_id: int) -> None:
    _with_retries(self, lambda: night.merge_list(list_id=list_id),
                  lambda error: night.fail_list(list_id=list_id, error=error))


@shared_task(name="monitoring.compute_part", bind=True, max_retries=MAX_RETRIES, **TASK_OPTIONS)
def compute_part_task(self, part_id: int) -> None:
    _with_retries(self, lambda: night.compute_part(part_id=part_id),
                  lambda error: night.fail_part(part_id=part_id, error=error))
