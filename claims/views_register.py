"""Registering a manual reimbursement (受理, SPEC §4.4): the clerk's way into the review workflow.

Thin: the form collects the arguments of ``claims.services.reimbursement.register_manual_claim``, which checks the
permission, the region, the dates and the policy in force and starts the working-day clock; its refusals come back
on the form. The person and hospital fields use the admin's autocomplete, searched and region-scoped exactly as on
the claim form (``ClaimAdmin.autocomplete_fields``), and their choices are scoped again when the form is posted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import fields_for_model
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from claims.filters import IsoDateInput
from claims.models import Claim, Hospital, ReimbursementCase
from claims.services import reimbursement as case_services
from enrollment.models import Person
from enrollment.scoping import scope_queryset

REGISTER_PERMISSION = "claims.add_reimbursementcase"

CLAIM_FIELDS = ("person", "hospital", "visit_type", "referral", "admitted_on", "discharged_on", "diagnosis_code",
                "diagnosis_name", "is_special_disease", "total_cost", "policy_scope_cost")
CASE_FIELDS = ("received_on", "documents", "payee_name", "payee_bank", "payee_account")


def _money_input():
    return forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"})


class RegisterCaseForm(forms.Form):
    """The claim's fields (as the claim model defines them) and the application's; cleaned data are the service's
    keyword arguments."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        widgets = {
            "person": AutocompleteSelect(Claim._meta.get_field("person"), admin.site),
            "hospital": AutocompleteSelect(Claim._meta.get_field("hospital"), admin.site),
            "admitted_on": IsoDateInput(),
            "discharged_on": IsoDateInput(),
            "received_on": IsoDateInput(),
            "total_cost": _money_input(),
            "policy_scope_cost": _money_input(),
        }
        self.fields.update(fields_for_model(Claim, fields=CLAIM_FIELDS, widgets=widgets))
        self.fields.update(fields_for_model(ReimbursementCase, fields=CASE_FIELDS, widgets=widgets))
        self.fields["note"] = forms.CharField(label=capfirst(gettext_lazy("note")), required=False, max_length=300)
        # The autocomplete answers from the same scoped querysets; a posted id outside them is "not a valid choice".
        self.fields["person"].queryset = scope_queryset(Person.objects.all(), user)
        self.fields["hospital"].queryset = scope_queryset(Hospital.objects.all(), user)
        self.fields["received_on"].initial = timezone.localdate

    @property
    def sections(self):
        """(heading, bound fields) in the order the page shows them: the visit and its costs, then the application."""
        return [(gettext_lazy("Visit"), [self[name] for name in CLAIM_FIELDS]),
                (gettext_lazy("Registration"), [self[name] for name in (*CASE_FIELDS, "note")])]

    def add_service_error(self, error: ValidationError) -> None:
        """Put the service's refusal next to the field it names, or above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)


@staff_member_required
def register_case_view(request):
    """受理: register an applicant's claim for manual reimbursement and open its case."""
    if not request.user.has_perm(REGISTER_PERMISSION):
        raise PermissionDenied(_("You do not have the permission to register manual reimbursements."))
    form = RegisterCaseForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                case = case_services.register_manual_claim(by=request.user, **form.cleaned_data)
            except PermissionDenied as error:
                form.add_error(None, str(error))
                status = 403
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("Manual reimbursement %(claim)s registered; it is due on %(date)s.")
                                 % {"claim": case.claim.number, "date": case.sla_due_on})
                return redirect("claims:case_detail", pk=case.pk)
    return TemplateResponse(request, "claims/register.html", {
        **admin.site.each_context(request),
        "title": _("Register a manual reimbursement"),
        "form": form,
        "media": form.media,
    }, status=status)
