"""Reviewers' queues (待办队列, SPEC §4.4): what is waiting for whom, what is due soon, overdue, paused or exempted.

Selectors: region-scoped (``enrollment.scoping.scope_queryset``), set-based querysets. The due status is one SQL
``CASE`` over the stored due date against two dates computed once per request — ``today`` and the last day that
still counts as "due soon" (:func:`due_soon_until`) — so no row is evaluated in Python. Remaining working days are
computed in Python for the rows of one page only (:func:`with_remaining_working_days`).

``today`` is always passed in (views pass ``timezone.localdate()``), so tests freeze it without patching.

Who waits for what ("waiting for me"):

* initial reviewer (claims.initial_review): cases in 受理, and returned cases (退回补件) — they come back to 受理;
* re-reviewer (claims.re_review): cases in 初审 whose initial review someone else did (four eyes);
* payer (claims.pay_case): cases in 待支付;
* head (claims.exempt_case): every open case of their regions, paused and exempted ones included;
* batches: advance payment and final payment for claims.pay_batch (not the batch's auditor), audit for
  claims.audit_batch; a head (claims.exempt_case) sees every open batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Case, CharField, Count, DateField, F, Q, QuerySet, Value, When
from django.utils.translation import gettext_lazy as _

from claims.calendar import work_calendar
from claims.models import HospitalBatch, ReimbursementCase
from claims.models.batches import BatchState
from claims.models.reimbursement import OPEN_CASE_STATES, CaseState
from claims.rules.workdays import WorkCalendar, add_working_days, working_days_between
from enrollment.scoping import scope_queryset

__all__ = [
    "DUE_SOON_WORKING_DAYS",
    "OPEN_BATCH_STATES",
    "DueStatus",
    "batch_queue",
    "case_due_conditions",
    "case_queue",
    "due_soon_until",
    "queue_counts",
    "with_remaining_working_days",
]

#: SPEC §4.4: "due soon" means at most this many working days left (the due day itself counts as 0 left).
DUE_SOON_WORKING_DAYS = 3

OPEN_BATCH_STATES = (BatchState.RECEIVED, BatchState.ADVANCE_PAID, BatchState.AUDITED)


class DueStatus:
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ON_TRACK = "on_track"
    PAUSED = "paused"
    EXEMPTED = "exempted"
    CLOSED = "closed"

    CHOICES = [
        (OVERDUE, _("Overdue")),
        (DUE_SOON, _("Due within 3 working days")),
        (ON_TRACK, _("On track")),
        (PAUSED, _("Paused (waiting for documents)")),
        (EXEMPTED, _("Exempted from the clock")),
    ]
    LABELS = dict([*CHOICES, (CLOSED, _("Closed"))])


def due_soon_until(calendar: WorkCalendar, today: dt.date, threshold: int = DUE_SOON_WORKING_DAYS) -> dt.date:
    """The last date whose deadline is "due soon" on ``today``: at most ``threshold`` working days left.

    A due date ``d >= today`` has ``working_days_between(today, d) <= threshold`` exactly when ``d`` comes before
    the (threshold + 1)-th working day after today — so the boundary is the day before that one (a weekend or
    holiday before it still counts as due soon). Same answer as ``claims.rules.workdays.status_for``.
    """
    return add_working_days(calendar, today, threshold + 1).due_on - dt.timedelta(days=1)


def case_due_conditions(today: dt.date, soon_until: dt.date) -> dict[str, Q]:
    """One condition per due status of an open case, on plain columns, so filtering a tab can use the due-date
    index (a filter on the ``CASE`` annotation could not). Exactly one holds for every open case."""
    clocked = Q(exempt=False) & ~Q(state=CaseState.RETURNED) & Q(sla_due_on__isnull=False)
    return {
        DueStatus.EXEMPTED: Q(exempt=True),
        DueStatus.PAUSED: Q(exempt=False) & (Q(state=CaseState.RETURNED) | Q(sla_due_on__isnull=True)),
        DueStatus.OVERDUE: clocked & Q(sla_due_on__lt=today),
        DueStatus.DUE_SOON: clocked & Q(sla_due_on__gte=today, sla_due_on__lte=soon_until),
        DueStatus.ON_TRACK: clocked & Q(sla_due_on__gt=soon_until),
    }


def _status_expression(conditions: dict[str, Q], *, closed: Q) -> Case:
    return Case(
        When(closed, then=Value(DueStatus.CLOSED)),
        *[When(condition, then=Value(status)) for status, condition in conditions.items()],
        default=Value(DueStatus.ON_TRACK),
        output_field=CharField(),
    )


def _waiting_for_cases(user) -> Q:
    if user.has_perm("claims.exempt_case"):
        return Q(state__in=OPEN_CASE_STATES)
    waiting = Q(pk__in=[])
    if user.has_perm("claims.initial_review"):
        waiting |= Q(state__in=[CaseState.RECEIVED, CaseState.RETURNED])
    if user.has_perm("claims.re_review"):
        # Four eyes: never offered the cases one reviewed oneself. (NULL initial reviewer cannot be in 初审.)
        waiting |= Q(state=CaseState.REVIEWED) & ~Q(initial_reviewer=user)
    if user.has_perm("claims.pay_case"):
        waiting |= Q(state=CaseState.APPROVED)
    return waiting


def case_queue(user, *, today: dt.date, calendar: WorkCalendar | None = None, mine: bool = True) -> QuerySet:
    """Open manual reimbursements of the user's regions — those waiting for ``user`` when ``mine`` — annotated
    with ``due_status`` (a :class:`DueStatus` value), ordered by due date (paused and exempted last)."""
    calendar = calendar or work_calendar()
    conditions = case_due_conditions(today, due_soon_until(calendar, today))
    queryset = scope_queryset(ReimbursementCase.objects.all(), user).filter(state__in=OPEN_CASE_STATES)
    if mine:
        queryset = queryset.filter(_waiting_for_cases(user))
    return (
        queryset.annotate(due_status=_status_expression(conditions, closed=~Q(state__in=OPEN_CASE_STATES)))
        .select_related("claim__person", "claim__hospital", "claim__region", "initial_reviewer")
        .order_by(F("sla_due_on").asc(nulls_last=True), "received_on", "pk")
    )


def _waiting_for_batches(user) -> Q:
    if user.has_perm("claims.exempt_case"):
        return Q(state__in=OPEN_BATCH_STATES)
    waiting = Q(pk__in=[])
    if user.has_perm("claims.pay_batch"):
        waiting |= Q(state=BatchState.RECEIVED) | (Q(state=BatchState.AUDITED) & ~Q(auditor=user))
    if user.has_perm("claims.audit_batch"):
        waiting |= Q(state=BatchState.ADVANCE_PAID)
    return waiting


def batch_queue(user, *, today: dt.date, calendar: WorkCalendar | None = None, mine: bool = True) -> QuerySet:
    """Open hospital batches of the user's regions — those waiting for ``user`` when ``mine`` — annotated with
    ``due_on`` (advance deadline while the advance is unpaid, final deadline after) and ``due_status``."""
    calendar = calendar or work_calendar()
    soon_until = due_soon_until(calendar, today)
    queryset = scope_queryset(HospitalBatch.objects.all(), user).filter(state__in=OPEN_BATCH_STATES)
    if mine:
        queryset = queryset.filter(_waiting_for_batches(user))
    due_on = Case(
        When(state=BatchState.RECEIVED, then=F("advance_due_on")),
        default=F("final_due_on"),
        output_field=DateField(),
    )
    provisional = Case(
        When(state=BatchState.RECEIVED, then=F("advance_provisional")), default=F("final_provisional"))
    # Batches are few (one per hospital and period): a condition on the annotated due date is fine here.
    conditions = {
        DueStatus.OVERDUE: Q(due_on__lt=today),
        DueStatus.DUE_SOON: Q(due_on__gte=today, due_on__lte=soon_until),
        DueStatus.ON_TRACK: Q(due_on__gt=soon_until),
    }
    return (
        queryset.annotate(due_on=due_on, due_provisional=provisional)
        .annotate(due_status=_status_expression(conditions, closed=Q(state=BatchState.CLOSED)))
        .select_related("hospital", "region", "auditor")
        .order_by(F("due_on").asc(nulls_last=True), "received_on", "pk")
    )


def queue_counts(queryset: QuerySet, conditions: dict[str, Q] | None = None) -> dict[str, int]:
    """How many rows of an annotated queue fall in each due status, plus ``"all"`` — one aggregate query.

    ``conditions`` ({due status: Q} on plain columns, ``case_due_conditions``) count each status without the
    ``due_status`` CASE: PostgreSQL otherwise evaluates the whole CASE once per status for every row (20–35 % of
    the count's time over 100 000 open cases; bench/README.md)."""
    conditions = conditions or {}
    statuses = [value for value, _label in DueStatus.CHOICES]
    counts = queryset.order_by().aggregate(
        all=Count("pk"),
        **{status: Count("pk", filter=conditions.get(status, Q(due_status=status))) for status in statuses})
    return {key: value or 0 for key, value in counts.items()}


def with_remaining_working_days(rows: Iterable, *, today: dt.date, calendar: WorkCalendar | None = None,
                                due_attr: str = "sla_due_on") -> list:
    """Set ``remaining_working_days`` on each row (one page of a queue): working days left until the due date,
    0 on the due day, negative once overdue; None without a due date (paused or exempted). Also
    ``overdue_working_days``: working days past the due date (0 when not overdue, and on a weekend right after a
    Friday deadline, which is overdue by date but by no working day yet)."""
    calendar = calendar or work_calendar()
    rows = list(rows)
    for row in rows:
        due_on = getattr(row, due_attr)
        remaining = None if due_on is None else working_days_between(calendar, today, due_on)
        row.remaining_working_days = remaining
        row.overdue_working_days = max(0, -remaining) if remaining is not None else 0
    return rows
