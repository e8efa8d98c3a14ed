"""Forms of the assistance pages. Cleaned data are the services' keyword arguments; lines typed into a text box
(incomes, assets, outside costs) are parsed with a precise message per line and column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from claims.filters import IsoDateInput
from claims.models import Claim
from claims.models.claims import ClaimStatus
from enrollment.admin.base import person_search_q
from enrollment.models import Household, Person
from enrollment.scoping import scope_queryset

from .models.choices import ASSET_KIND_WORDS, AidFunding, AssetKind
from .models.files import ATTACHMENT_VALIDATORS, max_attachment_bytes
from .services.applications import AssetItem, IncomeItem, OutsideItem

# Scan fields per kind of line: line N of the box takes scan N. A household rarely has more members than this;
# further evidence is attached on a resubmission.
SCAN_FIELDS = 3
INCOME_SCAN_FIELDS = 6
ASSET_SCAN_FIELDS = 3


def _date(label, **kwargs):
    return forms.DateField(label=label, widget=IsoDateInput(), initial=timezone.localdate, **kwargs)


def _lines(text: str):
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.strip():
            yield number, [part.strip() for part in line.replace("，", ",").split(",")]


def _amount(value: str, where: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValidationError(_("%(where)s: %(value)r is not an amount.") % {"where": where, "value": value}) \
            from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(_("%(where)s: an amount of at least 0 with at most two decimals.") % {"where": where})
    return amount


def _where(field_label, line: int, column: int) -> str:
    return _("%(field)s line %(line)d column %(column)d") % {"field": field_label, "line": line, "column": column}


class RegisterApplicationForm(forms.Form):
    household_number = forms.CharField(label=gettext_lazy("household number"), max_length=32)
    applicant = forms.CharField(label=gettext_lazy("applicant's ID number"), max_length=18)
    patients = forms.CharField(
        label=gettext_lazy("patients' ID numbers"), widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=gettext_lazy("One per line."))
    applied_on = _date(gettext_lazy("application date"))
    incomes = forms.CharField(
        label=gettext_lazy("declared incomes"), widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text=gettext_lazy("One line per member: ID number, annual disposable income, evidence. "
                               "The scan of line N goes into income evidence scan N."))
    assets = forms.CharField(
        label=gettext_lazy("declared assets"), required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        help_text=gettext_lazy("One line per asset: kind (housing, vehicle, deposits, securities, business, "
                               "other), value, evidence. The scan of line N goes into asset evidence scan N."))
    outside_costs = forms.CharField(
        label=gettext_lazy("costs from outside the system"), required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        help_text=gettext_lazy("Receipts you have checked, one line each: patient's ID number, date (YYYY-MM-DD), "
                               "description, total cost, paid by insurance, paid by assistance or others. "
                               "The scan of line N goes into receipt scan N."))
    note = forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        for prefix, count, label in (
                ("income_scan", INCOME_SCAN_FIELDS, gettext_lazy("income evidence scan %(n)d")),
                ("asset_scan", ASSET_SCAN_FIELDS, gettext_lazy("asset evidence scan %(n)d")),
                ("scan", SCAN_FIELDS, gettext_lazy("receipt scan %(n)d"))):
            for index in range(1, count + 1):
                self.fields[f"{prefix}_{index}"] = forms.FileField(
                    label=str(label) % {"n": index}, required=False, validators=ATTACHMENT_VALIDATORS,
                    help_text=gettext_lazy("PDF, JPG or PNG, at most %(mb)d MB.") % {
                        "mb": max_attachment_bytes() // (1024 * 1024)} if index == 1 else "")

    def _scans(self, data, prefix: str, count: int, lines: int, box_label, errors: list) -> dict[int, object]:
        """The scans of one box by line number; a scan without its line is an error naming both."""
        scans = {index: data[f"{prefix}_{index}"] for index in range(1, count + 1) if data.get(f"{prefix}_{index}")}
        for index in sorted(scans):
            if index > lines:
                errors.append(_("%(scan)s: %(box)s has no line %(n)d for it.")
                              % {"scan": self.fields[f"{prefix}_{index}"].label, "box": box_label, "n": index})
        return scans

    def _member(self, household, id_number, where):
        person = household.members.filter(person_search_q(id_number)).first() if id_number else None
        if person is None:
            raise ValidationError(_("%(where)s: no member of household %(household)s has ID number %(id)s.")
                                  % {"where": where, "household": household.number, "id": id_number})
        return person

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        household = scope_queryset(Household.objects.all(), self.user).filter(
            number=data["household_number"].strip()).first()
        if household is None:
            raise ValidationError({"household_number": _("No household with this number in your regions.")})
        errors = []

        def collect(function, *args):
            try:
                return function(*args)
            except ValidationError as error:
                errors.extend(error.messages)
                return None

        label = self.fields
        result = {"household": household}
        result["applicant"] = collect(self._member, household, data["applicant"].strip(),
                                      str(label["applicant"].label))
        result["patients"] = [
            collect(self._member, household, id_number.strip(),
                    _where(label["patients"].label, number, 1))
            for number, (id_number, *_rest) in _lines(data["patients"])]
        income_lines, asset_lines = list(_lines(data["incomes"])), list(_lines(data.get("assets")))
        income_scans = self._scans(data, "income_scan", INCOME_SCAN_FIELDS, len(income_lines),
                                   label["incomes"].label, errors)
        asset_scans = self._scans(data, "asset_scan", ASSET_SCAN_FIELDS, len(asset_lines), label["assets"].label,
                                  errors)
        incomes = []
        for index, (number, parts) in enumerate(income_lines, start=1):
            if len(parts) != 3:
                errors.append(_("%(where)s: needs ID number, income, evidence.")
                              % {"where": _where(label["incomes"].label, number, 1)})
                continue
            person = collect(self._member, household, parts[0], _where(label["incomes"].label, number, 1))
            amount = collect(_amount, parts[1], _where(label["incomes"].label, number, 2))
            incomes.append(IncomeItem(person, amount, parts[2], attachment=income_scans.get(index)))
        assets = []
        for index, (number, parts) in enumerate(asset_lines, start=1):
            kind = ASSET_KIND_WORDS.get(parts[0], parts[0] if parts[0] in AssetKind.values else None)
            if len(parts) != 3 or kind is None:
                errors.append(_("%(where)s: needs a kind (%(kinds)s), value, evidence.")
                              % {"where": _where(label["assets"].label, number, 1),
                                 "kinds": "、".join(dict.fromkeys(ASSET_KIND_WORDS))})
                continue
            assets.append(AssetItem(str(kind), collect(_amount, parts[1], _where(label["assets"].label, number, 2)),
                                    parts[2], attachment=asset_scans.get(index)))
        outside_lines = list(_lines(data.get("outside_costs")))
        self._scans(data, "scan", SCAN_FIELDS, len(outside_lines), label["outside_costs"].label, errors)
        outside = []
        for index, (number, parts) in enumerate(outside_lines, start=1):
            if len(parts) != 6:
                errors.append(_("%(where)s: needs six values separated by commas.")
                              % {"where": _where(label["outside_costs"].label, number, 1)})
                continue
            person = collect(self._member, household, parts[0], _where(label["outside_costs"].label, number, 1))
            try:
                day = dt.date.fromisoformat(parts[1])
            except ValueError:
                errors.append(_("%(where)s: needs a date written YYYY-MM-DD.")
                              % {"where": _where(label["outside_costs"].label, number, 2)})
                day = None
            amounts = [collect(_amount, parts[column - 1], _where(label["outside_costs"].label, number, column))
                       for column in (4, 5, 6)]
            outside.append(OutsideItem(person, day, parts[2], *amounts,
                                       attachment=data.get(f"scan_{index}") if index <= SCAN_FIELDS else None))
        if errors:
            raise ValidationError(errors)
        result.update(incomes=incomes, assets=assets, outside_costs=outside, applied_on=data["applied_on"],
                      note=data.get("note", ""))
        return result


class NoteForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)


class PayForm(forms.Form):
    paid_on = _date(gettext_lazy("paid on"))
    reference = forms.CharField(label=gettext_lazy("payment reference"), max_length=64)
    note = forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)


class ReturnForm(forms.Form):
    documents_requested = forms.CharField(label=gettext_lazy("documents requested"), max_length=300)


class ResubmitForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)


class RefuseForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("reason for refusal"), max_length=300)


APPLICATION_FORMS = {
    "initial_review": NoteForm, "approve": NoteForm, "pay": PayForm, "return_for_documents": ReturnForm,
    "resubmit": ResubmitForm, "refuse": RefuseForm,
}


class OpenCaseForm(forms.Form):
    person = forms.CharField(label=gettext_lazy("ID number"), max_length=18)
    opened_on = _date(gettext_lazy("opened on"))
    opening_unit = forms.CharField(label=gettext_lazy("opening township or department"), max_length=64)
    situation = forms.CharField(label=gettext_lazy("situation"), required=False, widget=forms.Textarea(
        attrs={"rows": 3, "cols": 70}))
    claims = forms.CharField(
        label=gettext_lazy("claims the aid is for"), required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}), help_text=gettext_lazy("Claim numbers, one per line."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        person = scope_queryset(Person.objects.all(), self.user).filter(person_search_q(data["person"])).first()
        if person is None or len(data["person"].strip()) < 15:
            raise ValidationError({"person": _("No person with this ID number in your regions.")})
        numbers = [parts[0] for _number, parts in _lines(data.get("claims"))]
        claims = list(Claim.objects.filter(person=person, number__in=numbers, status=ClaimStatus.SETTLED))
        missing = sorted(set(numbers) - {claim.number for claim in claims})
        if missing:
            raise ValidationError({"claims": _("Not settled claims of this person: %(numbers)s.")
                                   % {"numbers": ", ".join(missing)}})
        return {"person": person, "opened_on": data["opened_on"], "opening_unit": data["opening_unit"],
                "situation": data.get("situation", ""), "claims": claims}


class MeetingForm(forms.Form):
    held_on = _date(gettext_lazy("held on"))
    participants = forms.CharField(label=gettext_lazy("participants and their departments"),
                                   widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    minutes = forms.CharField(label=gettext_lazy("minutes"), widget=forms.Textarea(attrs={"rows": 4, "cols": 60}))
    attachment = forms.FileField(label=gettext_lazy("attachment"), required=False, validators=ATTACHMENT_VALIDATORS)


class DecideForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("aid amount"), min_value=Decimal("0.01"), decimal_places=2,
                                max_digits=14)
    funding_source = forms.ChoiceField(label=gettext_lazy("funding source"), choices=AidFunding.choices)
    payer = forms.CharField(label=gettext_lazy("payer"), max_length=100)
    decided_on = _date(gettext_lazy("decided on"))
    note = forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)


class FollowUpForm(forms.Form):
    noted_on = _date(gettext_lazy("date"))
    note = forms.CharField(label=gettext_lazy("note"), widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class RejectForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("reason"), max_length=300)


CASE_FORMS = {
    "record_meeting": MeetingForm, "decide": DecideForm, "approve_rural": NoteForm, "approve_health": NoteForm,
    "pay_case": PayForm, "follow_up": FollowUpForm, "close_case": NoteForm, "reject_case": RejectForm,
}
