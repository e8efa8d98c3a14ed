"""Set-based reads of the hospital portal: a hospital's settled claims, what it may still declare, its batches."""

from __future__ import annotations

import datetime as dt

from django.db.models import DecimalField, Exists, ExpressionWrapper, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from enrollment.scoping import scope_queryset

from ..models import BatchLine, Claim, HospitalBatch, Settlement
from ..models.claims import ClaimSource, ClaimStatus

_MONEY = DecimalField(max_digits=14, decimal_places=2)


def with_fund_paid(queryset: QuerySet) -> QuerySet:
    """Claims annotated with what the funds paid in the current settlement (basic + critical + assistance: what
    the hospital advanced at the bedside) and the batch that declares the claim, if any."""
    current = Settlement.objects.filter(claim=OuterRef("pk"), reversed_at__isnull=True)
    fund_paid = current.annotate(
        fund_paid=ExpressionWrapper(F("basic") + F("critical") + F("assistance"), output_field=_MONEY)
    ).values("fund_paid")[:1]
    batch = BatchLine.objects.filter(claim=OuterRef("pk")).values("batch__number")[:1]
    return queryset.annotate(fund_paid=Subquery(fund_paid, output_field=_MONEY), batch_number=Subquery(batch))


def settled_claims(user) -> QuerySet:
    """The user's hospital's settled claims (one-stop and imported), newest first."""
    queryset = scope_queryset(Claim.objects.all(), user).filter(status=ClaimStatus.SETTLED).exclude(
        source=ClaimSource.MANUAL)
    return with_fund_paid(queryset.select_related("person")).annotate(
        service_on=Coalesce("discharged_on", "admitted_on")).order_by("-admitted_on", "-pk")


def declarable_claims(user, period: tuple[dt.date, dt.date]) -> QuerySet:
    """Settled one-stop claims of the user's hospital whose date of service (discharge for inpatient care, the
    visit otherwise) falls in `period` and that no batch declares yet."""
    start, end = period
    return (settled_claims(user)
            .filter(service_on__gte=start, service_on__lte=end)
            .filter(~Exists(BatchLine.objects.filter(claim=OuterRef("pk"))))
            .order_by("admitted_on", "pk"))


def hospital_batches(user) -> QuerySet:
    return scope_queryset(HospitalBatch.objects.all(), user).order_by("-received_on", "-pk")
