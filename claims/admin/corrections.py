"""Corrections of frozen settlements (更正审批): a read-only list, and the page where a second person approves or
rejects a proposal. The services (``claims.services.corrections``) check permission, region and four eyes; this
module shows what would change and passes the decision on."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import EstimatedCountPaginator, RegionScopedAdminMixin, region_list_filter

from .. import slips
from ..models import Claim, CorrectionState, SettlementCorrection
from ..services import corrections as correction_services
from .claims import ClaimSearchMixin


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("decision note"), max_length=300, required=False,
                           widget=forms.TextInput(attrs={"size": 60}),
                           help_text=_("Required when rejecting."))


def _change_rows(correction: SettlementCorrection, claim: Claim) -> list[tuple[str, object, object]]:
    """(field label, value now, value proposed) for each changed claim field."""
    rows = []
    for key, value in correction.changes.items():
        field = next(f for f in Claim._meta.concrete_fields if f.attname == key)
        now = getattr(claim, field.name)
        if field.is_relation:
            proposed = field.related_model.objects.filter(pk=value).first()
        else:
            proposed = field.to_python(value)
            if field.choices:
                proposed = dict(field.flatchoices).get(proposed, proposed)
                now = getattr(claim, f"get_{field.name}_display")()
        rows.append((field.verbose_name, now, proposed))
    return rows


@admin.register(SettlementCorrection)
class SettlementCorrectionAdmin(RegionScopedAdminMixin, ClaimSearchMixin, SimpleHistoryAdmin):
    list_display = ("claim", "kind", "state", "reason", "proposed_by", "proposed_at", "decided_by", "decided_at",
                    "decide_link")
    list_select_related = ("claim", "proposed_by", "decided_by")
    list_filter = ("state", "kind", region_list_filter("claim__region"))
    search_fields = ("claim__number",)
    claim_prefix = "claim__"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = ("claim", "original", "kind", "changes", "reason", "state", "proposed_by", "proposed_at",
              "decided_by", "decided_at", "decision_note", "new_settlement")
    readonly_fields = fields

    # Proposals are made from the claim page and decided on the decision page, through the services.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("decision"))
    def decide_link(self, correction):
        if correction.state != CorrectionState.PROPOSED:
            return "-"
        url = reverse(f"{self.admin_site.name}:claims_settlementcorrection_decide", args=[correction.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Approve or reject"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        correction = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if (correction is not None and correction.state == CorrectionState.PROPOSED
                and request.user.has_perm(correction_services.APPROVE_PERMISSION)):
            extra_context["decide_url"] = reverse(
                f"{self.admin_site.name}:claims_settlementcorrection_decide", args=[correction.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view),
                 name="claims_settlementcorrection_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request, object_id):
        """Shows the original settlement, the proposed changes and what would be booked; approve or reject."""
        correction = self.get_queryset(request).select_related(
            "claim__region", "claim__hospital", "claim__person", "original", "proposed_by").filter(
            pk=unquote(object_id)).first()
        if correction is None:
            raise Http404
        if not request.user.has_perm(correction_services.APPROVE_PERMISSION):
            raise PermissionDenied
        change_url = reverse(f"{self.admin_site.name}:claims_settlementcorrection_change", args=[correction.pk])
        if correction.state != CorrectionState.PROPOSED:
            messages.warning(request, gettext("This correction was already decided."))
            return redirect(change_url)
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if "reject" in request.POST:
                    correction_services.reject_correction(
                        correction=correction, by=request.user, note=form.cleaned_data["note"])
                    messages.success(request, gettext("Correction rejected; nothing was booked."))
                else:
                    correction_services.approve_correction(
                        correction=correction, by=request.user, note=form.cleaned_data["note"])
                    messages.success(request, gettext("Correction approved: the reversal and the new settlement "
                                                      "are booked."))
                return redirect(change_url)
            except PermissionDenied as error:
                form.add_error(None, str(error))
            except ValidationError as error:
                form.add_error(None, error)
        claim = correction.claim
        original = correction.original
        preview = preview_error = None
        try:
            preview = correction_services.preview_correction(correction)
        except ValidationError as error:
            preview_error = " ".join(error.messages)
        return TemplateResponse(request, "admin/claims/settlementcorrection/decide.html", {
            **self.admin_site.each_context(request),
            "title": _("Approve or reject the correction of claim %(claim)s") % {"claim": claim.number},
            "opts": self.opts,
            "correction": correction,
            "claim": claim,
            "change_url": change_url,
            "changes": _change_rows(correction, claim),
            "original_layers": slips.settlement_layers(original, total_cost=claim.total_cost),
            "new_layers": slips.preview_layers(preview) if preview else None,
            "preview_error": preview_error,
            "own_proposal": correction.proposed_by_id == request.user.pk,
            "form": form,
        })
