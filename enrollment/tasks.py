"""Celery tasks of the enrolment app: thin wrappers around services.

Both import tasks are safe under acks_late: the service claims the job by its status (a finished or running
job is left alone) unless the broker redelivers the task after its worker died, and an import commits its data
together with the job's outcome, so a crash leaves either everything or nothing.
"""

from celery import shared_task
from django.db import OperationalError

from .imports import execute_check_job, execute_import_job
from .services.export_jobs import execute_export_job, purge_expired_exports
from .services.ledger_runs import execute_ledger_run


def _redelivered(task) -> bool:
    return bool((task.request.delivery_info or {}).get("redelivered"))


@shared_task(name="enrollment.check_import_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             bind=True)
def check_import_job(self, job_id: int) -> None:
    """Check (dry-run) a big uploaded file; the job then waits for the clerk's confirmation."""
    execute_check_job(job_id=job_id, redelivered=_redelivered(self))


@shared_task(name="enrollment.import_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True, bind=True)
def import_job(self, job_id: int) -> None:
    """Import a confirmed ImportJob."""
    execute_import_job(job_id=job_id, redelivered=_redelivered(self))


@shared_task(name="enrollment.build_ledger_run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def build_ledger_run(run_id: int) -> None:
    """Build a plan year's ledger for a region, county by county (a LedgerRun; idempotent per county)."""
    execute_ledger_run(run_id)


@shared_task(name="enrollment.export_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             bind=True, autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def export_job(self, job_id: int) -> None:
    """Build an ExportJob's file (retried a few times when the database connection fails)."""
    execute_export_job(job_id=job_id, redelivered=_redelivered(self), last_try=self.request.retries >= self.max_retries)


@shared_task(name="enrollment.purge_expired_exports", acks_late=True, ignore_result=True)
def purge_expired_exports_task() -> int:
    """Delete the files of expired exports (scheduled hourly by django-celery-beat): a file nobody asks for again
    would otherwise stay on disk, since the pages purge only when someone exports or opens the list."""
    return purge_expired_exports()
