"""Exports as background jobs (导出任务): the request stores what was asked and returns at once; a Celery task
(in-process on the embedded default) builds the file under MEDIA_ROOT and the requester downloads it from the
job's page until it expires.

`start_export` (enrollment.services.export_start) records a job and queues its task; this module does the work
the task runs. Kinds of export plug in with `register_exporter(kind, exporter)`: the admin's export of a list
(`enrollment.admin.exporting`) and apps above enrollment (the monitoring department workbook) register theirs,
as the import kinds do. An exporter rebuilds its rows from `job.filters` for `job.created_by` — the region scope,
masking and permission checks happen again in the task, with the rights the user holds when it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import ExportJob
from ..models.exports import ExportStatus


@dataclass(frozen=True)
class ExportOutput:
    content: bytes
    file_name: str
    rows: int


class ExportProgress:
    """Writes the job's row counts at most once a second: the page polls, and a row per UPDATE would cost more
    than the export."""

    INTERVAL = 1.0

    def __init__(self, job: ExportJob):
        self.job = job
        self.done = 0
        self._written_at = 0.0

    def total(self, rows: int) -> None:
        self.job.total_rows = rows
        ExportJob.objects.filter(pk=self.job.pk).update(total_rows=rows)

    def advance(self, rows: int = 1) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self._written_at >= self.INTERVAL:
            self._written_at = now
            ExportJob.objects.filter(pk=self.job.pk).update(processed_rows=self.done)


Exporter = Callable[[ExportJob, ExportProgress], ExportOutput]
EXPORTERS: dict[str, Exporter] = {}


def register_exporter(kind: str, exporter: Exporter) -> None:
    EXPORTERS[kind] = exporter


def export_ttl() -> timedelta:
    return timedelta(hours=float(getattr(settings, "EXPORT_TTL_HOURS", 24)))


def execute_export_job(*, job_id: int, redelivered: bool = False, last_try: bool = True) -> ExportJob | None:
    """Build a waiting job's file once (what the Celery task runs). A job already running is left alone unless
    its task was redelivered (the worker died); a failed database connection puts the job back to waiting for the
    task's retry, and on the last try records the failure."""
    from django.db import OperationalError

    claimed = ExportJob.objects.filter(pk=job_id, status=ExportStatus.PENDING).update(status=ExportStatus.RUNNING)
    if not claimed and not (redelivered and ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING).exists()):
        return None
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    progress = ExportProgress(job)
    try:
        output = EXPORTERS[job.kind](job, progress)
    except PermissionDenied as exc:
        _fail(job, str(exc) or _("You may no longer export this list."))
        return job
    except OperationalError:
        if last_try:
            _fail(job, _("The export stopped because the database could not be reached; ask for it again."))
        else:
            ExportJob.objects.filter(pk=job_id).update(status=ExportStatus.PENDING, processed_rows=0)
        raise
    except Exception:
        _fail(job, _("The export stopped because of an internal error; ask for it again."))
        raise
    job.file.save(output.file_name, ContentFile(output.content), save=False)
    fields = {"status": ExportStatus.DONE, "finished_at": timezone.now(), "file": job.file.name,
              "file_name": output.file_name[:200], "total_rows": output.rows, "processed_rows": output.rows}
    ExportJob.objects.filter(pk=job_id).update(**fields)
    job.refresh_from_db()
    return job


def _fail(job: ExportJob, message: str) -> None:
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, finished_at=timezone.now(),
                                               message=message)


def purge_expired_exports(*, now=None) -> int:
    """Delete the files of expired jobs and mark them expired (the row stays: who exported what, and when)."""
    now = now or timezone.now()
    expired = list(ExportJob.objects.filter(expires_at__lte=now).exclude(status=ExportStatus.EXPIRED))
    for job in expired:
        if job.file:
            job.file.delete(save=False)
    ExportJob.objects.filter(pk__in=[job.pk for job in expired]).update(
        status=ExportStatus.EXPIRED, file="", processed_rows=0)
    return len(expired)


def user_export_jobs(user):
    """The jobs a user may open: their own only (a file holds what their role may see, nobody else's)."""
    return ExportJob.objects.filter(created_by_id=user.pk)
