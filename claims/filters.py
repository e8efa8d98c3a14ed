"""Filters of the reviewers' queues (django-filter). Choices are region-scoped: a county user's hospital and region
lists hold only what they may see, never every row of the table (ARCHITECTURE: known traps)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.widgets import DateRangeWidget

from claims.models import Hospital, HospitalBatch, ReimbursementCase
from claims.models.batches import BatchState
from claims.models.reimbursement import OPEN_CASE_STATES, CaseState
from claims.queues import OPEN_BATCH_STATES, DueStatus
from enrollment.models import Region
from enrollment.scoping import scope_queryset, visible_regions

__all__ = ["BatchQueueFilter", "CaseQueueFilter", "IsoDateInput"]


class IsoDateInput(forms.DateInput):
    """The browser's date picker; it sends and expects ISO dates whatever the language."""

    input_type = "date"

    def __init__(self, attrs=None, format=None):
        super().__init__(attrs, format="%Y-%m-%d")


class IsoDateRangeWidget(DateRangeWidget):
    base_widget = IsoDateInput


def _hospitals(request):
    if request is None:
        return Hospital.objects.none()
    return scope_queryset(Hospital.objects.all(), request.user).select_related(None).only("pk", "name")


def _regions(request):
    if request is None:
        return Region.objects.none()
    return visible_regions(request.user).only("pk", "code", "name")


class QueueFilterSet(django_filters.FilterSet):
    """The due status is the queue's tab: counts per tab are taken with every other filter applied."""

    due = django_filters.ChoiceFilter(label=_("due status"), choices=DueStatus.CHOICES, method="filter_due")
    received = django_filters.DateFromToRangeFilter(
        label=_("received between"), field_name="received_on", widget=IsoDateRangeWidget())

    region_lookup = "region"

    def __init__(self, *args, due_conditions=None, **kwargs):
        """``due_conditions``: {due status: Q} on plain columns (``claims.queues.case_due_conditions``), so a tab
        is an indexable filter; without them the tab filters on the queue's ``due_status`` annotation."""
        super().__init__(*args, **kwargs)
        self.due_conditions = due_conditions or {}

    def filter_due(self, queryset, name, value):
        if not value:
            return queryset
        if value in self.due_conditions:
            return queryset.filter(self.due_conditions[value])
        return queryset.filter(due_status=value)

    def filter_region(self, queryset, name, value):
        # The chosen region and everything under it, as a literal id list: PostgreSQL misestimates a join on
        # `path LIKE …` over big tables (see enrollment.scoping.region_filter).
        subtree = list(Region.objects.filter(path__startswith=value.path).values_list("pk", flat=True))
        return queryset.filter(**{f"{self.region_lookup}_id__in": subtree})

    def queryset_without(self, *names: str):
        """The queryset with every valid filter applied except ``names`` (e.g. the tab, for the tab counts)."""
        self.errors  # noqa: B018 - validates the form
        queryset = self.queryset.all()
        for name, value in self.form.cleaned_data.items():
            if name not in names:
                queryset = self.filters[name].filter(queryset, value)
        return queryset


class CaseQueueFilter(QueueFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("state"), choices=[(state.value, state.label) for state in CaseState if state in OPEN_CASE_STATES])
    hospital = django_filters.ModelChoiceFilter(label=_("hospital"), field_name="claim__hospital",
                                                queryset=_hospitals)
    region = django_filters.ModelChoiceFilter(label=_("region"), queryset=_regions, method="filter_region")
    number = django_filters.CharFilter(label=_("claim number"), field_name="claim__number", lookup_expr="exact")

    region_lookup = "claim__region"

    class Meta:
        model = ReimbursementCase
        fields = ["due", "state", "hospital", "region", "received", "number"]


class BatchQueueFilter(QueueFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("state"), choices=[(state.value, state.label) for state in BatchState if state in OPEN_BATCH_STATES])
    hospital = django_filters.ModelChoiceFilter(label=_("hospital"), queryset=_hospitals)
    region = django_filters.ModelChoiceFilter(label=_("region"), queryset=_regions, method="filter_region")

    class Meta:
        model = HospitalBatch
        fields = ["due", "state", "hospital", "region", "received"]
