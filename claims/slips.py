"""The printable settlement slip (结算单, "一单清", SPEC §4.2): one A4 page per settlement showing every layer.

The amounts come from the settlement row (what was decided), the funding sources from its payment lines (who
pays), the arithmetic from the steps the rule engine wrote (`claims.rules.settlement`). The view is an admin view
(`ClaimAdmin.get_urls`): the claim is fetched through the admin's region-scoped queryset, so another region's
claim is a 404 like a claim that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enrollment.admin.base import shown_id_number
from enrollment.models import IdentityCategory
from enrollment.models.choices import FundingSource

from .models import Settlement
from .models.choices import Layer

# The step labels written by claims.rules.settlement, by the layer whose amount they explain. A step whose label
# is not listed here (a label added to the engine later) is still printed, under "other steps".
STEP_LAYERS: dict[str, str] = {
    "按病种定额": Layer.HOSPITAL,
    "目录外费用控制": Layer.HOSPITAL,
    "基本医保": Layer.BASIC,
    "大病保险": Layer.CRITICAL,
    "医疗救助": Layer.ASSISTANCE,
    "个人自付": Layer.PATIENT,
}
MONEY_LAYERS = (Layer.BASIC, Layer.CRITICAL, Layer.ASSISTANCE, Layer.HOSPITAL, Layer.PATIENT)
_SETTLEMENT_FIELD = {
    Layer.BASIC: "basic",
    Layer.CRITICAL: "critical",
    Layer.ASSISTANCE: "assistance",
    Layer.HOSPITAL: "hospital_borne",
    Layer.PATIENT: "patient_pays",
}
FUNDING_LABELS = dict(FundingSource.choices)


@dataclass
class SlipRow:
    layer: str
    label: str
    amount: Decimal
    category: IdentityCategory | None = None
    funding: list[tuple[str, Decimal]] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SlipLayers:
    """The money layers of one settlement in order, the steps no layer claims, and the invariant check."""

    rows: list[SlipRow]
    other_steps: list[tuple[str, str]]
    total_cost: Decimal

    @property
    def parts_total(self) -> Decimal:
        return sum((row.amount for row in self.rows), Decimal("0.00"))

    @property
    def balanced(self) -> bool:
        return self.parts_total == self.total_cost

    @property
    def patient(self) -> SlipRow:
        return self.rows[-1]


def _layers(*, amounts: dict, categories: dict, funding: list[tuple[str, str, Decimal]], steps,
            total_cost: Decimal) -> SlipLayers:
    """`funding` holds (layer, funding source code, amount) per payment line; `steps` the engine's (label, text)."""
    rows = {layer: SlipRow(layer=layer, label=str(Layer(layer).label), amount=amounts[layer],
                           category=categories.get(layer))
            for layer in MONEY_LAYERS}
    for layer, source, amount in funding:
        if layer in rows and source:
            rows[layer].funding.append((str(FUNDING_LABELS.get(source, source)), amount))
    other_steps = []
    for label, text in steps or []:
        layer = STEP_LAYERS.get(label)
        (rows[layer].steps if layer else other_steps).append((label, text))
    return SlipLayers([rows[layer] for layer in MONEY_LAYERS], other_steps, total_cost)


def settlement_layers(settlement: Settlement, *, total_cost: Decimal) -> SlipLayers:
    """The slip of a stored settlement: amounts as decided, funding from its own (non-reversal) payment lines."""
    return _layers(
        amounts={layer: getattr(settlement, name) for layer, name in _SETTLEMENT_FIELD.items()},
        categories={Layer.BASIC: settlement.basic_category, Layer.CRITICAL: settlement.critical_category,
                    Layer.ASSISTANCE: settlement.assistance_category},
        funding=[(line.layer, line.funding_source, line.amount)
                 for line in settlement.lines.all() if not line.is_reversal],  # prefetched
        steps=settlement.steps,
        total_cost=total_cost,
    )


def preview_layers(preview) -> SlipLayers:
    """The same presentation for `claims.services.settlement.preview_settlement` (nothing booked yet)."""
    return _layers(
        amounts={layer: amount for layer, amount, _source in preview.lines() if layer in _SETTLEMENT_FIELD},
        categories={Layer.BASIC: preview.basic_category, Layer.CRITICAL: preview.critical_category,
                    Layer.ASSISTANCE: preview.assistance_category},
        funding=[(layer, source, amount) for layer, amount, source in preview.lines()],
        steps=preview.result.steps,
        total_cost=preview.result.total_cost,
    )


def _settlement_for(claim, requested: str | None) -> Settlement | None:
    """The settlement to print: the one asked for, else the live one, else the latest (then shown as reversed)."""
    settlements = (
        Settlement.objects.filter(claim=claim)
        .select_related("policy", "created_by", "reversed_by", "basic_category", "critical_category",
                        "assistance_category")
        .prefetch_related("lines")
        .order_by("-created_at", "-pk")
    )
    if requested is not None:
        settlement = settlements.filter(pk=int(requested)).first() if requested.isdigit() else None
        if settlement is None:
            raise Http404
        return settlement
    return settlements.filter(reversed_at__isnull=True).first() or settlements.first()


def claim_as_settled(claim, settlement: Settlement):
    """The claim as it stood when `settlement` was made (a correction may have changed it since), from its
    history; the live claim when no history row is that old."""
    record = (claim.history.filter(history_date__lte=settlement.created_at)
              .order_by("-history_date", "-history_id").first())
    if record is None:
        return claim
    historic = record.instance
    historic.person, historic.region = claim.person, claim.region  # neither changes once a claim is registered
    return historic


def _operator(user) -> str:
    if user is None:
        return "—"
    # Chinese order: family name first, no space (李小明).
    return f"{user.last_name}{user.first_name}".strip() or user.get_username()


def slip_view(request, object_id, *, model_admin):
    """结算单 of a claim, ready to print; `?settlement=<id>` prints an earlier (reversed) settlement."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    claim = model_admin.get_object(request, unquote(object_id))  # region-scoped: another region's claim is None
    if claim is None:
        raise Http404
    back_url = reverse(f"{model_admin.admin_site.name}:claims_claim_change", args=[claim.pk])
    return render_slip(request, claim, back_url=back_url)


def render_slip(request, claim, *, back_url: str):
    """The slip of a claim the caller has already found in the user's scope (admin or hospital portal)."""
    settlement = _settlement_for(claim, request.GET.get("settlement"))
    if settlement is None:
        messages.warning(request, gettext("This claim has not been settled yet; there is no slip to print."))
        return redirect(back_url)
    claim = claim_as_settled(claim, settlement)
    context = {
        "title": _("Settlement slip"),
        "claim": claim,
        "person": claim.person,
        "id_number": shown_id_number(request, claim.person.id_number),
        "hospital": claim.hospital,
        "settlement": settlement,
        "layers": settlement_layers(settlement, total_cost=claim.total_cost),
        "settled_at": timezone.localtime(settlement.created_at),
        "operator": _operator(settlement.created_by),
        "printed_at": timezone.localtime(),
        "back_url": back_url,
    }
    return TemplateResponse(request, "claims/slip.html", context)
