"""People (人员) and households (家庭户): the screen clerks use all day."""

import dataclasses

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from ..exports import PersonExportResource
from ..idnumbers import mask_id_number, parse_id_number
from ..models import Enrollment, Household, Identity, IdentityCategory, Person
from ..models.identities import valid_on
from ..models.ledger import EnrollmentStatus
from .base import (
    EstimatedCountPaginator,
    ImportLinkMixin,
    RegionScopedAdminMixin,
    RegionScopedInlineMixin,
    SafeExportMixin,
    can_see_full_id,
    exists_for_person,
    id_number_column,
    person_search,
    person_search_q,
    plan_year_choices,
    region_list_filter,
    replace_id_column,
    today,
)

# Person fields that carry an ID number; shown masked (read-only) to users without the full-ID permission.
SENSITIVE_ID_FIELDS = {"id_number": "masked_id_number_field", "id_converted_from": "masked_converted_from_field"}


# --- Filters (Exists subqueries: a join over identities or the ledger would repeat a person per row) ------------

class _CategoryFilter(admin.SimpleListFilter):
    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in IdentityCategory.objects.values_list("pk", "name")]

    def category_id(self):
        value = self.value()
        return int(value) if value and value.isdigit() else None


class IdentityValidTodayFilter(_CategoryFilter):
    title = _("identity valid today")
    parameter_name = "identity_now"

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(exists_for_person(Identity, valid_on(today()), category_id=self.category_id()))


class IdentityEverFilter(_CategoryFilter):
    title = _("identity ever held")
    parameter_name = "identity_ever"

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(exists_for_person(Identity, category_id=self.category_id()))


class LedgerYearFilter(admin.SimpleListFilter):
    title = _("ledger plan year")
    parameter_name = "plan_year"

    def lookups(self, request, model_admin):
        return plan_year_choices()

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(exists_for_person(Enrollment, plan_year=int(value)))


class LedgerStatusFilter(admin.SimpleListFilter):
    """Status of the person's ledger row; with a plan year chosen, the row of that year."""

    title = _("ledger status")
    parameter_name = "ledger_status"

    def lookups(self, request, model_admin):
        return EnrollmentStatus.choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        conditions = {"status": value}
        year = request.GET.get(LedgerYearFilter.parameter_name, "")
        if year.isdigit():
            conditions["plan_year"] = int(year)
        return queryset.filter(exists_for_person(Enrollment, **conditions))


# --- Person ---------------------------------------------------------------------------------------------------

class PersonForm(forms.ModelForm):
    class Meta:
        model = Person
        fields = ("id_number", "name", "death_date", "household", "relation_to_head", "region", "township",
                  "village", "phone", "bank_name", "bank_account")

    def clean_id_number(self):
        # Normalised here (15 → 18 digits, upper-case X) so the uniqueness check sees the number that is stored.
        return parse_id_number(self.cleaned_data["id_number"]).number


class IdentityInline(RegionScopedInlineMixin, admin.TabularInline):
    model = Identity
    fields = ("category", "valid_from", "valid_to", "certified_by", "source_document", "source_batch")
    ordering = ("valid_from", "id")
    extra = 0
    verbose_name_plural = _("identities over time")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("category")


class EnrollmentInline(RegionScopedInlineMixin, admin.TabularInline):
    """Ledger rows on the person's page, read-only: status changes and payments go through the ledger services
    (the actions of the ledger list, the row's own page, imports), never through a bare field edit."""

    model = Enrollment
    fields = ("plan_year", "scheme", "status", "cannot_reason", "contribution_due", "subsidy_amount",
              "person_share", "subsidy_category", "subsidy_funding_source", "paid_on", "region", "note")
    readonly_fields = fields
    ordering = ("-plan_year",)
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("enrolment ledger")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subsidy_category", "region")

    def has_add_permission(self, request, obj=None):
        return False  # a ledger row is created with its region and contribution by the enrolment screen

    @admin.display(description=_("person's share"))
    def person_share(self, enrollment):
        return enrollment.person_share


class MaskedIdHistoryHelper(HistoricalRecordContextHelper):
    def format_delta_change(self, change):
        if change.field in SENSITIVE_ID_FIELDS:
            change = dataclasses.replace(
                change, old=mask_id_number(change.old or ""), new=mask_id_number(change.new or ""))
        return super().format_delta_change(change)


@admin.register(Person)
class PersonAdmin(RegionScopedAdminMixin, ImportLinkMixin, SafeExportMixin, ExportMixin, SimpleHistoryAdmin):
    form = PersonForm
    resource_classes = [PersonExportResource]
    import_kind = "roster"
    list_display = ("name", "id_number_display", "sex", "birth_date", "region", "household_display", "township",
                    "village")
    list_select_related = ("region", "household")
    list_filter = (region_list_filter("region"), IdentityValidTodayFilter, IdentityEverFilter, LedgerYearFilter,
                   LedgerStatusFilter, "sex")
    # get_search_results does the searching; the fields only switch the search box on (and autocomplete).
    search_fields = ("name",)
    search_help_text = _("An exact ID number (18 or 15 digits), or the beginning of a name.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    autocomplete_fields = ("household",)
    inlines = (IdentityInline, EnrollmentInline)
    fieldsets = (
        (None, {"fields": ("id_number", "id_converted_from", "name", "sex", "birth_date", "death_date")}),
        (_("Household and residence"), {"fields": ("household", "household_link", "relation_to_head", "region",
                                                   "township", "village")}),
        (_("Contact and payout account"), {"fields": ("phone", "bank_name", "bank_account")}),
    )

    def get_search_results(self, request, queryset, search_term):
        return person_search(request, queryset, search_term), False

    def get_fieldsets(self, request, obj=None):
        if obj is None or can_see_full_id(request):
            return self.fieldsets
        return tuple(
            (title, {**options, "fields": tuple(SENSITIVE_ID_FIELDS.get(f, f) for f in options["fields"])})
            for title, options in self.fieldsets)

    def get_readonly_fields(self, request, obj=None):
        readonly = ["id_converted_from", "sex", "birth_date", "household_link"]
        if obj is not None:
            if can_see_full_id(request):
                if not request.user.is_superuser:
                    readonly.append("id_number")  # changing who a person is takes a superuser
            else:
                readonly += SENSITIVE_ID_FIELDS.values()
        return readonly

    def get_historical_record_context_helper(self, request, historical_record):
        if can_see_full_id(request):
            return super().get_historical_record_context_helper(request, historical_record)
        return MaskedIdHistoryHelper(self.model, historical_record)

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request), id_number_column(request))

    @admin.display(description=_("ID number"), ordering="id_number")
    def id_number_display(self, person):
        return mask_id_number(person.id_number)  # replaced per request by get_list_display

    @admin.display(description=_("ID number"))
    def masked_id_number_field(self, person):
        return mask_id_number(person.id_number)

    @admin.display(description=_("original 15-digit ID"))
    def masked_converted_from_field(self, person):
        return mask_id_number(person.id_converted_from)

    @admin.display(description=_("household"), ordering="household__number")
    def household_display(self, person):
        return person.household.number if person.household_id else ""

    @admin.display(description=_("household page"))
    def household_link(self, person):
        if not person.household_id:
            return "-"
        url = reverse("admin:enrollment_household_change", args=[person.household_id])
        return format_html('<a href="{}">{}</a>', url, person.household.number)


# --- Household --------------------------------------------------------------------------------------------------

class MemberInline(RegionScopedInlineMixin, admin.TabularInline):
    model = Person
    fields = ("name", "masked_id_number", "sex", "birth_date", "relation_to_head")
    readonly_fields = ("name", "masked_id_number", "sex", "birth_date")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("members")

    def has_add_permission(self, request, obj=None):
        return False  # people are added on their own page, where the ID number is checked

    @admin.display(description=_("ID number"))
    def masked_id_number(self, person):
        return person.masked_id_number


@admin.register(Household)
class HouseholdAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("number", "region", "township", "village", "annual_income", "income_year", "assets_value")
    list_select_related = ("region",)
    list_filter = (region_list_filter("region"),)
    search_fields = ("number",)
    search_help_text = _("The beginning of a household number, or a member's exact ID number.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = (MemberInline,)
    fieldsets = (
        (None, {"fields": ("number", "region", "township", "village", "address")}),
        (_("Income and assets"), {"fields": (("annual_income", "income_year", "income_source"),
                                             ("assets_value", "assets_year", "assets_source"))}),
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        from .base import looks_like_id_number

        if looks_like_id_number(term):
            members = Person.objects.filter(person_search_q(term)).values("household_id")
            return queryset.filter(pk__in=members), False
        return queryset.filter(number__startswith=term), False
