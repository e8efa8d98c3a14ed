"""Eligibility look-up at admission (资格确认, SPEC §4.3): insured on the date, categories held, admission without a
deposit (先诊疗后付费) and what is left of the year's limits.

`eligibility` is the selector; two thin views present it: an admin page for bureau staff (scoped to their
regions) and, for hospital users, a JSON endpoint (`POST /api/eligibility/`) and the portal's form, which share
`look_up_for_hospital`. Every look-up issues a fixed number of queries whatever the person holds, and is recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django import forms
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from enrollment.admin.base import shown_id_number
from enrollment.idnumbers import mask_id_number, parse_id_number
from enrollment.models import Enrollment, IdentityCategory, Person, PolicyVersion
from enrollment.scoping import scope_queryset

from . import ratelimit, selectors, standing_sql
from .hospital_access import HospitalAccess, request_access
from .models import CategoryTilt, EligibilityLookup, Hospital, LookupOutcome
from .models.choices import Layer
from .policy_cache import PolicyBundle, identity_categories, policy_bundle

__all__ = ["Eligibility", "Limit", "eligibility", "eligibility_admin_view", "eligibility_api", "look_up_for_hospital",
           "urlpatterns"]

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
    #: The tilts (倾斜) of the held categories in the policy, basic and critical illness layers.
    tilts: tuple[CategoryTilt, ...] = ()
    #: Whether the tilts apply only to properly referred care (seed 002 §二(七)).
    tilts_need_referral: bool = False

    @property
    def insured(self) -> bool:
        return self.enrollment is not None

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers that pay for this person on the date: basic and critical illness insurance for the insured,
        medical assistance when a held category has an assistance rule."""
        if not self.insured:
            return ()
        layers = [Layer.BASIC, Layer.CRITICAL]
        if self.assistance_category is not None:
            layers.append(Layer.ASSISTANCE)
        return tuple(str(layer) for layer in layers)

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
    if people is None:
        return _hospital_path(number, on_date, hospital)
    person = people.select_related("region").filter(id_number=number).first()
    if person is None:
        return None

    standing = selectors.eligibility(person.pk, on_date)
    categories = tuple({identity.category_id: identity.category for identity in standing.identities}.values())
    bundle = policy_bundle(person.region_id, on_date)
    result = Eligibility(person=person, on_date=on_date, enrollment=standing.enrollment, categories=categories,
                         policy=bundle.policy, hospital=hospital)
    if bundle.settings is None:
        return result
    return _with_benefits(result, bundle, ytd=selectors.year_to_date(person.pk, on_date.year))


def _hospital_path(number: str, on_date: date, hospital: Hospital | None) -> Eligibility | None:
    """Anyone by the exact number, in one statement (claims.standing_sql) plus the cached policy and categories."""
    found = standing_sql.standing(number, on_date)
    if found is None:
        return None
    by_id = identity_categories()
    bundle = policy_bundle(found.person.region_id, on_date)
    result = Eligibility(person=found.person, on_date=on_date, enrollment=found.enrollment,
                         categories=tuple(by_id[pk] for pk in found.category_ids), policy=bundle.policy,
                         hospital=hospital)
    if bundle.settings is None:
        return result
    ytd = selectors.YearToDate(basic_paid=found.basic_paid, critical_paid=found.critical_paid,
                               assistance_paid=found.assistance_paid)
    return _with_benefits(result, bundle, ytd=ytd)


def _with_benefits(result: Eligibility, bundle: PolicyBundle, *, ytd: selectors.YearToDate) -> Eligibility:
    """The policy's part comes from the cached bundle, the year's payments from the caller."""
    settings = bundle.settings
    held = {category.pk for category in result.categories}
    by_id = {category.pk: category for category in result.categories}
    tilts = tuple(tilt for tilt in bundle.tilts if tilt.category_id in held)
    cap_removing_tilt = next(
        (tilt for tilt in tilts if tilt.layer == Layer.CRITICAL and tilt.cap_removed), None)
    # 就高: of the held categories' assistance rules, the one with the largest annual limit leaves the most room
    # (the year's assistance paid is one sum, whichever rule paid it); a higher ratio breaks ties.
    best_assistance = next((rule for rule in bundle.assistance_rules if rule.category_id in held), None)
    return replace(
        result,
        no_deposit_categories=tuple(
            category for category in result.categories if category.pk in bundle.no_deposit_category_ids),
        basic=Limit(cap=settings.basic_annual_cap, paid=ytd.basic_paid),
        critical=Limit(cap=None if cap_removing_tilt else settings.critical_annual_cap, paid=ytd.critical_paid),
        critical_cap_removed_by=by_id[cap_removing_tilt.category_id] if cap_removing_tilt else None,
        assistance=Limit(cap=best_assistance.annual_limit, paid=ytd.assistance_paid) if best_assistance else None,
        assistance_category=by_id[best_assistance.category_id] if best_assistance else None,
        tilts=tilts,
        tilts_need_referral=settings.tilt_requires_referral,
    )


# --- Hospital users: the JSON endpoint and the portal's form share one path ------------------------------------

def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _limit_json(limit: Limit | None) -> dict | None:
    if limit is None:
        return None
    return {"cap": _money(limit.cap), "remaining": _money(limit.remaining)}


def _ratio(value) -> str | None:
    return None if value is None else f"{value:.4f}"


@lru_cache(maxsize=8)
def _layer_names(language: str | None) -> dict[str, str]:
    """The layers' names in a language, translated once per process rather than on every answer."""
    return {code: str(label) for code, label in Layer.choices}


def eligibility_json(result: Eligibility) -> dict:
    """What a hospital is told (SPEC §4.3): insured on the date, identity categories, the layers and tilts that
    apply, 先诊疗后付费 and what is left of the year's limits — with the masked ID number, never the name, the
    household, other personal data or what was paid."""
    enrollment = result.enrollment
    layer_names = _layer_names(get_language())
    return {
        "found": True,
        "id_number": mask_id_number(result.person.id_number),
        "date": result.on_date.isoformat(),
        "insured": result.insured,
        "plan_year": enrollment.plan_year if enrollment else None,
        "covered_from": enrollment.coverage_start.isoformat() if enrollment and enrollment.coverage_start else None,
        "covered_until": enrollment.coverage_end.isoformat() if enrollment and enrollment.coverage_end else None,
        "categories": [{"code": category.code, "name": category.name} for category in result.categories],
        "layers": [{"code": code, "name": layer_names[code]} for code in result.layers],
        "tilts": [
            {"layer": tilt.layer, "layer_name": layer_names[tilt.layer],
             "category": tilt.category.code, "category_name": tilt.category.name,
             "deductible_reduction": _ratio(tilt.deductible_reduction), "ratio_plus": _ratio(tilt.ratio_plus),
             "ratio_floor": _ratio(tilt.ratio_floor), "cap_removed": tilt.cap_removed}
            for tilt in (result.tilts if result.insured else ())],
        "tilts_need_referral": result.tilts_need_referral,
        "no_deposit": bool(result.no_deposit),
        "no_deposit_categories": [category.code for category in result.no_deposit_categories],
        "policy": result.policy.code if result.policy else None,
        "limits": {
            "basic": _limit_json(result.basic),
            "critical": _limit_json(result.critical),
            "assistance": _limit_json(result.assistance),
        } if result.insured else None,
    }


@dataclass(frozen=True)
class HospitalAnswer:
    """The outcome of a hospital's look-up: an HTTP status and the JSON body (also rendered by the portal)."""

    status: int
    body: dict
    result: Eligibility | None = None
    retry_after: int = 0


@lru_cache(maxsize=8)
def _rate(text: str) -> ratelimit.Rate:
    return ratelimit.parse_rate(text)


_PERIODS = {1: _("second"), 60: _("minute"), 3600: _("hour"), 86400: _("day")}


def _refused(status: int, message: str, **extra) -> HospitalAnswer:
    return HospitalAnswer(status, {"error": str(message), **extra})


def look_up_for_hospital(access: HospitalAccess, *, raw_id: str, raw_date: str) -> HospitalAnswer:
    """A hospital user's look-up: permission, hospital link, rate limit, the selector and its record."""
    if not access.may_look_up:
        return _refused(403, gettext("You may not look up eligibility."))
    if access.hospital_id is None:
        return _refused(403, gettext("Your account is not linked to a hospital."))
    rate = _rate(django_settings.ELIGIBILITY_RATE_LIMIT)
    verdict = ratelimit.hit("eligibility", access.user_id, rate)
    if not verdict.allowed:
        answer = _refused(429, gettext(
            "Too many eligibility look-ups: at most %(count)d per %(period)s. Try again in %(seconds)d seconds.")
            % {"count": rate.count, "period": _PERIODS[rate.seconds], "seconds": verdict.retry_after})
        return replace(answer, retry_after=verdict.retry_after)
    raw_id, raw_date = (raw_id or "").strip(), (raw_date or "").strip()
    if not raw_id:
        return _refused(400, gettext("Give the patient's ID number (id_number)."), field="id_number")
    try:
        on_date = parse_iso_date(raw_date) if raw_date else timezone.localdate()
    except ValidationError as error:
        return _refused(400, error.messages[0], field="date")
    # What was asked is recorded as typed, less control characters (PostgreSQL refuses a NUL in text).
    asked = "".join(ch if ch.isprintable() else "\ufffd" for ch in raw_id)[:24]
    record = {"user_id": access.user_id, "hospital_id": access.hospital_id, "region_id": access.hospital_region_id,
              "on_date": on_date}
    try:
        result = eligibility(id_number=raw_id, on_date=on_date, hospital=_hospital_of(access))
    except ValidationError as error:
        standing_sql.record_lookup(**record, id_number=asked, outcome=LookupOutcome.INVALID)
        return _refused(400, error.messages[0], field="id_number")
    if result is None:
        standing_sql.record_lookup(**record, id_number=asked, outcome=LookupOutcome.NOT_FOUND)
        return HospitalAnswer(404, {"found": False, "message": gettext("No person with this ID number is on file.")})
    standing_sql.record_lookup(**record, **_recorded_result(result))
    return HospitalAnswer(200, eligibility_json(result), result=result)


@lru_cache(maxsize=256)
def _hospital_of(access: HospitalAccess) -> Hospital:
    """The hospital as far as the look-up needs it (id, region, in the county), one unsaved instance per access."""
    return Hospital(pk=access.hospital_id, region_id=access.hospital_region_id, in_county=access.hospital_in_county)


def _recorded_result(result: Eligibility) -> dict:
    return {"id_number": result.person.id_number,
            "outcome": LookupOutcome.INSURED if result.insured else LookupOutcome.NOT_INSURED,
            "categories": ",".join(category.code for category in result.categories)[:200],
            "no_deposit": result.no_deposit}


def _record_result(record: EligibilityLookup, result: Eligibility | None) -> None:
    if result is not None:
        for name, value in _recorded_result(result).items():
            setattr(record, name, value)
    else:
        record.outcome = LookupOutcome.NOT_FOUND
    record.save()


def json_answer(answer: HospitalAnswer) -> JsonResponse:
    response = JsonResponse(answer.body, status=answer.status, json_dumps_params={"ensure_ascii": False})
    if answer.retry_after:
        response["Retry-After"] = str(answer.retry_after)
    return response


def _posted(request) -> dict:
    """The POST's fields, form-encoded or a JSON object: the ID number travels in the body, never in a URL that
    access logs keep."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return {key: str(value) for key, value in data.items()} if isinstance(data, dict) else {}
    return request.POST


def eligibility_api(request):
    """POST /api/eligibility/ with ``id_number`` and ``date`` (YYYY-MM-DD, default today in Asia/Shanghai) as a
    form or a JSON object; the session's CSRF token in the ``X-CSRFToken`` header.

    401 when not logged in, 403 without the right or the hospital link, 429 over the rate limit
    (``ELIGIBILITY_RATE_LIMIT``; ``Retry-After`` says when), 400 for a bad ID number or date, 404
    ``{"found": false}`` for a number not on file. Every answered look-up is recorded (EligibilityLookup).
    """
    if request.method != "POST":
        response = _error(405, gettext("Send the look-up as a POST: an ID number never belongs in a URL."))
        response["Allow"] = "POST"
        return response
    access = request_access(request)
    if access is None:
        return _error(401, gettext("Log in first."))
    data = _posted(request)
    return json_answer(look_up_for_hospital(access, raw_id=data.get("id_number", ""),
                                            raw_date=data.get("date", "")))


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": str(message), **extra}, status=status, json_dumps_params={"ensure_ascii": False})


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
    # A POST, like the hospitals' look-up: an ID number typed here never reaches a URL or an access log.
    form = EligibilityForm(request.POST or None, user=request.user)
    result = None
    searched = False
    if form.is_valid():
        searched = True
        result = eligibility(
            id_number=form.cleaned_data["id_number"], on_date=form.cleaned_data["on_date"],
            hospital=form.cleaned_data["hospital"], people=scope_queryset(Person.objects.all(), request.user))
        _record_result(EligibilityLookup(
            user=request.user, hospital=form.cleaned_data["hospital"],
            region_id=result.person.region_id if result else None, id_number=form.cleaned_data["id_number"],
            on_date=form.cleaned_data["on_date"]), result)
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
