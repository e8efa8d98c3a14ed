"""Shared admin machinery: region isolation, ID masking, searches that use indexes, counts that scale.

`RegionScopedAdminMixin` is the admin's single use of `enrollment.scoping`. Every changelist, change/delete page,
history page, autocomplete answer and export goes through `get_queryset`, so all of them are scoped by the same
call; foreign-key choices and the server-side check on save use the same rule.
"""

import contextlib
import re
from datetime import date

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import EmptyResultSet, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import connections
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from import_export.forms import SelectableFieldsExportForm

from ..access_log import record_full_id_access
from ..counting import BudgetedCountPaginator
from ..exports import FULL_ID_PERMISSION, SAFE_EXPORT_FORMATS
from ..idnumbers import mask_bank_account, mask_id_number, parse_id_number
from ..models import Region
from ..models.access import AccessKind
from ..scoping import (
    at_province_level,
    scope_queryset,
    sees_everything,
    subtree_ids,
    user_region_paths,
    visible_regions,
)
from ..services.export_start import start_export
from .exporting import KIND as ADMIN_EXPORT
from .exporting import export_filters

_LOOKS_LIKE_ID = re.compile(r"^(\d{15}|\d{17}[\dX])$")


# --- ID numbers -------------------------------------------------------------------------------------------------

def can_see_full_id(request) -> bool:
    return request.user.has_perm(FULL_ID_PERMISSION)


def shown_id_number(request, number: str) -> str:
    """The ID number as this user may see it: whole with the permission (and recorded), masked otherwise."""
    if not can_see_full_id(request):
        return mask_id_number(number)
    record_full_id_access(request, AccessKind.PAGE)
    return number


def shown_bank_account(request, number: str) -> str:
    """A bank account as this user may see it, like an ID number."""
    if not number or not can_see_full_id(request):
        return mask_bank_account(number or "")
    record_full_id_access(request, AccessKind.PAGE)
    return number


def _listed_model(request) -> str:
    """"enrollment_person" from the changelist's URL name: which list showed the numbers."""
    match = getattr(request, "resolver_match", None)
    name = (match.url_name or "") if match is not None else ""
    return name.removesuffix("_changelist")


def id_number_column(request, path: str = "id_number"):
    """A changelist column with the ID number as this request's user may see it.

    Built per request because a ModelAdmin instance is shared by all requests: storing the user on it would let
    one user's permission leak into another's page.
    """
    show_full = can_see_full_id(request)
    if show_full:
        record_full_id_access(request, AccessKind.LIST, model=_listed_model(request))
    attrs = path.split("__")

    @admin.display(description=_("ID number"), ordering=path)
    def id_number_display(obj):
        number = obj
        for attr in attrs:
            number = getattr(number, attr)
        return number if show_full else mask_id_number(number)

    return id_number_display


def replace_id_column(list_display, column, name: str = "id_number_display") -> list:
    return [column if item == name else item for item in list_display]


def looks_like_id_number(term: str) -> bool:
    return bool(_LOOKS_LIKE_ID.match(term.replace(" ", "").upper()))


def person_search_q(term: str, prefix: str = "") -> Q:
    """Exact ID number (normalised, 15 → 18 digits) or name prefix; both use an index, never a scan.

    `prefix` reaches the person through a relation, e.g. "person__".
    """
    term = term.strip()
    if looks_like_id_number(term):
        compact = term.replace(" ", "").upper()
        numbers = {compact}
        # An invalid number cannot be on file: the exact lookup of what was typed simply finds nothing.
        with contextlib.suppress(ValidationError):
            numbers.add(parse_id_number(compact).number)
        return Q(**{f"{prefix}id_number__in": sorted(numbers)})
    return Q(**{f"{prefix}name__startswith": term})


_HAS_DIGIT = re.compile(r"\d")


def person_search(request, queryset, search_term: str, prefix: str = ""):
    """The search box of lists of people (or of their rows): a full ID number or the beginning of a name.

    Names hold no digits, so a term with digits is an ID number; when it is not a whole, valid one the list says
    so instead of coming back silently empty (a clerk would otherwise conclude the person is not on file). No
    partial number ever matches anything.
    """
    term = search_term.strip()
    if not term:
        return queryset
    problem = id_search_problem(term)
    if problem:
        _search_message(request, problem)
        return queryset.none()
    return queryset.filter(person_search_q(term, prefix=prefix))


def id_search_problem(term: str) -> str | None:
    """Why a search term cannot be searched (a partial or malformed ID number), or None. Names hold no digits,
    so a term with digits is an ID number and must be a whole, valid one."""
    term = term.strip()
    if not _HAS_DIGIT.search(term):
        return None
    compact = term.replace(" ", "").upper()
    if not looks_like_id_number(compact):
        return _("“%(term)s” is not a whole ID number: search with all 18 characters (or the 15 digits of an old "
                 "card); a part of a number matches nothing.") % {"term": term}
    try:
        parse_id_number(compact)
    except ValidationError as error:
        return _("“%(term)s” is not a valid ID number: %(reason)s") % {"term": term,
                                                                        "reason": " ".join(error.messages)}
    return None


def _search_message(request, message: str) -> None:
    # Only on the list page: the autocomplete endpoint searches the same way, and a message queued there would
    # pop up on whatever page the user opens next.
    match = getattr(request, "resolver_match", None)
    if match is not None and (match.url_name or "").endswith("_changelist"):
        from django.contrib import messages

        messages.warning(request, message)


# --- Region scoping ---------------------------------------------------------------------------------------------

def _region_path_of(instance) -> str | None:
    """The materialised region path an object belongs to, following the model's `region_scope`.

    A region itself is placed by its (possibly new) parent, so creating or moving a region is checked where it
    would land. Returns None when the chain is incomplete (no region chosen yet, related row gone).
    """
    if isinstance(instance, Region):
        if instance.parent_id is None:
            return f"/{instance.code}/" if instance.code else None
        try:
            return instance.compute_path()
        except ObjectDoesNotExist:
            return None
    target = instance
    lookup = type(instance).region_scope
    try:
        for attr in lookup.split("__") if lookup else []:
            target = getattr(target, attr)
            if target is None:
                return None
    except ObjectDoesNotExist:
        return None
    return target.path if isinstance(target, Region) else None


def user_can_write_at(user, path: str | None) -> bool:
    paths = user_region_paths(user)
    if paths is None:
        return True
    if not path:
        return False
    return any(path.startswith(p) for p in paths)


def scoped_choices(model, user) -> QuerySet | None:
    """Choices for a foreign key to `model`: regions and region-scoped rows the user may use.

    Regions and working data (people, households) are limited to the user's subtree; reference data that is read
    from above (policy versions) also offers the ancestors' rows. Unscoped models (categories) are left alone.
    """
    if model is Region:
        return visible_regions(user)
    if getattr(model, "region_scope", None) is None:
        return None
    for_change = not getattr(model, "region_scope_reads_ancestors", False)
    return scope_queryset(model._default_manager.all(), user, for_change=for_change)


def _freeze_choices(formfield):
    """Evaluate a select's choices once: inline forms otherwise re-run the same query for every row."""
    if isinstance(formfield, forms.ModelChoiceField) and type(formfield.widget) in (forms.Select,
                                                                                    forms.SelectMultiple):
        # A comprehension, not list(): list() asks the iterator's len() first, which is one more COUNT query.
        formfield.choices = [choice for choice in formfield.choices]  # noqa: C416
    return formfield


def scoped_form_class(form_class, user):
    """Subclass a ModelForm so saving an object outside the user's regions is refused on the server.

    The choices are already limited; this catches what they cannot: a region reached through another field
    (an identity's person), a forged POST, a region moved under someone else's parent.
    """

    class RegionScopedForm(form_class):
        def _post_clean(self):
            super()._post_clean()
            if self._errors:
                return  # the form is refused anyway; a missing region would only add a confusing second error
            path = _region_path_of(self.instance)
            if not user_can_write_at(user, path):
                self.add_error(None, forms.ValidationError(
                    _("You can only save records of the regions you work in."), code="region_out_of_scope"))

    RegionScopedForm.__name__ = form_class.__name__
    return RegionScopedForm


class _ScopedForeignKeysMixin:
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = scoped_choices(db_field.related_model, request.user)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def object_is_writable(self, request, obj) -> bool:
        if obj is None or obj.pk is None or sees_everything(request.user):
            return True
        return user_can_write_at(request.user, _region_path_of(obj))


class NotFoundMixin:
    """Answer 404 for a row outside get_queryset, as for one that does not exist.

    Django redirects to the index when get_object finds nothing; another region's row must look exactly like a
    row that does not exist (no existence oracle), and a 404 is also what tests and monitoring can see.
    """

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404


# What a list filter itself puts in the query string after a filtered field's path (FieldListFilter subclasses
# and date_hierarchy); partial matches (startswith, contains, regex …) are never among them.
_FILTER_SUFFIXES = frozenset({"exact", "isnull", "gte", "gt", "lte", "lt", "in", "id__exact", "pk__exact", "year",
                              "month", "day"})


class StrictLookupsMixin:
    """Refuse every query-string lookup the changelist does not offer through its own filters.

    Django allows any lookup on the model's own fields (`?id_number__startswith=5201` would answer "which
    numbers begin so?" one digit at a time) and, through relations, whatever a list filter names. Here a
    parameter passes only if it is a SimpleListFilter's parameter or a listed field filter's own parameter; a
    refused lookup is Django's DisallowedModelAdminLookup, a 400.
    """

    def lookup_allowed(self, lookup, value, request=None):
        from django.contrib.admin.widgets import url_params_from_lookup_dict

        # Pop-ups of a raw-id widget pass the foreign key's limit_choices_to; Django allows exactly those.
        for fk_lookup in self.model._meta.related_fkey_lookups:
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in url_params_from_lookup_dict(fk_lookup).items():
                return True
        parameters, field_paths = self._offered_lookups(request)
        if lookup in parameters:
            return True
        path, _sep, suffix = lookup.partition("__")
        while suffix:
            if path in field_paths and suffix in _FILTER_SUFFIXES:
                return True
            head, _sep, suffix = suffix.partition("__")
            path = f"{path}__{head}"
        return False

    def _offered_lookups(self, request) -> tuple[set[str], set[str]]:
        parameters: set[str] = set()
        field_paths: set[str] = set()
        list_filter = self.get_list_filter(request) if request is not None else self.list_filter
        for item in list_filter:
            if isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                parameters.add(item.parameter_name)
            elif isinstance(item, list | tuple):
                field_paths.add(item[0])
            elif isinstance(item, str):
                field_paths.add(item)
        if self.date_hierarchy:
            field_paths.add(self.date_hierarchy)
        return parameters, field_paths


class RegionScopedAdminMixin(StrictLookupsMixin, NotFoundMixin, _ScopedForeignKeysMixin):
    """Put first in a ModelAdmin's bases (before SimpleHistoryAdmin / ExportMixin) for a region-scoped model."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        return scoped_form_class(super().get_form(request, obj, change, **kwargs), request.user)

    def has_change_permission(self, request, obj=None):
        # Reference data is read from above (a county reads the province's policy) but changed only at home.
        return super().has_change_permission(request, obj) and self.object_is_writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.object_is_writable(request, obj)

    # simple_history falls back to the latest historical record when the live row is not in get_queryset (meant
    # for deleted rows), which would show other regions' history; only the user's own rows, live or deleted.
    def history_view(self, request, object_id, extra_context=None):
        self._require_history_in_scope(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._require_history_in_scope(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)

    def _require_history_in_scope(self, request, object_id):
        object_id = unquote(object_id)
        try:
            if self.get_queryset(request).filter(pk=object_id).exists():
                return
            if self.model._default_manager.filter(pk=object_id).exists():
                raise Http404
        except (ValueError, ValidationError):
            raise Http404
        if sees_everything(request.user):
            return
        history = getattr(self.model, self.model._meta.simple_history_manager_attribute)
        # The historical model's own pk is history_id; the original row's id is a plain field there.
        record = history.filter(**{self.model._meta.pk.attname: object_id}).order_by("-history_date").first()
        if record is None or not user_can_write_at(request.user, _region_path_of(record.instance)):
            raise Http404


class RegionScopedInlineMixin(_ScopedForeignKeysMixin):
    """The same rule for inlines: rows, choices, saving, and no editing under a parent the user cannot change."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return _freeze_choices(super().formfield_for_foreignkey(db_field, request, **kwargs))

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = scoped_form_class(formset.form, request.user)
        return formset

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self.object_is_writable(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.object_is_writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.object_is_writable(request, obj)


# --- List filters -----------------------------------------------------------------------------------------------

class RegionListFilter(admin.SimpleListFilter):
    """Only the user's regions as choices (the default FK filter would list every region of the country);
    choosing one keeps its whole subtree."""

    title = _("region")
    parameter_name = "region"
    region_lookup = "region"
    with_ancestors = False

    def lookups(self, request, model_admin):
        regions = (visible_regions(request.user, with_ancestors=self.with_ancestors)
                   .order_by("path").only("pk", "name", "code", "path"))
        # Indent by depth (an ideographic space per level) so the tree reads as one.
        return [(str(r.pk), "\u3000" * (r.path.count("/") - 2) + str(r)) for r in regions]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        path = (visible_regions(request.user, with_ancestors=self.with_ancestors)
                .filter(pk=int(value)).values_list("path", flat=True).first())
        if path is None:
            return queryset.none()
        field = f"{self.region_lookup}__in" if self.region_lookup else "pk__in"
        return queryset.filter(**{field: subtree_ids(path)})


def region_list_filter(lookup: str, *, with_ancestors: bool = False, title=None):
    """A RegionListFilter for a model that reaches its region through `lookup` ("" for Region itself)."""
    attrs = {"region_lookup": lookup, "with_ancestors": with_ancestors}
    if title is not None:
        attrs["title"] = title
    return type("RegionListFilter", (RegionListFilter,), attrs)


def plan_year_choices() -> list[tuple[str, str]]:
    """Plan years offered by filters: the years with regional statistics plus this year and the next.

    Taken from the small statistics table; a DISTINCT over the ledger would scan millions of rows.
    """
    from ..models import RegionYear

    this_year = timezone.localdate().year
    years = set(RegionYear.objects.values_list("year", flat=True).distinct()) | {this_year, this_year + 1}
    return [(str(y), str(y)) for y in sorted(years, reverse=True)]


class PlanYearFilter(admin.SimpleListFilter):
    title = _("plan year")
    parameter_name = "plan_year"

    def lookups(self, request, model_admin):
        return plan_year_choices()

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(plan_year=int(value))


class ValidTodayFilter(admin.SimpleListFilter):
    title = _("valid today")
    parameter_name = "valid_today"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        from ..models.identities import valid_on

        today = timezone.localdate()
        if self.value() == "yes":
            return queryset.filter(valid_on(today))
        if self.value() == "no":
            return queryset.exclude(valid_on(today))
        return queryset


# --- Counting -------------------------------------------------------------------------------------------------

# The paginator of large admin lists is ``enrollment.counting.BudgetedCountPaginator``. Its old name stays for the
# admin modules that still import it (it showed the planner's estimate once; it no longer estimates anything).
EstimatedCountPaginator = BudgetedCountPaginator


def planner_row_estimate(queryset: QuerySet) -> int:
    """The planner's row estimate of a queryset (EXPLAIN without ANALYZE: nothing is executed)."""
    connection = connections[queryset.db]
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. a filter on an empty id list: nothing to estimate
        return 0
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"].get("Plan Rows", 0))


def table_row_estimate(table: str, *, using: str = "default") -> int:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


# --- Export and import buttons ------------------------------------------------------------------------------------

class ExportFieldsForm(SelectableFieldsExportForm):
    """The export page lists the columns by their headers in the file (Chinese), not by attribute names that
    django-import-export turns into English ("Birth Date (出生日期)")."""

    def _get_field_label(self, resource, field_name: str) -> str:
        field = resource.fields.get(field_name)
        return str(field.column_name) if field is not None and field.column_name else field_name


class SafeExportMixin:
    """Exports in the formats that neutralise spreadsheet formulas, with the requesting user handed to the
    resource (it masks ID numbers and re-applies the region scope)."""

    export_form_class = ExportFieldsForm

    to_encoding = "utf-8-sig"  # Excel on Chinese Windows reads a CSV as GBK unless it starts with a BOM

    def has_export_permission(self, request):
        # django-import-export lets anyone export unless told otherwise: an export is a read, so it needs "view".
        return self.has_view_permission(request)

    def get_export_formats(self):
        return list(SAFE_EXPORT_FORMATS)

    def get_export_resource_kwargs(self, request, **kwargs):
        resource_kwargs = super().get_export_resource_kwargs(request, **kwargs)
        resource_kwargs["user"] = request.user
        return resource_kwargs

    def get_data_for_export(self, request, queryset, **kwargs):
        dataset = super().get_data_for_export(request, queryset, **kwargs)
        # The workbook's sheet is named for what it holds, in the user's language; left untitled, it reads "Sheet1".
        dataset.title = str(self.model._meta.verbose_name_plural)[:31]
        return dataset

    def get_export_filename(self, request, queryset, file_format):
        name = getattr(self, "export_file_title", "") or self.model._meta.model_name
        return f"{name}-{timezone.localdate():%Y%m%d}.{file_format.get_extension()}"

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        """Queue the export as a background job and show its progress page (the file is built by a task)."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        job = start_export(kind=ADMIN_EXPORT, title=str(self.model._meta.verbose_name_plural), user=request.user,
                           filters=export_filters(self, request, file_format, export_form))
        return redirect("enrollment:export-status", pk=job.pk)


class PersonRowAdminMixin:
    """For lists of rows that belong to a person (identities, ledger rows, ledger problems): the person's name and
    ID number (masked unless the user may see it in full) as columns, and exact-ID / name-prefix search."""

    def get_search_results(self, request, queryset, search_term):
        return person_search(request, queryset, search_term, prefix="person__"), False

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request), id_number_column(request, "person__id_number"))

    @admin.display(description=_("name"), ordering="person__name")
    def person_name(self, obj):
        return obj.person.name

    @admin.display(description=_("ID number"), ordering="person__id_number")
    def id_number_display(self, obj):
        return mask_id_number(obj.person.id_number)  # replaced per request by get_list_display


class ImportLinkMixin:
    """Adds the "Import" button (to the import pages, `enrollment:import-start?kind=…`) to the changelist."""

    import_kind: str = ""
    import_permission: str = "enrollment.add_importjob"

    def get_import_start_url(self, request) -> str | None:
        if not self.import_kind or not request.user.has_perm(self.import_permission):
            return None
        try:
            return f"{reverse('enrollment:import-start')}?kind={self.import_kind}"
        except NoReverseMatch:
            return None

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "import_start_url": self.get_import_start_url(request)}
        return super().changelist_view(request, extra_context)


def today() -> date:
    return timezone.localdate()


def exists_for_person(model, *conditions: Q, **lookups):
    """Exists(...) over a person's related rows: filters on people must not join (a join repeats the person)."""
    return Exists(model.objects.filter(*conditions, person=OuterRef("pk"), **lookups))


class ProvinceWritesMixin:
    """Reference data shared by every region (`roles.PROVINCE_WRITES`): read by whoever may view it, added,
    changed, deleted and acted upon only by users at province level."""

    def _at_province(self, request) -> bool:
        return at_province_level(request.user)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and self._at_province(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._at_province(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._at_province(request)

    def get_actions(self, request):
        # Every bulk action on shared reference data is a write, whichever permission it declares (or none).
        return super().get_actions(request) if self._at_province(request) else {}
