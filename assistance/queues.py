"""Queues of applications and special aid cases: region-scoped, set-based, one CASE for the due status.

Who waits for what ("waiting for me"):

* initial reviewer (assistance.review_application): applications in 受理;
* approver (assistance.approve_application): applications in 初审 that someone else reviewed (four eyes);
* payer (assistance.pay_application): approved applications;
* clerk (assistance.change_application): applications returned for documents;
* special aid: decisions and meetings (assistance.decide_special_aid) for opened cases; each department's approver
  for decided cases it has not approved and did not open; the payer (assistance.pay_special_aid) for approved
  cases; follow-ups for paid cases.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Q, QuerySet

from claims.calendar import work_calendar
from claims.queues import DueStatus, _status_expression, due_soon_until
from claims.rules.workdays import WorkCalendar
from enrollment.admin.base import person_search_q
from enrollment.scoping import scope_queryset

from .models import Application, SpecialAidCase
from .models.choices import OPEN_APPLICATION_STATES, ApplicationState, CaseState

__all__ = ["application_due_conditions", "application_queue", "special_aid_queue"]

OPEN_SPECIAL_AID_STATES = (CaseState.OPENED, CaseState.DECIDED, CaseState.APPROVED, CaseState.PAID)


def application_due_conditions(today: dt.date, soon_until: dt.date) -> dict[str, Q]:
    """One condition per due status of an open application, on plain columns (index-friendly)."""
    clocked = ~Q(state=ApplicationState.RETURNED) & Q(due_on__isnull=False)
    return {
        DueStatus.PAUSED: Q(state=ApplicationState.RETURNED) | Q(due_on__isnull=True),
        DueStatus.OVERDUE: clocked & Q(due_on__lt=today),
        DueStatus.DUE_SOON: clocked & Q(due_on__gte=today, due_on__lte=soon_until),
        DueStatus.ON_TRACK: clocked & Q(due_on__gt=soon_until),
    }


def _waiting_for_applications(user) -> Q:
    waiting = Q(pk__in=[])
    if user.has_perm("assistance.review_application"):
        waiting |= Q(state=ApplicationState.RECEIVED)
    if user.has_perm("assistance.approve_application"):
        waiting |= Q(state=ApplicationState.REVIEWED) & ~Q(reviewer=user)
    if user.has_perm("assistance.pay_application"):
        waiting |= Q(state=ApplicationState.APPROVED)
    if user.has_perm("assistance.change_application"):
        waiting |= Q(state=ApplicationState.RETURNED)
    return waiting


def application_queue(user, *, today: dt.date, calendar: WorkCalendar | None = None, mine: bool = True,
                      search: str = "", state: str = "") -> QuerySet:
    """Open applications of the user's regions (those waiting for ``user`` when ``mine``), annotated with
    ``due_status``, by due date (paused last). ``search``: a full ID number or the start of a name (applicant)."""
    calendar = calendar or work_calendar()
    conditions = application_due_conditions(today, due_soon_until(calendar, today))
    queryset = scope_queryset(Application.objects.all(), user).filter(state__in=OPEN_APPLICATION_STATES)
    if mine:
        queryset = queryset.filter(_waiting_for_applications(user))
    if search.strip():
        queryset = queryset.filter(person_search_q(search, prefix="applicant__"))
    if state:
        queryset = queryset.filter(state=state)
    return (
        queryset.annotate(due_status=_status_expression(conditions, closed=~Q(state__in=OPEN_APPLICATION_STATES)))
        .select_related("applicant", "household", "region", "reviewer")
        .order_by(F("due_on").asc(nulls_last=True), "applied_on", "pk")
    )


def _waiting_for_cases(user) -> Q:
    waiting = Q(pk__in=[])
    if user.has_perm("assistance.decide_special_aid"):
        waiting |= Q(state__in=[CaseState.OPENED, CaseState.PAID])
    if user.has_perm("assistance.approve_special_aid_rural"):
        waiting |= Q(state=CaseState.DECIDED, rural_approver__isnull=True) & ~Q(opened_by=user) & ~Q(
            health_approver=user)
    if user.has_perm("assistance.approve_special_aid_health"):
        waiting |= Q(state=CaseState.DECIDED, health_approver__isnull=True) & ~Q(opened_by=user) & ~Q(
            rural_approver=user)
    if user.has_perm("assistance.pay_special_aid"):
        waiting |= Q(state=CaseState.APPROVED)
    return waiting


def special_aid_queue(user, *, mine: bool = True, search: str = "", state: str = "") -> QuerySet:
    """Open special aid cases (paid ones until closed) of the user's regions, oldest first."""
    queryset = scope_queryset(SpecialAidCase.objects.all(), user).filter(state__in=OPEN_SPECIAL_AID_STATES)
    if mine:
        queryset = queryset.filter(_waiting_for_cases(user))
    if search.strip():
        queryset = queryset.filter(person_search_q(search, prefix="person__"))
    if state:
        queryset = queryset.filter(state=state)
    return queryset.select_related("person", "region").order_by("opened_on", "pk")
