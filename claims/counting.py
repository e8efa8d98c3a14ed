"""Counts people read as figures: exact when cheap, otherwise clearly bounded ("超过 N"), never a guess.

``bounded_count`` is a ``COUNT`` over at most ``cap + 1`` rows (a subquery with LIMIT), so it costs the same
whatever the table's size. ``budgeted_counts`` runs the queue's one aggregate (every tab's count in one scan) under
a time budget on PostgreSQL (``SET LOCAL statement_timeout``); when the budget runs out — a province user's view of
a very large queue — each tab falls back to a bounded count.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connections, router, transaction
from django.db.models import Q, QuerySet

from claims.queues import DueStatus, queue_counts

# The figures' helpers live with enrollment so its admin lists use them too; re-exported for the claims side.
from enrollment.counting import COUNT_CAP, BoundedCount, bounded_count


class CountBudgetExceeded(Exception):
    """The exact count did not finish within its time budget."""


def _exact_within_budget(queryset: QuerySet, conditions: dict[str, Q] | None, budget_ms: int) -> dict[str, int]:
    alias = router.db_for_read(queryset.model)
    if connections[alias].vendor != "postgresql":  # no statement timeout to set: the count is exact
        return queue_counts(queryset, conditions)
    try:
        # The savepoint's rollback also ends SET LOCAL: no statement is needed to restore the timeout.
        with transaction.atomic(using=alias):
            with connections[alias].cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [int(budget_ms)])
            exact = queue_counts(queryset, conditions)
            transaction.set_rollback(True, using=alias)
        return exact
    except OperationalError as error:  # canceled by the statement timeout; the savepoint was rolled back
        if getattr(error.__cause__, "sqlstate", None) not in (None, "57014"):  # 57014: query_canceled
            raise
        raise CountBudgetExceeded from error


def budgeted_counts(queryset: QuerySet, conditions: dict[str, Q] | None, *, budget_ms: int | None = None,
                    cap: int | None = None) -> dict[str, BoundedCount]:
    """``{"all": …, status: …}`` for a queue's tabs: exact from one aggregate if it finishes within ``budget_ms``
    (PostgreSQL; elsewhere always exact), else a bounded count per tab."""
    budget_ms = settings.QUEUE_COUNT_BUDGET_MS if budget_ms is None else budget_ms
    cap = COUNT_CAP if cap is None else cap
    try:
        exact = _exact_within_budget(queryset, conditions, budget_ms)
    except CountBudgetExceeded:
        out = {"all": bounded_count(queryset, cap)}
        for status, _label in DueStatus.CHOICES:
            condition = (conditions or {}).get(status, Q(due_status=status))
            out[status] = bounded_count(queryset.filter(condition), cap)
        return out
    return {key: BoundedCount(value, max(cap, value)) for key, value in exact.items()}


# --- Cached tab counts ----------------------------------------------------------------------------------------------
# A reviewer pages through a queue (next, next, go to page 40…) far more often than its figures change: each page
# reading the counts again was most of a page's SQL (bench/README.md). So the tab counts of one user's view of one
# queue (its scope and filters, today) are kept in the cache for QUEUE_COUNT_CACHE_SECONDS. Saving a case or a
# batch (every service does) starts a new generation of keys at once; what bypasses save() — imports, the
# calendar's recomputation of due dates — shows within the timeout.

_GENERATION_KEY = "claims:queue-counts:generation"


def _generation() -> int:
    return cache.get(_GENERATION_KEY, 0)


def forget_queue_counts(**_kwargs) -> None:
    """Every cached tab count is out of date (a case or batch changed)."""
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # no generation yet (or evicted): start one; older keys cannot match it
        cache.set(_GENERATION_KEY, _generation() + 1, timeout=None)


def connect_count_invalidation() -> None:
    from django.db.models.signals import post_delete, post_save

    from claims.models import HospitalBatch, ReimbursementCase

    for model in (ReimbursementCase, HospitalBatch):
        for signal in (post_save, post_delete):
            signal.connect(forget_queue_counts, sender=model,
                           dispatch_uid=f"claims.queue_counts.{model.__name__}.{signal is post_save}")


def cached_for_view(kind: str, view_key: str, compute):
    """``compute()``, kept per ``kind`` and ``view_key`` (user, queue, scope, filters, today) for
    ``QUEUE_COUNT_CACHE_SECONDS`` within the current generation; 0 turns the cache off."""
    timeout = settings.QUEUE_COUNT_CACHE_SECONDS
    if timeout <= 0:
        return compute()
    key = f"claims:queue-{kind}:{_generation()}:{hashlib.sha256(view_key.encode()).hexdigest()}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=timeout)
    return value


def cached_budgeted_counts(view_key: str, queryset: QuerySet, conditions: dict[str, Q] | None,
                           **kwargs) -> dict[str, BoundedCount]:
    """:func:`budgeted_counts` of one view, cached (:func:`cached_for_view`)."""
    return cached_for_view("counts", view_key, lambda: budgeted_counts(queryset, conditions, **kwargs))
