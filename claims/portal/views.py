"""The hospital portal's pages: log-in, home, eligibility look-up, settled claims and slips, batches (申报)."""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from enrollment.scoping import scope_queryset, user_hospital_id

from .. import slips
from ..calendar import work_calendar
from ..eligibility import look_up_for_hospital
from ..filters import IsoDateInput, IsoDateRangeWidget
from ..hospital_access import request_access
from ..models import Claim, HospitalBatch
from ..models.batches import BatchState
from ..models.choices import VisitType
from ..services import batches as batch_services
from ..views import _clock, _labelled_events
from .access import portal_context, portal_view
from .batchfile import read_batch_file
from .selectors import declarable_claims, hospital_batches, settled_claims

PAGE_SIZE = 50
LOOKUP = "claims.lookup_eligibility"
VIEW_CLAIMS = "claims.view_claim"
VIEW_BATCHES = "claims.view_hospitalbatch"
SUBMIT = "claims.submit_batch"
#: A period's claims are listed for choosing; beyond this many the hospital declares them by file.
MAX_LISTED = 1000


# --- Log-in --------------------------------------------------------------------------------------------------------

class HospitalAuthenticationForm(AuthenticationForm):
    """Hospital users log in here without being staff; bureau staff use the back office's own log-in."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if user_hospital_id(user) is None:
            raise ValidationError(
                _("This account is not linked to a hospital. Bureau staff log in to the back office."),
                code="not_hospital")


class HospitalLoginView(auth_views.LoginView):
    template_name = "claims/portal/login.html"
    authentication_form = HospitalAuthenticationForm
    redirect_authenticated_user = False
    next_page = reverse_lazy("hospital:home")

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **portal_context(
            self.request, title=_("Hospital portal: log in"), app_path=self.request.get_full_path(),
            username=self.request.user.get_username())}


class HospitalLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("hospital:login")


# --- Home ----------------------------------------------------------------------------------------------------------

@portal_view()
def home_view(request):
    open_batches = hospital_batches(request.user).exclude(state=BatchState.CLOSED)
    return TemplateResponse(request, "claims/portal/home.html", portal_context(
        request, title=request.hospital.name,
        may_look_up=request.user.has_perm(LOOKUP), may_submit=request.user.has_perm(SUBMIT),
        open_batches=open_batches.count()))


# --- Eligibility -----------------------------------------------------------------------------------------------------

class LookupForm(forms.Form):
    id_number = forms.CharField(label=gettext_lazy("ID number"), max_length=24,
                                widget=forms.TextInput(attrs={"autocomplete": "off", "size": 24}))
    date = forms.DateField(label=gettext_lazy("date of admission"), widget=IsoDateInput(), required=False,
                           help_text=gettext_lazy("Empty: today."))


@portal_view(LOOKUP)
def eligibility_view(request):
    """The look-up as a form; a POST, like the JSON endpoint, so the ID number never appears in a URL."""
    form = LookupForm(request.POST or None, initial={"date": timezone.localdate()})
    answer = None
    status = 200
    if request.method == "POST" and form.is_valid():
        access = request_access(request)
        if access is None:
            raise PermissionDenied
        on_date = form.cleaned_data["date"]
        answer = look_up_for_hospital(access, raw_id=form.cleaned_data["id_number"],
                                      raw_date=on_date.isoformat() if on_date else "")
        status = answer.status if answer.status in (400, 429) else 200
        if status == 200:
            # Answered: the next patient starts from an empty field, and the number is not echoed into the page.
            form = LookupForm(initial={"date": on_date or timezone.localdate()})
    response = TemplateResponse(request, "claims/portal/eligibility.html", portal_context(
        request, title=_("Eligibility look-up"), form=form, answer=answer,
        body=answer.body if answer else None, api_url=reverse("api-eligibility")), status=status)
    if answer and answer.retry_after:
        response["Retry-After"] = str(answer.retry_after)
    return response


# --- Claims --------------------------------------------------------------------------------------------------------

class ClaimFilter(django_filters.FilterSet):
    admitted = django_filters.DateFromToRangeFilter(
        field_name="admitted_on", label=gettext_lazy("admitted / visit date"), widget=IsoDateRangeWidget())
    visit_type = django_filters.ChoiceFilter(label=gettext_lazy("visit type"), choices=VisitType.choices)
    declared = django_filters.ChoiceFilter(
        label=gettext_lazy("declared"), method="filter_declared",
        choices=[("no", gettext_lazy("not yet declared")), ("yes", gettext_lazy("declared in a batch"))])
    number = django_filters.CharFilter(label=gettext_lazy("claim number"), method="filter_number")

    class Meta:
        model = Claim
        fields = []

    def filter_declared(self, queryset, name, value):
        if value == "no":
            return queryset.filter(batch_number__isnull=True)
        if value == "yes":
            return queryset.filter(batch_number__isnull=False)
        return queryset

    def filter_number(self, queryset, name, value):
        return queryset.filter(number=value.strip()) if value.strip() else queryset


@portal_view(VIEW_CLAIMS)
def claims_view(request):
    filterset = ClaimFilter(request.GET or None, queryset=settled_claims(request.user))
    queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else settled_claims(request.user)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("p"))
    params = request.GET.copy()
    params.pop("p", None)
    return TemplateResponse(request, "claims/portal/claims.html", portal_context(
        request, title=_("Settled claims"), filter=filterset, page_obj=page, query=params.urlencode()))


@portal_view(VIEW_CLAIMS)
def claim_slip_view(request, pk):
    claim = get_object_or_404(
        scope_queryset(Claim.objects.select_related("person", "hospital", "region"), request.user), pk=pk)
    return slips.render_slip(request, claim, back_url=reverse("hospital:claims"))


# --- Batches -------------------------------------------------------------------------------------------------------

@portal_view(VIEW_BATCHES)
def batches_view(request):
    page = Paginator(hospital_batches(request.user), PAGE_SIZE).get_page(request.GET.get("p"))
    return TemplateResponse(request, "claims/portal/batches.html", portal_context(
        request, title=_("Advance-payment batches"), page_obj=page, may_submit=request.user.has_perm(SUBMIT)))


@portal_view(VIEW_BATCHES)
def batch_view(request, pk):
    batch = get_object_or_404(scope_queryset(HospitalBatch.objects.select_related("hospital"), request.user), pk=pk)
    lines = Paginator(batch.lines.select_related("claim__person").order_by("pk"), PAGE_SIZE)
    today = timezone.localdate()
    due_on = batch.advance_due_on if batch.advance_paid_on is None else batch.final_due_on
    clock = _clock(work_calendar(), today, due_on) if (due_on and batch.final_paid_on is None) else None
    deductions = batch.lines.aggregate(
        rejected=Count("pk", filter=Q(approved=False)), reduced=Count("pk", filter=Q(approved=True, deduction__gt=0)),
        deducted=Sum("deduction"))
    return TemplateResponse(request, "claims/portal/batch.html", portal_context(
        request, title=_("Batch %(number)s") % {"number": batch.number}, batch=batch, clock=clock,
        lines_page=lines.get_page(request.GET.get("p")), deductions=deductions,
        events=_labelled_events(batch.events.select_related("by"), actions=batch_services.BATCH_ACTIONS,
                                states=BatchState)))


class PeriodForm(forms.Form):
    period_start = forms.DateField(label=gettext_lazy("period from"), widget=IsoDateInput())
    period_end = forms.DateField(label=gettext_lazy("period to"), widget=IsoDateInput())

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("period_start"), cleaned.get("period_end")
        if start and end and start > end:
            raise ValidationError(_("The period ends before it starts."))
        if end and end > timezone.localdate():
            raise ValidationError(_("The period cannot end in the future."))
        return cleaned

    @property
    def period(self):
        return self.cleaned_data["period_start"], self.cleaned_data["period_end"]


class BatchFileForm(PeriodForm):
    file = forms.FileField(label=gettext_lazy("batch file (.xlsx or CSV)"))


def _submit(request, *, period, claim_ids):
    """Submit; on success the batch page, else the messages to show."""
    try:
        batch = batch_services.submit_batch(period=period, claims=claim_ids, by=request.user)
    except PermissionDenied as error:
        return None, [str(error) or _("You may not do this.")]
    except ValidationError as error:
        return None, error.messages
    messages.success(request, _("Batch %(number)s submitted: %(count)d claims, declared %(total)s. The advance "
                                "falls due on %(due)s.") % {
        "number": batch.number, "count": batch.lines.count(), "total": batch.declared_total,
        "due": batch.advance_due_on.isoformat()})
    return redirect("hospital:batch", pk=batch.pk), []


@portal_view(SUBMIT)
def new_batch_view(request):
    """Choose a period, see its settled claims not yet declared, submit the ones ticked."""
    form = PeriodForm(request.GET or None)
    claims, errors, too_many = [], [], False
    if form.is_bound and form.is_valid():
        listed = list(declarable_claims(request.user, form.period)[:MAX_LISTED + 1])
        too_many = len(listed) > MAX_LISTED
        claims = listed[:MAX_LISTED]
        if request.method == "POST":
            chosen = {int(value) for value in request.POST.getlist("claim") if value.isdigit()}
            if not chosen:
                errors = [_("Tick at least one claim.")]
            else:
                response, errors = _submit(request, period=form.period, claim_ids=chosen)
                if response:
                    return response
    return TemplateResponse(request, "claims/portal/batch_new.html", portal_context(
        request, title=_("New batch"), form=form, claims=claims, too_many=too_many, max_listed=MAX_LISTED,
        total=sum((claim.fund_paid for claim in claims), 0), errors=errors,
        file_form=BatchFileForm(initial=request.GET or None)), status=400 if errors else 200)


@require_POST
@portal_view(SUBMIT)
def batch_file_view(request):
    """Submit a batch from a file: every row error is listed and nothing is submitted while any remains."""
    file_form = BatchFileForm(request.POST, request.FILES)
    errors = []
    if file_form.is_valid():
        parsed = read_batch_file(file_form.cleaned_data["file"], user=request.user, period=file_form.period)
        errors = parsed.errors
        if not errors and not parsed.claim_ids:
            errors = [_("The file lists no claims.")]
        if not errors:
            response, errors = _submit(request, period=file_form.period, claim_ids=parsed.claim_ids)
            if response:
                return response
    return TemplateResponse(request, "claims/portal/batch_new.html", portal_context(
        request, title=_("New batch"), form=PeriodForm(), claims=[], file_form=file_form, file_errors=errors,
        max_listed=MAX_LISTED), status=400)
