"""Starting the recomputation of open deadlines after the working-day calendar changed, as a background run.

Every change of a calendar day or year (admin, service, shell) invalidates the cached calendar and, once the
transaction commits, starts one :class:`~claims.models.DeadlineRecompute` — a Celery task (in-process on the
embedded default, so synchronous there) whose page shows the progress. The admin's year page and its actions
start one the same way. Kept apart from :mod:`claims.services.calendar`, which does the work the task runs, so
the imports run one way: this module → tasks → services.calendar → claims.calendar.
"""

from __future__ import annotations

import threading

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext as _

from claims.calendar import invalidate_calendar, signals_suppressed
from claims.models import CalendarDay, CalendarYear, DeadlineRecompute
from claims.tasks import recompute_deadlines

_local = threading.local()


def start_recompute(*, by=None, trigger: str = "") -> DeadlineRecompute:
    """Record a recomputation and queue its task once the current transaction commits."""
    run = DeadlineRecompute.objects.create(
        trigger=trigger[:200], created_by=by if by is not None and by.is_authenticated else None)
    run_id = run.pk
    transaction.on_commit(lambda: recompute_deadlines.delay(run_id))
    return run


def _schedule_recompute() -> None:
    # Every change schedules a callback; after commit the first one to run starts the recomputation for all changes
    # so far and the others see they are covered. A callback discarded by a rolled-back savepoint leaves no flag.
    _local.generation = generation = getattr(_local, "generation", 0) + 1

    def run() -> None:
        if getattr(_local, "recomputed_generation", 0) >= generation:
            return
        _local.recomputed_generation = _local.generation
        invalidate_calendar()  # other processes may have cached the old rows between the change and the commit
        start_recompute(trigger=_("the working-day calendar was changed"))

    # robust: the calendar edit is committed; a failed start is logged, not shown to the editor as a crash.
    transaction.on_commit(run, robust=True)


def _calendar_changed(sender, **kwargs) -> None:
    if kwargs.get("raw") or signals_suppressed():
        return
    invalidate_calendar()
    _schedule_recompute()


def connect_calendar_recompute() -> None:
    """Called from ClaimsConfig.ready."""
    for model in (CalendarDay, CalendarYear):
        post_save.connect(_calendar_changed, sender=model, dispatch_uid=f"claims.calendar.{model.__name__}_saved")
        post_delete.connect(_calendar_changed, sender=model,
                            dispatch_uid=f"claims.calendar.{model.__name__}_deleted")
