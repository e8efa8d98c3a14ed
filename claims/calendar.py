"""The working-day calendar (工作日历) of the database as a pure :class:`~claims.rules.workdays.WorkCalendar`.

The table changes a few times a year and is read on every deadline computation, so it is read once and cached:

* per process, for ``CALENDAR_CACHE_SECONDS`` (setting, default 300) as a safety net for processes that cannot
  hear about a change;
* keyed by a version number kept in Django's cache. Any change of ``CalendarDay`` / ``CalendarYear`` (admin,
  service, shell) bumps it through the signals below, so with a shared cache (Redis) every process rebuilds at
  its next read; with the default per-process cache the other processes catch up within the TTL.

A change also schedules the recompute of open deadlines once per committed transaction (deadlines that depended on
an edited day, and provisional ones of a year just loaded, are recomputed): the services' own
:func:`claims.services.calendar.recompute_open_deadlines`, handed in by ``ClaimsConfig.ready`` through
:func:`recompute_after_changes` because the services import this module.
``load_year`` / ``seed_calendar`` write many rows under :func:`calendar_signals_suppressed` and recompute once.

Tests that change the calendar and roll back must call :func:`invalidate_calendar` afterwards (a rollback sends
no signal).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from claims.models import CalendarDay, CalendarYear
from claims.rules.workdays import Deadline, WorkCalendar, add_working_days

__all__ = [
    "calendar_signals_suppressed",
    "deadline_after",
    "invalidate_calendar",
    "load_work_calendar",
    "recompute_after_changes",
    "work_calendar",
]

_VERSION_KEY = "claims:work-calendar:version"
_lock = threading.Lock()
# (version seen in the shared cache, monotonic expiry, calendar)
_cached: tuple[object, float, WorkCalendar] | None = None
_local = threading.local()
_recompute: Callable[[], object] | None = None  # what a committed change runs (recompute_after_changes)


def _ttl() -> float:
    return float(getattr(settings, "CALENDAR_CACHE_SECONDS", 300))


def load_work_calendar() -> WorkCalendar:
    """Read the calendar table (two queries), bypassing the cache."""
    years = CalendarYear.objects.values_list("year", flat=True)
    rows = CalendarDay.objects.values_list("day", "kind")
    return WorkCalendar.from_rows(rows, years)


def work_calendar() -> WorkCalendar:
    """The current calendar, from the cache when it is fresh (no query), else from the database."""
    global _cached
    version = cache.get(_VERSION_KEY)
    cached = _cached
    if cached is not None and cached[0] == version and cached[1] > time.monotonic():
        return cached[2]
    calendar = load_work_calendar()
    with _lock:
        _cached = (version, time.monotonic() + _ttl(), calendar)
    return calendar


def invalidate_calendar() -> None:
    """Forget the cached calendar here and, through the shared version key, in every other process."""
    global _cached
    with _lock:
        _cached = None
    try:
        cache.incr(_VERSION_KEY)
    except ValueError:  # key missing (first change, or evicted)
        cache.set(_VERSION_KEY, time.time_ns(), None)


def deadline_after(start: dt.date, working_days: int) -> Deadline:
    """The ``working_days``-th working day after ``start`` with the current calendar (provisional if unloaded)."""
    return add_working_days(work_calendar(), start, working_days)


@contextmanager
def calendar_signals_suppressed() -> Iterator[None]:
    """Bulk writers (load_year) turn off the per-row reaction and invalidate / recompute once themselves."""
    _local.suppressed = getattr(_local, "suppressed", 0) + 1
    try:
        yield
    finally:
        _local.suppressed -= 1


def recompute_after_changes(recompute: Callable[[], object]) -> None:
    """Run `recompute()` once after each transaction that changed the calendar (the open deadlines' recompute)."""
    global _recompute
    _recompute = recompute


def _schedule_recompute() -> None:
    # Every change schedules a callback; after commit the first one to run recomputes for all changes so far and
    # the others see they are covered. A callback discarded by a rolled-back savepoint leaves no flag behind.
    _local.generation = generation = getattr(_local, "generation", 0) + 1

    def run() -> None:
        if getattr(_local, "recomputed_generation", 0) >= generation:
            return
        _local.recomputed_generation = _local.generation
        invalidate_calendar()  # other processes may have cached the old rows between the change and the commit
        if _recompute is not None:
            _recompute()

    # robust: the calendar edit is committed; a failed recompute is logged, not shown to the editor as a crash.
    transaction.on_commit(run, robust=True)


@receiver(post_save, sender=CalendarDay, dispatch_uid="claims.calendar.day_saved")
@receiver(post_delete, sender=CalendarDay, dispatch_uid="claims.calendar.day_deleted")
@receiver(post_save, sender=CalendarYear, dispatch_uid="claims.calendar.year_saved")
@receiver(post_delete, sender=CalendarYear, dispatch_uid="claims.calendar.year_deleted")
def _calendar_changed(sender, **kwargs) -> None:
    if kwargs.get("raw") or getattr(_local, "suppressed", 0):
        return
    invalidate_calendar()
    _schedule_recompute()
