"""Filters of the assistance queues (django-filter), on the claims queues' base: the due status is the tab (counted
with every other filter applied), region choices hold only the user's regions, and the person search takes a name's
beginning or a whole, valid ID number — a partial or malformed number is a form error with the reason, never an
empty list that a clerk would read as "not on file"."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from claims.filters import IsoDateRangeWidget, QueueFilterSet
from enrollment.admin.base import id_search_problem, person_search_q
from enrollment.models import Region
from enrollment.scoping import visible_regions

from .models import Application, SpecialAidCase
from .models.choices import OPEN_APPLICATION_STATES, ApplicationState
from .queues import OPEN_SPECIAL_AID_STATES

__all__ = ["ApplicationQueueFilter", "SpecialAidQueueFilter"]


def _regions(request):
    if request is None:
        return Region.objects.none()
    return visible_regions(request.user).only("pk", "code", "name")


class PersonSearchField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        problem = id_search_problem(value or "")
        if problem:
            raise ValidationError(problem, code="id_number")
        return value


class PersonSearchFilter(django_filters.CharFilter):
    """The beginning of a name or a whole ID number (15 or 18 characters) of the person at ``field_name``."""

    field_class = PersonSearchField

    def filter(self, qs, value):
        if not (value or "").strip():
            return qs
        return qs.filter(person_search_q(value, prefix=f"{self.field_name}__"))


class ApplicationQueueFilter(QueueFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("state"),
        choices=[(state.value, state.label) for state in ApplicationState if state in OPEN_APPLICATION_STATES])
    region = django_filters.ModelChoiceFilter(label=_("region"), queryset=_regions, method="filter_region")
    q = PersonSearchFilter(label=_("Name or full ID number"), field_name="applicant")
    received = django_filters.DateFromToRangeFilter(
        label=_("application date between"), field_name="applied_on", widget=IsoDateRangeWidget())

    class Meta:
        model = Application
        fields = ["due", "state", "region", "q", "received"]


class SpecialAidQueueFilter(QueueFilterSet):
    due = None  # cases run on no working-day clock
    state = django_filters.ChoiceFilter(
        label=_("state"), choices=[(state, state.label) for state in OPEN_SPECIAL_AID_STATES])
    region = django_filters.ModelChoiceFilter(label=_("region"), queryset=_regions, method="filter_region")
    q = PersonSearchFilter(label=_("Name or full ID number"), field_name="person")
    received = django_filters.DateFromToRangeFilter(
        label=_("opened between"), field_name="opened_on", widget=IsoDateRangeWidget())

    class Meta:
        model = SpecialAidCase
        fields = ["state", "region", "q", "received"]
