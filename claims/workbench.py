"""The home page's workbench (工作台): what is due today and this week in the queues of the user's role.

One row per queue the user works in, each with counts (overdue, due today, due by the end of this week, all
waiting) and links. Counts are figures people act on, so they are exact up to ``COUNT_CAP`` and read "超过 N"
beyond: each is a ``COUNT`` over at most ``COUNT_CAP + 1`` rows of an indexed, region-scoped queue, so the page
costs the same with a hundred open cases or a million.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from claims.calendar import work_calendar
from claims.models import Claim
from claims.models.claims import ClaimStatus
from claims.queues import DueStatus, batch_queue, case_queue
from enrollment.models import LedgerProblem
from enrollment.models.ledger import ProblemStatus
from enrollment.scoping import scope_queryset

COUNT_CAP = 999


@dataclass(frozen=True)
class BoundedCount:
    """A count that is exact up to ``cap``; above it only "more than cap" is known."""

    value: int
    cap: int = COUNT_CAP

    @property
    def exceeded(self) -> bool:
        return self.value > self.cap

    def __str__(self) -> str:
        if self.exceeded:
            return _("over %(cap)d") % {"cap": self.cap}
        return str(self.value)


def bounded_count(queryset: QuerySet, cap: int = COUNT_CAP) -> BoundedCount:
    """``COUNT`` over at most ``cap + 1`` rows (a subquery with LIMIT): exact when small, bounded when not."""
    return BoundedCount(queryset.order_by()[: cap + 1].count(), cap)


@dataclass
class WorkbenchRow:
    key: str
    label: str
    url: str
    overdue: BoundedCount | None = None
    due_today: BoundedCount | None = None
    due_this_week: BoundedCount | None = None
    waiting: BoundedCount | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def cells(self) -> list[tuple[str, BoundedCount | None, str]]:
        """(column, count, link) in the table's column order; no link where there is nothing to open."""
        out = []
        for key in ("overdue", "due_today", "due_this_week", "waiting"):
            count = getattr(self, key)
            out.append((key, count, self.links.get(key, "") if count is not None and count.value else ""))
        return out


def end_of_week(today: dt.date) -> dt.date:
    """Sunday of ``today``'s week (weeks run Monday–Sunday in China)."""
    return today + dt.timedelta(days=6 - today.weekday())


def _due_counts(queryset: QuerySet, due: str, today: dt.date) -> dict[str, BoundedCount]:
    week_end = end_of_week(today)
    return {
        "overdue": bounded_count(queryset.filter(**{f"{due}__lt": today})),
        "due_today": bounded_count(queryset.filter(**{due: today})),
        "due_this_week": bounded_count(queryset.filter(**{f"{due}__gt": today, f"{due}__lte": week_end})),
        "waiting": bounded_count(queryset),
    }


def workbench(user, *, today: dt.date) -> list[WorkbenchRow]:
    """The workbench rows ``user`` may see, in the order of a day's work."""
    rows: list[WorkbenchRow] = []
    calendar = None
    if user.has_perm("claims.view_reimbursementcase"):
        calendar = calendar or work_calendar()
        url = reverse("claims:case_queue")
        queue = case_queue(user, today=today, calendar=calendar, mine=True).filter(exempt=False)
        rows.append(WorkbenchRow(
            "cases", _("Manual reimbursements waiting for me"), url, **_due_counts(queue, "sla_due_on", today),
            links={"overdue": f"{url}?due={DueStatus.OVERDUE}", "due_today": f"{url}?due={DueStatus.DUE_SOON}",
                   "due_this_week": url, "waiting": url}))
    if user.has_perm("claims.view_hospitalbatch"):
        calendar = calendar or work_calendar()
        url = reverse("claims:batch_queue")
        queue = batch_queue(user, today=today, calendar=calendar, mine=True)
        rows.append(WorkbenchRow(
            "batches", _("Hospital batches waiting for me"), url, **_due_counts(queue, "due_on", today),
            links={"overdue": f"{url}?due={DueStatus.OVERDUE}", "due_today": f"{url}?due={DueStatus.DUE_SOON}",
                   "due_this_week": url, "waiting": url}))
    if user.has_perm("claims.change_claim"):
        url = reverse("admin:claims_claim_changelist")
        registered = scope_queryset(Claim.objects.filter(status=ClaimStatus.REGISTERED), user).filter(
            reimbursement_case__isnull=True)
        rows.append(WorkbenchRow(
            "claims", _("Claims to settle"), url, waiting=bounded_count(registered),
            links={"waiting": f"{url}?status__exact={ClaimStatus.REGISTERED}"}))
    if user.has_perm("enrollment.change_ledgerproblem"):
        url = reverse("admin:enrollment_ledgerproblem_changelist")
        problems = scope_queryset(LedgerProblem.objects.filter(status=ProblemStatus.OPEN), user)
        counts = _due_counts(problems.filter(~Q(deadline=None)), "deadline", today)
        counts["waiting"] = bounded_count(problems)
        rows.append(WorkbenchRow(
            "problems", _("Open ledger problems (deadline)"), url, **counts,
            links={"overdue": f"{url}?status__exact={ProblemStatus.OPEN}&deadline__lt={today.isoformat()}",
                   "waiting": f"{url}?status__exact={ProblemStatus.OPEN}"}))
    return rows
