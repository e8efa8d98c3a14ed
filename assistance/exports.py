"""Spreadsheet exports of assistance applications and special aid cases (admin lists and queue pages).

Built on ``enrollment.exports``: the resources mask ID numbers unless the user may see them in full, re-apply the
region scope and record full-number exports; the formats neutralise formula cells and write typed .xlsx cells.
Money and dates are ``typed_field`` columns (the round-trip exports' ``NativeWidget``), so the workbook holds numbers
and dates, not text.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from enrollment.exports import ScopedMaskingResource, typed_field
from enrollment.exports import _field as text_field

from .models import Application, SpecialAidCase

__all__ = ["ApplicationExportResource", "SpecialAidCaseExportResource"]


def _figure(figures: dict, key: str) -> Decimal | None:
    """A figure of the test recorded at approval (kept as text in JSON) as a number, or empty."""
    try:
        return Decimal(figures[key]) if figures.get(key) not in (None, "") else None
    except (InvalidOperation, TypeError):
        return None


class ApplicationExportResource(ScopedMaskingResource):
    number = text_field("number", _("application number"))
    household = text_field("household__number", _("household number"))
    applicant_name = text_field("applicant__name", _("applicant"))
    applicant_id_number = text_field("applicant__id_number", _("ID number"))
    region_code = text_field("region__code", _("region code"))
    region_name = text_field("region__name", _("region"))
    applied_on = typed_field("applied_on", _("application date"))
    state = text_field("state", _("state"))
    due_on = typed_field("due_on", _("due on"))
    eligible_cost = typed_field("test_figures", _("eligible cost in the look-back period"))
    annual_income = typed_field("test_figures", _("household annual disposable income"))
    threshold = typed_field("test_figures", _("threshold (income share)"))
    assistance_granted = typed_field("assistance_granted", _("assistance granted"))
    paid_on = typed_field("paid_on", _("paid on"))
    payment_reference = text_field("payment_reference", _("payment reference"))
    refusal_reason = text_field("refusal_reason", _("reason for refusal"))

    select_related = ("household", "applicant", "region")

    class Meta:
        model = Application
        fields = ("number", "household", "applicant_name", "applicant_id_number", "region_code", "region_name",
                  "applied_on", "state", "due_on", "eligible_cost", "annual_income", "threshold",
                  "assistance_granted", "paid_on", "payment_reference", "refusal_reason")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Assistance applications")

    def dehydrate_applicant_id_number(self, application):
        return self.id_number_for_export(application.applicant.id_number)

    def dehydrate_state(self, application):
        return str(application.get_state_display())

    def dehydrate_eligible_cost(self, application):
        return _figure(application.test_figures, "eligible_cost")

    def dehydrate_annual_income(self, application):
        return _figure(application.test_figures, "annual_income")

    def dehydrate_threshold(self, application):
        return _figure(application.test_figures, "threshold")


class SpecialAidCaseExportResource(ScopedMaskingResource):
    number = text_field("number", _("case number"))
    name = text_field("person__name", _("name"))
    id_number = text_field("person__id_number", _("ID number"))
    region_code = text_field("region__code", _("region code"))
    region_name = text_field("region__name", _("region"))
    opening_unit = text_field("opening_unit", _("opening township or department"))
    opened_on = typed_field("opened_on", _("opened on"))
    state = text_field("state", _("state"))
    named_out_of_pocket = typed_field("named_out_of_pocket", _("out-of-pocket cost of the costs named"))
    amount = typed_field("amount", _("aid amount"))
    funding_source = text_field("funding_source", _("funding source"))
    payer = text_field("payer", _("payer"))
    decided_on = typed_field("decided_on", _("decided on"))
    paid_on = typed_field("paid_on", _("paid on"))

    select_related = ("person", "region")

    class Meta:
        model = SpecialAidCase
        fields = ("number", "name", "id_number", "region_code", "region_name", "opening_unit", "opened_on", "state",
                  "named_out_of_pocket", "amount", "funding_source", "payer", "decided_on", "paid_on")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Special aid cases")

    def dehydrate_id_number(self, case):
        return self.id_number_for_export(case.person.id_number)

    def dehydrate_state(self, case):
        return str(case.get_state_display())

    def dehydrate_funding_source(self, case):
        return str(case.get_funding_source_display()) if case.funding_source else ""
