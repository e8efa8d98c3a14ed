"""The claim list's export (费用单据导出), headed as the hospital claim file the claims import reads
(`claims.imports.CLAIM_COLUMNS`): an exported file is a valid claim file. Claim numbers already registered are
refused on import (a bill is changed by a correction, not by sending it again), so the round trip is for new
bills made from existing ones — a hospital's resubmission with new numbers, a test file."""

from django.utils.translation import gettext_lazy as _

from enrollment.exports import RoundTripResource, _field, _imported, _spelling

from .imports import CLAIM_COLUMNS, KIND, REFERRAL_SPELLINGS, VISIT_TYPE_SPELLINGS
from .models import Claim


class ClaimExportResource(RoundTripResource):
    number = _imported(CLAIM_COLUMNS, "number", "number")
    id_number = _imported(CLAIM_COLUMNS, "id_number", "person__id_number")
    name = _field("person__name", _("name"))
    hospital_code = _imported(CLAIM_COLUMNS, "hospital_code", "hospital__code")
    hospital_name = _field("hospital__name", _("hospital"))
    visit_type = _imported(CLAIM_COLUMNS, "visit_type", "visit_type")
    admitted_on = _imported(CLAIM_COLUMNS, "admitted_on", "admitted_on")
    discharged_on = _imported(CLAIM_COLUMNS, "discharged_on", "discharged_on")
    diagnosis_code = _imported(CLAIM_COLUMNS, "diagnosis_code", "diagnosis_code")
    diagnosis_name = _imported(CLAIM_COLUMNS, "diagnosis_name", "diagnosis_name")
    special_disease = _imported(CLAIM_COLUMNS, "special_disease", "is_special_disease")
    referral = _imported(CLAIM_COLUMNS, "referral", "referral")
    total_cost = _imported(CLAIM_COLUMNS, "total_cost", "total_cost")
    policy_scope_cost = _imported(CLAIM_COLUMNS, "policy_scope_cost", "policy_scope_cost")
    status = _field("status", _("status"))

    select_related = ("person", "hospital")
    import_kind = KIND
    sheet_title = "费用单据"

    class Meta:
        model = Claim
        fields = ("number", "id_number", "name", "hospital_code", "hospital_name", "visit_type", "admitted_on",
                  "discharged_on", "diagnosis_code", "diagnosis_name", "special_disease", "referral", "total_cost",
                  "policy_scope_cost", "status")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Claims")

    def dehydrate_id_number(self, claim):
        return self.id_number_for_export(claim.person.id_number)

    def dehydrate_visit_type(self, claim):
        return _spelling(VISIT_TYPE_SPELLINGS, claim.visit_type)

    def dehydrate_referral(self, claim):
        return _spelling(REFERRAL_SPELLINGS, claim.referral)

    def dehydrate_special_disease(self, claim):
        return "是" if claim.is_special_disease else "否"

    def dehydrate_status(self, claim):
        return str(claim.get_status_display())
