"""The figures a warning item keeps from its night (``WarningItem.figures``, ``WarningEvidence.figures``), named and
shown for people: the lists store them under short keys, in JSON, so that a later night can be compared with the
evidence of an earlier one; the item page must not show those keys."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from claims.queues import DueStatus

LABELS = {
    "out_of_pocket": _("out-of-pocket cost of the year"),
    "threshold": _("threshold"),
    "year": _("year"),
    "burden": _("household's eligible cost"),
    "income": _("annual disposable income"),
    "share": _("share of income"),
    "assets": _("assets"),
    "asset_cap": _("asset cap"),
    "period": _("look-back period"),
    "plan_year": _("plan year"),
    "contribution_due": _("contribution due"),
    "subsidy": _("subsidy"),
    "category": _("identity category"),
    "claim": _("claim number"),
    "batch": _("batch number"),
    "application": _("application number"),
    "due_on": _("due on"),
    "state": _("deadline"),
    "claims": _("number of claims"),
    "total_cost": _("total cost"),
    "out_of_catalog": _("out-of-catalog cost"),
    "excess": _("out-of-catalog cost above the control"),
    "borne_by_hospital": _("borne by the hospital"),
    "policy_scope_borne": _("policy-scope cost borne by the patient"),
    "assistance": _("medical assistance paid"),
    "floor_percent": _("floor (%)"),
    "floor_amount": _("floor amount"),
    "annual_limit": _("annual assistance limit"),
}
#: Kept for links and the claims table of the page, not shown as figures.
HIDDEN = frozenset({"claim_numbers", "application_id"})
#: ``history_change_reason`` of the rows the night writes (monitoring.services.night.CHANGE_REASON).
CHANGE_REASONS = {"warning run": _("nightly warning run")}


def shown_figures(figures: dict) -> list[tuple[str, str]]:
    """(label, value) per figure, in the order the list stored them; a key without a label shows as itself, which
    the no-English test of every page catches."""
    return [(str(LABELS.get(key, key)), _value(key, value)) for key, value in figures.items() if key not in HIDDEN]


def change_reason(reason: str | None) -> str:
    return str(CHANGE_REASONS.get(reason, reason or "-"))


def _value(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "state":
        return str(DueStatus.LABELS.get(value, value))
    if isinstance(value, list):
        return " – ".join("-" if part is None else str(part) for part in value)
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)
