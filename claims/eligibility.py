"""Eligibility look-up at admission (资格确认, SPEC §4.3): insured on the date, categories held, admission without a
deposit (先诊疗后付费) and what is left of the year's limits.

`eligibility` is the selector; two thin views present it: an admin page for bureau staff (scoped to their
regions) and a JSON endpoint for hospital users (`GET /api/eligibility/?id_number=…&date=YYYY-MM-DD`).
Both issue a fixed number of queries, whatever the person's identities or payment lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enrollment.admin.base import shown_id_number
from enrollment.idnumbers import mask_id_number, parse_id_number
from enrollment.models import Enrollment, IdentityCategory, Person, PolicyVersion
from enrollment.scoping import scope_queryset

from . import selectors
from .models import AssistanceBenefitRule, BenefitPolicy, CategoryTilt, Hospital, HospitalStaff
from .models.choices import Layer

__all__ = ["Eligibility", "Limit", "eligibility", "eligibility_admin_view", "eligibility_api", "urlpatterns"]

LOOKUP_PERMISSION = "claims.lookup_eligibility"
STAFF_PERMISSION = "enrollment.view_person"
_ZERO = Decimal("0.00")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Limit:
    """An annual limit: the cap (None: no cap), what the year's payment lines already hold, and what is left."""

    cap: Decimal | None
    paid: Decimal

    @property
    def remaining(self) -> Decimal | None:
        return None if self.cap is None else max(_ZERO, self.cap - self.paid)


@dataclass(frozen=True)
class Eligibility:
    """A person's standing on a date (资格): what a hospital needs at admission."""

    person: Person
    on_date: date
    enrollment: Enrollment | None
    categories: tuple[IdentityCategory, ...]
    policy: PolicyVersion | None
    hospital: Hospital | None
    #: The categories held on the date that the policy admits without a deposit.
    no_deposit_categories: tuple[IdentityCategory, ...] = ()
    basic: Limit | None = None
    critical: Limit | None = None
    #: The held category whose tilt removes the critical illness cap (for properly referred care), if any.
    critical_cap_removed_by: IdentityCategory | None = None
    assistance: Limit | None = None
    assistance_category: IdentityCategory | None = None

    @property
    def insured(self) -> bool:
        return self.enrollment is not None

    @property
    def no_deposit_by_category(self) -> bool:
        """Admission without a deposit at a county-internal hospital (the hospital itself not considered)."""
        return self.insured and bool(self.no_deposit_categories)

    @property
    def no_deposit(self) -> bool | None:
        """先诊疗后付费 at `hospital`: insured, a qualifying category and a county-internal hospital.

        None when no hospital was given (the admin page may ask without one).
        """
        if self.hospital is None:
            return None
        return self.no_deposit_by_category and self.hospital.in_county


def parse_iso_date(raw: str) -> date:
    """A date written exactly as YYYY-MM-DD (what the hospital systems send); anything else is refused."""
    raw = (raw or "").strip()
    if not _ISO_DATE.match(raw):
        raise ValidationError(
            gettext("“%(value)s” is not a date; write it as YYYY-MM-DD.") % {"value": raw}, code="bad_date")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(gettext("“%(value)s” is not a real calendar date.") % {"value": raw}, code="bad_date")


def eligibility(*, id_number: str, on_date: date, hospital: Hospital | None = None,
                people=None) -> Eligibility | None:
    """The standing of the person with `id_number` on `on_date`, or None when no such person is on file.

    Raises ValidationError for an invalid ID number. `people` limits whom the look-up may find (a region-scoped
    Person queryset for bureau staff); hospital users look up anyone by the exact number.

    Rules (SPEC §4.3):
    - insured: an 已参保 ledger row whose coverage includes the date (``claims.selectors.eligibility``);
    - categories: identities valid on the date;
    - 先诊疗后付费: insured, holding a category of the in-force policy's ``no_deposit_categories`` (Chongqing from
      2022: dibao, tekun, monitored and returned_poverty, not plain lifted people), at a county-internal hospital;
    - remaining limits: basic cap − basic paid this year; critical cap − critical paid (no cap when a held
      category's tilt removes it); the annual limit of the held category's assistance rule with the largest limit
      (outpatient and inpatient share it) − assistance paid this year.
    """
    number = parse_id_number(id_number).number
    people = Person.objects.all() if people is None else people
    person = people.select_related("region").filter(id_number=number).first()
    if person is None:
        return None

    standing = selectors.eligibility(person.pk, on_date)
    categories = tuple({identity.category_id: identity.category for identity in standing.identities}.values())
    policy = selectors.policy_for_service(person.region, on_date)
    result = Eligibility(person=person, on_date=on_date, enrollment=standing.enrollment, categories=categories,
                         policy=policy, hospital=hospital)
    if policy is None:
        return result
    settings = BenefitPolicy.objects.filter(policy=policy).first()
    if settings is None:
        return result
    return _with_benefits(result, settings, person_id=person.pk, year=on_date.year)


def _with_benefits(result: Eligibility, settings: BenefitPolicy, *, person_id: int, year: int) -> Eligibility:
    """Four queries whatever the person holds: no-deposit categories, cap-removing tilt, assistance rule, YTD."""
    held = [category.pk for category in result.categories]
    no_deposit_ids = set(settings.no_deposit_categories.filter(pk__in=held).values_list("pk", flat=True))
    cap_removing_tilt = (
        CategoryTilt.objects.filter(policy_id=settings.policy_id, layer=Layer.CRITICAL, cap_removed=True,
                                    category__in=held)
        .select_related("category").order_by("category__sort_order").first())
    # 就高: of the held categories' assistance rules, the one with the largest annual limit leaves the most room
    # (the year's assistance paid is one sum, whichever rule paid it); a higher ratio breaks ties.
    best_assistance = (
        AssistanceBenefitRule.objects.filter(policy_id=settings.policy_id, category__in=held)
        .select_related("category").order_by("-annual_limit", "-ratio", "category__sort_order").first())
    ytd = selectors.year_to_date(person_id, year)
    return replace(
        result,
        no_deposit_categories=tuple(category for category in result.categories if category.pk in no_deposit_ids),
        basic=Limit(cap=settings.basic_annual_cap, paid=ytd.basic_paid),
        critical=Limit(cap=None if cap_removing_tilt else settings.critical_annual_cap, paid=ytd.critical_paid),
        critical_cap_removed_by=cap_removing_tilt.category if cap_removing_tilt else None,
        assistance=Limit(cap=best_assistance.annual_limit, paid=ytd.assistance_paid) if best_assistance else None,
        assistance_category=best_assistance.category if best_assistance else None,
    )


# --- JSON endpoint for hospital users -----------------------------------------------------------------------------

def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _limit_json(limit: Limit | None) -> dict | None:
    if limit is None:
        return None
    return {"cap": _money(limit.cap), "paid": _money(limit.paid), "remaining": _money(limit.remaining)}


def eligibility_json(result: Eligibility) -> dict:
    """What a hospital is told: the masked ID number, never the name or other personal data."""
    enrollment = result.enrollment
    return {
        "found": True,
        "id_number": mask_id_number(result.person.id_number),
        "date": result.on_date.isoformat(),
        "insured": result.insured,
        "plan_year": enrollment.plan_year if enrollment else None,
        "covered_from": enrollment.coverage_start.isoformat() if enrollment and enrollment.coverage_start else None,
        "covered_until": enrollment.coverage_end.isoformat() if enrollment and enrollment.coverage_end else None,
        "categories": [{"code": category.code, "name": category.name} for category in result.categories],
        "no_deposit": bool(result.no_deposit),
        "no_deposit_categories": [category.code for category in result.no_deposit_categories],
        "policy": result.policy.code if result.policy else None,
        "limits": {
            "basic": _limit_json(result.basic),
            "critical": _limit_json(result.critical),
            "assistance": _limit_json(result.assistance),
        },
    }


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": str(message), **extra}, status=status, json_dumps_params={"ensure_ascii": False})


def eligibility_api(request):
    """GET /api/eligibility/?id_number=…&date=YYYY-MM-DD (date defaults to today, Asia/Shanghai).

    Session authentication; the user needs ``claims.lookup_eligibility`` and a hospital link (HospitalStaff),
    whose hospital decides 先诊疗后付费. 401 when not logged in, 403 without the right or the link, 400 for a bad
    ID number or date, 404 ``{"found": false}`` for a number not on file.
    """
    if request.method != "GET":
        response = _error(405, gettext("Only GET is allowed."))
        response["Allow"] = "GET"
        return response
    user = request.user
    if not user.is_authenticated:
        return _error(401, gettext("Log in first."))
    if not user.has_perm(LOOKUP_PERMISSION):
        return _error(403, gettext("You may not look up eligibility."))
    staff = HospitalStaff.objects.select_related("hospital").filter(user=user).first()
    if staff is None:
        return _error(403, gettext("Your account is not linked to a hospital."))

    raw_id = request.GET.get("id_number", "").strip()
    if not raw_id:
        return _error(400, gettext("Give the patient's ID number (id_number)."), field="id_number")
    raw_date = request.GET.get("date", "").strip()
    try:
        on_date = parse_iso_date(raw_date) if raw_date else timezone.localdate()
    except ValidationError as error:
        return _error(400, error.messages[0], field="date")
    try:
        result = eligibility(id_number=raw_id, on_date=on_date, hospital=staff.hospital)
    except ValidationError as error:
        return _error(400, error.messages[0], field="id_number")
    if result is None:
        return JsonResponse({"found": False}, status=404)
    return JsonResponse(eligibility_json(result), json_dumps_params={"ensure_ascii": False})


# Included by config/urls.py at api/eligibility/.
urlpatterns = [path("", eligibility_api, name="api-eligibility")]


# --- Admin page for bureau staff --------------------------------------------------------------------------------

class EligibilityForm(forms.Form):
    id_number = forms.CharField(label=_("ID number"), max_length=24)
    on_date = forms.DateField(label=_("date of admission"), widget=forms.DateInput(attrs={"type": "date"}))
    hospital = forms.ModelChoiceField(
        label=_("hospital"), queryset=Hospital.objects.none(), required=False,
        help_text=_("Optional: whether this hospital admits the patient without a deposit (先诊疗后付费)."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["on_date"].initial = timezone.localdate()
        self.fields["hospital"].queryset = scope_queryset(Hospital.objects.order_by("code"), user)

    def clean_id_number(self):
        return parse_id_number(self.cleaned_data["id_number"]).number


def _limit_rows(result: Eligibility) -> list[tuple]:
    critical_note = assistance_note = ""
    if result.critical_cap_removed_by is not None:
        critical_note = gettext("no cap for %(category)s (properly referred care)") % {
            "category": result.critical_cap_removed_by.name}
    if result.assistance_category is not None:
        assistance_note = gettext("rule of %(category)s; outpatient and inpatient care share the limit") % {
            "category": result.assistance_category.name}
    return [
        (Layer.BASIC.label, result.basic, ""),
        (Layer.CRITICAL.label, result.critical, critical_note),
        (Layer.ASSISTANCE.label, result.assistance, assistance_note),
    ]


def eligibility_admin_view(request, *, admin_site, opts):
    """The staff look-up page: the same selector, limited to the people of the user's regions."""
    if not request.user.has_perm(STAFF_PERMISSION):
        raise PermissionDenied
    form = EligibilityForm(request.GET or None, user=request.user)
    result = None
    searched = False
    if form.is_valid():
        searched = True
        result = eligibility(
            id_number=form.cleaned_data["id_number"], on_date=form.cleaned_data["on_date"],
            hospital=form.cleaned_data["hospital"], people=scope_queryset(Person.objects.all(), request.user))
    context = {
        **admin_site.each_context(request),
        "title": _("Eligibility look-up"),
        "opts": opts,
        "form": form,
        "searched": searched,
        "result": result,
        "shown_id_number": shown_id_number(request, result.person.id_number) if result else "",
        "limits": _limit_rows(result) if result else [],
    }
    return TemplateResponse(request, "claims/eligibility.html", context)
