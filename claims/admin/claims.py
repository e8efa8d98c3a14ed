"""Claims (费用单据), their settlements (结算) and payment lines.

Settling and correcting go through `claims.services.settlement`; this module collects input and shows results.
A settled claim is read-only here: its money lives in immutable payment lines, and a change is a correction
(更正: reverse, change, settle again) with a reason.
"""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.forms.models import modelform_factory
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import (
    EstimatedCountPaginator,
    RegionScopedAdminMixin,
    RegionScopedInlineMixin,
    SafeExportMixin,
    id_number_column,
    looks_like_id_number,
    person_search_q,
    plan_year_choices,
    region_list_filter,
    replace_id_column,
    scoped_form_class,
)
from enrollment.admin.ledger import RegionFromPersonForm

from .. import eligibility, imports, slips
from ..exports import ClaimExportResource
from ..models import Claim, PaymentLine, Settlement
from ..models.claims import ClaimStatus
from ..services import corrections as correction_services
from ..services import settlement as settlement_services
from ..services.batch_settlement import settle_claims

#: Refusals of a bulk settlement listed one by one; a night's batch can refuse thousands.
REFUSALS_SHOWN = 20


class ClaimForm(RegionFromPersonForm):
    class Meta:
        model = Claim
        fields = "__all__"


class CorrectionForm(forms.ModelForm):
    reason = forms.CharField(label=_("reason for correction"), max_length=200,
                             widget=forms.TextInput(attrs={"size": 60}))

    class Meta:
        model = Claim
        # What the service lets a correction change, in the model's order.
        fields = tuple(f.name for f in Claim._meta.fields if f.name in settlement_services.CORRECTABLE_FIELDS)


class ProposalForm(CorrectionForm):
    """The correction of a frozen settlement: proposed here, booked when another person approves it."""

    reverse_only = forms.BooleanField(
        label=_("reverse only"), required=False,
        help_text=_("Reverse the settlement without settling again (e.g. a duplicate or an unjustified claim)."))


class ClaimSearchMixin:
    """Search by an exact claim number, a person's exact ID number or the beginning of a name: index look-ups only.

    `claim_prefix` reaches the claim from the listed model ("" for claims themselves, "claim__" for their rows).
    """

    claim_prefix = ""
    search_help_text = _("An exact claim number, a person's exact ID number, or the beginning of their name.")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = person_search_q(term, prefix=f"{self.claim_prefix}person__")
        if not looks_like_id_number(term):  # claim numbers and names never look like ID numbers
            condition |= Q(**{f"{self.claim_prefix}number": term})
        return queryset.filter(condition), False


class SettlementInline(RegionScopedInlineMixin, admin.TabularInline):
    """Every settlement of the claim, live and reversed, with the payment lines it booked. Read-only."""

    model = Settlement
    fields = ("created_at", "created_by", "policy", "categories", "basic", "critical", "assistance", "hospital_borne",
              "patient_pays", "lines_table", "frozen", "reversal", "slip_link")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    extra = 0
    can_delete = False
    verbose_name_plural = _("settlements")

    def get_queryset(self, request):
        return (super().get_queryset(request)
                .select_related("policy", "created_by", "reversed_by", "reversal_approved_by", "approved_by",
                                "basic_category", "critical_category", "assistance_category")
                .prefetch_related("lines"))

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("categories applied"))
    def categories(self, settlement):
        names = [c.name for c in (settlement.basic_category, settlement.critical_category,
                                  settlement.assistance_category) if c is not None]
        return "、".join(dict.fromkeys(names)) or "-"

    @admin.display(description=_("payment lines"))
    def lines_table(self, settlement):
        lines = [line for line in settlement.lines.all() if line.layer in slips.MONEY_LAYERS]
        if not lines:
            return "-"
        rows = format_html_join(
            "", "<div style='white-space:nowrap'>{}: {} · {}{}</div>",
            ((line.get_layer_display(), line.amount, line.get_funding_source_display() or "-",
              format_html(" ({})", gettext("reversal")) if line.is_reversal else "") for line in lines))
        return format_html("<div class='payment-lines'>{}</div>", rows)

    @admin.display(description=_("frozen"))
    def frozen(self, settlement):
        if settlement.frozen_at is None:
            return "-"
        approved = format_html("<br>{} {}", gettext("approved by"), settlement.approved_by) \
            if settlement.approved_by_id else ""
        return format_html("{} · {}{}", date_format(timezone.localtime(settlement.frozen_at), "Y-m-d H:i"),
                           settlement.get_frozen_reason_display(), approved)

    @admin.display(description=_("reversed"))
    def reversal(self, settlement):
        if settlement.reversed_at is None:
            return "-"
        approved = format_html("<br>{} {}", gettext("approved by"), settlement.reversal_approved_by) \
            if settlement.reversal_approved_by_id else ""
        return format_html("{} · {}<br>{}{}", date_format(timezone.localtime(settlement.reversed_at), "Y-m-d H:i"),
                           settlement.reversed_by or "-", settlement.reversal_reason, approved)

    @admin.display(description=_("slip"))
    def slip_link(self, settlement):
        url = reverse("admin:claims_claim_slip", args=[settlement.claim_id])
        return format_html('<a href="{}?settlement={}" target="_blank">{}</a>', url, settlement.pk,
                           gettext("Print"))


@admin.register(Claim)
class ClaimAdmin(RegionScopedAdminMixin, ClaimSearchMixin, SafeExportMixin, ExportMixin, SimpleHistoryAdmin):
    form = ClaimForm
    change_list_template = "admin/claims/claim/change_list.html"  # import-export's export button extends it
    resource_classes = [ClaimExportResource]
    export_file_title = "费用单据"
    list_display = ("number", "person_name", "id_number_display", "hospital", "visit_type", "admitted_on",
                    "discharged_on", "total_cost", "policy_scope_cost", "status")
    list_select_related = ("person", "hospital")
    list_filter = ("status", "visit_type", "hospital__level", "source", region_list_filter("region"))
    search_fields = ("number",)  # ClaimSearchMixin searches; the field only switches the search box on
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    autocomplete_fields = ("person", "hospital")
    actions = ("settle_selected",)
    inlines = (SettlementInline,)
    fieldsets = (
        (None, {"fields": ("number", "person", "region", "hospital", "source", "status")}),
        (_("Visit"), {"fields": ("visit_type", ("admitted_on", "discharged_on"), ("diagnosis_code", "diagnosis_name"),
                                 "is_special_disease", "referral")}),
        (_("Costs"), {"fields": ("total_cost", "policy_scope_cost", "out_of_catalog_cost")}),
        (_("Registration"), {"fields": ("created_by", "created_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # region, status and registration are set by the system
            return (
                (None, {"fields": ("number", "person", "hospital", "source")}),
                *self.fieldsets[1:3],
            )
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("out_of_catalog_cost",)
        if obj.status != ClaimStatus.REGISTERED:
            # Settled or rejected: changes go through a correction (更正), which keeps the money lines exact.
            return [f for _title, options in self.fieldsets for line in options["fields"]
                    for f in (line if isinstance(line, tuple) else (line,))]
        return ("number", "person", "region", "source", "status", "out_of_catalog_cost", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("name"), ordering="person__name")
    def person_name(self, claim):
        return claim.person.name

    @admin.display(description=_("ID number"))
    def id_number_display(self, claim):
        return claim.person.masked_id_number  # replaced per request by get_list_display

    @admin.display(description=_("out-of-catalog cost"))
    def out_of_catalog_cost(self, claim):
        return claim.out_of_catalog_cost if claim.pk else "-"

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request), id_number_column(request, "person__id_number"))

    # --- Settling -------------------------------------------------------------------------------------------------

    def has_settle_permission(self, request, obj=None):
        return (self.has_change_permission(request, obj)
                and request.user.has_perm(settlement_services.SETTLE_PERMISSION))

    @admin.action(description=_("Settle the selected claims (结算)"), permissions=["settle"])
    def settle_selected(self, request, queryset):
        result = settle_claims(claims=queryset.filter(status=ClaimStatus.REGISTERED), by=request.user)
        for refusal in result.refusals[:REFUSALS_SHOWN]:
            messages.error(request, f"{refusal.claim_number}: {refusal.message}")
        if result.refused > REFUSALS_SHOWN:
            messages.error(request, gettext("… and %(count)d more claims could not be settled.")
                           % {"count": result.refused - REFUSALS_SHOWN})
        skipped = queryset.exclude(status=ClaimStatus.REGISTERED).count()
        if result.settled:
            messages.success(request, gettext("%(count)d claims settled.") % {"count": result.settled})
        if skipped:
            messages.warning(request, gettext("%(count)d claims were not registered (already settled or rejected) "
                                              "and were left alone.") % {"count": skipped})

    def _claim_or_404(self, request, object_id) -> Claim:
        claim = self.get_object(request, unquote(object_id))
        if claim is None:
            raise Http404
        return claim

    def _change_url(self, claim) -> str:
        return reverse(f"{self.admin_site.name}:claims_claim_change", args=[claim.pk])

    def settle_view(self, request, object_id):
        """Show what settling would book (preview), and settle on confirmation."""
        claim = self._claim_or_404(request, object_id)
        if not self.has_settle_permission(request, claim):
            raise PermissionDenied
        if claim.status != ClaimStatus.REGISTERED:
            messages.warning(request, gettext("Claim %(claim)s is not waiting for settlement.") % {"claim": claim})
            return redirect(self._change_url(claim))
        if request.method == "POST":
            try:
                settlement_services.settle_claim(claim=claim, by=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect(self._change_url(claim))
            messages.success(request, gettext("Claim %(claim)s settled.") % {"claim": claim})
            return redirect(self._change_url(claim))
        preview = error = None
        try:
            preview = settlement_services.preview_settlement(claim=claim)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        return self._page(request, "admin/claims/claim/settle.html", _("Settle claim %(claim)s"), claim,
                          preview=preview, layers=slips.preview_layers(preview) if preview else None, error=error)

    def _may_correct(self, request, claim, current: Settlement | None) -> bool:
        """Before the money is frozen a settler corrects directly; afterwards a proposer proposes (four eyes)."""
        if current is None or not self.has_view_permission(request, claim):
            return False
        if current.is_frozen:
            return request.user.has_perm(correction_services.PROPOSE_PERMISSION)
        return self.has_settle_permission(request, claim)

    def correct_view(self, request, object_id):
        """更正: change a settled claim with a reason. Not yet frozen: the service reverses, changes and settles
        again at once. Frozen (after 复核 or payment): the change is proposed, and another person approves it."""
        claim = self._claim_or_404(request, object_id)
        current = Settlement.objects.filter(claim=claim, reversed_at__isnull=True).first()
        if claim.status != ClaimStatus.SETTLED or current is None:
            messages.warning(request, gettext("Only a settled claim can be corrected."))
            return redirect(self._change_url(claim))
        if not self._may_correct(request, claim, current):
            raise PermissionDenied
        frozen = current.is_frozen
        form_class = scoped_form_class(
            modelform_factory(Claim, form=ProposalForm if frozen else CorrectionForm, fields=CorrectionForm.Meta.fields,
                              formfield_callback=partial(self.formfield_for_dbfield, request=request)),
            request.user)
        # The form works on its own copy: a refused correction must not alter the claim shown afterwards.
        form = form_class(request.POST or None, instance=Claim.objects.get(pk=claim.pk))
        if request.method == "POST" and form.is_valid():
            changes = {name: form.cleaned_data[name] for name in form.changed_data
                       if name not in ("reason", "reverse_only")}
            try:
                if frozen:
                    reverse_only = form.cleaned_data["reverse_only"]
                    correction = correction_services.propose_correction(
                        settlement=current, by=request.user, reason=form.cleaned_data["reason"],
                        reverse_only=reverse_only, **({} if reverse_only else changes))
                else:
                    settlement_services.correct_claim(
                        claim=claim, by=request.user, reason=form.cleaned_data["reason"], **changes)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if frozen:
                    messages.success(request, gettext(
                        "Correction of claim %(claim)s proposed; it is booked when another person approves it.")
                        % {"claim": claim})
                    return redirect(reverse(f"{self.admin_site.name}:claims_settlementcorrection_change",
                                            args=[correction.pk]))
                messages.success(request, gettext("Claim %(claim)s corrected and settled again.") % {"claim": claim})
                return redirect(self._change_url(claim))
        head = ("reason", "reverse_only") if frozen else ("reason",)
        admin_form = admin.helpers.AdminForm(
            form, [(None, {"fields": (*head, *CorrectionForm.Meta.fields)})], {}, model_admin=self)
        return self._page(request, "admin/claims/claim/correct.html", _("Correct claim %(claim)s"), claim,
                          adminform=admin_form, form=form, media=self.media + form.media, frozen=frozen,
                          current=current)

    def _page(self, request, template, title, claim, **context):
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request),
            "title": title % {"claim": claim.number},
            "opts": self.opts,
            "original": claim,
            "claim": claim,
            "change_url": self._change_url(claim),
            **context,
        })

    # --- Pages: slip, settle, correct, eligibility look-up, import ------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("eligibility/",
                 view(partial(eligibility.eligibility_admin_view, admin_site=self.admin_site, opts=self.opts)),
                 name=f"{prefix}_eligibility"),
            path("import/", view(partial(imports.import_admin_view, model_admin=self)), name=f"{prefix}_import"),
            path("<path:object_id>/slip/", view(partial(slips.slip_view, model_admin=self)), name=f"{prefix}_slip"),
            path("<path:object_id>/settle/", view(self.settle_view), name=f"{prefix}_settle"),
            path("<path:object_id>/correct/", view(self.correct_view), name=f"{prefix}_correct"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        name = self.admin_site.name
        extra_context = {
            **(extra_context or {}),
            "eligibility_url": reverse(f"{name}:claims_claim_eligibility")
            if request.user.has_perm(eligibility.STAFF_PERMISSION) else None,
            "import_url": reverse(f"{name}:claims_claim_import") if imports.may_import_claims(request.user) else None,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        claim = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if claim is not None:
            name = self.admin_site.name
            may_settle = self.has_settle_permission(request, claim)
            current = (Settlement.objects.filter(claim=claim, reversed_at__isnull=True).first()
                       if claim.status == ClaimStatus.SETTLED else None)
            extra_context.update({
                "slip_url": reverse(f"{name}:claims_claim_slip", args=[claim.pk])
                if claim.status == ClaimStatus.SETTLED else None,
                "settle_url": reverse(f"{name}:claims_claim_settle", args=[claim.pk])
                if may_settle and claim.status == ClaimStatus.REGISTERED else None,
                "correct_url": reverse(f"{name}:claims_claim_correct", args=[claim.pk])
                if self._may_correct(request, claim, current) else None,
                "frozen": current is not None and current.is_frozen,
                "corrections_url": reverse(f"{name}:claims_settlementcorrection_changelist") + "?"
                + urlencode({"q": claim.number}) if request.user.has_perm("claims.view_settlementcorrection") else None,
            })
            if claim.status != ClaimStatus.REGISTERED:  # every field is read-only: nothing to save
                extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)


# --- Payment lines: read-only, whoever asks -----------------------------------------------------------------------

class PaymentYearFilter(admin.SimpleListFilter):
    title = _("year")
    parameter_name = "year"

    def lookups(self, request, model_admin):
        return plan_year_choices()

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(year=int(value)) if value.isdigit() else queryset.none()


@admin.register(PaymentLine)
class PaymentLineAdmin(RegionScopedAdminMixin, ClaimSearchMixin, admin.ModelAdmin):
    """Immutable lines: no add, change or delete here for anyone; corrections reverse whole settlements."""

    list_display = ("claim", "person_name", "id_number_display", "year", "layer", "amount", "funding_source",
                    "is_reversal", "created_at")
    list_select_related = ("claim", "person")
    list_filter = ("layer", "funding_source", "is_reversal", PaymentYearFilter, region_list_filter("claim__region"))
    search_fields = ("claim__number",)
    claim_prefix = "claim__"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = ("settlement", "claim", "person", "year", "layer", "amount", "funding_source", "is_reversal",
              "created_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("name"), ordering="person__name")
    def person_name(self, line):
        return line.person.name

    @admin.display(description=_("ID number"))
    def id_number_display(self, line):
        return line.person.masked_id_number  # replaced per request by get_list_display

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request), id_number_column(request, "person__id_number"))
