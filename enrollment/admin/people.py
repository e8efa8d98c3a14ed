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

from ..access_log import record_full_id_access
from ..exports import PersonExportResource
from ..idnumbers import mask_bank_account, mask_id_number, parse_id_number, shown_birth_date
from ..models import Enrollment, Household, Identity, IdentityCategory, Person
from ..models.access import AccessKind
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

# Person fields that carry an ID number (or give it away: the birth date is eight of its digits) or a bank account;
# shown masked (read-only) to users without the full-ID permission.
SENSITIVE_ID_FIELDS = {"id_number": "masked_id_number_field", "id_converted_from": "masked_converted_from_field",
                       "birth_date": "birth_year_field", "bank_account": "masked_bank_account_field"}
# The masked bank account is shown, and a new one can still be typed in (blank keeps the one on file).
WRITABLE_SENSITIVE_FIELDS = {"bank_account"}


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


def birth_date_column(request):
    """The birth date column, per request like the ID column: the year only for users who see IDs masked."""
    full = can_see_full_id(request)

    @admin.display(description=_("birth date"), ordering="birth_date")
    def birth_date_display(person):
        return shown_birth_date(person.birth_date, full=full)

    return birth_date_display


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


def _masked_value(field: str, value):
    if field == "birth_date":
        return shown_birth_date(value, full=False)
    if field == "bank_account":
        return mask_bank_account(value or "")
    return mask_id_number(value or "")


class MaskedIdHistoryHelper(HistoricalRecordContextHelper):
    def format_delta_change(self, change):
        if change.field in SENSITIVE_ID_FIELDS:
            change = dataclasses.replace(
                change, old=_masked_value(change.field, change.old), new=_masked_value(change.field, change.new))
        return super().format_delta_change(change)


def masked_person_form(form_class):
    """The person form for a user who sees numbers masked: the bank account field starts empty (the masked one on
    file is shown beside it) and an empty field keeps what is stored."""

    class MaskedPersonForm(form_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if "bank_account" in self.fields:
                self.initial["bank_account"] = ""
                self.fields["bank_account"].label = _("new bank account")
                self.fields["bank_account"].help_text = _("Leave empty to keep the account on file.")

        def clean_bank_account(self):
            return self.cleaned_data.get("bank_account") or self.instance.bank_account

    MaskedPersonForm.__name__ = form_class.__name__
    return MaskedPersonForm


@admin.register(Person)
class PersonAdmin(RegionScopedAdminMixin, ImportLinkMixin, SafeExportMixin, ExportMixin, SimpleHistoryAdmin):
    form = PersonForm
    resource_classes = [PersonExportResource]
    export_file_title = "人员花名册"
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

        def masked(field):
            shown = SENSITIVE_ID_FIELDS.get(field)
            if shown is None:
                return (field,)
            return (shown, field) if field in WRITABLE_SENSITIVE_FIELDS else (shown,)

        return tuple(
            (title, {**options, "fields": tuple(name for f in options["fields"] for name in masked(f))})
            for title, options in self.fieldsets)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and not can_see_full_id(request):
            form = masked_person_form(form)
        return form

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        self._record_full_view(request, AccessKind.DETAIL, object_id, response)
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._record_full_view(request, AccessKind.HISTORY, object_id, response)
        return response

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        response = super().history_form_view(request, object_id, version_id, extra_context)
        self._record_full_view(request, AccessKind.HISTORY, object_id, response)
        return response

    def _record_full_view(self, request, kind, object_id, response) -> None:
        # Only a page that was shown (200) and only to a user who sees numbers whole.
        if response.status_code == 200 and can_see_full_id(request):
            record_full_id_access(request, kind, model="enrollment.person", object_id=object_id)

    def get_readonly_fields(self, request, obj=None):
        readonly = ["id_converted_from", "sex", "birth_date", "household_link"]
        if obj is not None:
            if can_see_full_id(request):
                if not request.user.is_superuser:
                    readonly.append("id_number")  # changing who a person is takes a superuser
            else:
                readonly += [f for f in SENSITIVE_ID_FIELDS.values() if f not in readonly]
        return readonly

    def get_historical_record_context_helper(self, request, historical_record):
        if can_see_full_id(request):
            return super().get_historical_record_context_helper(request, historical_record)
        return MaskedIdHistoryHelper(self.model, historical_record)

    def get_list_display(self, request):
        columns = replace_id_column(super().get_list_display(request), id_number_column(request))
        return [birth_date_column(request) if c == "birth_date" else c for c in columns]

    @admin.display(description=_("ID number"), ordering="id_number")
    def id_number_display(self, person):
        return mask_id_number(person.id_number)  # replaced per request by get_list_display

    @admin.display(description=_("ID number"))
    def masked_id_number_field(self, person):
        return mask_id_number(person.id_number)

    @admin.display(description=_("original 15-digit ID"))
    def masked_converted_from_field(self, person):
        return mask_id_number(person.id_converted_from)

    @admin.display(description=_("year of birth"))
    def birth_year_field(self, person):
        return shown_birth_date(person.birth_date, full=False)

    @admin.display(description=_("bank account"))
    def masked_bank_account_field(self, person):
        return mask_bank_account(person.bank_account) or "-"

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
    fields = ("name", "masked_id_number", "sex", "birth_shown", "relation_to_head")
    readonly_fields = ("name", "masked_id_number", "sex", "birth_shown")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("members")

    def has_add_permission(self, request, obj=None):
        return False  # people are added on their own page, where the ID number is checked

    @admin.display(description=_("ID number"))
    def masked_id_number(self, person):
        return person.masked_id_number

    @admin.display(description=_("year of birth"))
    def birth_shown(self, person):
        # Next to the masked number, the year only (see shown_birth_date).
        return shown_birth_date(person.birth_date, full=False)


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
