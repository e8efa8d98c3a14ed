"""The working-day calendar (工作日历) of the database as a pure :class:`~claims.rules.workdays.WorkCalendar`.

The table changes a few times a year and is read on every deadline computation, so it is read once and cached:

* per process, for ``CALENDAR_CACHE_SECONDS`` (setting, default 300) as a safety net for processes that cannot
  hear about a change;
* keyed by a version number kept in Django's cache. Any change of ``CalendarDay`` / ``CalendarYear`` (admin,
  service, shell) bumps it through the signals below, so with a shared cache (Redis) every process rebuilds at
  its next read; with the default per-process cache the other processes catch up within the TTL.

The signal receivers that also recompute open deadlines after a change live in :mod:`claims.services.calendar`
(which imports this module, never the reverse); they skip rows written under :func:`calendar_signals_suppressed`
(``load_year`` / ``seed_calendar`` write many rows and recompute once).

Tests that change the calendar and roll back must call :func:`invalidate_calendar` afterwards (a rollback sends
no signal).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from claims.models import CalendarDay, CalendarYear
from claims.rules.workdays import Deadline, WorkCalendar, add_working_days

__all__ = [
    "calendar_signals_suppressed",
    "deadline_after",
    "invalidate_calendar",
    "load_work_calendar",
    "signals_suppressed",
    "work_calendar",
]

_VERSION_KEY = "claims:work-calendar:version"
_lock = threading.Lock()
# (version seen in the shared cache, monotonic expiry, calendar)
_cached: tuple[object, float, WorkCalendar] | None = None
_local = threading.local()


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


def signals_suppressed() -> bool:
    return bool(getattr(_local, "suppressed", 0))


@contextmanager
def calendar_signals_suppressed() -> Iterator[None]:
    """Bulk writers (load_year) turn off the per-row reaction and invalidate / recompute once themselves."""
    _local.suppressed = getattr(_local, "suppressed", 0) + 1
    try:
        yield
    finally:
        _local.suppressed -= 1
