"""Celery tasks of the enrolment app: thin wrappers around services."""

from celery import shared_task

from .imports import execute_import_job


@shared_task(name="enrollment.import_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True, bind=True)
def import_job(self, job_id: int) -> None:
    """Import a confirmed ImportJob. Idempotent: the service runs a job only from "waiting" (or "running" when
    the broker redelivers the task after a worker died), and commits the data with the job's outcome."""
    delivery = self.request.delivery_info or {}
    execute_import_job(job_id=job_id, redelivered=bool(delivery.get("redelivered")))
