"""Celery tasks of the claims app: thin wrappers around services."""

from celery import shared_task

from .services.calendar import execute_recompute


@shared_task(name="claims.recompute_deadlines", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             bind=True)
def recompute_deadlines(self, run_id: int) -> None:
    """Recompute every open deadline after a calendar change (a DeadlineRecompute; safe to deliver twice)."""
    execute_recompute(run_id, redelivered=bool((self.request.delivery_info or {}).get("redelivered")))
